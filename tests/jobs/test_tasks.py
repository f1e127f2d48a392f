"""The engine's task set runs at most one task per (activity, job)."""

from __future__ import annotations

import asyncio

from bot.jobs.tasks import TaskSet


async def test_an_activity_runs_once_per_job_however_many_start_it():
    release = asyncio.Event()
    runs: list[str] = []

    async def deliver(tag: str) -> None:
        runs.append(tag)
        await release.wait()

    tasks = TaskSet(on_done=lambda: None)
    # the engine loop's listing and the task that stored the results both start a delivery
    assert tasks.spawn("deliver", "job1", deliver("from the listing"))
    assert not tasks.spawn("deliver", "job1", deliver("from the result"))  # dropped, unrun
    assert tasks.spawn("poll", "job1", deliver("another activity"))
    assert tasks.spawn("deliver", "job2", deliver("another job"))
    await asyncio.sleep(0)
    assert sorted(runs) == ["another activity", "another job", "from the listing"]
    release.set()
    await tasks.stop(grace=1.0)
    assert not tasks.busy("deliver", "job1")
    assert tasks.spawn("deliver", "job1", deliver("later"))  # free again once it finished
    await tasks.stop(grace=1.0)
