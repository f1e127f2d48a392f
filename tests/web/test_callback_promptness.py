"""A callback saying a task finished is acted on at once: the job is read, stored and delivered
well within the coalescing window its "started" callback opened. The real receiver and engine,
the fake Magnific signing its webhooks."""

from __future__ import annotations

import time

from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific, MagnificTask
from tests.jobs.harness import make_harness, spec

SECRET = "s3cret"


class TimedMagnific(FakeMagnific):
    """Notes when each task finished."""

    def __init__(self) -> None:
        super().__init__(webhook_secret=SECRET)
        self.finished: dict[str, float] = {}

    def _finish(self, task: MagnificTask) -> None:
        super()._finish(task)
        self.finished[task.task_id] = time.time()


async def test_a_task_finishing_soon_after_it_started_is_delivered_at_once(tmp_path) -> None:
    magnific = TimedMagnific()
    async with magnific:
        magnific.step_seconds = 0.3  # "started" callback at 0.3 s, "finished" at 0.6 s
        provider = MagnificProvider(
            provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr(SECRET))
        )
        config = EngineConfig(callback_coalesce_seconds=2.0, idle_tick=5.0)  # polls far off
        h = await make_harness(tmp_path, {"magnific": provider}, receiver=True, config=config)
        try:
            specs = [spec(provider="magnific", user=f"u{i}") for i in range(8)]
            jobs = [await h.engine.accept(s) for s in specs]
            done = [await h.engine.wait(job.id, 10) for job in jobs]
        finally:
            await h.close()
    for job in done:
        assert job.status.value == "delivered" and job.task_id is not None
        assert job.completed_at is not None
        found = job.completed_at - magnific.finished[job.task_id]
        assert found < 1.0, f"read {found:.2f} s after the task finished (the window is 2 s)"
    assert len(magnific.requests_to("/v1/ai/text-to-image/", "GET")) <= 2 * len(jobs)
