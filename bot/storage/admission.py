"""Admission: the user's active jobs checked, the credits reserved (the user's and,
in a server, the server budget's) and the queued rows inserted with their references, all in
one transaction; and the audit trail's entry every status change writes.

Counting the active jobs and then inserting is a read-then-write, so the transaction first
takes a lock on the user (:meth:`~bot.storage.sql.Transaction.lock`): two processes admitting
for one user take turns. The credits need no such lock: they are conditional UPDATEs
(:mod:`.quota`, :mod:`.budget`), exact under any concurrency."""

from __future__ import annotations

from collections.abc import Sequence

from bot.jobs.models import NewJob
from bot.jobs.ports import UserLimitError
from bot.jobs.quota import ServerBudget
from bot.jobs.states import ACTIVE, JobStatus
from bot.storage import quota
from bot.storage.images import JobImages
from bot.storage.rows import in_list
from bot.storage.sql import Database, Row, Transaction


async def admit_rows(
    db: Database,
    images: JobImages,
    jobs: Sequence[NewJob],
    staged: list[list[str | None]],
    *,
    active_limit: int,
    allowance: int | None,
    budget: ServerBudget | None,
) -> list[Row]:
    """In one transaction: refuse with :class:`UserLimitError` when the user has
    ``active_limit`` active jobs (a group counts once), then reserve and insert each of
    ``jobs`` with its ``staged`` reference files; the inserted rows."""
    user_id = jobs[0].origin.user_id
    async with db.transaction() as tx:
        await tx.lock(f"admit:{user_id}")  # the count below and the insert, one user at a time
        active = await tx.fetchone(
            "SELECT COUNT(DISTINCT COALESCE(group_id, id)) FROM jobs "
            f"WHERE user_id = ? AND status IN ({in_list(ACTIVE)})",
            (user_id,),
        )
        if active is not None and int(active[0]) >= active_limit:
            raise UserLimitError(active_limit)
        return [
            await _insert(tx, images, job, names, allowance=allowance, budget=budget)
            for job, names in zip(jobs, staged, strict=True)
        ]


async def _insert(
    tx: Transaction,
    images: JobImages,
    job: NewJob,
    staged: list[str | None],
    *,
    allowance: int | None,
    budget: ServerBudget | None,
) -> Row:
    origin = job.origin
    day = await quota.reserve(
        tx,
        job_id=job.id,
        user_id=origin.user_id,
        credits=job.cost,
        allowance=allowance,
        at=job.created_at,
        guild_id=origin.guild_id,
        budget=budget,
    )
    row = await tx.fetchone(
        "INSERT INTO jobs (id, status, kind, user_id, guild_id, channel_id, "
        "interaction_id, interaction_token, token_expires_at, origin_message_id, "
        "status_message_id, upload_limit, parent_job_id, provider, model, request_json, "
        "callback_token, cost, quota_day, deadline_at, created_at, updated_at, "
        "group_id, group_index, group_size, resolution, reference_count) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING *",
        (
            job.id,
            JobStatus.QUEUED.value,
            job.kind,
            origin.user_id,
            origin.guild_id,
            origin.channel_id,
            origin.interaction_id,
            origin.interaction_token,
            origin.token_expires_at,
            origin.origin_message_id,
            origin.status_message_id,
            origin.upload_limit,
            job.parent_job_id,
            job.provider,
            job.model,
            job.request.model_dump_json(exclude={"references"}),
            job.callback_token,
            job.cost,
            day,
            job.deadline_at,
            job.created_at,
            job.created_at,
            job.group_id,
            job.group_index,
            job.group_size,
            job.request.resolution,
            len(job.request.references),
        ),
    )
    assert row is not None
    await images.insert(tx, "job_references", job.id, job.request.references, staged)
    await record_event(tx, job.id, None, JobStatus.QUEUED, None, job.created_at)
    return row


async def record_event(
    tx: Transaction,
    job_id: str,
    previous: str | None,
    to: JobStatus,
    note: str | None,
    now: float,
) -> None:
    """The audit trail's entry for a status change (``previous`` None: admitted): sent, not
    awaited (nothing is read back)."""
    tx.send(
        "INSERT INTO job_events (job_id, at, from_status, to_status, note) VALUES (?, ?, ?, ?, ?)",
        (job_id, now, previous, to.value, note),
    )
