"""Submission: queued jobs go to their provider within its concurrency limit, in order.

A job is marked ``submitting`` before the create request is sent, so a crash mid-request is
known on restart (and never resent: it might bill twice); the mark is a claim counted against
the provider's concurrency in the store, so processes sharing it never exceed it together
(:mod:`bot.jobs.leases`). The provider's answer, whatever it
is, is recorded next; if the store refuses that, the answer is kept and written when the store
allows (see :mod:`bot.jobs.guard`). Waiting jobs hear their place in
line when they join it, when they reach its front, and otherwise at most every
``position_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import assert_never

from bot.jobs.context import EngineContext, failure_kind
from bot.jobs.guard import Write
from bot.jobs.journal import transitioned
from bot.jobs.models import FailureKind, Job, Progress, Stage
from bot.jobs.ports import StoreUnavailableError
from bot.jobs.states import TRACKED, JobStatus
from bot.jobs.tracking import Tracking
from providers.base import (
    Completion,
    Provider,
    ProviderError,
    SubmitOutcomeUnknownError,
    TaskState,
    TaskStatus,
)

log = logging.getLogger(__name__)


class Submission:
    """Dispatches queued jobs and sends each one's create request."""

    def __init__(self, ctx: EngineContext, tracking: Tracking) -> None:
        self.ctx = ctx
        self.tracking = tracking
        #: the place in line each waiting job was last told, and when
        self._positions: dict[str, tuple[int, float]] = {}

    async def dispatch(self) -> None:
        """Start as many queued jobs as each provider may take; tell the others their place."""
        ctx = self.ctx
        queued = await ctx.store.jobs.with_status([JobStatus.QUEUED], limit=500)
        still_queued = {job.id for job in queued}
        self._positions = {i: p for i, p in self._positions.items() if i in still_queued}
        if not queued:
            return
        counts = await ctx.store.jobs.at_provider_counts()
        for job in queued:  # spawned submits that have not marked themselves yet
            if ctx.tasks.busy("submit", job.id):
                counts[job.provider] = counts.get(job.provider, 0) + 1
        now = ctx.clock()
        waiting: dict[str, int] = {}
        for job in queued:
            if now >= job.deadline_at:
                await ctx.fail(
                    job,
                    FailureKind.TIMED_OUT,
                    "it waited in the queue too long",
                    to=JobStatus.TIMED_OUT,
                )
                continue
            if ctx.tasks.busy("submit", job.id):
                continue
            if counts.get(job.provider, 0) < ctx.config.concurrency(job.provider):
                counts[job.provider] = counts.get(job.provider, 0) + 1
                ctx.spawn("submit", job.id, self.submit(job))
                continue
            waiting[job.provider] = waiting.get(job.provider, 0) + 1
            await self._tell_position(job, waiting[job.provider])

    async def _tell_position(self, job: Job, position: int) -> None:
        """The first place in line at once, the front of the line (1) at once, and another
        changed place at most every ``position_interval`` seconds (a later dispatch tells the
        latest)."""
        now = self.ctx.clock()
        told = self._positions.get(job.id)
        if told is not None and (
            told[0] == position
            or (position != 1 and now - told[1] < self.ctx.config.position_interval)
        ):
            return
        current = await self.ctx.store.jobs.get(job.id, images=False)  # not cancelled meanwhile
        if current is not None and current.status is JobStatus.QUEUED:
            self._positions[job.id] = (position, now)
            await self.ctx.report(current, Progress(Stage.QUEUED, position=position))

    async def submit(self, listed: Job) -> None:
        """Send one job's create request and record the provider's answer."""
        ctx = self.ctx
        now = ctx.clock()
        claimed = await ctx.store.leases.claim_submit(
            listed.id,
            worker=ctx.worker,
            now=now,
            concurrency=ctx.config.concurrency(listed.provider),
        )
        if claimed is None:  # cancelled, taken by another process, or the provider is full
            return
        transitioned(claimed, claimed.previous_status, now)
        self._positions.pop(listed.id, None)
        # from here on the job is "submitting": it ends recorded, or kept to be recorded
        try:
            job = await ctx.store.jobs.get(listed.id)  # with its reference images
        except StoreUnavailableError as exc:
            reason = "the bot's database failed before the request was sent; it was not sent"
            fail = functools.partial(ctx.fail, listed, FailureKind.INTERNAL, reason)
            ctx.guard.keep("submit", listed.id, fail, exc)
            return
        assert job is not None
        await ctx.report(job, Progress(Stage.SUBMITTED, elapsed=now - job.created_at))
        provider = ctx.providers.get(job.provider)
        if provider is None:
            reason = f"{job.provider} is no longer configured"
            record: Write = functools.partial(ctx.fail, job, FailureKind.BAD_KEY, reason)
        else:
            record = await self._send(job, provider, self._callback_url(job, provider))
        write = functools.partial(self._record, job, record)
        try:
            await write()
        except StoreUnavailableError as exc:  # the provider's answer must not be lost
            ctx.guard.keep("submit", job.id, write, exc)

    def _callback_url(self, job: Job, provider: Provider) -> str | None:
        config = self.ctx.config
        if config.callback_base_url and provider.capabilities.completion is Completion.CALLBACK:
            base = config.callback_base_url.rstrip("/")
            return f"{base}/callbacks/{job.id}/{job.callback_token}"
        return None

    async def _send(self, job: Job, provider: Provider, callback_url: str | None) -> Write:
        """Send the create request; how to record the provider's answer (whatever it was)."""
        ctx = self.ctx
        try:
            with ctx.meters.provider_call(job.provider, job.model, "submit"):
                async with asyncio.timeout(ctx.remaining(job)):  # the deadline covers it too
                    status = await provider.submit(job.request, callback_url=callback_url)
        except TimeoutError:
            ctx.meters.provider_error(job.provider, "submit", FailureKind.TIMED_OUT, None)
            return functools.partial(
                ctx.fail,
                job,
                FailureKind.TIMED_OUT,
                f"{job.provider} did not answer before the job's deadline; it was not sent "
                "again, and a late result will not be charged",
                to=JobStatus.TIMED_OUT,
            )
        except SubmitOutcomeUnknownError as exc:
            ctx.meters.provider_error(job.provider, "submit", FailureKind.UNKNOWN_OUTCOME, exc)
            log.warning("job %s: submit outcome unknown: %s (%s)", job.id, exc, exc.detail)
            return functools.partial(
                ctx.fail,
                job,
                FailureKind.UNKNOWN_OUTCOME,
                f"{exc}; it was not sent again, to avoid paying twice",
            )
        except ProviderError as exc:
            kind = failure_kind(exc)
            ctx.meters.provider_error(job.provider, "submit", kind, exc)
            log.info("job %s: submit failed: %s (%s)", job.id, exc, exc.detail)
            return functools.partial(ctx.fail, job, kind, str(exc))
        except Exception as exc:
            ctx.meters.provider_error(job.provider, "submit", FailureKind.INTERNAL, exc)
            log.exception("job %s: unexpected submit error", job.id)
            return functools.partial(
                ctx.fail, job, FailureKind.INTERNAL, "an unexpected error (see the logs)"
            )
        return functools.partial(
            self._submitted, job, status, expect_callback=callback_url is not None
        )

    async def _record(self, job: Job, record: Write) -> None:
        """Record the provider's answer; a failure other than the store's fails the job."""
        try:
            await record()
        except StoreUnavailableError:
            raise
        except Exception:
            log.exception("job %s: could not record the provider's answer", job.id)
            await self.ctx.fail(job, FailureKind.INTERNAL, "an unexpected error (see the logs)")

    async def _submitted(self, job: Job, status: TaskStatus, *, expect_callback: bool) -> None:
        ctx = self.ctx
        now = ctx.clock()
        if status.state.terminal:
            ctx.meters.completed(job.provider, "synchronous", status.state.value)
        match status.state:
            case TaskState.SUCCEEDED:
                await self.tracking.succeeded(job, status, submitted=True)
            case TaskState.FAILED:
                await self.tracking.failed(job, status)
            case TaskState.QUEUED | TaskState.RUNNING:
                running = status.state is TaskState.RUNNING
                first = self.tracking.poll_delay(job, 0, expect_callback=expect_callback)
                tracked = await ctx.transition(
                    job.id,
                    JobStatus.RUNNING if running else JobStatus.SUBMITTED,
                    now=now,
                    task_id=status.task_id,
                    next_poll_at=now + first,
                )
                if tracked is not None and tracked.callback_hinted:
                    # a callback came before the task id was stored: check at once
                    await ctx.store.jobs.update(job.id, when=TRACKED, next_poll_at=now)
                await ctx.report(job, Progress(Stage.SUBMITTED, elapsed=now - job.created_at))
                ctx.wake()
            case unreachable:
                assert_never(unreachable)
