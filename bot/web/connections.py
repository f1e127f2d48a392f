"""How many connections a listener holds, and for how long: a bounded server.

aiohttp closes a connection that has not sent a complete request head within
``keepalive_timeout`` of being opened (or of its previous answer), so that one setting is the
header deadline (a total one: bytes trickling in do not extend it). The body is read by the
handler under its own total deadline (see :mod:`bot.web.app`). This module adds the cap on
open connections: at the cap, a new connection pushes out the one that has been quiet the
longest (an idle or trickling one, never the newest), so a flood of idle connections cannot
keep a genuine request out, and descriptors are never exhausted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.web.rejections import Throttle

#: connections a listener holds at once, by default
MAX_CONNECTIONS = 256

#: what aiohttp's request handler logs (a malformed request: one line, not a traceback each)
HTTP_LOG = logging.getLogger("bot.web.http")
HTTP_LOG.addFilter(Throttle())


@dataclass(frozen=True)
class ServerLimits:
    """What one listener allows a connection (seconds, counts)."""

    #: a request head (line and headers) must be complete this long after the connection
    #: opened or its previous answer was sent
    header_timeout: float = 5.0
    #: a request body must have arrived in full this long after its head
    body_timeout: float = 10.0
    #: after an answer sent before the body was read, unread body is drained this long at most
    lingering_time: float = 2.0
    max_connections: int = MAX_CONNECTIONS
    #: the kernel's queue of connections not yet accepted
    backlog: int = 128

    def handler_args(self) -> dict[str, Any]:
        """Keyword arguments for aiohttp's request handler (via the runner)."""
        return {
            "keepalive_timeout": self.header_timeout,
            "lingering_time": self.lingering_time,
            "max_line_size": 8190,
            "max_field_size": 8190,
            "max_headers": 64,
            "logger": HTTP_LOG,
        }


class ConnectionGate:
    """Counts a listener's open connections and pushes out the quietest one at the cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: OrderedDict[_Counted, None] = OrderedDict()  # quietest first
        #: connections pushed out at the cap, since start
        self.evicted = 0
        #: connections accepted, since start
        self.accepted = 0

    @property
    def open(self) -> int:
        """Connections held now."""
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory that counts the connections ``factory``'s protocols serve."""

        def counted() -> asyncio.Protocol:
            return _Counted(factory(), self)

        return counted

    def _opened(self, conn: _Counted) -> None:
        self.accepted += 1
        while len(self._open) >= self.limit:
            quietest, _ = self._open.popitem(last=False)
            self.evicted += 1
            quietest.abort()
        self._open[conn] = None

    def _heard(self, conn: _Counted) -> None:
        if conn in self._open:
            self._open.move_to_end(conn)

    def _closed(self, conn: _Counted) -> None:
        self._open.pop(conn, None)


class _Counted(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol and tells the gate what happens."""

    def __init__(self, inner: asyncio.Protocol, gate: ConnectionGate) -> None:
        self._inner = inner
        self._gate = gate
        self._transport: asyncio.BaseTransport | None = None

    def abort(self) -> None:
        if self._transport is not None and isinstance(self._transport, asyncio.Transport):
            self._transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._gate._opened(self)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._gate._heard(self)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gate._closed(self)
        self._transport = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class BoundedSite(web.BaseSite):
    """Serves a runner on a listening socket through a :class:`ConnectionGate`."""

    __slots__ = ("_gate", "_sock")

    def __init__(self, runner: web.BaseRunner, sock: socket.socket, limits: ServerLimits) -> None:
        super().__init__(runner, backlog=limits.backlog)
        self._sock = sock
        self._gate = ConnectionGate(limits.max_connections)

    @property
    def gate(self) -> ConnectionGate:
        """The connection count of this site."""
        return self._gate

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._gate.wrap(server), sock=self._sock, backlog=self._backlog
        )
