"""The engine learns completion times and reads a task's status where completion is likely."""

from __future__ import annotations

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
