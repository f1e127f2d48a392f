"""Listening sockets and serving an aiohttp app on one: shared by the callback receiver, the
status listener and ``check``'s probe."""

from __future__ import annotations

import socket

from aiohttp import web

from bot.web.connections import BoundedSite, ServerLimits


def listen(host: str, port: int) -> socket.socket:
    """Bind a listening socket (port 0: any free port; see ``getsockname``).

    Bound before anything else is built, so a taken port is found at once.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def serve(
    app: web.Application, sock: socket.socket, limits: ServerLimits | None = None
) -> web.AppRunner:
    """Serve ``app`` on ``sock`` within ``limits`` (deadlines, a cap on connections: see
    :mod:`bot.web.connections`); returns the runner (``cleanup`` to stop)."""
    limits = limits or ServerLimits()
    runner = web.AppRunner(app, access_log=None, **limits.handler_args())
    await runner.setup()
    try:
        await BoundedSite(runner, sock, limits).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
