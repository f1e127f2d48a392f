"""Provider callbacks and health checks.

``POST /callbacks/{job_id}/{token}``: the per-job token is unguessable and compared in constant
time; unknown jobs get 404 and wrong tokens 401, both without touching state. The body is capped,
read raw, and handed to the provider's ``parse_callback`` (which verifies signatures on the raw
bytes). A valid callback is only a hint: the engine confirms the status with the provider before
trusting any result, so duplicates, late and out-of-order callbacks are harmless. The answer is
immediate; providers allow about 15 s.
"""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from bot.jobs.engine import JobEngine
from providers.base import CallbackSignatureError, ProviderError

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 256 * 1024
ENGINE_KEY = web.AppKey("engine", JobEngine)


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


async def callback(request: web.Request) -> web.Response:
    """Receive one provider callback (see the module docstring)."""
    engine = request.app[ENGINE_KEY]
    job_id = request.match_info["job_id"]
    token = request.match_info["token"]
    job = await engine.jobs.get(job_id, images=False)
    if job is None:
        return _json({"error": "unknown job"}, 404)
    if not hmac.compare_digest(token.encode(), job.callback_token.encode()):
        log.warning("callback for job %s with a wrong token refused", job_id)
        return _json({"error": "bad token"}, 401)
    if request.content_length is not None and request.content_length > MAX_CALLBACK_BYTES:
        return _json({"error": "body too large"}, 413)
    body = await request.content.read(MAX_CALLBACK_BYTES + 1)
    if len(body) > MAX_CALLBACK_BYTES:
        return _json({"error": "body too large"}, 413)
    provider = engine.providers.get(job.provider)
    if provider is None:
        return _json({"error": "provider not configured"}, 404)
    try:
        status = provider.parse_callback(request.headers, body)
    except CallbackSignatureError as exc:
        log.warning("callback for job %s: bad signature (%s)", job_id, exc)
        return _json({"error": "bad signature"}, 401)
    except ProviderError as exc:  # CallbackRejectedError, ProtocolError: unreadable body
        log.warning("callback for job %s: malformed (%s)", job_id, exc)
        return _json({"error": "malformed callback"}, 400)
    if job.task_id is not None and status.task_id and status.task_id != job.task_id:
        log.warning("callback for job %s names another task %s", job_id, status.task_id)
        return _json({"error": "task mismatch"}, 409)
    await engine.hint(job_id)
    return _json({"ok": True})


async def healthz(request: web.Request) -> web.Response:
    """Liveness plus a database round trip."""
    engine = request.app[ENGINE_KEY]
    try:
        await engine.db.fetchone("SELECT 1")
    except Exception:
        log.exception("health check: database unavailable")
        return _json({"ok": False, "database": "unavailable"}, 503)
    return _json({"ok": True})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text: jobs by status and provider, credits reserved and spent today."""
    engine = request.app[ENGINE_KEY]
    rows = await engine.db.fetchall(
        "SELECT provider, status, COUNT(*) FROM jobs GROUP BY provider, status ORDER BY 1, 2"
    )
    lines = [
        "# HELP bananabot_jobs Jobs by provider and status.",
        "# TYPE bananabot_jobs gauge",
    ]
    lines += [f'bananabot_jobs{{provider="{p}",status="{s}"}} {n}' for p, s, n in rows]
    usage = await engine.db.fetchone(
        "SELECT COALESCE(SUM(reserved), 0), COALESCE(SUM(spent), 0) FROM quota_usage "
        "WHERE day = (SELECT MAX(day) FROM quota_usage)"
    )
    reserved, spent = (usage[0], usage[1]) if usage else (0, 0)
    lines += [
        "# HELP bananabot_credits_today Credits reserved and spent on the latest UTC day.",
        "# TYPE bananabot_credits_today gauge",
        f'bananabot_credits_today{{kind="reserved"}} {reserved}',
        f'bananabot_credits_today{{kind="spent"}} {spent}',
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def make_app(engine: JobEngine) -> web.Application:
    """The receiver's aiohttp application."""
    app = web.Application(client_max_size=MAX_CALLBACK_BYTES)
    app[ENGINE_KEY] = engine
    app.router.add_post("/callbacks/{job_id}/{token}", callback)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_receiver(engine: JobEngine, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the app; returns the runner (cleanup to stop) and the bound port."""
    runner = web.AppRunner(make_app(engine), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    return runner, bound
