"""Crash-restart soak: SIGKILL the engine at random moments, restart, count lost/duplicates.

    .venv/bin/python -m benchmarks.crash_restart [ROUNDS] [JOBS]

Each round starts a fresh database and a loopback Magnific fake, lets a worker process accept
JOBS jobs, kills it with SIGKILL after a random delay (0 to 1.5 s: before, during and after
submission, generation and delivery), starts it again and audits every job: delivered exactly
once, or failed with its credits refunded (a job killed mid-submit is not resent, to avoid
paying twice), never lost, never delivered or charged twice.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.fakes.magnific import FakeMagnific
from tests.jobs.crash import crash_and_restart


async def main(rounds: int, jobs: int) -> int:
    totals = {
        "accepted": 0,
        "delivered_once": 0,
        "failed_refunded": 0,
        "lost": 0,
        "duplicated": 0,
        "charged_twice": 0,
        "bad_totals": 0,
        "extra_creates": 0,
    }
    started = time.monotonic()
    rng = random.Random(20261122)
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            async with FakeMagnific() as fake:
                fake.step_seconds = 0.2
                fake.steps_to_finish = 3
                audit = await crash_and_restart(
                    Path(tmp), fake, jobs=jobs, kill_after=rng.uniform(0.0, 1.5)
                )
        totals["accepted"] += audit.accepted
        totals["delivered_once"] += audit.delivered_once
        totals["failed_refunded"] += audit.failed_refunded
        totals["lost"] += audit.lost
        totals["duplicated"] += audit.delivered_twice_or_more
        totals["charged_twice"] += audit.charged_twice
        totals["bad_totals"] += audit.bad_totals
        totals["extra_creates"] += max(0, audit.creates - audit.accepted)
    print(f"rounds: {rounds}, jobs per round: {jobs}, time: {time.monotonic() - started:.0f} s")
    for key, value in totals.items():
        print(f"{key}: {value}")
    bad = totals["lost"] + totals["duplicated"] + totals["charged_twice"] + totals["bad_totals"]
    return 1 if bad else 0


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    sys.exit(asyncio.run(main(rounds, jobs)))
