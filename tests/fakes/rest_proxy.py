"""A transparent REST proxy on loopback, as the shared rate-limit proxies (nirn-proxy,
twilight-http-proxy) are to the bot: every request is relayed to the upstream Discord and its
answer, headers and all, relayed back unchanged. :meth:`RestProxy.refuse_next` makes the proxy
answer once with a 429 of its own (no ``Via``), as nirn-proxy does when a cluster member fails.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

#: headers that describe one hop, not the message (RFC 9110 section 7.6.1), and those aiohttp
#: sets itself
HOP_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Transfer-Encoding",
        "Upgrade",
        "TE",
        "Trailer",
        "Host",
        "Content-Length",
        "Content-Encoding",
    )
)


class RestProxy:
    """Relays ``/api/...`` to ``upstream`` (a base URL such as ``http://127.0.0.1:PORT``)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        #: every answer relayed: (method, path, status)
        self.relayed: list[tuple[str, str, int]] = []
        self._refusals = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def api_base(self) -> str:
        """What ``DISCORD_API_BASE`` is, through the proxy."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    def refuse_next(self, count: int = 1) -> None:
        """Answer the next ``count`` requests with the proxy's own 429 (retry after 1 s)."""
        self._refusals += count

    async def __aenter__(self) -> RestProxy:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _relay(self, request: web.Request) -> web.Response:
        if self._refusals:
            self._refusals -= 1
            self.relayed.append((request.method, request.path, 429))
            return web.Response(
                status=429,
                body=b'{"message": "proxy busy", "retry_after": 1, "global": false}',
                headers={"Content-Type": "application/json", "generated-by-proxy": "true"},
            )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read()
        url = f"{self.upstream}{request.rel_url}"
        options: dict[str, Any] = {"headers": headers, "data": body or None}
        async with self._session.request(request.method, url, **options) as answer:
            data = await answer.read()
            relayed = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
            self.relayed.append((request.method, request.path, answer.status))
            return web.Response(status=answer.status, body=data, headers=relayed)
