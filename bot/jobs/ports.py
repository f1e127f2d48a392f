"""What the engine needs from the world around it, as protocols the core owns.

A storage backend implements :class:`Store` (jobs with their quota ledger, and small
key/value facts), raising :class:`StoreUnavailableError` when its disk or server fails; the
SQLite one is :mod:`bot.storage`, the PostgreSQL one :mod:`bot.storage.postgres`, both passing
the same contract tests (``tests/storage``). Several processes may share a store: their
engines claim work through :class:`LeaseStore` (see :mod:`bot.jobs.leases`). Whatever shows
results to people
implements :class:`Notifier`: Discord messages in :mod:`bot.discord`, files in the CLI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict, Unpack

from bot.jobs.models import FailureKind, Job, NewJob, Progress, Receipt
from bot.jobs.quota import BudgetSnapshot, CreditTotals, QuotaSnapshot, ServerBudget
from bot.jobs.states import JobStatus
from bot.media.sniff import ImageFile
from providers.base import ResultImage


class UserLimitError(Exception):
    """The user already has as many jobs waiting or running as allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"you already have {limit} image job(s) waiting or running; "
            "wait for one to finish and try again"
        )
        self.limit = limit


class StoreUnavailableError(Exception):
    """The store cannot do its work just now: the disk is full, the file became read-only,
    an I/O error, a lock held too long. Nothing was written; the same operation may succeed
    later. A backend raises this (never its driver's own errors) for such faults, so the engine
    can slow down and try again without knowing the backend (see :mod:`bot.jobs.guard`).

    ``code``: a short, stable name for the fault (SQLite's own, e.g. ``SQLITE_FULL``)."""

    def __init__(self, message: str, code: str = "unavailable") -> None:
        super().__init__(message)
        self.code = code


class JobFields(TypedDict, total=False):
    """The columns a status change (or an update within a status) may set."""

    task_id: str | None
    posted_message_id: str | None
    delivered_via: str | None
    failure_kind: FailureKind
    failure_reason: str
    next_poll_at: float | None
    next_delivery_at: float | None
    submitted_at: float
    completed_at: float
    delivered_at: float
    poll_count: int
    callback_hinted: bool
    delivery_attempts: int  # set with the success: the first attempt starts at once
    sources_json: str | None  # the grounding sources (see bot.jobs.models.encode_sources)
    claimed_by: str | None  # the worker that last claimed the job (see LeaseStore)


@dataclass(frozen=True)
class CompletionTime:
    """How long a succeeded job took from its create request to completion, and its kind:
    the resolution it asked for (None: the model's default) and its reference images."""

    provider: str
    model: str
    seconds: float
    resolution: str | None
    reference_count: int


@dataclass(frozen=True)
class WaitingTask:
    """A job waiting at its provider, with what a read of the provider's task list needs."""

    job_id: str
    task_id: str
    provider: str
    model: str
    status: JobStatus
    submitted_at: float | None
    resolution: str | None
    reference_count: int


class JobStore(Protocol):
    """Jobs, their audit trail and their effect on the quota ledger."""

    async def admit(
        self,
        job: NewJob,
        *,
        active_limit: int,
        allowance: int | None,
        budget: ServerBudget | None = None,
    ) -> Job:
        """Atomically: refuse with :class:`UserLimitError` when the user already has
        ``active_limit`` active jobs, reserve ``job.cost`` credits of the user's ``allowance``
        for the day (:class:`~bot.jobs.quota.QuotaExceededError` when they do not cover it)
        and, for a job in a server, of the server's ``budget`` for the day and the month
        (:class:`~bot.jobs.quota.BudgetExceededError`), and store the job as queued with its
        reference images. Returns it (without images)."""

    async def admit_group(
        self,
        jobs: Sequence[NewJob],
        *,
        active_limit: int,
        allowance: int | None,
        budget: ServerBudget | None = None,
    ) -> list[Job]:
        """:meth:`admit` for every member of a group, all or none; the group counts as one
        active job."""

    async def group(self, group_id: str, *, images: bool = True) -> list[Job]:
        """Every member of a group, in order (with their images unless ``images`` is
        False)."""

    async def get(
        self, job_id: str, *, images: bool = True, reference_bytes: bool = True
    ) -> Job | None:
        """The job (with its reference and result images unless ``images`` is False;
        ``reference_bytes`` False: its references without their bytes)."""

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
        """Move the job to ``to`` if its current status allows it (compare-and-set), setting
        ``fields`` and storing ``results``, with an audit event and the ledger effect (commit on
        delivery, refund on failure, timeout or cancellation) in the same transaction.
        Returns the row as written (without images) with ``previous_status`` set to the status it
        moved from, or None when the move was not allowed."""

    async def update(
        self, job_id: str, *, when: Iterable[JobStatus], **fields: Unpack[JobFields]
    ) -> bool:
        """Set ``fields`` without a status change, only while the job is in one of ``when``."""

    async def hint(self, job_id: str, now: float, *, held_until: float | None = None) -> None:
        """A callback arrived: mark the job hinted and, if it is tracked, due for a poll at
        ``now`` (a poll already due sooner is not put off). ``held_until``: a read of its
        status has just started instead: no poll is due before then (as a claim holds a job;
        the read's outcome sets the next)."""

    async def count_delivery_attempt(self, job_id: str) -> int:
        """Record that a delivery is about to be attempted; return the attempt number."""

    async def with_status(self, statuses: Iterable[JobStatus], limit: int = 500) -> list[Job]:
        """Jobs in any of ``statuses``, oldest first, without images."""

    async def due_for_poll(self, now: float, limit: int = 100) -> list[Job]:
        """Tracked jobs whose next poll time has come, without images (a read: the engine
        claims them with :meth:`LeaseStore.claim_polls`)."""

    async def completion_times(self, limit: int = 5000) -> list[CompletionTime]:
        """How long the latest succeeded jobs took, and their kinds, oldest first."""

    async def waiting(self, provider: str, limit: int = 10_000) -> list[WaitingTask]:
        """The provider's tracked jobs that have a task there (at most ``limit``)."""

    async def defer_polls(self, job_ids: Sequence[str], until: float) -> int:
        """Put the next poll of these tracked jobs off to ``until`` (a poll due later is left
        as it is); returns how many were put off."""

    async def hasten_polls(self, job_ids: Sequence[str], at: float) -> int:
        """Make the next poll of these tracked jobs due at ``at`` (a poll due sooner is left
        as it is); returns how many were brought forward."""

    async def due_for_delivery(self, now: float, limit: int = 100) -> list[Job]:
        """Succeeded jobs whose next delivery attempt is due, without images (a read: the
        engine claims them with :meth:`LeaseStore.claim_deliveries`)."""

    async def next_due_at(self) -> float | None:
        """The earliest scheduled poll or delivery attempt, if any."""

    async def at_provider_counts(self) -> dict[str, int]:
        """How many jobs each provider is working on (or being sent)."""

    async def events(self, job_id: str) -> list[tuple[str | None, str]]:
        """The job's status history as (from, to) pairs."""

    async def status_counts(self) -> list[tuple[str, str, int]]:
        """(provider, status, number of jobs), for metrics."""


Wake = Callable[[], None]
Unlisten = Callable[[], Awaitable[None]]


class LeaseStore(Protocol):
    """Who works on which job when several processes share the store (see
    :mod:`bot.jobs.leases`).

    Each engine is a *worker* with a random id, seen (``seen_at``) at every heartbeat; a worker
    is live while it was seen at or after ``live_since`` (now minus the lease). Claiming work
    names the worker in the job (``claimed_by``) and, for polls and deliveries, pushes the due
    time to ``until`` (now plus the lease): no other worker takes the job meanwhile, and a
    crashed claimer's jobs simply become due again when that time passes. Each claim is one
    serialised step (a transaction holding the write lock, or row locks skipped by others)."""

    @property
    def shared(self) -> bool:
        """Whether other processes may use this store at the same time (SQLite: no, its
        previous process is dead by definition; PostgreSQL: yes)."""

    async def beat(self, worker: str, now: float) -> None:
        """The worker is alive at ``now`` (registered at its first beat)."""

    async def release(self, worker: str) -> None:
        """The worker stops: forget it, so others take over its submits at once."""

    async def live(self, live_since: float) -> int:
        """How many workers were seen at or after ``live_since`` (the processes sharing the
        providers' status-read budgets)."""

    async def claim_submit(
        self, job_id: str, *, worker: str, now: float, concurrency: int
    ) -> Job | None:
        """Move a queued job to ``submitting`` (``submitted_at`` = ``now``, claimed by
        ``worker``, with its audit event) only if fewer than ``concurrency`` jobs of its provider
        are at the provider, counted and moved in one serialised step per provider. The row as
        written (``previous_status`` set), or None when not queued or the provider is full."""

    async def claim_polls(self, worker: str, now: float, until: float, limit: int) -> list[Job]:
        """Claim up to ``limit`` tracked jobs whose poll is due at ``now``: their next poll
        moves to ``until``. Returned (without images) as they were before the claim, earliest
        due first."""

    async def claim_deliveries(
        self, worker: str, now: float, until: float, limit: int
    ) -> list[Job]:
        """:meth:`claim_polls` for succeeded jobs whose delivery attempt is due."""

    async def renew(self, worker: str, job_ids: Sequence[str], until: float) -> int:
        """Keep the worker's claim on succeeded jobs it is still delivering: their next
        delivery attempt moves to ``until``; how many."""

    async def stranded(self, live_since: float, limit: int = 1000) -> list[Job]:
        """Submitting jobs whose worker is unknown or was last seen before ``live_since``
        (the create request may or may not have been sent), without images."""

    async def resume(self, now: float, live_since: float) -> int:
        """Make every tracked job due for a poll and every succeeded one due for a delivery at
        ``now``, except those claimed by workers seen at or after ``live_since``; how many."""

    async def nudge(self) -> None:
        """Wake the other processes' engines (after a write that made work due: a job
        admitted, a callback hint). A store no other process uses does nothing."""

    async def listen(self, wake: Wake) -> Unlisten:
        """Call ``wake`` whenever another process makes work due (a job admitted, a callback
        hint, a job succeeded, a worker released); returns what stops it. A store no other
        process uses never calls it."""


class QuotaStore(Protocol):
    """Reads of the quota ledger (its writes happen in :class:`JobStore`'s transactions)."""

    async def snapshot(self, user_id: str, at: float, allowance: int | None) -> QuotaSnapshot:
        """The user's reserved and spent credits for the UTC day of ``at``."""

    async def budget(self, guild_id: str, at: float, budget: ServerBudget | None) -> BudgetSnapshot:
        """The server's use of its ``budget`` (reserved plus spent by every member) on the
        UTC day and month of ``at``."""

    async def totals(self) -> CreditTotals:
        """Everyone's reserved and spent credits on the latest day with any."""


class MetaStore(Protocol):
    """Small key/value facts (e.g. the hash of the last command sync)."""

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""


@dataclass(frozen=True)
class Compaction:
    """What one :meth:`RetentionStore.compact` did."""

    bytes_before: int
    bytes_after: int
    rebuilt: bool


class RetentionStore(Protocol):
    """Deleting what is no longer needed."""

    async def purge_references(self, ended_before: float, now: float, limit: int = 500) -> int:
        """Delete the reference images of up to ``limit`` jobs that ended before
        ``ended_before`` (their ``references_purged_at`` becomes ``now``); how many jobs."""

    async def compact(self) -> Compaction:
        """Give the space of deleted data back to the file system."""


class Store(Protocol):
    """One storage backend: everything durable the bot keeps."""

    @property
    def jobs(self) -> JobStore:
        """Jobs and the ledger effects of their status changes."""

    @property
    def quota(self) -> QuotaStore:
        """Quota reads."""

    @property
    def meta(self) -> MetaStore:
        """Key/value facts."""

    @property
    def retention(self) -> RetentionStore:
        """Deleting what is no longer needed."""

    @property
    def leases(self) -> LeaseStore:
        """Workers and their claims on jobs."""

    async def ping(self) -> None:
        """A round trip to the backend; :class:`StoreUnavailableError` when it is unavailable."""

    async def close(self) -> None:
        """Release the backend's connections."""


class DeliveryError(Exception):
    """Delivery failed. ``permanent`` failures are not retried (the job fails, is refunded)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(Protocol):
    """What the engine needs from whatever shows jobs to people.

    Delivery must happen once per job: after a crash between showing the results and recording
    it, the engine first asks :meth:`earlier_delivery` (before downloading anything again) and
    only calls :meth:`deliver` when nothing was shown.
    """

    async def progress(self, job: Job, progress: Progress) -> None:
        """Show how the job is doing (best effort; errors are logged, never fatal)."""

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        """Show the results. Idempotent per ``job.id``. Raises :class:`DeliveryError`."""

    async def earlier_delivery(self, job: Job) -> Receipt | None:
        """Where this job's results were already shown, if they were (the process died
        between showing them and recording it)."""

    async def failed(self, job: Job, kind: FailureKind, message: str, refunded: bool) -> None:
        """Tell the requester the job failed and whether the credits came back."""

    async def ended(self, job: Job) -> None:
        """The job reached a final status (delivered, failed, cancelled ...), as stored: for
        records such as a server's audit log (best effort; errors are logged)."""
