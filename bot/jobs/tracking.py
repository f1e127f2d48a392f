"""Tracking: learning how a provider task is doing, by polling or when a callback hints.

Callbacks never carry the truth: a valid one only makes the job due for a poll now. Every
status, from a scheduled poll or a hinted one, goes through :meth:`Tracking.apply`, whose
compare-and-set transitions make duplicates and late arrivals harmless. A finished task's
status that the store refused is kept and applied when the store allows (:mod:`bot.jobs.guard`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import assert_never

from bot.jobs.budget import Due, StatusBudget, choose
from bot.jobs.context import EngineContext, failure_kind
from bot.jobs.delivery import Delivery
from bot.jobs.kinds import kind_of
from bot.jobs.models import FailureKind, Job, Progress, Stage, encode_sources
from bot.jobs.plan import Targets
from bot.jobs.ports import JobFields, StoreUnavailableError, WaitingTask
from bot.jobs.schedule import Completions, CompletionTimes
from bot.jobs.states import TRACKED, JobStatus
from providers.base import TaskState, TaskStatus
from providers.errors import BadKeyError, InsufficientCreditsError, ProviderError, TaskNotFoundError

log = logging.getLogger(__name__)

#: due polls claimed per pass at most
CLAIM = 100


class Tracking:
    """Polls tracked jobs when due and applies every status to its job."""

    def __init__(self, ctx: EngineContext, delivery: Delivery) -> None:
        self.ctx = ctx
        self.delivery = delivery
        config = ctx.config
        targets = Targets(
            wait_max=config.poll_wait_max,
            wait_median=config.poll_wait_median,
            miss=config.poll_miss,
        )
        self.completions = Completions(max_samples=config.poll_samples, targets=targets)
        self.budgets: dict[str, StatusBudget] = {}
        for name in ctx.providers:
            rate = config.status_rate(name)
            if rate is not None:
                self.budgets[name] = StatusBudget(rate)

    async def learn(self) -> None:
        """Read the completion times of the jobs the store remembers (at start), each into
        its kind's distribution (and so its model's)."""
        for done in await self.ctx.store.jobs.completion_times():
            times = self._times(done.provider, done.model, done.resolution, done.reference_count)
            if times is not None:
                times.add(done.seconds)

    def _times(
        self, provider_name: str, model: str, resolution: str | None, references: int
    ) -> CompletionTimes | None:
        """The distribution of the jobs of this kind (:mod:`bot.jobs.kinds`) of the model."""
        provider = self.ctx.providers.get(provider_name)
        if provider is None:
            return None
        try:
            capabilities = provider.capabilities.model(model)
        except ProviderError:
            return None
        kind = kind_of(capabilities, resolution, references)
        return self.completions.of(provider_name, model, capabilities.typical_seconds, kind)

    def _job_times(self, job: Job) -> CompletionTimes | None:
        return self._times(job.provider, job.model, job.request.resolution, job.reference_count)

    def done_by_now(self, task: WaitingTask, now: float) -> float:
        """How likely the waiting job's task has finished by ``now`` (0–1), from its kind's
        learned completion times."""
        times = self._times(task.provider, task.model, task.resolution, task.reference_count)
        if times is None or task.submitted_at is None:
            return 0.0
        return times.done_by(max(0.0, now - task.submitted_at))

    def _elapsed(self, job: Job, now: float) -> float:
        return max(0.0, now - (job.submitted_at if job.submitted_at is not None else now))

    def poll_delay(self, job: Job, n: int, *, expect_callback: bool = False) -> float:
        """Seconds before status read ``n`` of the job: the next read of the plan made from the
        learned completion times of its kind (or the configured fixed interval)."""
        config = self.ctx.config
        if config.poll_interval is not None:
            return config.poll_interval
        times = self._job_times(job)
        if times is None:
            return max(config.poll_floor, min(config.poll_cap, 30.0))
        if n == 0 and expect_callback:
            return max(config.poll_floor, times.typical * config.callback_grace)
        return times.next_check(
            self._elapsed(job, self.ctx.clock()),
            floor=config.poll_floor,
            cap=config.poll_cap,
            first=n == 0,
        )

    async def poll_due(self) -> None:
        """Start a status read for every tracked job whose time has come, within each
        provider's budget (a fixed ``poll_interval`` reads them all); the rest wait a little."""
        ctx = self.ctx
        now = ctx.clock()
        claimed = await ctx.store.leases.claim_polls(ctx.worker, now, ctx.lease_until(), CLAIM)
        due = [j for j in claimed if not ctx.tasks.busy("poll", j.id)]
        if ctx.config.poll_interval is not None:
            for job in due:
                ctx.spawn("poll", job.id, self.poll(job))
            return
        by_id = {job.id: job for job in due}
        chosen, later = choose(
            (self._due(job, now) for job in due),
            self.budgets,
            now,
            starve_after=ctx.config.status_starve_after,
        )
        for item in chosen:
            ctx.spawn("poll", item.job_id, self.poll(by_id[item.job_id]))
        for item, at in later:
            await ctx.store.jobs.update(item.job_id, when=TRACKED, next_poll_at=at)

    def poll_hinted(self, job: Job) -> bool:
        """Start the status read a callback asked for, now, if it may start at once: the job
        is tracked, no read of it is in flight (it may have asked before the task finished),
        and the provider's budget allows. False when it is left to the loop (hint stored)."""
        ctx = self.ctx
        if job.status not in TRACKED or job.task_id is None or ctx.tasks.busy("poll", job.id):
            return False
        budget = self.budgets.get(job.provider)
        limited = ctx.config.poll_interval is None and budget is not None
        if limited and budget is not None and not budget.take(ctx.clock(), hinted=True):
            return False
        ctx.hint(job.id, "callback")
        return ctx.spawn("poll", job.id, self.poll(job))

    def started(self, job: Job) -> None:
        """A genuine callback says the job's task has started: shown to the requester (in
        the background); nothing is stored and nothing read, the job's polls stand."""
        if job.status in TRACKED:
            self.ctx.spawn("started", job.id, self.generating(job))

    async def generating(self, job: Job) -> None:
        """Tell the job's requester its task is being generated."""
        ctx = self.ctx
        await ctx.report(job, Progress(Stage.GENERATING, elapsed=ctx.clock() - job.created_at))

    def _due(self, job: Job, now: float) -> Due:
        times = self._job_times(job)
        likelihood = times.done_by(self._elapsed(job, now)) if times is not None else 0.0
        overdue = now - (job.next_poll_at if job.next_poll_at is not None else now)
        return Due(job.id, job.provider, likelihood, overdue, hinted=job.id in self.ctx.hinted)

    async def poll(self, job: Job) -> None:
        """Read the job's task status from its provider and apply it (or time the job out)."""
        ctx = self.ctx
        if ctx.clock() >= job.deadline_at:
            await ctx.fail(
                job,
                FailureKind.TIMED_OUT,
                f"{job.provider} did not finish in time",
                to=JobStatus.TIMED_OUT,
            )
            return
        provider = ctx.providers.get(job.provider)
        if provider is None or job.task_id is None:
            await ctx.fail(job, FailureKind.INTERNAL, "the job cannot be tracked")
            return
        via = ctx.hinted.pop(job.id, "poll")
        try:
            with ctx.meters.provider_call(job.provider, job.model, "fetch"):
                async with asyncio.timeout(ctx.remaining(job)):
                    status = await provider.fetch(job.task_id, model=job.model)
        except TimeoutError:
            await ctx.fail(
                job,
                FailureKind.TIMED_OUT,
                f"{job.provider} did not finish in time",
                to=JobStatus.TIMED_OUT,
            )
            return
        except ProviderError as exc:
            ctx.meters.provider_error(job.provider, "fetch", failure_kind(exc), exc)
            await self._fetch_failed(job, exc)
            return
        try:
            # the job as claimed moments ago: its move is a compare-and-set on its status, so
            # a job that moved meanwhile (cancelled, or found by another reader) stays as it is
            await self._apply(job, status, via)
        except StoreUnavailableError as exc:
            if not status.state.terminal:
                raise  # still running: the job is polled again once the store is back
            # a finished task's outcome (its results) is kept until the store takes it
            ctx.guard.keep("poll", job.id, functools.partial(self.apply, job.id, status), exc)

    async def _fetch_failed(self, job: Job, exc: ProviderError) -> None:
        """A status read failed: a lost task (after a grace), a refused key or no credits end
        the job; anything else is tried again later."""
        ctx = self.ctx
        if isinstance(exc, TaskNotFoundError):
            if job.poll_count < ctx.config.not_found_grace_polls:
                await self._reschedule(job)
            else:
                await ctx.fail(
                    job, FailureKind.GENERATION_FAILED, f"{job.provider} lost the task ({exc})"
                )
        elif isinstance(exc, BadKeyError | InsufficientCreditsError):
            await ctx.fail(job, failure_kind(exc), str(exc))
        else:
            log.info("job %s: status read failed, will retry: %s (%s)", job.id, exc, exc.detail)
            await self._reschedule(job)

    async def apply(self, job_id: str, status: TaskStatus, *, via: str | None = None) -> None:
        """Apply a provider status to the job. Duplicates and late ones are no-ops.

        ``via``: how it was learned (``poll``, ``callback``), counted when the task finished.
        """
        job = await self.ctx.store.jobs.get(job_id, images=False)
        if job is not None:
            await self._apply(job, status, via)

    async def _apply(self, job: Job, status: TaskStatus, via: str | None) -> None:
        ctx = self.ctx
        job_id = job.id
        if job.status not in TRACKED:
            return
        if job.task_id and status.task_id and status.task_id != job.task_id:
            log.warning("job %s: status for another task %s ignored", job_id, status.task_id)
            return
        if via is not None and status.state.terminal:
            ctx.meters.completed(job.provider, via, status.state.value)
        match status.state:
            case TaskState.SUCCEEDED:
                await self.succeeded(job, status)
            case TaskState.FAILED:
                await self.failed(job, status)
            case TaskState.QUEUED | TaskState.RUNNING:
                await self._still_running(job, status)
            case unreachable:
                assert_never(unreachable)

    async def succeeded(self, job: Job, status: TaskStatus, *, submitted: bool = False) -> None:
        """Store the results and start delivering (``submitted``: straight from the create
        request of a synchronous provider)."""
        ctx = self.ctx
        if not status.images:
            await ctx.fail(
                job,
                FailureKind.GENERATION_FAILED,
                f"{job.provider} reported success but returned no image",
            )
            return
        now = ctx.clock()
        at_once = self.delivery.room() > 0
        # delivered by this process at once: claimed for it (see bot.jobs.leases); with no
        # room for another delivery just now, due for the next turn
        fields: JobFields = {
            "completed_at": now,
            "next_delivery_at": ctx.lease_until() if at_once else now,
        }
        if at_once:
            fields["claimed_by"] = ctx.worker
        if submitted:
            fields["task_id"] = status.task_id or None
        if status.sources:
            fields["sources_json"] = encode_sources(status.sources)
        if at_once and job.group_id is None:  # its first delivery attempt counted in this commit
            fields["delivery_attempts"] = 1
            self.delivery.expect(job.id, status.images)  # the results downloaded meanwhile
        # straight from the create request the job is ``submitting``: saying so spares the
        # store a read before its compare-and-set
        try:
            done = await ctx.transition(
                job.id,
                JobStatus.SUCCEEDED,
                now=now,
                results=status.images,
                only_from=[JobStatus.SUBMITTING] if submitted else None,
                **fields,
            )
        except BaseException:
            self.delivery.unexpect(job.id)
            raise
        if done is not None:
            times = self._job_times(job)
            if done.submitted_at is not None and times is not None:
                times.add(now - done.submitted_at)
            if at_once:
                ctx.spawn("deliver", job.id, self.delivery.deliver(job.id))
            else:
                ctx.wake()  # a delivery may have ended since: the loop's next pass looks
        else:
            self.delivery.unexpect(job.id)

    async def failed(self, job: Job, status: TaskStatus) -> None:
        """The provider gave up on the task: fail the job with its reason."""
        kind = FailureKind.REJECTED if status.content_policy else FailureKind.GENERATION_FAILED
        await self.ctx.fail(job, kind, status.reason or f"{job.provider} could not generate it")

    async def _still_running(self, job: Job, status: TaskStatus) -> None:
        ctx = self.ctx
        now = ctx.clock()
        count = job.poll_count + 1
        next_at = now + self.poll_delay(job, count)
        if status.state is TaskState.RUNNING and job.status is JobStatus.SUBMITTED:
            await ctx.transition(
                job.id, JobStatus.RUNNING, now=now, next_poll_at=next_at, poll_count=count
            )
        else:
            await ctx.store.jobs.update(
                job.id, when=TRACKED, next_poll_at=next_at, poll_count=count
            )
        await self.generating(job)

    async def _reschedule(self, job: Job) -> None:
        count = job.poll_count + 1
        await self.ctx.store.jobs.update(
            job.id,
            when=TRACKED,
            poll_count=count,
            next_poll_at=self.ctx.clock() + self.poll_delay(job, count),
        )
