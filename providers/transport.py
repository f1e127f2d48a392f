"""httpx clients whose connection pool looks at its idle connections cheaply.

Before each request and after each response, httpcore's pool asks every pooled connection
whether it has expired; an idle HTTP/1.1 connection answers by asking its stream whether the
socket is readable (a server that closed it), and anyio's stream builds every attribute it
has (peer and local addresses, by system calls) to hand over just the socket. With twenty
connections to a provider that is most of the cost of a status read on a busy event loop.
Here the stream keeps its socket from the start and answers with one ``poll``.

The pool's backend is set on httpx's transport after it is made (``_pool``, and httpcore's
``_network_backend``: neither library takes it as an argument);
``tests/providers/test_transport.py`` fails if a new release changes them.
"""

from __future__ import annotations

import select
import socket
import ssl
import typing
from typing import Any

import httpcore
import httpx

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


def readable(sock: socket.socket | None) -> bool:
    """Whether the socket has something to read (at an idle connection: the server closed
    it); True when it cannot tell (a socket already closed)."""
    if sock is None:
        return True
    fd = sock.fileno()
    if fd == -1:
        return True
    probe = select.poll()
    probe.register(fd, select.POLLIN)
    return bool(probe.poll(0))


class Stream(httpcore.AsyncNetworkStream):
    """A network stream (httpcore's interface, its ``timeout`` arguments included) that
    answers ``is_readable`` from the socket it keeps."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        return Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return readable(self._socket)
        return self._inner.get_extra_info(info)


class Backend(httpcore.AsyncNetworkBackend):
    """httpcore's asyncio backend, its streams wrapped in :class:`Stream`."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return Stream(
            await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def transport(**options: Any) -> httpx.AsyncHTTPTransport:
    """httpx's transport (``options`` as it takes them), its pool on :class:`Backend`."""
    made = httpx.AsyncHTTPTransport(**options)
    pool = getattr(made, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool):
        pool._network_backend = Backend()
    return made


def client(*, timeout: httpx.Timeout, trust_env: bool = True) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on :func:`transport`."""
    return httpx.AsyncClient(
        timeout=timeout, trust_env=trust_env, transport=transport(trust_env=trust_env)
    )
