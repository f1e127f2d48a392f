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
import logging
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from providers.local import image_size, render_image
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
        self._drawn: dict[tuple[str, str, str], tuple[bytes, str]] = {}

    def make_result_files(
        self,
        prompt: str,
        aspect_ratio: str | None,
        resolution: str | None,
        count: int,
        image_format: str = "PNG",
        reference: bytes | None = None,
    ) -> list[str]:
        key = (aspect_ratio or "1:1", resolution or "1K", image_format)
        if key not in self._drawn:
            data = render_image(prompt, image_size(key[0], key[1]), image_format=image_format)
            self._drawn[key] = (data, "image/jpeg" if image_format == "JPEG" else "image/png")
        urls = []
        for _ in range(count):
            name = f"{uuid.uuid4().hex}.{'jpg' if image_format == 'JPEG' else 'png'}"
            self.files[name] = self._drawn[key]
            urls.append(f"{self.base_url}/files/{name}?token=exp%3D9999999999~hmac%3Dabc")
        return urls

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


async def measure(jobs: int, step: float = 1.0) -> dict[str, list[float]]:
    """One run: ``jobs`` at once; per job, the added latency and its two parts (seconds)."""
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
                users = [fake.add_user(f"bench{i}") for i in range(jobs)]
                posted: dict[str, float] = {}

                def all_posted() -> bool | None:
                    for message in fake.messages("*"):
                        if message.attachments and not message.ephemeral:
                            # when the fake took it, not when this wait noticed (a busy loop
                            # runs it late, and for several messages at once)
                            at = datetime.fromisoformat(message.timestamp).timestamp()
                            posted.setdefault(job_id_of(message), at)
                    return len(posted) >= jobs or None

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
                await fake.wait_for(all_posted, timeout=30 + 4 * step, what="every result")
                for _ in range(100):  # the deliveries recorded, the last edits made
                    counts = await runtime.store.jobs.status_counts()
                    if sum(c for _, s, c in counts if s == "delivered") >= jobs:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                figures: dict[str, list[float]] = {"added": [], "found": [], "post": []}
                for job_id, at in posted.items():
                    job = await runtime.store.jobs.get(job_id, images=False)
                    assert job is not None and job.task_id is not None
                    assert job.completed_at is not None
                    done = magnific.finished[job.task_id]
                    figures["added"].append(at - done)
                    figures["found"].append(job.completed_at - done)
                    figures["post"].append(at - job.completed_at)
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
    ):
        row, ok = _row(what, value, goal)
        rows.append(row)
        met = met and ok
    return rows, met


async def run(jobs: int, runs: int, step: float = 1.0) -> dict[str, Any]:
    """``runs`` runs of ``jobs`` at once; prints the table of all of them together."""
    merged: dict[str, list[float]] = {"added": [], "found": [], "post": []}
    for _ in range(runs):
        for key, values in (await measure(jobs, step)).items():
            merged[key] += values
    rows, met = report(merged, jobs)
    print("\n".join(rows))
    return {"met": met, **merged}


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhook_latency")
    parser.add_argument("--jobs", type=int, default=20, help="jobs at once")
    parser.add_argument("--runs", type=int, default=1, help="runs, figures taken together")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args.jobs, args.runs))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
