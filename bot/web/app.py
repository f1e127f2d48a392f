"""The bot's HTTP side, two listeners: the callback receiver and the status listener.

The callback receiver (``CALLBACK_HOST:CALLBACK_PORT``, only when ``CALLBACK_PUBLIC_URL`` is
set) serves nothing but ``POST /callbacks/{job_id}/{token}``. The status listener
(``METRICS_HOST:METRICS_PORT``, loopback by default) serves ``GET /healthz`` and
``GET /metrics`` (Prometheus text from the runtime's :class:`~bot.jobs.metrics.Metrics`).

``POST /callbacks/{job_id}/{token}``: unknown jobs get 404 and wrong tokens 401, bad
signatures 401 and unreadable bodies 400, all without touching state (see
:mod:`bot.jobs.callbacks`). The whole body is read (capped: 413 above
:data:`MAX_CALLBACK_BYTES`, 408 when it has not arrived within the body deadline) before
anything is checked, so a signature is checked on the exact bytes sent. The answer is
immediate; providers allow about 15 s.

The receiver sheds abuse (:class:`ReceiverLimits`): each source address has a request rate
(429 with ``Retry-After`` above it), each connection a header and a body deadline, the
listener a cap on open connections (:mod:`bot.web.connections`), and refusals are logged at
most once per reason per interval (:mod:`bot.web.rejections`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.web_exceptions import HTTPRequestEntityTooLarge
from aiohttp.web_protocol import RequestPayloadError

from bot.jobs.callbacks import CallbackRefusedError
from bot.jobs.engine import JobEngine
from bot.jobs.metrics import CONTENT_TYPE, Metrics
from bot.jobs.ports import StoreUnavailableError
from bot.web.connections import ServerLimits
from bot.web.limits import RateLimiter, source_of
from bot.web.probe import add_probe_route
from bot.web.rejections import INTERVAL, RejectionLog
from bot.web.sockets import serve
from providers.errors import CallbackSignatureError, ProviderError

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 256 * 1024
#: seconds a provider is asked to wait before resending a callback the store could not take
STORE_RETRY_AFTER = 30


@dataclass(frozen=True)
class ReceiverLimits:
    """What the callback receiver allows (see the module docstring)."""

    server: ServerLimits = field(default_factory=ServerLimits)
    #: requests per second from one source address (an IPv6 /64), after ``burst`` at once
    rate: float = 50.0
    burst: int = 100
    #: seconds between two log lines for the same kind of refusal
    log_interval: float = INTERVAL


ENGINE_KEY = web.AppKey("engine", JobEngine)
METRICS_KEY = web.AppKey("metrics", Metrics)
LIMITS_KEY = web.AppKey("limits", ReceiverLimits)
LIMITER_KEY = web.AppKey("limiter", RateLimiter)
REJECTIONS_KEY = web.AppKey("rejections", RejectionLog)

_REFUSALS = {
    CallbackRefusedError.UNKNOWN_JOB: 404,
    CallbackRefusedError.BAD_TOKEN: 401,
    CallbackRefusedError.NO_PROVIDER: 404,
    CallbackRefusedError.TASK_MISMATCH: 409,
}
_REFUSAL_LINES = {
    CallbackRefusedError.UNKNOWN_JOB: "callback for unknown job %s refused",
    CallbackRefusedError.BAD_TOKEN: "callback for job %s with a wrong token refused",
    CallbackRefusedError.NO_PROVIDER: "callback for job %s of a provider not configured refused",
    CallbackRefusedError.TASK_MISMATCH: "callback for job %s naming another task refused",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(
    data: object, status: int = 200, *, close: bool = False, retry_after: int | None = None
) -> web.Response:
    response = web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if close:
        response.force_close()
    return response


@web.middleware
async def shed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a source over its request rate (429) before anything else is done."""
    source = source_of(request.remote)
    wait = request.app[LIMITER_KEY].allow(source)
    if wait > 0:
        request.app[REJECTIONS_KEY].note(
            "rate limited", "callback receiver: requests from %s over the rate limit", source
        )
        response = _json({"error": "too many requests"}, 429)
        response.headers["Retry-After"] = RateLimiter.retry_after(wait)
        return response
    return await handler(request)


async def read_body(request: web.Request) -> bytes | web.Response:
    """The whole body within the body deadline, or the answer refusing it."""
    rejections = request.app[REJECTIONS_KEY]
    job_id = request.match_info["job_id"]
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        rejections.note("too large", "callback for job %s: body too large", job_id)
        return _json({"error": "body too large"}, 413, close=True)
    try:
        async with asyncio.timeout(request.app[LIMITS_KEY].server.body_timeout):
            return await request.read()
    except HTTPRequestEntityTooLarge:
        rejections.note("too large", "callback for job %s: body too large", job_id)
        return _json({"error": "body too large"}, 413, close=True)
    except TimeoutError:
        rejections.note("slow body", "callback for job %s: body not sent in time", job_id)
        return _json({"error": "body not sent in time"}, 408, close=True)
    except (RequestPayloadError, ConnectionError) as exc:
        rejections.note("unreadable body", "callback for job %s: unreadable body (%s)", job_id, exc)
        return _json({"error": "unreadable body"}, 400, close=True)


async def callback(request: web.Request) -> web.Response:
    """Receive one provider callback (see the module docstring)."""
    engine = request.app[ENGINE_KEY]
    rejections = request.app[REJECTIONS_KEY]
    job_id = request.match_info["job_id"]
    body = await read_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        await engine.receive_callback(job_id, request.match_info["token"], request.headers, body)
    except CallbackRefusedError as exc:
        rejections.note(exc.reason, _REFUSAL_LINES[exc.reason], job_id)
        return _json({"error": exc.reason}, _REFUSALS[exc.reason])
    except CallbackSignatureError as exc:
        rejections.note("bad signature", "callback for job %s: bad signature (%s)", job_id, exc)
        return _json({"error": "bad signature"}, 401)
    except ProviderError as exc:  # CallbackRejectedError, ProtocolError: unreadable body
        rejections.note("malformed", "callback for job %s: malformed (%s)", job_id, exc)
        return _json({"error": "malformed callback"}, 400)
    except StoreUnavailableError:  # the guard logged it; the provider sends it again later
        return _json({"error": "temporarily unavailable"}, 503, retry_after=STORE_RETRY_AFTER)
    return _json({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    """Liveness plus a round trip to the store."""
    if await request.app[ENGINE_KEY].health():
        return _json({"ok": True})
    return _json({"ok": False, "database": "unavailable"}, 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: the store's figures read now, and everything measured since start."""
    meters = request.app[METRICS_KEY]
    try:
        meters.observe_store(await request.app[ENGINE_KEY].metrics())
    except StoreUnavailableError:
        # the store's own figures are stale until it answers; the rest (store_healthy
        # included) are measured in memory and still worth scraping
        log.info("/metrics: the store is unavailable; its figures are not refreshed")
    return web.Response(body=meters.exposition(), headers={"Content-Type": CONTENT_TYPE})


def make_app(engine: JobEngine, limits: ReceiverLimits | None = None) -> web.Application:
    """The callback receiver's aiohttp application: provider callbacks only."""
    limits = limits or ReceiverLimits()
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES, middlewares=[shed])
    app[ENGINE_KEY] = engine
    app[LIMITS_KEY] = limits
    app[LIMITER_KEY] = RateLimiter(limits.rate, limits.burst)
    app[REJECTIONS_KEY] = RejectionLog(log, interval=limits.log_interval)
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


async def start_receiver(
    engine: JobEngine, sock: socket.socket, limits: ReceiverLimits | None = None
) -> web.AppRunner:
    """Serve the callback receiver on ``sock``; returns the runner (``cleanup`` to stop)."""
    limits = limits or ReceiverLimits()
    return await serve(make_app(engine, limits), sock, limits.server)


async def start_status(engine: JobEngine, meters: Metrics, sock: socket.socket) -> web.AppRunner:
    """Serve ``/healthz`` and ``/metrics`` on ``sock``; returns the runner."""
    return await serve(make_status_app(engine, meters), sock)
