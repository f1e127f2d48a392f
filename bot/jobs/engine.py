"""The job engine: accept → submit → track → deliver, each step a persisted compare-and-set.

:class:`JobEngine` is what the edges use (the Discord side, the web receiver, the CLI). It
composes the stages (:mod:`~bot.jobs.admission`, :mod:`~bot.jobs.submission`,
:mod:`~bot.jobs.tracking`, :mod:`~bot.jobs.delivery`, :mod:`~bot.jobs.recovery`) around one
loop that dispatches queued jobs, polls tracked ones and delivers succeeded ones when due.
All state is in the store, so :meth:`JobEngine.start` after a crash simply resumes. While the
store fails, the loop starts no new work and tries the store again after a backoff
(:mod:`bot.jobs.guard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.jobs.admission import Admission
from bot.jobs.callbacks import check_callback
from bot.jobs.coalesce import Coalescer, delivery_id
from bot.jobs.config import EngineConfig
from bot.jobs.context import EngineContext, Finished
from bot.jobs.delivery import Delivery
from bot.jobs.guard import Backoff, StoreGuard
from bot.jobs.housekeeping import Housekeeping
from bot.jobs.journal import change_status
from bot.jobs.leases import Heartbeat, new_worker_id
from bot.jobs.metrics import EngineMetrics, Metrics
from bot.jobs.models import CheckedRequest, FailureKind, Job, JobSpec, Limits
from bot.jobs.ports import Notifier, Store, StoreUnavailableError, Unlisten, UserLimitError
from bot.jobs.quota import BudgetSnapshot, QuotaExceededError, QuotaSnapshot, ServerBudget
from bot.jobs.recovery import recover
from bot.jobs.states import FINAL, JobStatus
from bot.jobs.submission import Submission
from bot.jobs.task_list import TaskLists
from bot.jobs.tasks import TaskSet
from bot.jobs.tracking import Tracking
from bot.media.fetch import ImageFetcher
from providers.base import GenerationRequest, Provider, TaskState, TaskStatus
from providers.scrub import Scrubber

log = logging.getLogger(__name__)

MIN_SLEEP = 0.005
#: the shortest time between two passes of the engine loop (seconds)
PASS_PERIOD = 0.05

__all__ = ["EngineMetrics", "JobEngine"]


@dataclass(frozen=True)
class _Stages:
    ctx: EngineContext
    submission: Submission
    tracking: Tracking
    lists: TaskLists
    delivery: Delivery
    housekeeping: Housekeeping
    heartbeat: Heartbeat
    unlisten: Unlisten


class JobEngine:
    """Accepts jobs and drives each one to exactly one delivery or one refund."""

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        fetcher: ImageFetcher,
        *,
        config: EngineConfig | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        scrubber: Scrubber | None = None,
    ) -> None:
        """``metrics``: where the engine measures (default: a registry of its own);
        ``scrubber``: the process's one scrubber, applied to every stored failure reason."""
        self.store = store
        self.providers = providers
        self.fetcher = fetcher
        self.config = config or EngineConfig()
        self.clock = clock
        self.meters = metrics if metrics is not None else Metrics()
        self.scrubber = scrubber if scrubber is not None else Scrubber()
        #: this engine's id among the processes sharing the store (see bot.jobs.leases)
        self.worker = new_worker_id()
        self._hinted: dict[str, str] = {}
        backoff = Backoff(self.config.store_retry_initial, self.config.store_retry_cap)
        self.guard = StoreGuard(store, self.meters, backoff)
        self._coalescer = Coalescer(self.config.callback_coalesce_seconds)
        self._admission = Admission(store, providers, self.config, clock)
        self._finished = Finished()
        self._wake = asyncio.Event()
        self._tasks = TaskSet(self._wake.set)
        self._stages: _Stages | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ for the edges

    def check(self, provider: str, request: GenerationRequest) -> CheckedRequest:
        """Validate a request before anything is reserved (see :class:`Admission`)."""
        return self._admission.check(provider, request)

    async def accept(self, spec: JobSpec) -> Job:
        """Validate (unless checked), reserve credits and queue the job, atomically."""
        try:
            with self.guard.watching():
                job = await self._admission.accept(spec)
        except QuotaExceededError:
            self.meters.quota_refused("quota")
            raise
        except UserLimitError:
            self.meters.quota_refused("user_limit")
            raise
        if self._stages is not None:
            self._stages.submission.joined()
        self._wake.set()
        await self._nudge()
        return job

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not reached a provider yet (every member of its group that
        has not); credits are refunded."""
        job = await self.store.jobs.get(job_id, images=False)
        ids = [job_id]
        if job is not None and job.group_id is not None:
            ids = [m.id for m in await self.store.jobs.group(job.group_id, images=False)]
        cancelled_any = False
        for member in ids:
            with self.guard.watching():
                cancelled = await change_status(
                    self.store,
                    member,
                    JobStatus.CANCELLED,
                    now=self.clock(),
                    only_from=[JobStatus.QUEUED],
                    note="cancelled",
                    failure_kind=FailureKind.CANCELLED,
                    failure_reason="cancelled",
                )
            if cancelled is not None:
                cancelled_any = True
                if self._stages is not None:
                    self._stages.ctx.ended(cancelled)
                else:
                    self._finished.signal(member)
        return cancelled_any

    async def get_job(self, job_id: str, *, images: bool = False) -> Job | None:
        """The stored job (with its images only when asked: they can be large)."""
        return await self.store.jobs.get(job_id, images=images)

    async def quota(self, user_id: str, limits: Limits | None = None) -> QuotaSnapshot:
        """The user's allowance (``limits``' when a server's policy sets it), reserved and
        spent credits today."""
        allowance = limits.allowance if limits is not None else self.config.allowance
        return await self.store.quota.snapshot(user_id, self.clock(), allowance)

    async def budget(self, guild_id: str, budget: ServerBudget | None) -> BudgetSnapshot:
        """What a server used of its ``budget`` this UTC day and month."""
        return await self.store.quota.budget(guild_id, self.clock(), budget)

    async def receive_callback(
        self, job_id: str, token: str, headers: Mapping[str, str], body: bytes
    ) -> None:
        """A provider callback: check it (see :mod:`bot.jobs.callbacks`) and poll the job soon,
        repeats coalesced (see :mod:`bot.jobs.coalesce`); a read due now starts at once, when
        the provider's budget allows, rather than at the loop's next pass. From a provider
        that calls back on every change, a callback saying the task is queued or running
        reads nothing (a read would only say so again, spending the budget's reserve for
        finished tasks); "started" is shown to the requester."""
        with self.guard.watching():
            job, claim = await check_callback(
                self.store, self.providers, job_id, token, headers, body
            )
            if not claim.state.terminal and self._every_change(job.provider):
                # "queued" or "started": nothing to read now, the job's polls stand
                if claim.state is TaskState.RUNNING and self._stages is not None:
                    self._stages.tracking.started(job)
                return
            now = self.clock()
            poll_at = self._coalescer.when(
                job_id, delivery_id(headers), now, finished=claim.state.terminal
            )
            if poll_at is None:
                return
            # A read due now starts at once, and its hint, written meanwhile, holds the job as
            # a claim would (no pass of the loop claims it too, to read it again; the read's
            # outcome sets the next poll) where the read cannot overtake that write: this
            # process's own store takes its writes in order, and a finished task's read moves
            # the job out of tracking anyway. Otherwise (a task still running, a store shared
            # with other processes) the read starts once the hint is written.
            ahead = claim.state.terminal or not self.store.leases.shared
            polling = ahead and poll_at <= now and self._poll_now(job)
            held = now + self.config.lease_seconds if polling else None
            await self.store.jobs.hint(job_id, poll_at, held_until=held)
        if polling or (poll_at <= now and self._poll_now(job)):
            return  # read at once, not at the loop's next pass
        if self._stages is not None:
            self._stages.ctx.hint(job_id, "callback")
        else:
            self._hinted[job_id] = "callback"
        self._wake.set()
        await self._nudge()

    def _every_change(self, provider: str) -> bool:
        """Whether ``provider`` calls back on every change of a task (see
        :attr:`~providers.base.Capabilities.callbacks_on_every_change`)."""
        found = self.providers.get(provider)
        return found is not None and found.capabilities.callbacks_on_every_change

    def _poll_now(self, job: Job) -> bool:
        """Start the status read a callback asks for now, if it can start at once (see
        :meth:`Tracking.poll_hinted`); False leaves it to the loop."""
        stages = self._stages
        if stages is None or self._stopping or not self.guard.healthy:
            return False
        return stages.tracking.poll_hinted(job)

    async def apply(self, job_id: str, status: TaskStatus) -> None:
        """Apply a provider status to a job (the engine must be running)."""
        with self.guard.watching():
            await self._running().tracking.apply(job_id, status)

    async def wait(self, job_id: str, seconds: float) -> Job:
        """Wait (at most ``seconds``) until the job is final; returns it as stored.

        Woken as soon as this process finishes the job; the store is read again every
        ``idle_tick`` in case another process did.
        """
        deadline = time.monotonic() + seconds
        finished = self._finished.watch(job_id)
        try:
            while True:
                job = await self.store.jobs.get(job_id, images=False)
                if job is None:
                    raise KeyError(job_id)
                remaining = deadline - time.monotonic()
                if job.status in FINAL or remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        finished.wait(), timeout=min(remaining, self.config.idle_tick)
                    )
        finally:
            self._finished.unwatch(job_id, finished)
        stored = await self.store.jobs.get(job_id)
        assert stored is not None
        return stored

    async def health(self) -> bool:
        """True when the store answers and takes writes (false from a failed store operation
        until the store has been tried again and worked)."""
        if not self.guard.healthy:
            return False
        try:
            await self.store.ping()
        except StoreUnavailableError as exc:
            self.guard.failed(exc)  # says so once
            return False
        except Exception:
            log.exception("health check: the store is unavailable")
            return False
        return True

    async def metrics(self) -> EngineMetrics:
        """Jobs by provider and status, and the latest day's credits."""
        return EngineMetrics(
            jobs=await self.store.jobs.status_counts(),
            credits=await self.store.quota.totals(),
            providers=tuple(sorted(self.providers)),
        )

    # ------------------------------------------------------------------ running

    async def start(self, notifier: Notifier) -> None:
        """Resume every unfinished job, then drive jobs in the background, reporting to
        ``notifier``."""
        ctx = EngineContext(
            store=self.store,
            providers=self.providers,
            fetcher=self.fetcher,
            notifier=notifier,
            config=self.config,
            clock=self.clock,
            tasks=self._tasks,
            finished=self._finished,
            wake=self._wake.set,
            guard=self.guard,
            meters=self.meters,
            hinted=self._hinted,
            scrub=self.scrubber,
            worker=self.worker,
        )
        delivery = Delivery(ctx)
        tracking = Tracking(ctx, delivery)
        heartbeat = Heartbeat(ctx, tracking.budgets)
        await heartbeat.start()  # alive before looking for the dead
        unlisten = await self.store.leases.listen(self._wake.set)  # work made due elsewhere
        self._stages = _Stages(
            ctx,
            Submission(ctx, tracking),
            tracking,
            TaskLists(ctx, tracking),
            delivery,
            Housekeeping(ctx),
            heartbeat,
            unlisten,
        )
        await tracking.learn()
        await recover(ctx, starting=True)
        self._stopping = False
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="job-engine")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the loop; in-flight work gets ``grace`` seconds, then is cancelled."""
        self._stopping = True
        if self._stages is not None:
            self._stages.submission.halted = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await self._tasks.stop(grace)
        await self.guard.flush()  # what a provider answered, if the store now takes it
        if self._stages is not None:  # others take over what is left at once
            await self._stages.unlisten()
            await self._stages.heartbeat.stop(release=True)

    async def abort(self) -> None:
        """Stop at once, as a dying process would: the loop and every in-flight task are
        cancelled mid-step, nothing is finished or reported (crash tests; a restart resumes)."""
        self._stopping = True
        if self._stages is not None:
            self._stages.submission.halted = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        await self._tasks.abort()
        if self._stages is not None:  # no goodbye: others take over when the lease passes
            await self._stages.unlisten()
            await self._stages.heartbeat.stop(release=False)

    async def _nudge(self) -> None:
        """Wake the other processes sharing the store (best effort: they look anyway every
        ``idle_tick``)."""
        try:
            await self.store.leases.nudge()
        except StoreUnavailableError as exc:
            self.guard.failed(exc)

    def _running(self) -> _Stages:
        if self._stages is None:
            raise RuntimeError("the engine has not been started")
        return self._stages

    async def _run(self) -> None:
        stages = self._running()
        while not self._stopping:
            started = time.monotonic()
            self._wake.clear()
            if await self.guard.ready():  # no new work while the store fails
                try:
                    await stages.submission.dispatch()
                    await stages.tracking.poll_due()
                    stages.lists.due()
                    await stages.delivery.deliver_due()
                    stages.housekeeping.run_if_due()
                except StoreUnavailableError as exc:
                    self.guard.failed(exc)
                except Exception:
                    log.exception("job engine loop error")
            # passes come at most every PASS_PERIOD: a burst of finishing tasks wakes the loop
            # once, not once each (every pass lists the queue)
            await asyncio.sleep(max(0.0, started + PASS_PERIOD - time.monotonic()))
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        delay = self.config.idle_tick
        if self.guard.healthy:
            try:
                due = await self.store.jobs.next_due_at()
            except StoreUnavailableError as exc:
                self.guard.failed(exc)
                due = None
            listing = self._running().lists.next_at()
            for at in (due, listing):
                if at is not None:
                    delay = min(delay, max(0.0, at - self.clock()))
        if not self.guard.healthy:  # until the store is tried again (woken: a look, no more)
            delay = self.guard.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(delay, MIN_SLEEP))
