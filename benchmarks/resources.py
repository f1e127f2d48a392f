"""Resources at scale: start-up with many unfinished jobs, memory with them pending, and the
time to fit a large noisy image under Discord's upload limits.

    .venv/bin/python -m benchmarks.resources [JOBS]

A fresh database gets JOBS unfinished jobs (default 10,000): a third queued, a third waiting
at the provider (with task ids), a third succeeded and waiting for delivery. The benchmark then
opens the store and starts the engine (the recovery a restarted bot runs) and reports how long
that took, lets the engine run a few seconds against a provider whose tasks never finish
(statuses are read, nothing is delivered) and reports the process's resident memory; last, it
fits a noisy 4096×4096 PNG under 8 MiB and under 10 MiB. Each figure is printed beside its
goal.
"""

from __future__ import annotations

import asyncio
import io
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.models import NewJob, Origin
from bot.media.fit import fit_image
from bot.media.sniff import ImageFile, inspect_image
from bot.storage.store import SqliteStore
from providers.base import GenerationRequest
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import CountingNotifier

MIB = 1024 * 1024
BATCH = 250
CONFIG = EngineConfig(
    allowance=None,
    poll_interval=30.0,
    idle_tick=1.0,
    deadline_seconds=3600.0,
    per_user_active_limit=10**9,
)


def rss_mib() -> float:
    """This process's resident memory now (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _job(now: float, index: int) -> NewJob:
    return NewJob(
        id=secrets.token_hex(6),
        origin=Origin(user_id=f"u{index % 500}", channel_id="c1"),
        provider="magnific",
        model="nano-banana-pro",
        request=GenerationRequest(prompt=f"a fox number {index}", model="nano-banana-pro"),
        kind="imagine",
        parent_job_id=None,
        cost=1,
        callback_token=secrets.token_urlsafe(24),
        created_at=now,
        deadline_at=now + 3600,
    )


async def fill(path: Path, jobs: int) -> None:
    """``jobs`` unfinished jobs: queued, at the provider, and succeeded (awaiting delivery)."""
    store = await SqliteStore.open(path)
    now = time.time()
    try:
        for start in range(0, jobs, BATCH):
            batch = [_job(now, i) for i in range(start, min(jobs, start + BATCH))]
            await store.jobs.admit_group(batch, active_limit=10**9, allowance=None)
        async with store.db.transaction() as tx:
            await tx.execute(
                "UPDATE jobs SET status = 'submitted', task_id = 'task-' || id, "
                "submitted_at = :now, next_poll_at = :now WHERE rowid % 3 = 1",
                {"now": now},
            )
            await tx.execute(
                "UPDATE jobs SET status = 'succeeded', task_id = 'task-' || id, "
                "completed_at = :now, next_delivery_at = :later WHERE rowid % 3 = 2",
                {"now": now, "later": now + 3600},
            )
    finally:
        await store.close()


class Idle(CountingNotifier):
    """Delivers nothing: succeeded jobs stay pending (the benchmark measures waiting jobs)."""

    async def deliver(self, job, images, attempt):  # type: ignore[no-untyped-def]
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def start_and_hold(path: Path, out: Path, seconds: float) -> tuple[float, float]:
    """Seconds to open the store and start the engine, and RSS after ``seconds`` running."""
    async with FakeMagnific() as fake:
        fake.steps_to_finish = 10**9  # never finishes
        provider = MagnificProvider(provider_settings(MagnificProvider, fake))
        import httpx

        from bot.media.fetch import ImageFetcher

        client = httpx.AsyncClient()
        started = time.perf_counter()
        store = await SqliteStore.open(path)
        engine = JobEngine(
            store, {"magnific": provider}, ImageFetcher(client, allow_private=True), config=CONFIG
        )
        await engine.start(Idle(out))
        startup = time.perf_counter() - started
        try:
            await asyncio.sleep(seconds)
            return startup, rss_mib()
        finally:
            await engine.abort()
            await provider.aclose()
            await client.aclose()
            await store.close()


def noisy_png(edge: int = 4096) -> bytes:
    """A PNG that does not compress: noise."""
    image = Image.frombytes("RGB", (edge, edge), os.urandom(edge * edge * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def fit_seconds(data: bytes, limit: int) -> tuple[float, int]:
    image = ImageFile.of(data, inspect_image(data))
    started = time.perf_counter()
    fitted = fit_image(image, limit)
    return time.perf_counter() - started, len(fitted.data)


def row(what: str, measured: str, goal: str) -> str:
    return f"| {what} | {measured} | {goal} |"


async def main(jobs: int = 10_000, hold: float = 5.0, edge: int = 4096) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bananabot.db"
        filled = time.perf_counter()
        await fill(path, jobs)
        filled = time.perf_counter() - filled
        startup, rss = await start_and_hold(path, Path(tmp) / "out", hold)
    data = noisy_png(edge)
    fit8, size8 = fit_seconds(data, 8 * MIB)
    fit10, size10 = fit_seconds(data, 10 * MIB)
    print(f"{jobs:,} unfinished jobs (filled in {filled:.1f} s), {len(data) / MIB:.1f} MiB PNG")
    print("| figure | measured | goal |")
    print("| --- | --- | --- |")
    print(row(f"start-up with {jobs:,} unfinished jobs", f"{startup:.2f} s", "≤ 5 s"))
    print(row(f"RSS with {jobs:,} pending, after {hold:.0f} s", f"{rss:.0f} MiB", "≤ 150 MiB"))
    fitted = f"{fit8:.2f} s ({size8 / MIB:.1f} MiB)"
    print(row(f"fit a noisy {edge}² PNG under 8 MiB", fitted, "≤ 3 s"))
    print(row("… under 10 MiB", f"{fit10:.2f} s ({size10 / MIB:.1f} MiB)", "≤ 3 s"))
    return {"startup": startup, "rss": rss, "fit8": fit8, "fit10": fit10}


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
