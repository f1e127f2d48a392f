"""Proving that ``CALLBACK_PUBLIC_URL`` reaches the callback receiver.

The receiver answers ``GET /callbacks/_probe/{nonce}`` with the nonce (nothing else; no job is
touched). ``check`` asks the public URL for a fresh nonce: when the receiver's port is free it
serves the route itself for a moment, so the answer proves the URL reaches this machine's
port; when the port is taken (the bot is running) the running receiver answers.
"""

from __future__ import annotations

import errno
import json
import re
import secrets
from dataclasses import dataclass

import httpx
from aiohttp import web

from bot.web.sockets import listen

PROBE_PATH = "/callbacks/_probe/{nonce}"
_NONCE = re.compile(r"^[0-9a-f]{8,64}$")
TIMEOUT = 5.0


async def probe(request: web.Request) -> web.Response:
    """Echo a well-formed nonce (404 otherwise)."""
    nonce = request.match_info["nonce"]
    if not _NONCE.match(nonce):
        raise web.HTTPNotFound
    body = json.dumps({"bananabot": "callbacks", "nonce": nonce}).encode()
    return web.Response(body=body, content_type="application/json")


def add_probe_route(app: web.Application) -> None:
    """Serve :data:`PROBE_PATH` on ``app`` (the callback receiver)."""
    app.router.add_get(PROBE_PATH, probe)


@dataclass(frozen=True)
class ProbeResult:
    """Whether the public URL reached a receiver, and which."""

    reached: bool
    running_bot: bool  # the port was taken: the answer came from the bot already running
    detail: str


async def probe_public_url(public_url: str, host: str, port: int) -> ProbeResult:
    """Ask ``public_url`` for a fresh nonce, serving it on ``host:port`` when that is free."""
    nonce = secrets.token_hex(8)
    runner: web.AppRunner | None = None
    try:
        sock = listen(host, port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            return ProbeResult(False, False, f"cannot listen on {host}:{port} ({exc.strerror})")
        running = True
    else:
        running = False
        app = web.Application()
        add_probe_route(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
    url = public_url.rstrip("/") + PROBE_PATH.format(nonce=nonce)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False) as client:
            response = await client.get(url)
        answer = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        return ProbeResult(False, running, f"{type(exc).__name__} from {url}")
    finally:
        if runner is not None:
            await runner.cleanup()
    if isinstance(answer, dict) and answer.get("nonce") == nonce:
        return ProbeResult(True, running, url)
    return ProbeResult(False, running, f"{url} answered HTTP {response.status_code}, not the probe")
