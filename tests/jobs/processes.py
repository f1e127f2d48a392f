"""Engines that share one PostgreSQL schema, each with its own pool, provider client and
notifier: separate processes, as far as the store can tell (tests and benchmarks)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from aiohttp import web

from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.media.fetch import ImageFetcher
from bot.storage.postgres.store import PostgresStore
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import CountingNotifier
from tests.pg import pg_schema

#: a short lease, so takeovers come within a test's time
LEASE = 1.0
CONFIG = EngineConfig(
    allowance=1000,
    per_user_active_limit=100,
    poll_interval=0.05,
    idle_tick=0.5,
    deadline_seconds=60.0,
    lease_seconds=LEASE,
)


@dataclasses.dataclass
class Process:
    """One bot process: its own pool, provider client, engine and notifier."""

    engine: JobEngine
    store: PostgresStore
    notifier: CountingNotifier
    client: httpx.AsyncClient
    provider: MagnificProvider
    receiver: web.AppRunner | None = None
    stopped: bool = False

    async def close(self, *, crash: bool = False) -> None:
        """Stop the engine (``crash``: abort it, as a killed process stops) and close all."""
        if not self.stopped:
            self.stopped = True
            if crash:
                await self.engine.abort()
            else:
                await self.engine.stop(grace=1.0)
        if self.receiver is not None:
            await self.receiver.cleanup()
            self.receiver = None
        await self.provider.aclose()
        await self.client.aclose()
        await self.store.close()


async def open_process(
    url: str, fake: FakeMagnific, out: Path, config: EngineConfig = CONFIG, **settings: object
) -> Process:
    """A process's parts on the schema at ``url`` (its engine not started); ``settings``
    for its Magnific client."""
    store = await PostgresStore.open(url)
    client = httpx.AsyncClient()
    provider = MagnificProvider(provider_settings(MagnificProvider, fake, **settings))
    engine = JobEngine(
        store, {"magnific": provider}, ImageFetcher(client, allow_private=True), config=config
    )
    return Process(engine, store, CountingNotifier(out), client, provider)


@asynccontextmanager
async def shared_schema() -> AsyncIterator[tuple[str, FakeMagnific]]:
    """A fresh schema, migrated, and a fake Magnific for every process to use."""
    async with pg_schema() as url, FakeMagnific() as fake:
        await (await PostgresStore.open(url)).close()  # migrated once, before the processes
        yield url, fake


def deliveries(processes: Sequence[Process]) -> Counter[str]:
    """How often each job was delivered, by any of ``processes``."""
    total: Counter[str] = Counter()
    for process in processes:
        total.update(process.notifier.deliveries)
    return total
