"""The bot's HTTP side, two listeners: the callback receiver and the status listener.

The callback receiver (``CALLBACK_HOST:CALLBACK_PORT``, only when ``CALLBACK_PUBLIC_URL`` is
set) serves nothing but ``POST /callbacks/{job_id}/{token}``. The status listener
(``METRICS_HOST:METRICS_PORT``, loopback by default) serves ``GET /healthz`` and
``GET /metrics`` (Prometheus text from the runtime's :class:`~bot.jobs.metrics.Metrics`).

``POST /callbacks/{job_id}/{token}``: unknown jobs get 404 and wrong tokens 401, bad
signatures 401 and unreadable bodies 400, all without touching state (see
:mod:`bot.jobs.callbacks`). The body is capped and read raw, so a signature is checked on the
exact bytes sent. The answer is immediate; providers allow about 15 s.
"""

from __future__ import annotations

import json
import logging
import socket

from aiohttp import web

from bot.jobs.callbacks import CallbackRefusedError
from bot.jobs.engine import JobEngine
from bot.jobs.metrics import CONTENT_TYPE, Metrics
from bot.web.probe import add_probe_route
from bot.web.sockets import serve
from providers.base import CallbackSignatureError, ProviderError

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 256 * 1024
ENGINE_KEY = web.AppKey("engine", JobEngine)
METRICS_KEY = web.AppKey("metrics", Metrics)

_REFUSALS = {
    CallbackRefusedError.UNKNOWN_JOB: 404,
    CallbackRefusedError.BAD_TOKEN: 401,
    CallbackRefusedError.NO_PROVIDER: 404,
    CallbackRefusedError.TASK_MISMATCH: 409,
}


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


async def callback(request: web.Request) -> web.Response:
    """Receive one provider callback (see the module docstring)."""
    engine = request.app[ENGINE_KEY]
    job_id = request.match_info["job_id"]
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return _json({"error": "body too large"}, 413)
    body = await request.content.read(MAX_CALLBACK_BYTES + 1)
    if len(body) > MAX_CALLBACK_BYTES:
        return _json({"error": "body too large"}, 413)
    try:
        await engine.receive_callback(job_id, request.match_info["token"], request.headers, body)
    except CallbackRefusedError as exc:
        return _json({"error": exc.reason}, _REFUSALS[exc.reason])
    except CallbackSignatureError as exc:
        log.warning("callback for job %s: bad signature (%s)", job_id, exc)
        return _json({"error": "bad signature"}, 401)
    except ProviderError as exc:  # CallbackRejectedError, ProtocolError: unreadable body
        log.warning("callback for job %s: malformed (%s)", job_id, exc)
        return _json({"error": "malformed callback"}, 400)
    return _json({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    """Liveness plus a round trip to the store."""
    if await request.app[ENGINE_KEY].health():
        return _json({"ok": True})
    return _json({"ok": False, "database": "unavailable"}, 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: the store's figures read now, and everything measured since start."""
    meters = request.app[METRICS_KEY]
    meters.observe_store(await request.app[ENGINE_KEY].metrics())
    return web.Response(body=meters.exposition(), headers={"Content-Type": CONTENT_TYPE})


def make_app(engine: JobEngine) -> web.Application:
    """The callback receiver's aiohttp application: provider callbacks only."""
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES)
    app[ENGINE_KEY] = engine
    app.router.add_post("/callbacks/{job_id}/{token}", callback)
    add_probe_route(app)  # lets `check` prove CALLBACK_PUBLIC_URL reaches this receiver
    return app


def make_status_app(engine: JobEngine, meters: Metrics) -> web.Application:
    """The status listener's aiohttp application: ``/healthz`` and ``/metrics``."""
    app = web.Application(client_max_size=1024)
    app[ENGINE_KEY] = engine
    app[METRICS_KEY] = meters
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_receiver(engine: JobEngine, sock: socket.socket) -> web.AppRunner:
    """Serve the callback receiver on ``sock``; returns the runner (``cleanup`` to stop)."""
    return await serve(make_app(engine), sock)


async def start_status(engine: JobEngine, meters: Metrics, sock: socket.socket) -> web.AppRunner:
    """Serve ``/healthz`` and ``/metrics`` on ``sock``; returns the runner."""
    return await serve(make_status_app(engine, meters), sock)
