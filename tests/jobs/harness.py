"""Builds a real engine (real SQLite file, or a given store; real providers, real receiver)
for tests."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx
from aiohttp import web

from bot.cli.files import FileNotifier
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, JobSpec, Origin, Receipt
from bot.media.fetch import ImageFetcher
from bot.media.sniff import ImageFile
from bot.storage.backend import AnyStore
from bot.storage.store import SqliteStore
from bot.web.app import ReceiverLimits, start_receiver, start_status
from bot.web.sockets import listen
from providers.base import GenerationRequest, Provider

FAST = EngineConfig(allowance=100, poll_interval=0.05, idle_tick=0.2, deadline_seconds=30.0)


class CountingNotifier(FileNotifier):
    """The CLI's file notifier, also counting how often each job was delivered."""

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
    store: AnyStore
    delivery: CountingNotifier
    client: httpx.AsyncClient
    runner: web.AppRunner | None = None
    port: int | None = None
    #: /healthz and /metrics (started with the receiver)
    status: web.AppRunner | None = None
    status_port: int | None = None

    async def start(self) -> None:
        await self.engine.start(self.delivery)

    async def close(self) -> None:
        await self.engine.stop(grace=1.0)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.status is not None:
            await self.status.cleanup()
        for provider in self.engine.providers.values():
            await provider.aclose()
        await self.client.aclose()
        await self.store.close()

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
    clock: Callable[[], float] = time.time,
    allow_private: bool = True,
    receiver_limits: ReceiverLimits | None = None,
    store: AnyStore | None = None,
) -> Harness:
    """``store``: the one to use (the harness closes it); default a new SQLite file."""
    if store is None:
        store = await SqliteStore.open(tmp_path / "bananabot.db")
    client = httpx.AsyncClient()
    delivery = CountingNotifier(tmp_path / "out")
    config = dataclasses.replace(config, allowance=allowance)
    listener = listen("127.0.0.1", 0) if receiver else None
    port = int(listener.getsockname()[1]) if listener is not None else None
    if port is not None:
        config = dataclasses.replace(config, callback_base_url=f"http://127.0.0.1:{port}")
    engine = JobEngine(
        store,
        providers,
        ImageFetcher(client, allow_private=allow_private),
        config=config,
        clock=clock,
    )
    harness = Harness(engine, store, delivery, client, port=port)
    if listener is not None:
        harness.runner = await start_receiver(engine, listener, receiver_limits)
        status = listen("127.0.0.1", 0)
        harness.status = await start_status(engine, engine.meters, status)
        harness.status_port = int(status.getsockname()[1])
    if start:
        await harness.start()
    return harness


async def stored(harness: Harness, job_id: str) -> Job:
    """The job as stored (it must exist)."""
    job = await harness.engine.get_job(job_id, images=True)
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


T = TypeVar("T")


async def until(
    check: Callable[[], Awaitable[T | None]], *, timeout: float = 10.0, what: str = "a condition"
) -> T:
    """Check every 20 ms until ``check`` returns something truthy (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class ManualClock:
    """A clock the test moves: the engine's idea of "now" (deadlines, poll times)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
