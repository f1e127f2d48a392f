"""Webhook added latency: how long after a provider finishes its result is posted on Discord.

    .venv/bin/python -m benchmarks.webhook_latency [--jobs 20] [--runs 1]

The real bot (composition root and all) runs in this process against the loopback fake
Discord and the Magnific fake, which signs a webhook to the bot's callback receiver when a
task finishes. ``--jobs`` users run ``/imagine`` at once (Nano Banana Pro Flash, 1K); the
tasks finish about 2 s after they were created, close together. For each job the added
latency is the time the fake Discord received the result's follow-up minus the time the
provider finished the task (both on this machine's clock). The result images are rendered
once before the run, so the fake's own drawing does not stall the shared event loop.

Printed, each beside its goal: p50, p99 and the maximum of the added latency; and where the
time goes at the median: provider finished → the bot stored the job succeeded (callback,
hint, status read) → the follow-up posted (download, fitting, upload). Exits 1 when a goal
is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from benchmarks.bot_process import (
    RunError,
    free_port,
    in_scratch,
    log_file,
    metrics,
    start_bot,
    stop_bot,
    until,
)
from bot.web.lag import LagMonitor
from providers.magnific import MagnificProvider
from tests.discord.bot_harness import job_id_of, running_bot, settings_for
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.magnific import FakeMagnific, MagnificTask

GOAL_P50 = 0.100
GOAL_P99 = 0.250
SECRET = "bench-secret"  # noqa: S105 - the fake provider's webhook secret
MODEL = "magnific:nano-banana-pro-flash"


class TimedMagnific(FakeMagnific):
    """The Magnific fake noting when each task finished, with results rendered once."""

    def __init__(self) -> None:
        super().__init__(webhook_secret=SECRET)
        self.finished: dict[str, float] = {}  # task id → time.time() it completed
        self.same_renders = True

    def draw_ahead(self) -> None:
        """Render the 1K square result now, before any task runs."""
        self.make_result_files("a fox", "1:1", "1K", 1, image_format="JPEG")
        self.files.clear()

    def _finish(self, task: MagnificTask) -> None:
        super()._finish(task)
        self.finished[task.task_id] = time.time()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


Figures = dict[str, list[float]]


def _figures() -> Figures:
    return {"added": [], "found": [], "post": [], "fake_lag": []}


def _collect_posts(fake: FakeDiscord, posted: dict[str, float], skip: set[str]) -> None:
    """Each result's follow-up: when the fake took it (its message's timestamp, not when a
    wait noticed it: a busy loop runs that late, and for several messages at once)."""
    for message in fake.messages("*"):
        if message.attachments and not message.ephemeral:
            job_id = job_id_of(message)
            if job_id not in skip:
                at = datetime.fromisoformat(message.timestamp).timestamp()
                posted.setdefault(job_id, at)


async def _ask(fake: FakeDiscord, jobs: int, tag: str) -> list[FakeInteraction]:
    """``jobs`` users run /imagine at once; returns once every one is acknowledged."""
    users = [fake.add_user(f"{tag}{i}") for i in range(jobs)]
    asked: list[FakeInteraction] = await asyncio.gather(
        *(
            fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": f"fox {i}", "model": MODEL, "resolution": "1K"},
            )
            for i, user in enumerate(users)
        )
    )
    await asyncio.gather(*(ix.wait_callback() for ix in asked))
    return asked


async def _post_all(fake: FakeDiscord, jobs: int, step: float, skip: set[str]) -> dict[str, float]:
    """Wait for ``jobs`` results (other than ``skip``'s) to be posted: job id → when."""
    posted: dict[str, float] = {}

    def all_posted() -> bool | None:
        _collect_posts(fake, posted, skip)
        return len(posted) >= jobs or None

    await fake.wait_for(all_posted, timeout=30 + 4 * step, what="every result")
    return posted


def _add(
    figures: Figures, magnific: TimedMagnific, task_id: str, completed: float, at: float
) -> None:
    done = magnific.finished[task_id]
    figures["added"].append(at - done)
    figures["found"].append(completed - done)
    figures["post"].append(at - completed)


async def measure(jobs: int, step: float = 1.0) -> Figures:
    """One run with the bot in this process: ``jobs`` at once; per job, the added latency and
    its two parts (seconds). The fakes' work shares the bot's event loop here."""
    magnific = TimedMagnific()
    async with FakeDiscord() as fake, magnific:
        fake.keep_requests = False
        magnific.step_seconds = step
        magnific.draw_ahead()
        provider = MagnificProvider.settings_type.from_values(
            api_key=magnific.api_key,
            base_url=magnific.base_url,
            webhook_secret=SecretStr(SECRET),
        )
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(
                fake,
                Path(tmp),
                magnific=provider,
                default_provider="magnific",
                poll_interval_seconds=None,  # learned schedule: the webhook finds them first
                provider_concurrency={"magnific": jobs},
                quota_daily_credits=100_000,
            )
            async with running_bot(fake, settings, callbacks=True) as runtime:
                await _ask(fake, jobs, "bench")
                posted = await _post_all(fake, jobs, step, set())
                for _ in range(100):  # the deliveries recorded, the last edits made
                    counts = await runtime.store.jobs.status_counts()
                    if sum(c for _, s, c in counts if s == "delivered") >= jobs:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                figures = _figures()
                for job_id, at in posted.items():
                    job = await runtime.store.jobs.get(job_id, images=False)
                    assert job is not None and job.task_id is not None
                    assert job.completed_at is not None
                    _add(figures, magnific, job.task_id, job.completed_at, at)
                return figures


def _stored(db: Path, job_ids: set[str]) -> dict[str, tuple[str, float]]:
    """Job id → (task id, when it was stored as succeeded), read from the bot's database."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT id, task_id, completed_at FROM jobs WHERE completed_at IS NOT NULL"
        ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows if row[0] in job_ids}


async def measure_process(jobs: int, step: float = 1.0) -> Figures:
    """One run with the bot as its own process (``python -m bot run``, as deployed), the fakes
    here: one job first, to warm the bot up, then ``jobs`` at once."""
    magnific = TimedMagnific()
    figures = _figures()

    async def run_in(tmp: Path) -> None:
        async with FakeDiscord() as fake, magnific, httpx.AsyncClient(timeout=10) as client:
            fake.keep_requests = False
            magnific.step_seconds = step
            magnific.draw_ahead()
            port, callback_port = free_port(), free_port()
            env = {
                "MAGNIFIC_API_KEY": magnific.api_key,
                "MAGNIFIC_BASE_URL": magnific.base_url,
                "MAGNIFIC_WEBHOOK_SECRET": SECRET,
                "DEFAULT_PROVIDER": "magnific",
                "CALLBACK_HOST": "127.0.0.1",
                "CALLBACK_PORT": str(callback_port),
                "CALLBACK_PUBLIC_URL": f"http://127.0.0.1:{callback_port}",
                "PROVIDER_CONCURRENCY": json.dumps({"magnific": jobs}),
                "QUOTA_DAILY_CREDITS": "100000",
            }
            log = log_file(tmp / "bot.log")
            bot = await start_bot(fake, tmp, port, log, env)
            try:
                await fake.wait_identified(1, timeout=60)
                await until(lambda: fake.commands.get(None), 60, "the command sync")
                await _ask(fake, 1, "warm")
                warm = await _post_all(fake, 1, step, set())
                await asyncio.sleep(0.5)
                lag = LagMonitor(interval=0.005)  # the fakes' loop: late here, late answers
                lag.start()
                await _ask(fake, jobs, "bench")
                posted = await _post_all(fake, jobs, step, set(warm))
                await lag.stop()
                figures["fake_lag"].append(lag.max)

                async def delivered() -> bool:
                    found = await metrics(client, port)
                    key = 'bananabot_jobs{provider="magnific",status="delivered"}'
                    return found.get(key, 0.0) >= jobs + 1

                await until(delivered, 30, "the deliveries recorded", every=0.1)
            finally:
                await stop_bot(bot)
                log.close()
            stored = _stored(tmp / "bot.db", set(posted))
            if len(stored) < jobs:
                raise RunError(f"only {len(stored)} of {jobs} jobs were stored as succeeded")
            for job_id, at in posted.items():
                task_id, completed = stored[job_id]
                _add(figures, magnific, task_id, completed, at)

    await in_scratch(run_in)
    return figures


def _row(what: str, seconds: float, goal: float | None) -> tuple[str, bool]:
    ok = goal is None or seconds <= goal
    goal_text = f"≤ {goal * 1000:.0f} ms" if goal is not None else ""
    mark = "" if goal is None else ("✔" if ok else "✘ MISSED")
    return f"| {what} | {seconds * 1000:.0f} ms | {goal_text} | {mark} |", ok


def report(figures: dict[str, list[float]], jobs: int) -> tuple[list[str], bool]:
    """The table's rows and whether every goal holds."""
    added = figures["added"]
    rows = ["| what | measured | goal | |", "| --- | --- | --- | --- |"]
    met = True
    for what, value, goal in (
        (f"added latency p50, {jobs} jobs at once, 1K", _percentile(added, 0.5), GOAL_P50),
        (f"added latency p99, {jobs} jobs at once, 1K", _percentile(added, 0.99), GOAL_P99),
        ("added latency max", max(added), None),
        ("median: finished → stored as succeeded", statistics.median(figures["found"]), None),
        ("median: stored as succeeded → posted", statistics.median(figures["post"]), None),
        *(
            [("the fakes' own event loop (Discord, Magnific): its longest lag", max(lags), None)]
            if (lags := figures.get("fake_lag"))
            else []
        ),
    ):
        row, ok = _row(what, value, goal)
        rows.append(row)
        met = met and ok
    return rows, met


async def run(
    jobs: int, runs: int, step: float = 1.0, *, in_process: bool = False
) -> dict[str, Any]:
    """``runs`` runs of ``jobs`` at once; prints the table of all of them together."""
    merged = _figures()
    for _ in range(runs):
        measured = await (measure(jobs, step) if in_process else measure_process(jobs, step))
        if len(measured["added"]) < jobs:
            raise RunError("a run did not finish (its error is printed above)")
        for key, values in measured.items():
            merged[key] += values
    print(
        f"{jobs} jobs at once, {runs} runs; the bot "
        + (
            "in this process, sharing its event loop with the fakes"
            if in_process
            else "as its own process (python -m bot run), the fakes in this one"
        )
    )
    rows, met = report(merged, jobs)
    print("\n".join(rows))
    return {"met": met, **merged}


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhook_latency")
    parser.add_argument("--jobs", type=int, default=20, help="jobs at once")
    parser.add_argument("--runs", type=int, default=1, help="runs, figures taken together")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the bot in this process, sharing the fakes' event loop",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        result = asyncio.run(run(args.jobs, args.runs, in_process=args.in_process))
    except RunError as exc:
        print(f"the benchmark did not finish: {exc}")
        return 2
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
