"""Builds a real engine (real SQLite file, real providers, real receiver) for tests."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import httpx
from aiohttp import web

from bot.jobs.delivery import FileDelivery
from bot.jobs.engine import EngineConfig, JobEngine
from bot.jobs.models import ImageFile, Job, JobSpec, Origin, Receipt
from bot.media.fetch import ImageFetcher
from bot.storage.db import Database
from bot.storage.migrate import migrate
from bot.web.app import start_receiver
from providers.base import GenerationRequest, Provider

FAST = EngineConfig(poll_interval=0.05, idle_tick=0.2, deadline_seconds=30.0)


class CountingDelivery(FileDelivery):
    """The CLI's file delivery, also counting how often each job was delivered."""

    def __init__(self, out_dir: Path) -> None:
        super().__init__(out_dir)
        self.deliveries: Counter[str] = Counter()

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        receipt = await super().deliver(job, images, attempt)
        self.deliveries[job.id] += 1
        return receipt


@dataclasses.dataclass
class Harness:
    engine: JobEngine
    db: Database
    delivery: CountingDelivery
    client: httpx.AsyncClient
    runner: web.AppRunner | None = None
    port: int | None = None

    async def close(self) -> None:
        await self.engine.stop(grace=1.0)
        if self.runner is not None:
            await self.runner.cleanup()
        for provider in self.engine.providers.values():
            await provider.aclose()
        await self.client.aclose()
        await self.db.close()

    def callback_url(self, job: Job) -> str:
        return f"http://127.0.0.1:{self.port}/callbacks/{job.id}/{job.callback_token}"


async def make_harness(
    tmp_path: Path,
    providers: Mapping[str, Provider],
    *,
    allowance: int | None = 100,
    config: EngineConfig = FAST,
    receiver: bool = False,
    start: bool = True,
) -> Harness:
    db = await Database.open(tmp_path / "bananabot.db")
    await migrate(db)
    client = httpx.AsyncClient()
    delivery = CountingDelivery(tmp_path / "out")
    engine = JobEngine(
        db,
        providers,
        delivery,
        ImageFetcher(client, allow_private=True),
        allowance=allowance,
        config=config,
    )
    harness = Harness(engine, db, delivery, client)
    if receiver:
        harness.runner, harness.port = await start_receiver(engine, "127.0.0.1", 0)
        engine.config = dataclasses.replace(
            config, callback_base_url=f"http://127.0.0.1:{harness.port}"
        )
    if start:
        await engine.start()
    return harness


async def stored(harness: Harness, job_id: str) -> Job:
    """The job as stored (it must exist)."""
    job = await harness.engine.jobs.get(job_id)
    assert job is not None
    return job


def spec(
    prompt: str = "a red fox", provider: str = "local", user: str = "u1", **request: object
) -> JobSpec:
    """A job spec for a user."""
    return JobSpec(
        origin=Origin(user_id=user, channel_id="c1"),
        provider=provider,
        request=GenerationRequest(prompt=prompt, **request),
    )
