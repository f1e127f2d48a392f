"""Leases in one engine on SQLite (bot/jobs/leases.py): the worker's row, its heartbeat, a slow
delivery's claim kept while it runs. Engines sharing one store (PostgreSQL) are tested in
tests/jobs/test_engines_share.py."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bot.jobs.models import Job, Receipt
from bot.jobs.states import JobStatus
from bot.media.sniff import ImageFile
from providers.local import LocalProvider, LocalSettings
from tests.jobs.harness import FAST, CountingNotifier, make_harness, spec, until

LEASE = dataclasses.replace(FAST, lease_seconds=0.6)  # a heartbeat every 0.1 s


class SlowNotifier(CountingNotifier):
    """Posting takes ``seconds`` (a large upload)."""

    def __init__(self, out_dir: Path, seconds: float) -> None:
        super().__init__(out_dir)
        self.seconds = seconds
        self.posting = asyncio.Event()

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        self.posting.set()
        await asyncio.sleep(self.seconds)
        return await super().deliver(job, images, attempt)


async def _workers(h) -> list[tuple[str, float]]:
    rows = await h.store.db.fetchall("SELECT id, seen_at FROM workers")
    return [(str(r[0]), float(r[1])) for r in rows]


async def test_the_worker_beats_while_running_and_is_forgotten_when_it_stops(tmp_path):
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, config=LEASE
    )
    try:
        (first,) = await _workers(h)
        assert first[0] == h.engine.worker
        await until(
            lambda: _later_beat(h, first[1]), timeout=5.0, what="a heartbeat after the first"
        )
        job = await h.engine.accept(spec())
        done = await h.engine.wait(job.id, 10.0)
        assert done.status is JobStatus.DELIVERED and done.claimed_by == h.engine.worker
    finally:
        await h.close()
    reopened = await make_harness(tmp_path, {}, start=False)
    try:
        assert await _workers(reopened) == []  # a graceful stop says goodbye
    finally:
        await reopened.close()


async def _later_beat(h, seen: float) -> bool:
    return any(at > seen for _, at in await _workers(h))


async def test_a_delivery_longer_than_the_lease_keeps_its_claim(tmp_path):
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, config=LEASE, start=False
    )
    h.delivery = SlowNotifier(tmp_path / "out", seconds=2.0)  # over three leases
    await h.start()
    try:
        job = await h.engine.accept(spec())
        await asyncio.wait_for(h.delivery.posting.wait(), 10.0)
        for _ in range(4):  # while it posts, the claim always reaches into the future
            await asyncio.sleep(0.4)
            row = await h.engine.get_job(job.id)
            assert row is not None
            if row.status is not JobStatus.SUCCEEDED:
                break
            assert row.claimed_by == h.engine.worker
            assert row.next_delivery_at is not None
            assert row.next_delivery_at > h.engine.clock()
            assert await h.store.leases.claim_deliveries("other", h.engine.clock(), 0.0, 10) == []
        done = await h.engine.wait(job.id, 10.0)
        assert done.status is JobStatus.DELIVERED
        assert h.delivery.deliveries[job.id] == 1
    finally:
        await h.close()
