"""The job engine: accept, submit, track, deliver; every step a persisted compare-and-set.

One loop (``_run``) dispatches queued jobs within per-provider concurrency limits, polls tracked
jobs whose time has come, retries pending deliveries and expires overdue jobs. Callbacks only
*hint* (poll this job now); every status, from a poll or a hinted poll, goes through
:meth:`JobEngine.apply`, whose compare-and-set transitions make duplicates harmless. Because all
state is in the database, :meth:`JobEngine.start` after a crash simply resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.jobs.delivery import Delivery, DeliveryError
from bot.jobs.models import FailureKind, ImageFile, Job, JobSpec, Progress, Receipt, Stage
from bot.jobs.states import FINAL, TRACKED, JobStatus
from bot.media.fetch import FetchError, ImageFetcher
from bot.media.sniff import NotAnImageError, inspect_image
from bot.storage.db import Database
from bot.storage.jobs import JobRepository
from bot.storage.quota import QuotaLedger, QuotaSnapshot
from providers.base import (
    BadKeyError,
    Completion,
    InsufficientCreditsError,
    ModelCapabilities,
    NotConfiguredError,
    Provider,
    ProviderError,
    RateLimitedError,
    RequestInvalidError,
    RequestRejectedError,
    ResultImage,
    SubmitOutcomeUnknownError,
    TaskNotFoundError,
    TaskState,
    TaskStatus,
)
from providers.polling import poll_delay
from providers.validation import validate_request

log = logging.getLogger(__name__)

DEFAULT_COSTS: Mapping[str, int] = {"1K": 1, "2K": 2, "4K": 4}


@dataclass(frozen=True)
class EngineConfig:
    """Limits and timings of the engine (all overridable from settings)."""

    default_concurrency: int = 5
    provider_concurrency: Mapping[str, int] = field(default_factory=dict)
    per_user_active_limit: int = 3
    deadline_seconds: float = 900.0
    callback_base_url: str | None = None
    #: with callbacks expected, the first poll waits this many typical durations (fallback)
    callback_grace: float = 2.0
    poll_floor: float = 2.0
    poll_cap: float = 15.0
    poll_interval: float | None = None  # a fixed interval (tests, benchmarks)
    costs: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_COSTS))
    max_delivery_attempts: int = 5
    not_found_grace_polls: int = 3
    idle_tick: float = 5.0


class UserLimitError(Exception):
    """The user already has as many jobs waiting or running as allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"you already have {limit} image job(s) waiting or running; "
            "wait for one to finish and try again"
        )
        self.limit = limit


def failure_kind(error: ProviderError) -> FailureKind:
    """The failure category for a provider error."""
    kinds: list[tuple[type[ProviderError], FailureKind]] = [
        (SubmitOutcomeUnknownError, FailureKind.UNKNOWN_OUTCOME),
        (RequestInvalidError, FailureKind.INVALID),
        (RequestRejectedError, FailureKind.REJECTED),
        (BadKeyError, FailureKind.BAD_KEY),
        (NotConfiguredError, FailureKind.BAD_KEY),
        (InsufficientCreditsError, FailureKind.NO_CREDITS),
        (RateLimitedError, FailureKind.RATE_LIMITED),
    ]
    for cls, kind in kinds:
        if isinstance(error, cls):
            return kind
    return FailureKind.UNAVAILABLE


class JobEngine:
    """Accepts jobs and drives each one to exactly one delivery or one refund."""

    def __init__(
        self,
        db: Database,
        providers: Mapping[str, Provider],
        delivery: Delivery,
        fetcher: ImageFetcher,
        *,
        allowance: int | None,
        config: EngineConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.providers = providers
        self.delivery = delivery
        self.fetcher = fetcher
        self.config = config or EngineConfig()
        self.clock = clock
        self.ledger = QuotaLedger(db, allowance)
        self.jobs = JobRepository(db, self.ledger)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._busy: set[tuple[str, str]] = set()  # (activity, job id) running in this process
        self._positions: dict[str, int] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ public API

    def cost(self, model: ModelCapabilities, resolution: str | None, count: int) -> int:
        """Credits for ``count`` images at ``resolution`` (the model's default when None)."""
        chosen = resolution or model.default_resolution or "1K"
        return self.config.costs.get(chosen, max(self.config.costs.values(), default=1)) * count

    async def accept(self, spec: JobSpec) -> Job:
        """Validate, reserve credits and queue the job, atomically.

        Raises :class:`RequestInvalidError` / :class:`NotConfiguredError` (nothing reserved),
        :class:`bot.storage.quota.QuotaExceededError` or :class:`UserLimitError`.
        """
        provider = self.providers.get(spec.provider)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise NotConfiguredError(
                f"provider {spec.provider!r} is not configured here; available: {known}"
            )
        model = validate_request(provider.capabilities, spec.request)
        request = spec.request.model_copy(update={"model": model.name})
        cost = self.cost(model, request.resolution, request.count)
        job_id = secrets.token_hex(6)
        now = self.clock()
        async with self.db.transaction() as tx:
            if await self.jobs.active_count(tx, spec.origin.user_id) >= (
                self.config.per_user_active_limit
            ):
                raise UserLimitError(self.config.per_user_active_limit)
            day = await self.ledger.reserve(
                tx, job_id=job_id, user_id=spec.origin.user_id, credits=cost, at=now
            )
            await self.jobs.insert(
                tx,
                job_id=job_id,
                origin=spec.origin,
                provider=spec.provider,
                model=model.name,
                request=request,
                callback_token=secrets.token_urlsafe(24),
                cost=cost,
                quota_day=day,
                kind=spec.kind,
                parent_job_id=spec.parent_job_id,
                now=now,
                deadline_at=now + self.config.deadline_seconds,
            )
        job = await self._get(job_id)
        self._wake.set()
        return job

    async def quota(self, user_id: str) -> QuotaSnapshot:
        """The user's allowance, reserved and spent credits today."""
        return await self.ledger.snapshot(user_id, self.clock())

    async def position(self, job: Job) -> int | None:
        """The job's place in its provider's queue (None once submitted)."""
        return await self.jobs.queue_position(job)

    async def cancel(self, job_id: str) -> bool:
        """Cancel a job that has not reached a provider yet; credits are refunded."""
        return await self.jobs.transition(
            job_id,
            JobStatus.CANCELLED,
            now=self.clock(),
            only_from=[JobStatus.QUEUED],
            note="cancelled",
            failure_kind=FailureKind.CANCELLED,
            failure_reason="cancelled",
        )

    async def hint(self, job_id: str) -> None:
        """A provider callback arrived for the job: check its status now (never trust the body)."""
        await self.jobs.hint(job_id, self.clock())
        self._wake.set()

    async def wait(self, job_id: str, seconds: float) -> Job:
        """Wait (bounded) until the job is final; returns it as stored."""
        deadline = time.monotonic() + seconds
        while True:
            job = await self.jobs.get(job_id, images=False)
            if job is None:
                raise KeyError(job_id)
            if job.status in FINAL or time.monotonic() >= deadline:
                return await self._get(job_id)
            await asyncio.sleep(0.02)

    async def start(self) -> None:
        """Resume every unfinished job, then run the loop in the background."""
        await self._recover()
        self._stopping = False
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="job-engine")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the loop; in-flight work gets ``grace`` seconds, then is cancelled."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # ------------------------------------------------------------------ the single apply path

    async def apply(self, job_id: str, status: TaskStatus) -> None:
        """Apply a provider status (from a poll) to the job. Duplicates and late ones are no-ops."""
        job = await self.jobs.get(job_id, images=False)
        if job is None or job.status not in TRACKED:
            return
        if job.task_id and status.task_id and status.task_id != job.task_id:
            log.warning("job %s: status for another task %s ignored", job_id, status.task_id)
            return
        now = self.clock()
        if status.state is TaskState.SUCCEEDED:
            if not status.images:
                await self._fail(
                    job,
                    FailureKind.GENERATION_FAILED,
                    f"{job.provider} reported success but returned no image",
                )
                return
            if await self.jobs.transition(
                job_id,
                JobStatus.SUCCEEDED,
                now=now,
                results=status.images,
                completed_at=now,
                next_poll_at=now,
            ):
                self._spawn("deliver", job_id, self._deliver(job_id))
        elif status.state is TaskState.FAILED:
            kind = FailureKind.REJECTED if status.content_policy else FailureKind.GENERATION_FAILED
            await self._fail(job, kind, status.reason or f"{job.provider} could not generate it")
        else:
            next_at = now + self._poll_delay(job, job.poll_count + 1)
            if status.state is TaskState.RUNNING and job.status is JobStatus.SUBMITTED:
                await self.jobs.transition(
                    job_id,
                    JobStatus.RUNNING,
                    now=now,
                    next_poll_at=next_at,
                    poll_count=job.poll_count + 1,
                )
            else:
                await self.jobs.update(
                    job_id, when=TRACKED, next_poll_at=next_at, poll_count=job.poll_count + 1
                )
            await self._report(job, Progress(Stage.GENERATING, elapsed=now - job.created_at))

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._dispatch()
                await self._poll_due()
                await self._deliver_due()
            except Exception:
                log.exception("job engine loop error")
            await self._sleep_until_due()

    async def _sleep_until_due(self) -> None:
        now = self.clock()
        delay = self.config.idle_tick
        next_poll = await self.jobs.next_poll_time()
        if next_poll is not None:
            delay = min(delay, max(0.0, next_poll - now))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.005))

    async def _dispatch(self) -> None:
        queued = await self.jobs.with_status([JobStatus.QUEUED], limit=500)
        if not queued:
            return
        counts = await self.jobs.at_provider_counts()
        for job in queued:  # spawned submits that have not marked themselves yet
            if ("submit", job.id) in self._busy:
                counts[job.provider] = counts.get(job.provider, 0) + 1
        now = self.clock()
        waiting: dict[str, int] = {}
        for job in queued:
            if now >= job.deadline_at:
                await self._fail(
                    job,
                    FailureKind.TIMED_OUT,
                    "it waited in the queue too long",
                    to=JobStatus.TIMED_OUT,
                )
                continue
            limit = self.config.provider_concurrency.get(
                job.provider, self.config.default_concurrency
            )
            if ("submit", job.id) in self._busy:
                continue
            if counts.get(job.provider, 0) < limit:
                counts[job.provider] = counts.get(job.provider, 0) + 1
                self._spawn("submit", job.id, self._submit(job))
                continue
            waiting[job.provider] = waiting.get(job.provider, 0) + 1
            position = waiting[job.provider]
            if self._positions.get(job.id) != position:
                current = await self.jobs.get(job.id, images=False)  # not cancelled meanwhile
                if current is not None and current.status is JobStatus.QUEUED:
                    self._positions[job.id] = position
                    await self._report(job, Progress(Stage.QUEUED, position=position))

    async def _submit(self, listed: Job) -> None:
        now = self.clock()
        if not await self.jobs.transition(listed.id, JobStatus.SUBMITTING, now=now):
            return
        job = await self._get(listed.id)  # with its reference images
        self._positions.pop(job.id, None)
        await self._report(job, Progress(Stage.SUBMITTED, elapsed=now - job.created_at))
        provider = self.providers.get(job.provider)
        if provider is None:
            await self._fail(job, FailureKind.BAD_KEY, f"{job.provider} is no longer configured")
            return
        callback_url = None
        if (
            self.config.callback_base_url
            and provider.capabilities.completion is Completion.CALLBACK
        ):
            base = self.config.callback_base_url.rstrip("/")
            callback_url = f"{base}/callbacks/{job.id}/{job.callback_token}"
        try:
            status = await provider.submit(job.request, callback_url=callback_url)
        except SubmitOutcomeUnknownError as exc:
            log.warning("job %s: submit outcome unknown: %s (%s)", job.id, exc, exc.detail)
            await self._fail(
                job,
                FailureKind.UNKNOWN_OUTCOME,
                f"{exc}; it was not sent again, to avoid paying twice",
            )
            return
        except ProviderError as exc:
            log.info("job %s: submit failed: %s (%s)", job.id, exc, exc.detail)
            await self._fail(job, failure_kind(exc), str(exc))
            return
        except Exception:
            log.exception("job %s: unexpected submit error", job.id)
            await self._fail(job, FailureKind.INTERNAL, "an unexpected error (see the logs)")
            return
        try:
            await self._submitted(job, status, callback_url is not None)
        except Exception:
            log.exception("job %s: could not record the provider's answer", job.id)
            await self._fail(job, FailureKind.INTERNAL, "an unexpected error (see the logs)")

    async def _submitted(self, job: Job, status: TaskStatus, expect_callback: bool) -> None:
        now = self.clock()
        if status.state is TaskState.SUCCEEDED:
            if await self.jobs.transition(
                job.id,
                JobStatus.SUCCEEDED,
                now=now,
                results=status.images,
                task_id=status.task_id or None,
                submitted_at=now,
                completed_at=now,
                next_poll_at=now,
            ):
                self._spawn("deliver", job.id, self._deliver(job.id))
            return
        if status.state is TaskState.FAILED:
            kind = FailureKind.REJECTED if status.content_policy else FailureKind.GENERATION_FAILED
            await self._fail(job, kind, status.reason or f"{job.provider} could not generate it")
            return
        target = JobStatus.RUNNING if status.state is TaskState.RUNNING else JobStatus.SUBMITTED
        first = self._poll_delay(job, 0, expect_callback=expect_callback)
        await self.jobs.transition(
            job.id,
            target,
            now=now,
            task_id=status.task_id,
            submitted_at=now,
            next_poll_at=now + first,
        )
        if (await self._get(job.id)).callback_hinted:
            await self.jobs.update(job.id, when=TRACKED, next_poll_at=now)
        await self._report(job, Progress(Stage.SUBMITTED, elapsed=now - job.created_at))
        self._wake.set()

    def _poll_delay(self, job: Job, n: int, *, expect_callback: bool = False) -> float:
        if self.config.poll_interval is not None:
            return self.config.poll_interval
        provider = self.providers.get(job.provider)
        typical = provider.capabilities.model(job.model).typical_seconds if provider else 30.0
        typical = float(typical)
        if n == 0 and expect_callback:
            return max(self.config.poll_floor, typical * self.config.callback_grace)
        return poll_delay(n, typical, floor=self.config.poll_floor, cap=self.config.poll_cap)

    async def _poll_due(self) -> None:
        for job in await self.jobs.due_for_poll(self.clock()):
            if ("poll", job.id) not in self._busy:
                self._spawn("poll", job.id, self._poll(job))

    async def _poll(self, job: Job) -> None:
        now = self.clock()
        if now >= job.deadline_at:
            await self._fail(
                job,
                FailureKind.TIMED_OUT,
                f"{job.provider} did not finish in time",
                to=JobStatus.TIMED_OUT,
            )
            return
        provider = self.providers.get(job.provider)
        if provider is None or job.task_id is None:
            await self._fail(job, FailureKind.INTERNAL, "the job cannot be tracked")
            return
        try:
            status = await provider.fetch(job.task_id, model=job.model)
        except TaskNotFoundError as exc:
            if job.poll_count < self.config.not_found_grace_polls:
                await self._reschedule(job)
            else:
                await self._fail(
                    job, FailureKind.GENERATION_FAILED, f"{job.provider} lost the task ({exc})"
                )
            return
        except (BadKeyError, InsufficientCreditsError) as exc:
            await self._fail(job, failure_kind(exc), str(exc))
            return
        except ProviderError as exc:
            log.info("job %s: status read failed, will retry: %s (%s)", job.id, exc, exc.detail)
            await self._reschedule(job)
            return
        await self.apply(job.id, status)

    async def _reschedule(self, job: Job) -> None:
        count = job.poll_count + 1
        await self.jobs.update(
            job.id,
            when=TRACKED,
            poll_count=count,
            next_poll_at=self.clock() + self._poll_delay(job, count),
        )

    # ------------------------------------------------------------------ delivery

    async def _deliver_due(self) -> None:
        now = self.clock()
        for job in await self.jobs.with_status([JobStatus.SUCCEEDED], limit=100):
            if (job.next_poll_at is None or job.next_poll_at <= now) and (
                ("deliver", job.id) not in self._busy
            ):
                self._spawn("deliver", job.id, self._deliver(job.id))

    async def _deliver(self, job_id: str) -> None:
        job = await self._get(job_id)
        if job.status is not JobStatus.SUCCEEDED:
            return
        attempt = await self.jobs.count_delivery_attempt(job_id)
        if attempt > 1:
            try:
                earlier = await self.delivery.earlier_delivery(job)
            except Exception:
                log.exception("job %s: looking for an earlier delivery failed", job_id)
                earlier = None
            if earlier is not None:
                log.info("job %s: already delivered before a restart (%s)", job_id, earlier.via)
                await self._delivered(job, earlier)
                return
        try:
            await self._report(
                job, Progress(Stage.UPLOADING, elapsed=self.clock() - job.created_at)
            )
            images = [await self._image(result) for result in job.results]
            receipt = await self.delivery.deliver(job, images, attempt)
        except DeliveryError as exc:
            await self._delivery_failed(job, attempt, str(exc), permanent=exc.permanent)
            return
        except Exception:
            log.exception("job %s: delivery error", job_id)
            await self._delivery_failed(job, attempt, "an unexpected error", permanent=False)
            return
        await self._delivered(job, receipt)

    async def _delivered(self, job: Job, receipt: Receipt) -> None:
        now = self.clock()
        await self.jobs.transition(
            job.id,
            JobStatus.DELIVERED,
            now=now,
            posted_message_id=receipt.message_id,
            delivered_via=receipt.via,
            delivered_at=now,
        )

    async def _delivery_failed(
        self, job: Job, attempt: int, reason: str, *, permanent: bool
    ) -> None:
        if permanent or attempt >= self.config.max_delivery_attempts:
            await self._fail(
                job, FailureKind.UNDELIVERABLE, f"the images could not be delivered: {reason}"
            )
            return
        log.warning("job %s: delivery attempt %d failed (%s); retrying", job.id, attempt, reason)
        await self.jobs.update(
            job.id,
            when=[JobStatus.SUCCEEDED],
            next_poll_at=self.clock() + min(60.0, 2.0 * 2**attempt),
        )

    async def _image(self, result: ResultImage) -> ImageFile:
        if result.data is not None:
            try:
                info = inspect_image(result.data)
            except NotAnImageError as exc:
                raise DeliveryError(
                    f"the provider returned a broken image ({exc})", permanent=True
                ) from exc
            return ImageFile(data=result.data, mime_type=info.mime_type, extension=info.extension)
        if result.url is None:
            raise DeliveryError("the provider returned an empty result", permanent=True)
        try:
            fetched = await self.fetcher.fetch(result.url)
        except FetchError as exc:
            raise DeliveryError(f"downloading the result failed: {exc}") from exc
        return ImageFile(
            data=fetched.data, mime_type=fetched.info.mime_type, extension=fetched.info.extension
        )

    # ------------------------------------------------------------------ failures, recovery

    async def _fail(
        self, job: Job, kind: FailureKind, reason: str, *, to: JobStatus = JobStatus.FAILED
    ) -> None:
        now = self.clock()
        if await self.jobs.transition(
            job.id,
            to,
            now=now,
            note=kind.value,
            failure_kind=kind,
            failure_reason=reason,
            completed_at=now,
        ):
            self._positions.pop(job.id, None)
            try:
                await self.delivery.failed(job, kind, reason, refunded=True)
            except Exception:
                log.exception("job %s: could not report the failure", job.id)

    async def _recover(self) -> None:
        now = self.clock()
        for job in await self.jobs.with_status([JobStatus.SUBMITTING], limit=10_000):
            await self._fail(
                job,
                FailureKind.UNKNOWN_OUTCOME,
                "the bot restarted while sending this request; it was not sent again, "
                "to avoid paying twice",
            )
        for job in await self.jobs.with_status(list(TRACKED), limit=10_000):
            await self.jobs.update(job.id, when=TRACKED, next_poll_at=now)
        for job in await self.jobs.with_status([JobStatus.SUCCEEDED], limit=10_000):
            await self.jobs.update(job.id, when=[JobStatus.SUCCEEDED], next_poll_at=now)

    # ------------------------------------------------------------------ helpers

    async def _get(self, job_id: str) -> Job:
        job = await self.jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    async def _report(self, job: Job, progress: Progress) -> None:
        try:
            await self.delivery.progress(job, progress)
        except Exception:
            log.exception("job %s: progress report failed", job.id)

    def _spawn(self, activity: str, job_id: str, coro: Coroutine[Any, Any, None]) -> None:
        key = (activity, job_id)
        self._busy.add(key)
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            self._busy.discard(key)
            self._wake.set()
            if not finished.cancelled() and finished.exception() is not None:
                log.error("job %s: %s crashed", job_id, activity, exc_info=finished.exception())

        task.add_done_callback(done)
