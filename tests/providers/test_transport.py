"""The httpx transport whose pool checks idle connections cheaply (:mod:`providers.transport`):
requests go through it, idle connections are reused, one the server closed is noticed and
replaced, and the library internals it sets are there."""

from __future__ import annotations

import socket

import httpcore
import httpx
from aiohttp import web

from providers import transport


async def _server(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/"


def test_the_library_internals_it_sets_are_there():
    made = transport.transport()
    assert isinstance(made._pool, httpcore.AsyncConnectionPool)
    assert isinstance(made._pool._network_backend, transport.Backend)


async def test_requests_go_through_it_and_idle_connections_are_reused():
    peers: list[object] = []

    async def hello(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(text="hi")

    runner, url = await _server(hello)
    try:
        async with transport.client(timeout=httpx.Timeout(5.0)) as client:
            for _ in range(3):
                assert (await client.get(url)).text == "hi"
        assert len(set(peers)) == 1  # one connection, kept between requests
    finally:
        await runner.cleanup()


async def test_a_connection_the_server_closed_is_replaced():
    peers: list[object] = []

    async def bye(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(text="bye", headers={"Connection": "close"})

    runner, url = await _server(bye)
    try:
        async with transport.client(timeout=httpx.Timeout(5.0)) as client:
            for _ in range(3):
                assert (await client.get(url)).text == "bye"
        assert len(set(peers)) == 3
    finally:
        await runner.cleanup()


def test_readable_says_what_poll_says():
    left, right = socket.socketpair()
    try:
        assert not transport.readable(left)
        right.sendall(b"x")
        assert transport.readable(left)
        assert transport.readable(None)
    finally:
        left.close()
        right.close()
