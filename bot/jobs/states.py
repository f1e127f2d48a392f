"""Job statuses and the transitions allowed between them, as data."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is. Stored as lowercase TEXT."""

    QUEUED = "queued"  # accepted, credits reserved, waiting for provider capacity
    SUBMITTING = "submitting"  # the create request is (or may be) in flight
    SUBMITTED = "submitted"  # the provider gave us a task id
    RUNNING = "running"  # the provider says it is generating
    SUCCEEDED = "succeeded"  # results stored, not yet delivered
    DELIVERED = "delivered"  # posted; credits committed
    FAILED = "failed"  # credits refunded
    TIMED_OUT = "timed_out"  # deadline passed; credits refunded
    CANCELLED = "cancelled"  # credits refunded


TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(
        {JobStatus.SUBMITTING, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED}
    ),
    JobStatus.SUBMITTING: frozenset(
        {
            JobStatus.SUBMITTED,
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.TIMED_OUT,
        }
    ),
    JobStatus.SUBMITTED: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.TIMED_OUT,
            JobStatus.CANCELLED,
        }
    ),
    JobStatus.RUNNING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED}
    ),
    JobStatus.SUCCEEDED: frozenset({JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.TIMED_OUT}),
    JobStatus.DELIVERED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.TIMED_OUT: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}

#: jobs that hold a place in the queue or at a provider (count against per-user limits)
ACTIVE = frozenset({JobStatus.QUEUED, JobStatus.SUBMITTING, JobStatus.SUBMITTED, JobStatus.RUNNING})
#: jobs a provider is working on (count against per-provider concurrency)
AT_PROVIDER = frozenset({JobStatus.SUBMITTING, JobStatus.SUBMITTED, JobStatus.RUNNING})
#: jobs whose provider task we track by polling
TRACKED = frozenset({JobStatus.SUBMITTED, JobStatus.RUNNING})
#: endings that give the credits back
REFUNDED = frozenset({JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED})
FINAL = frozenset({JobStatus.DELIVERED}) | REFUNDED


def sources(target: JobStatus) -> tuple[JobStatus, ...]:
    """Every status from which ``target`` may be reached."""
    return tuple(sorted(s for s, allowed in TRANSITIONS.items() if target in allowed))
