"""Submission: queued jobs go to their provider within its concurrency limit, in order.

A job is marked ``submitting`` before the create request is sent, so a crash mid-request is
known on restart (and never resent: it might bill twice); the mark is a claim, counted against
the provider's concurrency in the store when other processes share it (:mod:`bot.jobs.leases`).
The provider's answer, whatever it is, is recorded next; if the store refuses that, the answer
is kept and written when the store allows (see :mod:`bot.jobs.guard`). Waiting jobs hear their
place in line when they join it, when they reach its front, and otherwise at most every
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
from providers.base import Completion, GenerationRequest, Provider, TaskState, TaskStatus
from providers.errors import ProviderError, SubmitOutcomeUnknownError

log = logging.getLogger(__name__)


#: the whole queue is listed at least this often (seconds): deadlines, other processes' jobs
SCAN_PERIOD = 1.0


class Submission:
    """Dispatches queued jobs and sends each one's create request."""

    def __init__(self, ctx: EngineContext, tracking: Tracking) -> None:
        self.ctx = ctx
        self.tracking = tracking
        #: the place in line each waiting job was last told, and when
        self._positions: dict[str, tuple[int, float]] = {}
        #: submits spawned that have not yet marked their job ``submitting`` (id: provider)
        self._unmarked: dict[str, str] = {}
        #: jobs the provider has answered for good, their answer not yet being recorded
        self._answered: dict[str, str] = {}
        #: when the whole queue is listed next (0: at the next pass)
        self._scan_at = 0.0
        #: one dispatch at a time (the loop's, and a finished submit's for its free place)
        self._lock = asyncio.Lock()
        #: no new submits once the engine stops
        self.halted = False

    def joined(self) -> None:
        """A job joined the queue: the next pass lists it all (to tell it its place)."""
        self._scan_at = 0.0

    async def dispatch(self, *, scan: bool = True) -> None:
        """Start as many queued jobs as each provider may take.

        Only those are listed, and the next in line of each provider (told it is at the
        front); the whole queue (every place in line, every deadline) only when ``scan`` and
        a job joined, or at most every ``position_interval`` (and :data:`SCAN_PERIOD`).
        """
        async with self._lock:
            if self.halted:
                return
            now = self.ctx.clock()
            if scan and now >= self._scan_at:
                await self._scan(now)
            else:
                await self._start_free(now)

    async def _scan(self, now: float) -> None:
        """List the whole queue: start what may start, tell the others their place."""
        ctx = self.ctx
        self._scan_at = now + min(ctx.config.position_interval, SCAN_PERIOD)
        queued = await ctx.store.jobs.with_status([JobStatus.QUEUED], limit=500)
        still_queued = {job.id for job in queued}
        self._positions = {i: p for i, p in self._positions.items() if i in still_queued}
        if not queued:
            return
        counts = await self._counts()
        waiting: dict[str, int] = {}
        for job in queued:
            if await self._expired(job, now) or self._starting(job):
                continue
            if counts.get(job.provider, 0) < ctx.config.concurrency(job.provider):
                counts[job.provider] = counts.get(job.provider, 0) + 1
                self._start(job)
                continue
            waiting[job.provider] = waiting.get(job.provider, 0) + 1
            await self._tell_position(job, waiting[job.provider])

    async def _start_free(self, now: float) -> None:
        """List only as many queued jobs as may start, and the next in line of each
        provider."""
        ctx = self.ctx
        counts = await self._counts()
        free = {name: ctx.config.concurrency(name) - counts.get(name, 0) for name in ctx.providers}
        room = sum(max(0, places) for places in free.values())
        if room == 0:
            return
        limit = room + len(self._unmarked) + len(free)
        queued = await ctx.store.jobs.with_status([JobStatus.QUEUED], limit=limit)
        fronts: set[str] = set()
        for job in queued:
            if await self._expired(job, now) or self._starting(job):
                continue
            if free.get(job.provider, 0) > 0:
                free[job.provider] -= 1
                self._start(job)
            elif job.provider not in fronts:
                fronts.add(job.provider)
                await self._tell_position(job, 1)
        if len(queued) == limit and any(places > 0 for places in free.values()):
            self._scan_at = now  # another provider's jobs filled the listing: list them all
            ctx.wake()

    async def _counts(self) -> dict[str, int]:
        """How many jobs each provider has, or is about to have (spawned submits), less
        those it has answered for good.

        Never fewer than it has: a spawned submit is taken before the read (it is counted
        twice if it marks its job meanwhile); an answered job after it (it leaves that set
        before its answer is written, so the read saw it still ``submitting``).
        """
        tasks = self.ctx.tasks
        self._unmarked = {i: p for i, p in self._unmarked.items() if tasks.busy("submit", i)}
        spawned = list(self._unmarked.values())
        counts = await self.ctx.store.jobs.at_provider_counts()
        for provider in spawned:
            counts[provider] = counts.get(provider, 0) + 1
        for provider in self._answered.values():
            counts[provider] = counts.get(provider, 0) - 1
        return counts

    def _starting(self, job: Job) -> bool:
        return job.id in self._unmarked or self.ctx.tasks.busy("submit", job.id)

    def _start(self, job: Job) -> None:
        if self.ctx.spawn("submit", job.id, self.submit(job)):
            self._unmarked[job.id] = job.provider

    async def _expired(self, job: Job, now: float) -> bool:
        """A job that waited past its deadline times out (True)."""
        if now < job.deadline_at:
            return False
        await self.ctx.fail(
            job, FailureKind.TIMED_OUT, "it waited in the queue too long", to=JobStatus.TIMED_OUT
        )
        return True

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
        try:
            marked = await self._mark(listed, now)
        finally:
            self._unmarked.pop(listed.id, None)
        if marked is None:  # cancelled, taken by another process, or the provider is full
            return
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
            # the reference bytes are held only while they are sent, not while the answer is
            # recorded (nor by what records it)
            request, job = job.request, job.without_reference_bytes()
            sending = self._send(job, request, provider, self._callback_url(job, provider))
            del request
            record, done = await sending
            if done:
                await self._free(job)
        write = functools.partial(self._record, job, record)
        try:
            await write()
        except StoreUnavailableError as exc:  # the provider's answer must not be lost
            ctx.guard.keep("submit", job.id, write, exc)

    async def _mark(self, job: Job, now: float) -> Job | None:
        """Mark the job ``submitting``, claimed by this worker. With a store other processes
        share, the provider's jobs are counted in the same serialised step (theirs too, and
        this process's answered ones until their answers are written: a place freed early
        here may wait for that); alone, this process's own count is exact."""
        ctx = self.ctx
        if not ctx.store.leases.shared:
            return await ctx.transition(
                job.id, JobStatus.SUBMITTING, now=now, submitted_at=now, claimed_by=ctx.worker
            )
        claimed = await ctx.store.leases.claim_submit(
            job.id, worker=ctx.worker, now=now, concurrency=ctx.config.concurrency(job.provider)
        )
        if claimed is not None:
            transitioned(claimed, claimed.previous_status, now)
        return claimed

    async def _free(self, job: Job) -> None:
        """The provider answered the job for good: its place goes to the next in line at
        once, while the answer is recorded (until then the job is counted as answered, see
        :meth:`_counts`)."""
        if not self.ctx.guard.healthy:
            return
        self._answered[job.id] = job.provider
        try:
            await self.dispatch(scan=False)
        except StoreUnavailableError as exc:  # the answer is still to be recorded
            self.ctx.guard.failed(exc)
        except Exception:
            log.exception("job %s: starting the next job failed", job.id)
        finally:
            del self._answered[job.id]

    def _callback_url(self, job: Job, provider: Provider) -> str | None:
        config = self.ctx.config
        if config.callback_base_url and provider.capabilities.completion is Completion.CALLBACK:
            base = config.callback_base_url.rstrip("/")
            return f"{base}/callbacks/{job.id}/{job.callback_token}"
        return None

    async def _send(
        self, job: Job, request: GenerationRequest, provider: Provider, callback_url: str | None
    ) -> tuple[Write, bool]:
        """Send the create request; how to record the provider's answer (whatever it was), and
        whether the provider is done with the job (it answered with a result or an error)."""
        ctx = self.ctx
        try:
            with ctx.meters.provider_call(job.provider, job.model, "submit"):
                async with asyncio.timeout(ctx.remaining(job)):  # the deadline covers it too
                    status = await provider.submit(request, callback_url=callback_url)
        except TimeoutError:
            ctx.meters.provider_error(job.provider, "submit", FailureKind.TIMED_OUT, None)
            return (
                functools.partial(
                    ctx.fail,
                    job,
                    FailureKind.TIMED_OUT,
                    f"{job.provider} did not answer before the job's deadline; it was not sent "
                    "again, and a late result will not be charged",
                    to=JobStatus.TIMED_OUT,
                ),
                True,
            )
        except SubmitOutcomeUnknownError as exc:
            ctx.meters.provider_error(job.provider, "submit", FailureKind.UNKNOWN_OUTCOME, exc)
            log.warning("job %s: submit outcome unknown: %s (%s)", job.id, exc, exc.detail)
            return (
                functools.partial(
                    ctx.fail,
                    job,
                    FailureKind.UNKNOWN_OUTCOME,
                    f"{exc}; it was not sent again, to avoid paying twice",
                ),
                True,
            )
        except ProviderError as exc:
            kind = failure_kind(exc)
            ctx.meters.provider_error(job.provider, "submit", kind, exc)
            log.info("job %s: submit failed: %s (%s)", job.id, exc, exc.detail)
            return functools.partial(ctx.fail, job, kind, str(exc)), True
        except Exception as exc:
            ctx.meters.provider_error(job.provider, "submit", FailureKind.INTERNAL, exc)
            log.exception("job %s: unexpected submit error", job.id)
            return (
                functools.partial(
                    ctx.fail, job, FailureKind.INTERNAL, "an unexpected error (see the logs)"
                ),
                True,
            )
        return (
            functools.partial(
                self._submitted, job, status, expect_callback=callback_url is not None
            ),
            status.state.terminal,
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
