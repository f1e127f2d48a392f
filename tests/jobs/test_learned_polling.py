"""The engine learns completion times and reads a task's status where completion is likely."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.jobs.config import EngineConfig
from providers.local import LocalProvider, LocalSettings
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import ManualClock, make_harness, spec, stored, until

LEARNING = EngineConfig(allowance=100, idle_tick=0.1, deadline_seconds=900.0)


async def test_completion_times_are_learned_and_read_back_at_start(tmp_path: Path) -> None:
    local = {"local": LocalProvider(LocalSettings.from_values())}
    h = await make_harness(tmp_path, local, config=LEARNING)
    try:
        job = await h.engine.accept(spec())
        await h.engine.wait(job.id, 10.0)
        seen = h.engine._running().tracking.completions.seen()
        assert sum(seen.values()) == 1  # learned in memory as it completed
    finally:
        await h.close()
    again = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, config=LEARNING
    )
    try:
        assert sum(again.engine._running().tracking.completions.seen().values()) == 1
    finally:
        await again.close()


async def test_the_first_read_comes_where_completions_were_seen(tmp_path: Path) -> None:
    clock = ManualClock()
    async with FakeMagnific() as fake:
        fake.steps_to_finish = 1000
        provider = MagnificProvider(provider_settings(MagnificProvider, fake))
        h = await make_harness(tmp_path, {"magnific": provider}, config=LEARNING, clock=clock)
        try:
            model = provider.capabilities.model(None)
            times = h.engine._running().tracking.completions.of(
                "magnific", model.name, model.typical_seconds
            )
            times.extend([100.0 + i % 10 for i in range(500)])  # this model takes 100–110 s
            job = await h.engine.accept(spec(provider="magnific"))

            async def tracked() -> bool:
                return (await stored(h, job.id)).next_poll_at is not None

            await until(tracked, what="the first read scheduled")
            found = await stored(h, job.id)
            assert found.submitted_at is not None and found.next_poll_at is not None
            first = found.next_poll_at - found.submitted_at
            assert 95.0 <= first <= 101.0  # not 0.6 × the documented typical time
        finally:
            await h.close()


async def test_status_reads_stay_within_the_providers_budget(tmp_path: Path) -> None:
    clock = ManualClock()
    config = EngineConfig(
        allowance=None,
        per_user_active_limit=100,
        idle_tick=0.05,
        deadline_seconds=900.0,
        provider_concurrency={"magnific": 20},
        status_budget=2.0,
    )
    async with FakeMagnific() as fake:
        fake.steps_to_finish = 1000
        provider = MagnificProvider(provider_settings(MagnificProvider, fake))
        h = await make_harness(tmp_path, {"magnific": provider}, config=config, clock=clock)
        try:
            jobs = [
                await h.engine.accept(spec(provider="magnific", user=f"u{i}")) for i in range(10)
            ]

            async def all_tracked() -> bool:
                found = [await stored(h, job.id) for job in jobs]
                return all(j.next_poll_at is not None for j in found)

            await until(all_tracked, what="ten jobs at the provider")
            clock.advance(300.0)  # every job's read is due at once; the clock then stands still
            h.engine._wake.set()

            async def reads_started() -> bool:
                return len(fake.requests_to("/", "GET")) >= 2

            await until(reads_started, what="the first reads")
            await asyncio.sleep(0.5)  # the engine looks many times; the budget has no more
            assert len(fake.requests_to("/", "GET")) == 2  # a burst of 2, not 10
            clock.advance(1.0)
            h.engine._wake.set()
            await asyncio.sleep(0.5)
            assert len(fake.requests_to("/", "GET")) == 4  # 2 more a second
        finally:
            await h.close()
