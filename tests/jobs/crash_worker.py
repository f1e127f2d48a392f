"""A bot-like process for crash tests: the real engine, real SQLite, a real provider.

``python -m tests.jobs.crash_worker --db DB --out DIR --log LOG --base-url URL --key KEY
[--accept N]`` accepts N jobs (when asked), runs the engine until every job in the database is
final, and exits. Each delivery appends the job id to LOG (fsynced), so a test that SIGKILLs
this process and starts it again can count deliveries across both lives.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.cli.files import FileNotifier
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, JobSpec, Origin, Receipt
from bot.jobs.states import FINAL
from bot.media.fetch import ImageFetcher
from bot.media.sniff import ImageFile
from bot.storage.store import SqliteStore
from providers.base import GenerationRequest
from providers.magnific import MagnificProvider, MagnificSettings
from providers.settings import RetryPolicy


class LoggedDelivery(FileNotifier):
    """File delivery that also appends each delivered job id to a log, durably.

    Like every delivery it answers ``earlier_delivery`` (the process died between delivering
    and recording it) from its own record, as the Discord delivery looks for its message.
    """

    def __init__(self, out_dir: Path, log: Path) -> None:
        super().__init__(out_dir)
        self.log = log

    async def earlier_delivery(self, job: Job) -> Receipt | None:
        if self.log.exists() and job.id in self.log.read_text().split():
            return Receipt(via="file", message_id=None)
        return None

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        receipt = await super().deliver(job, images, attempt)
        with self.log.open("a") as handle:
            handle.write(f"{job.id}\n")
            handle.flush()
            os.fsync(handle.fileno())
        return receipt


async def main(args: argparse.Namespace) -> int:
    store = await SqliteStore.open(args.db)
    provider = MagnificProvider(
        MagnificSettings.from_values(
            api_key=SecretStr(args.key),
            base_url=args.base_url,
            retry=RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05),
        )
    )
    async with httpx.AsyncClient() as client:
        engine = JobEngine(
            store,
            {"magnific": provider},
            ImageFetcher(client, allow_private=True),
            config=EngineConfig(
                allowance=100,
                poll_interval=0.05,
                idle_tick=0.1,
                deadline_seconds=60,
                per_user_active_limit=100,
            ),
        )
        for index in range(args.accept):
            job = await engine.accept(
                JobSpec(
                    origin=Origin(user_id=f"user{index % 3}"),
                    provider="magnific",
                    request=GenerationRequest(prompt=f"fox number {index}"),
                )
            )
            print(f"ACCEPTED {job.id}", flush=True)  # noqa: T201
        await engine.start(LoggedDelivery(Path(args.out), Path(args.log)))
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            row = await store.db.fetchone(
                "SELECT COUNT(*) FROM jobs WHERE status NOT IN ({})".format(  # noqa: S608
                    ", ".join(f"'{s.value}'" for s in FINAL)
                )
            )
            if row is not None and row[0] == 0:
                break
            await asyncio.sleep(0.05)
        await engine.stop(grace=2.0)
    await provider.aclose()
    await store.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--db", "--out", "--log", "--base-url", "--key"):
        parser.add_argument(name, required=True)
    parser.add_argument("--accept", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=60.0)
    sys.exit(asyncio.run(main(parser.parse_args())))
