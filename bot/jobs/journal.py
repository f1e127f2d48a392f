"""The job log: one INFO line for every status a job takes, written from one place.

Every status change goes through :func:`change_status` (the stages through
:meth:`~bot.jobs.context.EngineContext.transition`, and the engine's cancel), and a new job's
``queued`` through :func:`transitioned` at admission. Each line carries structured fields
(``extra``; ``LOG_FORMAT=json`` shows them as keys): ``event`` (``job_transition``),
``job_id``, ``provider``, ``model``, ``from`` (None for a new job), ``to``, and the timings in
seconds: ``queued_s`` (waiting in line, until the create request was sent, or until now),
``at_provider_s`` (from the create request until the provider finished, or until now; None
before it was sent) and ``total_s`` (since the job was accepted); ``failure_kind`` when it
failed. Nothing secret is in them (no tokens, no prompts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Unpack

from bot.jobs.models import Job
from bot.jobs.ports import JobFields, Store
from bot.jobs.states import JobStatus
from providers.base import ResultImage

log = logging.getLogger("bot.jobs.journal")


def timings(job: Job, now: float) -> dict[str, float | None]:
    """The job's queued, at-provider and total seconds as of ``now`` (see the module)."""
    left_queue = job.submitted_at if job.submitted_at is not None else now
    at_provider = None
    if job.submitted_at is not None:
        finished = job.completed_at if job.completed_at is not None else now
        at_provider = round(max(0.0, finished - job.submitted_at), 3)
    return {
        "queued_s": round(max(0.0, left_queue - job.created_at), 3),
        "at_provider_s": at_provider,
        "total_s": round(max(0.0, now - job.created_at), 3),
    }


def transitioned(job: Job, previous: JobStatus | None, now: float) -> None:
    """Log that ``job`` (as written) moved from ``previous`` to its status."""
    fields: dict[str, Any] = {
        "event": "job_transition",
        "job_id": job.id,
        "provider": job.provider,
        "model": job.model,
        "from": previous.value if previous is not None else None,
        "to": job.status.value,
        **timings(job, now),
    }
    if job.failure_kind is not None and job.status is not JobStatus.DELIVERED:
        fields["failure_kind"] = job.failure_kind.value
    at_provider = fields["at_provider_s"]
    log.info(
        "job %s %s -> %s (%s:%s; queued %.3f s, at provider %s, total %.3f s)",
        job.id,
        fields["from"] or "new",
        fields["to"],
        job.provider,
        job.model,
        fields["queued_s"],
        "-" if at_provider is None else f"{at_provider:.3f} s",
        fields["total_s"],
        extra=fields,
    )


async def change_status(
    store: Store,
    job_id: str,
    to: JobStatus,
    *,
    now: float,
    note: str | None = None,
    results: Iterable[ResultImage] = (),
    only_from: Iterable[JobStatus] | None = None,
    **fields: Unpack[JobFields],
) -> Job | None:
    """:meth:`~bot.jobs.ports.JobStore.transition`, logged when it happened."""
    job = await store.jobs.transition(
        job_id, to, now=now, note=note, results=results, only_from=only_from, **fields
    )
    if job is not None:
        transitioned(job, job.previous_status, now)
    return job
