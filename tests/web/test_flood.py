"""While the callback port is flooded (idle connections past the cap, and a stream of forged
requests), /healthz and /metrics answer on their own listener and a genuine callback still
brings its job home. The real receiver and engine on loopback, the fake Magnific calling back."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.web.app import ReceiverLimits
from bot.web.connections import ServerLimits
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import make_harness, spec

SECRET = "s3cret"
CAP = 40
# polls far apart: only the callback can deliver the job within the test's time
NO_EARLY_POLLS = EngineConfig(poll_floor=60, poll_cap=60, idle_tick=0.2)
# every source is 127.0.0.1 here, the genuine provider too: the rate limit is tested elsewhere
LIMITS = ReceiverLimits(
    server=ServerLimits(max_connections=CAP, header_timeout=1.0, body_timeout=1.0),
    rate=100_000,
    burst=100_000,
)


async def hold_idle(port: int, count: int, until: asyncio.Event) -> int:
    """Open ``count`` connections that send nothing, reopening the closed ones, until told."""
    held: list[asyncio.StreamWriter] = []
    opened = 0
    while not until.is_set() and opened < 20 * count:
        held = [w for w in held if not w.is_closing() and not w.transport.is_closing()]
        while len(held) < count and opened < 20 * count:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                held.append(writer)
            opened += 1
        await asyncio.sleep(0.05)
    for writer in held:
        writer.close()
    return opened


async def forge(port: int, job_id: str, until: asyncio.Event) -> int:
    """Wrong-token requests as fast as one client goes, until told (bounded)."""
    sent = 0
    url = f"http://127.0.0.1:{port}/callbacks/{job_id}/forged"
    async with httpx.AsyncClient(timeout=5) as client:
        while not until.is_set() and sent < 20_000:
            with contextlib.suppress(httpx.HTTPError):
                await client.post(url, content=b'{"status": "COMPLETED"}')
            sent += 1
    return sent


async def test_health_metrics_and_a_genuine_callback_survive_a_flood(tmp_path):
    async with FakeMagnific(webhook_secret=SECRET) as magnific:
        magnific.steps_to_finish = 30  # 1.5 s: the callback arrives during the flood
        provider = MagnificProvider(
            provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr(SECRET))
        )
        h = await make_harness(
            tmp_path,
            {"magnific": provider},
            receiver=True,
            config=NO_EARLY_POLLS,
            receiver_limits=LIMITS,
        )
        stop = asyncio.Event()
        try:
            assert h.port is not None
            job = await h.engine.accept(spec(provider="magnific"))
            flood = [
                asyncio.create_task(hold_idle(h.port, 3 * CAP, stop)),
                *(asyncio.create_task(forge(h.port, job.id, stop)) for _ in range(4)),
            ]
            latencies = []
            async with httpx.AsyncClient(timeout=2) as client:
                status = f"http://127.0.0.1:{h.status_port}"
                for _ in range(10):
                    await asyncio.sleep(0.2)
                    started = time.monotonic()
                    assert (await client.get(f"{status}/healthz")).json() == {"ok": True}
                    assert "bananabot_jobs" in (await client.get(f"{status}/metrics")).text
                    latencies.append(time.monotonic() - started)
            done = await h.engine.wait(job.id, 8)
            stop.set()
            opened, *forged = await asyncio.gather(*flood)
            assert done.status.value == "delivered", done.failure_reason
            assert max(latencies) < 1.0, latencies
            assert opened > CAP and sum(forged) > 100
            assert h.runner is not None
            gate = next(iter(h.runner.sites)).gate  # type: ignore[attr-defined]
            assert gate.evicted > 0
            assert magnific.callbacks_sent and magnific.callbacks_sent[-1][2] == 200
        finally:
            stop.set()
            await h.close()
