"""The engine learns completion times and reads a task's status where completion is likely."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.jobs.config import EngineConfig
from bot.jobs.kinds import kind_of
from providers.base import ReferenceImage
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
        list_interval=None,  # one read per job (the task list: tests/jobs/test_task_list.py)
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


async def test_each_jobs_reads_follow_its_kinds_plan(tmp_path: Path) -> None:
    clock = ManualClock()
    async with FakeMagnific() as fake:
        fake.steps_to_finish = 1000
        provider = MagnificProvider(provider_settings(MagnificProvider, fake))
        h = await make_harness(tmp_path, {"magnific": provider}, config=LEARNING, clock=clock)
        try:
            model = provider.capabilities.model(None)
            completions = h.engine._running().tracking.completions
            slow = kind_of(model, "4K", 0)
            quick = kind_of(model, None, 2)
            assert (slow.resolution, quick.resolution, quick.references) == ("4K", "2K", "1-3")
            # this model's 4K jobs take 200–210 s, at its default 2K with references 100–110 s
            completions.of("magnific", model.name, model.typical_seconds, slow).extend(
                [200.0 + i % 10 for i in range(200)]
            )
            completions.of("magnific", model.name, model.typical_seconds, quick).extend(
                [100.0 + i % 10 for i in range(200)]
            )
            assert completions.seen() == {("magnific", model.name): 400}  # the model pools both
            refs = tuple(ReferenceImage(url=f"https://example.com/{i}.png") for i in range(2))
            big = await h.engine.accept(spec(provider="magnific", resolution="4K"))
            small = await h.engine.accept(spec(provider="magnific", user="u2", references=refs))

            async def tracked() -> bool:
                found = [await stored(h, job.id) for job in (big, small)]
                return all(j.next_poll_at is not None for j in found)

            await until(tracked, what="the first reads scheduled")
            firsts = []
            for job in (big, small):
                found = await stored(h, job.id)
                assert found.submitted_at is not None and found.next_poll_at is not None
                firsts.append(found.next_poll_at - found.submitted_at)
            assert (await stored(h, small.id)).reference_count == 2
            # each where its own kind's completions begin, not where the pooled model's do
            pooled = completions.of("magnific", model.name, model.typical_seconds)
            assert pooled.next_check(0.0, floor=1.0, cap=15.0, first=True) < 101.0
            assert 185.0 <= firsts[0] <= 201.0
            assert 90.0 <= firsts[1] <= 101.0
            # its next read too: still running at its first read, it is read again where the
            # 4K kind's plan says
            first = await stored(h, big.id)
            assert first.submitted_at is not None and first.next_poll_at is not None
            clock.now = first.next_poll_at
            h.engine._wake.set()

            async def read_once() -> bool:
                return (await stored(h, big.id)).poll_count == 1

            await until(read_once, what="the 4K job's first read")
            second = await stored(h, big.id)
            assert second.next_poll_at is not None
            times = completions.of("magnific", model.name, model.typical_seconds, slow)
            elapsed = clock.now - first.submitted_at
            planned = times.next_check(elapsed, floor=LEARNING.poll_floor, cap=LEARNING.poll_cap)
            assert abs(second.next_poll_at - clock.now - planned) < 1e-6
        finally:
            await h.close()
