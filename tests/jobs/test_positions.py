"""Waiting jobs are told their place in line: the first at once, the front of the line at
once, others at most every ``position_interval`` seconds (each job that starts moves every
other: N² edits otherwise)."""

from __future__ import annotations

import dataclasses

import pytest

from bot.jobs.config import EngineConfig
from providers.local import LocalProvider, LocalSettings
from tests.jobs.harness import FAST, ManualClock, make_harness, spec


@pytest.mark.parametrize("interval", [0.0, 60.0])
async def test_queued_jobs_hear_of_a_new_place_at_most_every_interval(tmp_path, interval):
    clock = ManualClock()  # the engine's time stands still: 60 s never pass
    config = dataclasses.replace(
        FAST, provider_concurrency={"local": 1}, position_interval=interval
    )
    h = await make_harness(
        tmp_path,
        {"local": LocalProvider(LocalSettings.from_values())},
        config=config,
        start=False,
        clock=clock,
    )
    try:
        jobs = []
        for i in range(5):  # queued in this order
            jobs.append(await h.engine.accept(spec(user=f"user{i}")))
            clock.advance(0.001)
        await h.start()
        for job in jobs:
            assert (await h.engine.wait(job.id, 30)).status.value == "delivered"
        last = jobs[-1].id
        told = [p.position for jid, p in h.delivery.progress_log if jid == last and p.position]
    finally:
        await h.close()
    if interval:
        # the first place, then only the front of the line until the interval has passed
        assert told == [4, 1]
    else:
        assert told[0] == 4 and told[-1] == 1 and told == sorted(told, reverse=True)


def test_a_new_place_is_told_at_most_every_15_seconds_by_default():
    assert EngineConfig().position_interval == 15.0
