"""Deliveries at once are bounded (each holds its images in memory from download to post):
the others wait, stored as succeeded and due, and each takes the next free turn."""

import asyncio
import dataclasses
from pathlib import Path

from bot.jobs.models import Job, Receipt
from bot.jobs.states import JobStatus
from bot.media.sniff import ImageFile
from providers.local import LocalProvider, LocalSettings
from tests.jobs.harness import FAST, CountingNotifier, make_harness, spec, stored, until


class HeldNotifier(CountingNotifier):
    """Posts only once told to, counting the posts in flight."""

    def __init__(self, out_dir: Path) -> None:
        super().__init__(out_dir)
        self.posting = 0
        self.most = 0
        self.go = asyncio.Event()

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        self.posting += 1
        self.most = max(self.most, self.posting)
        try:
            await self.go.wait()
            return await super().deliver(job, images, attempt)
        finally:
            self.posting -= 1


async def test_at_most_the_configured_deliveries_run_at_once_and_the_rest_take_turns(tmp_path):
    config = dataclasses.replace(
        FAST, deliveries_at_once=2, default_concurrency=8, per_user_active_limit=8
    )
    local = LocalProvider(LocalSettings.from_values())
    h = await make_harness(tmp_path, {"local": local}, config=config, start=False)
    notifier = h.delivery = HeldNotifier(tmp_path / "out")
    await h.start()
    try:
        jobs = [await h.engine.accept(spec(prompt=f"fox {n}")) for n in range(6)]

        async def two_posting_four_waiting() -> bool:
            statuses = [(await stored(h, job.id)).status for job in jobs]
            return notifier.posting == 2 and statuses.count(JobStatus.SUCCEEDED) == 6

        await until(two_posting_four_waiting, what="two posts in flight, six succeeded")
        await asyncio.sleep(0.3)  # several of the engine's passes: still only two
        assert (notifier.posting, notifier.most) == (2, 2)

        notifier.go.set()
        for job in jobs:
            done = await h.engine.wait(job.id, 10.0)
            assert done.status is JobStatus.DELIVERED
            assert done.delivery_attempts == 1  # a wait for a turn is not an attempt
            assert notifier.deliveries[job.id] == 1
        assert notifier.most == 2
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (6, 0)
    finally:
        await h.close()
