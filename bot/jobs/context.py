"""What every stage of the engine shares: the store, the providers, the notifier, the clock,
the task set, the metrics, and the three things they all do: change a status (logged, see
:mod:`bot.jobs.journal`), fail a job, report progress."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Unpack

from bot.jobs.config import EngineConfig
from bot.jobs.guard import StoreGuard
from bot.jobs.journal import change_status
from bot.jobs.metrics import Metrics
from bot.jobs.models import FailureKind, Job, Progress
from bot.jobs.ports import JobFields, Notifier, Store, StoreUnavailableError
from bot.jobs.states import FINAL, JobStatus
from bot.jobs.tasks import TaskSet
from bot.media.fetch import ImageFetcher
from providers.base import Provider, ResultImage
from providers.errors import (
    BadKeyError,
    InsufficientCreditsError,
    NotConfiguredError,
    ProviderError,
    RateLimitedError,
    RequestInvalidError,
    RequestRejectedError,
    SubmitOutcomeUnknownError,
)
from providers.scrub import Scrubber

log = logging.getLogger(__name__)

#: hinted jobs remembered at most
MAX_HINTED = 10_000

_KINDS: tuple[tuple[type[ProviderError], FailureKind], ...] = (
    (SubmitOutcomeUnknownError, FailureKind.UNKNOWN_OUTCOME),
    (RequestInvalidError, FailureKind.INVALID),
    (RequestRejectedError, FailureKind.REJECTED),
    (BadKeyError, FailureKind.BAD_KEY),
    (NotConfiguredError, FailureKind.BAD_KEY),
    (InsufficientCreditsError, FailureKind.NO_CREDITS),
    (RateLimitedError, FailureKind.RATE_LIMITED),
)


def failure_kind(error: ProviderError) -> FailureKind:
    """The failure category for a provider error."""
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    return FailureKind.UNAVAILABLE


class Finished:
    """Wakes whoever waits for a job to reach a final status in this process."""

    def __init__(self) -> None:
        self._events: defaultdict[str, list[asyncio.Event]] = defaultdict(list)

    def watch(self, job_id: str) -> asyncio.Event:
        """An event set when the job becomes final (call :meth:`unwatch` when done)."""
        event = asyncio.Event()
        self._events[job_id].append(event)
        return event

    def unwatch(self, job_id: str, event: asyncio.Event) -> None:
        """Stop watching."""
        waiting = self._events.get(job_id, [])
        if event in waiting:
            waiting.remove(event)
        if not waiting:
            self._events.pop(job_id, None)

    def signal(self, job_id: str) -> None:
        """The job became final."""
        for event in self._events.get(job_id, []):
            event.set()


@dataclass
class EngineContext:
    """The engine's parts, handed to each stage."""

    store: Store
    providers: Mapping[str, Provider]
    fetcher: ImageFetcher
    notifier: Notifier
    config: EngineConfig
    clock: Callable[[], float]
    tasks: TaskSet
    finished: Finished
    wake: Callable[[], None]
    #: whether the store takes writes, and the writes kept for it (see :mod:`bot.jobs.guard`)
    guard: StoreGuard
    meters: Metrics = field(default_factory=Metrics)
    #: jobs to poll at once, not polled since (see ``Tracking.poll``), and what asked: a
    #: genuine provider ``callback``, or the provider's task ``list``
    hinted: dict[str, str] = field(default_factory=dict)
    #: the process's one scrubber: no failure reason is stored or shown unscrubbed
    scrub: Callable[[str], str] = field(default_factory=Scrubber)
    #: this engine's worker id in the store (see :mod:`bot.jobs.leases`)
    worker: str = "worker"

    def hint(self, job_id: str, via: str) -> None:
        """Remember that the job is to be polled at once, and what asked (a hint for a job
        that is never polled again, another process having ended it, is forgotten once
        :data:`MAX_HINTED` are remembered)."""
        if len(self.hinted) >= MAX_HINTED:
            self.hinted.clear()
        self.hinted[job_id] = via

    def lease_until(self) -> float:
        """When a claim made now expires (unless renewed)."""
        return self.clock() + self.config.lease_seconds

    def spawn(self, activity: str, job_id: str, coro: Coroutine[Any, Any, None]) -> bool:
        """:meth:`TaskSet.spawn`, with the store failing inside noted by the guard (no
        traceback: the guard says it once)."""
        if self.tasks.busy(activity, job_id):
            coro.close()
            return False
        return self.tasks.spawn(activity, job_id, self._guarded(coro))

    async def _guarded(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except StoreUnavailableError as exc:
            self.guard.failed(exc)

    async def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        now: float,
        note: str | None = None,
        results: Iterable[ResultImage] = (),
        only_from: Iterable[JobStatus] | None = None,
        **fields: Unpack[JobFields],
    ) -> Job | None:
        """:meth:`~bot.jobs.ports.JobStore.transition` (logged), waking waiters on a final
        status."""
        job = await change_status(
            self.store,
            job_id,
            to,
            now=now,
            note=note,
            results=results,
            only_from=only_from,
            **fields,
        )
        if job is not None and to in FINAL:
            self.ended(job)
        return job

    def ended(self, job: Job) -> None:
        """A job became final: wake its waiters and tell the notifier (in the background)."""
        self.hinted.pop(job.id, None)
        self.finished.signal(job.id)
        self.tasks.spawn("ended", job.id, self._report_end(job))

    async def _report_end(self, job: Job) -> None:
        try:
            await self.notifier.ended(job)
        except StoreUnavailableError as exc:  # the guard reports the store's state
            log.info("job %s: its end was not recorded, the store is unavailable (%s)", job.id, exc)
        except Exception:
            log.exception("job %s: recording its end failed", job.id)

    async def fail(
        self, job: Job, kind: FailureKind, reason: str, *, to: JobStatus = JobStatus.FAILED
    ) -> None:
        """End the job with a refund and tell the requester (once, whoever else tries)."""
        reason = self.scrub(reason)
        now = self.clock()
        failed = await self.transition(
            job.id,
            to,
            now=now,
            note=kind.value,
            failure_kind=kind,
            failure_reason=reason,
            completed_at=now,
        )
        if failed is None:
            return
        try:
            await self.notifier.failed(failed, kind, reason, refunded=True)
        except Exception:
            log.exception("job %s: could not report the failure", job.id)

    def remaining(self, job: Job) -> float:
        """Seconds until the job's deadline (0 once it has passed): the most any of its work
        may still take."""
        return max(0.0, job.deadline_at - self.clock())

    async def report(self, job: Job, progress: Progress) -> None:
        """Show progress (best effort)."""
        try:
            await self.notifier.progress(job, progress)
        except Exception:
            log.exception("job %s: progress report failed", job.id)
