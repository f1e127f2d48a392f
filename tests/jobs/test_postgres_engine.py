"""The job engine end to end on PostgreSQL: the same engine, providers and fakes as
test_engine.py, the store a PostgreSQL schema of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.jobs.states import JobStatus
from bot.storage.postgres.store import PostgresStore
from providers.local import LocalProvider, LocalSettings
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import make_harness, spec
from tests.pg import pg_schema


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with pg_schema() as url:
        yield url


async def test_local_jobs_are_delivered_and_charged_once(tmp_path, pg_url):
    store = await PostgresStore.open(pg_url)
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, store=store
    )
    try:
        jobs = [
            await h.engine.accept(spec(user=f"u{i % 5}", resolution="2K", count=1 + i % 2))
            for i in range(10)
        ]
        done = await asyncio.wait_for(
            asyncio.gather(*(h.engine.wait(job.id, 20.0) for job in jobs)), 30
        )
        assert all(job.status is JobStatus.DELIVERED for job in done)
        assert all(h.delivery.deliveries[job.id] == 1 for job in jobs)
        for user in range(5):
            quota = await h.engine.quota(f"u{user}")
            charged = sum(job.cost for job in jobs if job.origin.user_id == f"u{user}")
            assert (quota.spent, quota.reserved) == (charged, 0)
        left = await store.db.fetchone("SELECT COUNT(*) FROM blobs")
        assert left is not None and left[0] == 0  # delivered results are not kept
    finally:
        await h.close()


async def test_the_webhook_path_delivers_once(tmp_path, pg_url):
    async with FakeMagnific() as magnific:
        magnific.webhook_secret = "whsec-test"
        provider = MagnificProvider(
            provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr("whsec-test"))
        )
        slow = EngineConfig(poll_floor=30.0, poll_cap=30.0, idle_tick=0.2, callback_grace=100)
        store = await PostgresStore.open(pg_url)
        h = await make_harness(
            tmp_path, {"magnific": provider}, receiver=True, config=slow, store=store
        )
        try:
            job = await h.engine.accept(spec(provider="magnific"))
            done = await h.engine.wait(job.id, 10.0)
            assert done.status is JobStatus.DELIVERED, done.failure_reason
            assert h.delivery.deliveries[job.id] == 1
            assert done.delivered_at is not None and done.delivered_at - done.created_at < 10
        finally:
            await h.close()
