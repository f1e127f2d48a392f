"""Delivery: a succeeded job's images are downloaded (safely), handed to the notifier once,
and the delivery recorded, which commits the credits (kept until the store takes it, should
it fail just then: see :mod:`bot.jobs.guard`); failures are retried with a backoff on
the job's own delivery clock, and a permanent one fails the job with a refund."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Sequence

from bot.jobs.context import EngineContext
from bot.jobs.models import FailureKind, Job, Progress, Receipt, Stage
from bot.jobs.ports import DeliveryError, StoreUnavailableError
from bot.jobs.states import FINAL, JobStatus
from bot.media.fetch import FetchError
from bot.media.sniff import ImageFile, NotAnImageError, inspect_whole_async
from providers.base import ResultImage

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 60.0
#: how often a group member waiting for the others looks again (seconds)
GROUP_WAIT = 1.0
#: due deliveries claimed per pass at most
CLAIM = 100
#: "Uploading…" is shown only for results not downloaded within this long (seconds): an edit
#: of the status line holds up the post that follows it by a round trip to Discord (edits and
#: follow-ups of one interaction go one at a time), for nothing when the post comes at once
UPLOADING_AFTER = 0.5


class Delivery:
    """Delivers succeeded jobs through the notifier."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        #: results downloading while their jobs are stored as succeeded (see expect())
        self._expected: dict[str, asyncio.Future[list[ImageFile]]] = {}

    def room(self) -> int:
        """How many more deliveries may start now (``deliveries_at_once``, less those
        running or downloading ahead of their start)."""
        busy = set(self.ctx.tasks.running("deliver")) | self._expected.keys()
        return self.ctx.config.deliveries_at_once - len(busy)

    async def deliver_due(self) -> None:
        """Claim succeeded jobs whose attempt is due, as many as there is room for, and start
        their deliveries (a claim lasts ``lease_seconds``, renewed while the delivery runs:
        see :mod:`bot.jobs.leases`)."""
        ctx = self.ctx
        room = self.room()
        if room <= 0:
            return  # the next delivery to end wakes the engine's loop
        now = ctx.clock()
        for job in await ctx.store.leases.claim_deliveries(
            ctx.worker, now, ctx.lease_until(), min(CLAIM, room)
        ):
            ctx.spawn("deliver", job.id, self.deliver(job.id))

    def expect(self, job_id: str, results: Sequence[ResultImage]) -> None:
        """The job (alone, not in a group) is being stored as succeeded with ``results``, its
        first delivery attempt counted in the same commit: the results are downloaded
        meanwhile, and that attempt counts no more (in this process only: after a restart an
        attempt is counted again, and looks for an earlier post)."""
        self._expected[job_id] = asyncio.ensure_future(self._images(results))

    def unexpect(self, job_id: str) -> None:
        """The job was not stored as succeeded after all."""
        _drop(self._expected.pop(job_id, None))

    async def deliver(self, job_id: str) -> None:
        """One delivery attempt (after a crash: first, a look for an earlier one)."""
        ctx = self.ctx
        early = self._expected.pop(job_id, None)
        try:
            job = await ctx.store.jobs.get(job_id, reference_bytes=False)  # only counted
        except BaseException:
            _drop(early)
            raise
        if job is None or job.status is not JobStatus.SUCCEEDED:
            _drop(early)
            return
        members: tuple[str, ...] = (job.id,)
        if job.group_id is not None:
            gathered = await self._gather(job)
            if gathered is None:
                return
            job, members = gathered
        if early is not None and job.delivery_attempts == 1:
            attempt = 1  # counted with the success: nothing can have been posted before
            preparing: asyncio.Future[list[ImageFile]] | None = asyncio.ensure_future(
                self._prepare(job, early)
            )
        else:
            _drop(early)
            # a first attempt (nothing posted before) downloads its images while its count
            # is written; the post waits for all of them
            first = job.delivery_attempts == 0
            preparing = asyncio.ensure_future(self._prepare(job)) if first else None
            try:
                attempt = await ctx.store.jobs.count_delivery_attempt(job.id)
            except BaseException:
                _drop(preparing)
                raise
        if attempt > 1:
            try:
                earlier = await ctx.notifier.earlier_delivery(job)
            except Exception:
                log.exception("job %s: looking for an earlier delivery failed", job_id)
                earlier = None
            if earlier is not None:
                log.info("job %s: already delivered before a restart (%s)", job_id, earlier.via)
                _drop(preparing)
                ctx.meters.delivery("earlier")
                await self._record(job, earlier, members)
                return
        try:
            async with asyncio.timeout(ctx.remaining(job)):  # the deadline covers delivery too
                images = await (preparing if preparing is not None else self._prepare(job))
                receipt = await ctx.notifier.deliver(job, images, attempt)
        except TimeoutError:
            ctx.meters.delivery("failed")
            await ctx.fail(
                job,
                FailureKind.TIMED_OUT,
                "the images could not be delivered before the job's deadline",
                to=JobStatus.TIMED_OUT,
            )
            return
        except DeliveryError as exc:
            await self._failed(job, attempt, str(exc), permanent=exc.permanent)
            return
        except Exception:
            log.exception("job %s: delivery error", job_id)
            await self._failed(job, attempt, "an unexpected error", permanent=False)
            return
        ctx.meters.delivery("delivered")
        await self._record(job, receipt, members)

    async def _record(
        self, job: Job, receipt: Receipt, members: tuple[str, ...] | None = None
    ) -> None:
        """Record the delivery of ``members`` (the job alone, or the group members whose
        images were posted together), committing their credits; kept until the store takes
        it."""
        members = members or (job.id,)
        try:
            await self._delivered(members, receipt)
        except StoreUnavailableError as exc:
            write = functools.partial(self._delivered, members, receipt)
            self.ctx.guard.keep("deliver", job.id, write, exc)

    async def _delivered(self, members: tuple[str, ...], receipt: Receipt) -> None:
        now = self.ctx.clock()
        for member in members:
            await self.ctx.transition(
                member,
                JobStatus.DELIVERED,
                now=now,
                posted_message_id=receipt.message_id,
                delivered_via=receipt.via,
                delivered_at=now,
                next_delivery_at=None,
            )

    async def _gather(self, job: Job) -> tuple[Job, tuple[str, ...]] | None:
        """For a member of a group: once every member has ended or succeeded, the first
        succeeded one posts the images of all (returned: it, with every image, and the
        members posted); the others wait. None when this member has nothing to post now."""
        ctx = self.ctx
        assert job.group_id is not None
        # statuses first: a member waiting for the others looks every GROUP_WAIT seconds
        members = await ctx.store.jobs.group(job.group_id, images=False)
        now = ctx.clock()
        posted = [m for m in members if m.status is JobStatus.DELIVERED]
        if posted:  # posted together before a restart, this member's record not yet written
            await self._record(
                job,
                Receipt(via=posted[0].delivered_via or "", message_id=posted[0].posted_message_id),
            )
            return None
        succeeded = [m for m in members if m.status is JobStatus.SUCCEEDED]
        waiting = any(
            m.status not in FINAL and m.status is not JobStatus.SUCCEEDED for m in members
        )
        if waiting or succeeded[0].id != job.id:
            # look again soon: the last member to end, or the first one, posts them all
            await ctx.store.jobs.update(
                job.id, when=[JobStatus.SUCCEEDED], next_delivery_at=now + GROUP_WAIT
            )
            return None
        posting = {member.id for member in succeeded}
        succeeded = [  # the images, read only now that this member posts them
            member
            for member in await ctx.store.jobs.group(job.group_id)
            if member.id in posting and member.status is JobStatus.SUCCEEDED
        ]
        images = tuple(image for member in succeeded for image in member.results)
        sources = tuple(source for member in succeeded for source in member.sources)
        combined = dataclasses.replace(job, results=images, sources=sources)
        return combined, tuple(member.id for member in succeeded)

    async def _failed(self, job: Job, attempt: int, reason: str, *, permanent: bool) -> None:
        ctx = self.ctx
        if permanent or attempt >= ctx.config.max_delivery_attempts:
            ctx.meters.delivery("failed")
            await ctx.fail(
                job, FailureKind.UNDELIVERABLE, f"the images could not be delivered: {reason}"
            )
            return
        ctx.meters.delivery("retried")
        log.warning("job %s: delivery attempt %d failed (%s); retrying", job.id, attempt, reason)
        await ctx.store.jobs.update(
            job.id,
            when=[JobStatus.SUCCEEDED],
            next_delivery_at=ctx.clock() + min(MAX_RETRY_DELAY, 2.0 * 2**attempt),
        )

    async def _prepare(
        self, job: Job, downloading: Awaitable[list[ImageFile]] | None = None
    ) -> list[ImageFile]:
        """The results downloaded (and checked); "Uploading…" shown meanwhile if that takes
        longer than :data:`UPLOADING_AFTER`."""
        ctx = self.ctx
        images = asyncio.ensure_future(
            downloading if downloading is not None else self._images(job.results)
        )
        try:
            done, _ = await asyncio.wait({images}, timeout=UPLOADING_AFTER)
            if not done:
                elapsed = ctx.clock() - job.created_at
                await ctx.report(job, Progress(Stage.UPLOADING, elapsed=elapsed))
            return await images
        finally:
            _drop(images)

    async def _images(self, results: Sequence[ResultImage]) -> list[ImageFile]:
        """The results downloaded (and checked) all at once."""
        found = await asyncio.gather(
            *(self._image(result) for result in results), return_exceptions=True
        )
        for image in found:
            if isinstance(image, BaseException):
                raise image
        return [image for image in found if isinstance(image, ImageFile)]

    async def _image(self, result: ResultImage) -> ImageFile:
        if result.data is not None:
            try:
                info = await inspect_whole_async(result.data)  # whole, not decoded
            except NotAnImageError as exc:
                raise DeliveryError(
                    f"the provider returned a broken image ({exc})", permanent=True
                ) from exc
            return ImageFile.of(result.data, info)
        if result.url is None:
            raise DeliveryError("the provider returned an empty result", permanent=True)
        try:
            fetched = await self.ctx.fetcher.fetch(result.url, decode=False)  # as above
        except FetchError as exc:  # a refused address or not an image: never again
            raise DeliveryError(
                f"downloading the result failed: {exc}", permanent=exc.permanent
            ) from exc
        return ImageFile.of(fetched.data, fetched.info)


def _drop(task: asyncio.Future[list[ImageFile]] | None) -> None:
    """Cancel work no longer wanted (an error it already ended with is not logged)."""
    if task is not None:
        task.cancel()
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
