"""Takeover: how soon another process finishes the jobs of a process that died.

    .venv/bin/python -m benchmarks.takeover [JOBS] [LEASE_SECONDS]

Two engines share one PostgreSQL schema, each with its own pool (``BANANABOT_TEST_DATABASE_URL``,
default the local server's ``test`` database), against the fake Magnific (tasks take about a
second). Both run; JOBS jobs (default 40) are accepted through A; while some of A's status
reads hang (a slow provider), A dies (aborted: no goodbye, as a SIGKILL leaves it). B finishes
the jobs A held claims on when those pass (``lease_seconds``, default 5 here; 30 in
production). Printed beside its goal: every job delivered once or failed with a refund, and
the seconds from the death to the last of A's held jobs ending (at most the lease, a
heartbeat and 2 s of work).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bot.jobs.ports import Store
from bot.jobs.states import FINAL, REFUNDED, TRACKED, JobStatus
from tests.fakes._base import Fault, On
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import spec
from tests.jobs.processes import CONFIG, Process, deliveries, open_process, shared_schema


async def main(jobs: int = 40, lease: float = 5.0) -> dict[str, float]:
    config = dataclasses.replace(CONFIG, lease_seconds=lease, provider_concurrency={"magnific": 8})
    with tempfile.TemporaryDirectory() as tmp:
        async with shared_schema() as (url, fake):
            fake.step_seconds = 0.5
            fake.slow_seconds = 2.0
            a = await open_process(url, fake, Path(tmp), config)
            b = await open_process(url, fake, Path(tmp), config)
            try:
                return await _run(fake, a, b, jobs, lease, config.heartbeat_seconds)
            finally:
                await a.close()
                await b.close()


async def _run(
    fake: FakeMagnific, a: Process, b: Process, jobs: int, lease: float, heartbeat: float
) -> dict[str, float]:
    await a.engine.start(a.notifier)
    await b.engine.start(b.notifier)
    ids = [
        (await a.engine.accept(spec(provider="magnific", user=f"u{n % 20}"))).id
        for n in range(jobs)
    ]
    await asyncio.sleep(0.2)  # both at work
    fake.inject(Fault.SLOW, on=On.STATUS, times=min(8, jobs))  # reads in flight when A dies
    worker = a.engine.worker
    for _ in range(500):  # until A holds claims (at most about 10 s)
        if await _held(a.store, worker, ids, lease):
            break
        await asyncio.sleep(0.02)
    await a.close(crash=True)
    died = time.monotonic()
    held = await _held(b.store, worker, ids, lease)  # what A held when it died
    last = died
    ended: dict[str, JobStatus] = {}
    deadline = died + lease + 60.0
    while len(ended) < len(ids) and time.monotonic() < deadline:
        for job_id in ids:
            job = await b.store.jobs.get(job_id, images=False) if job_id not in ended else None
            if job is not None and job.status in FINAL:
                ended[job_id] = job.status
                if job_id in held:
                    last = time.monotonic()
        await asyncio.sleep(0.05)
    counts = deliveries([a, b])
    once = [i for i in ids if ended.get(i) is JobStatus.DELIVERED and counts[i] == 1]
    refunded = [i for i in ids if ended.get(i) in REFUNDED and counts[i] == 0]
    twice = sum(1 for count in counts.values() if count > 1)
    settled = len(once) + len(refunded)
    unsettled = [
        f"{i}: {ended[i].value if i in ended else 'not ended'}, posted {counts[i]}×"
        + (", held by the process that died" if i in held else "")
        for i in ids
        if i not in once and i not in refunded
    ]
    takeover = last - died
    goal = lease + heartbeat + 2.0
    print(f"{len(ids)} jobs, {len(held)} held by the process that died, lease {lease:g} s")
    print("| figure | measured | goal |")
    print("| --- | --- | --- |")
    print(f"| delivered once, or failed and refunded | {settled} / {len(ids)} | all |")
    print(f"| delivered twice | {twice} | 0 |")
    print(f"| death to the last of its held jobs ended | {takeover:.1f} s | ≤ {goal:.1f} s |")
    for line in unsettled:  # what to look at when a job was lost or posted twice
        print(f"  not settled: {line}")
    return {
        "jobs": float(len(ids)),
        "held": float(len(held)),
        "settled": float(settled),
        "twice": float(twice),
        "takeover": takeover,
    }


async def _held(store: Store, worker: str, ids: list[str], lease: float) -> list[str]:
    """The jobs ``worker`` holds claims on now: submitting, or a poll or delivery pushed out
    by its claim (not merely scheduled by it)."""
    held = []
    soon = time.time() + lease / 2
    for job_id in ids:
        job = await store.jobs.get(job_id, images=False)
        if job is None or job.claimed_by != worker:
            continue
        if (
            job.status is JobStatus.SUBMITTING
            or (job.status in TRACKED and (job.next_poll_at or 0) > soon)
            or (job.status is JobStatus.SUCCEEDED and (job.next_delivery_at or 0) > soon)
        ):
            held.append(job_id)
    return held


if __name__ == "__main__":
    try:
        asyncio.run(
            main(
                int(sys.argv[1]) if len(sys.argv) > 1 else 40,
                float(sys.argv[2]) if len(sys.argv) > 2 else 5.0,
            )
        )
    except pytest.skip.Exception as exc:
        sys.exit(f"takeover: {exc}")
