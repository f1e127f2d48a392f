"""Discord requests the bot makes per job, and status edits per second while jobs wait.

    .venv/bin/python -m benchmarks.discord_requests [--queues 10,300] [--waiting 1000]
                                                    [--seconds 20] [--concurrency 5]

The default run takes about 70 s on a 2-core machine; ``--queues 10,300,3000`` adds the 3,000
queue (about 5 minutes more: the bot finishes about 11 jobs a second at concurrency 5).

The real bot (composition root and all) runs in this process against the loopback fake
Discord, which counts every REST request per route template (``fake.route_counts``), with
Discord-like rate limits in force. Two measurements:

1. Requests per job at each queue length: N users run ``/imagine`` at once on the offline
   ``local`` provider with a concurrency of ``--concurrency`` (so the others queue), and every
   request from the first acknowledgement to the last result is divided by N. Goal: at most 6
   a job, whatever the queue length.
2. Status edits while ``--waiting`` jobs wait at a slow provider (the Magnific fake, whose
   tasks never finish during the run; the bot checks each every 15 s): the status-message
   edits in every sliding second of a ``--seconds`` window after all were submitted. Goal: at
   most 10 a second in total, none for elapsed time.

Prints each figure beside its goal; exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.discord.bot_harness import keys_for, running_bot, settings_for
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.magnific import FakeMagnific

GOAL_PER_JOB = 6.0
GOAL_EDITS_PER_SECOND = 10.0
EDITS = ("PATCH", "/webhooks/{id}/{token}/messages/")
FINAL = ("delivered", "failed", "timed_out", "cancelled")
WAVE = 50


def _delta(after: Counter[str], before: Counter[str]) -> Counter[str]:
    return Counter({k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)})


async def _ask(fake: FakeDiscord, n: int, **options: str) -> list[FakeInteraction]:
    """``/imagine`` by ``n`` users, in waves of :data:`WAVE` acknowledged before the next (the
    bot shares this event loop with the fake: thousands at once would miss Discord's 3 s)."""
    users = [fake.add_user(f"bench{i}") for i in range(n)]
    asked: list[FakeInteraction] = []
    for start in range(0, n, WAVE):
        wave = [
            await fake.slash(user, fake.channel, "imagine", {"prompt": f"fox {i}", **options})
            for i, user in enumerate(users[start : start + WAVE], start)
        ]
        await asyncio.gather(*(ix.wait_callback() for ix in wave))
        asked += wave
    return asked


async def requests_per_job(n: int, concurrency: int, limit: float) -> tuple[float, Counter[str]]:
    """Discord requests per job with ``n`` jobs asked at once (all but ``concurrency`` queue)."""
    async with FakeDiscord() as fake:
        fake.keep_requests = False
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(
                fake,
                Path(tmp),
                provider_concurrency={"local": concurrency},
                job_deadline_seconds=3600.0,
            )
            async with running_bot(fake, settings) as runtime:
                before = Counter(fake.route_counts)
                await _ask(fake, n)
                deadline = time.monotonic() + limit
                while True:
                    counts = await runtime.store.jobs.status_counts()
                    if sum(c for _, status, c in counts if status in FINAL) >= n:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{n} jobs did not finish within {limit:.0f} s")
                    await asyncio.sleep(0.2)
                await asyncio.sleep(0.5)  # the last final edits
                used = _delta(fake.route_counts, before)
    return sum(used.values()) / n, used


async def edits_while_waiting(n: int, seconds: float) -> tuple[list[int], int]:
    """Status edits in each sliding second while ``n`` jobs wait at the provider; and the
    edits in all, from the first request to the end of the window."""
    async with FakeDiscord() as fake, FakeMagnific() as magnific:
        fake.keep_requests = False
        magnific.step_seconds = 3600.0  # no task finishes during the run
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(
                fake,
                Path(tmp),
                **keys_for("magnific", magnific),
                provider_concurrency={"magnific": n},
                poll_interval_seconds=15.0,
                job_deadline_seconds=3600.0,
            )
            async with running_bot(fake, settings) as runtime:
                start = fake.count(*EDITS)
                await _ask(fake, n, model="magnific:nano-banana-pro")
                for _ in range(int(max(60.0, n / 10))):
                    counts = await runtime.store.jobs.status_counts()
                    waiting = sum(c for _, s, c in counts if s in ("submitted", "running"))
                    if waiting >= n:
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise RuntimeError(f"{n} jobs did not reach the provider")
                samples = [fake.count(*EDITS)]
                step = 0.25
                for _ in range(int(seconds / step)):
                    await asyncio.sleep(step)
                    samples.append(fake.count(*EDITS))
                per = int(1 / step)
                rates = [samples[i + per] - samples[i] for i in range(len(samples) - per)]
                return rates, samples[-1] - start


def _row(what: str, figure: str, goal: str, ok: bool) -> str:
    return f"| {what} | {figure} | {goal} | {'✔' if ok else '✘ MISSED'} |"


async def run(queues: list[int], waiting: int, seconds: float, concurrency: int) -> int:
    """Run both measurements and print the table; 0 when every goal holds, else 1."""
    rows = ["| what | measured | goal | |", "| --- | --- | --- | --- |"]
    missed = 0
    breakdowns: list[str] = []
    for n in queues:
        began = time.monotonic()
        per_job, used = await requests_per_job(n, concurrency, limit=max(60.0, n / 2))
        took = time.monotonic() - began
        ok = per_job <= GOAL_PER_JOB
        missed += not ok
        rows.append(
            _row(
                f"Discord requests per job, {n} jobs queued (concurrency {concurrency})",
                f"{per_job:.2f} ({took:.0f} s run)",
                f"≤ {GOAL_PER_JOB:.0f}",
                ok,
            )
        )
        parts = ", ".join(f"{route} {count / n:.2f}" for route, count in used.most_common())
        breakdowns.append(f"  {n} jobs: {parts}")
    if waiting:
        rates, edits = await edits_while_waiting(waiting, seconds)
        top = max(rates, default=0)
        mean = sum(rates) / len(rates) if rates else 0.0
        ok = top <= GOAL_EDITS_PER_SECOND
        missed += not ok
        rows.append(
            _row(
                f"status edits per second while {waiting} jobs wait at the provider "
                f"({seconds:.0f} s window)",
                f"max {top}, mean {mean:.1f} ({edits} edits in all, {edits / waiting:.2f} a job)",
                f"≤ {GOAL_EDITS_PER_SECOND:.0f}",
                ok,
            )
        )
    print("\n".join(rows))
    print("per job, by route:")
    print("\n".join(breakdowns))
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.discord_requests")
    parser.add_argument("--queues", default="10,300", help="queue lengths, comma-separated")
    parser.add_argument("--waiting", type=int, default=1000, help="jobs waiting at the provider")
    parser.add_argument("--seconds", type=float, default=20.0, help="edit-rate window")
    parser.add_argument("--concurrency", type=int, default=5, help="provider concurrency")
    args = parser.parse_args(argv)
    queues = [int(q) for q in args.queues.split(",") if q.strip()]
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(queues, args.waiting, args.seconds, args.concurrency))


if __name__ == "__main__":
    sys.exit(main())
