"""Job rows: insert, read, and compare-and-set status changes (with their ledger effects)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import aiosqlite

from bot.jobs.models import FailureKind, Job, Origin
from bot.jobs.states import (
    ACTIVE,
    AT_PROVIDER,
    REFUNDED,
    TRACKED,
    JobStatus,
    sources,
)
from bot.storage.db import Database, Transaction
from bot.storage.quota import QuotaLedger
from providers.base import GenerationRequest, ReferenceImage, ResultImage

_UPDATABLE = frozenset(
    {
        "task_id",
        "posted_message_id",
        "delivered_via",
        "failure_kind",
        "failure_reason",
        "next_poll_at",
        "submitted_at",
        "completed_at",
        "delivered_at",
        "poll_count",
        "callback_hinted",
        "delivery_attempts",
    }
)


def _in(statuses: Iterable[JobStatus]) -> str:
    return ", ".join(f"'{s.value}'" for s in statuses)


class JobRepository:
    """SQL for the ``jobs`` table and its children."""

    def __init__(self, db: Database, ledger: QuotaLedger) -> None:
        self.db = db
        self.ledger = ledger

    # ------------------------------------------------------------------ writes

    async def insert(
        self,
        tx: Transaction,
        *,
        job_id: str,
        origin: Origin,
        provider: str,
        model: str,
        request: GenerationRequest,
        callback_token: str,
        cost: int,
        quota_day: str,
        kind: str,
        parent_job_id: str | None,
        now: float,
        deadline_at: float,
    ) -> None:
        """Store a new queued job and its reference images."""
        await tx.execute(
            "INSERT INTO jobs (id, status, kind, user_id, guild_id, channel_id, interaction_id, "
            "interaction_token, token_expires_at, origin_message_id, status_message_id, "
            "upload_limit, parent_job_id, provider, model, request_json, callback_token, cost, "
            "quota_day, next_poll_at, deadline_at, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                JobStatus.QUEUED.value,
                kind,
                origin.user_id,
                origin.guild_id,
                origin.channel_id,
                origin.interaction_id,
                origin.interaction_token,
                origin.token_expires_at,
                origin.origin_message_id,
                origin.status_message_id,
                origin.upload_limit,
                parent_job_id,
                provider,
                model,
                request.model_dump_json(exclude={"references"}),
                callback_token,
                cost,
                quota_day,
                now,
                deadline_at,
                now,
                now,
            ),
        )
        await tx.executemany(
            "INSERT INTO job_references (job_id, position, url, data, mime_type, caption) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (job_id, i, r.url, r.data, r.mime_type, r.caption)
                for i, r in enumerate(request.references)
            ],
        )
        await self._event(tx, job_id, None, JobStatus.QUEUED, None, now)

    async def transition(
        self,
        job_id: str,
        to: JobStatus,
        *,
        now: float,
        note: str | None = None,
        results: Iterable[ResultImage] = (),
        only_from: Iterable[JobStatus] | None = None,
        **fields: Any,
    ) -> bool:
        """Move the job to ``to`` if its current status allows it; True if this call did.

        In the same transaction: the field updates, the results (if any), an audit event, and
        the ledger effect (commit on delivery, refund on failure / timeout / cancel).
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        allowed = set(sources(to))
        if only_from is not None:
            allowed &= set(only_from)
        assignments = "".join(f", {name} = :{name}" for name in fields)
        params = {**fields, "to": to.value, "now": now, "id": job_id}
        if isinstance(params.get("failure_kind"), FailureKind):
            params["failure_kind"] = params["failure_kind"].value
        async with self.db.transaction() as tx:
            current = await tx.fetchone("SELECT status FROM jobs WHERE id = ?", (job_id,))
            if current is None or JobStatus(current["status"]) not in allowed:
                return False
            params["previous"] = current["status"]
            changed = await tx.execute(
                f"UPDATE jobs SET status = :to, updated_at = :now{assignments} "
                "WHERE id = :id AND status = :previous",
                params,
            )
            if changed != 1:
                return False
            await tx.executemany(
                "INSERT INTO job_results (job_id, position, url, data, mime_type) "
                "VALUES (?, ?, ?, ?, ?)",
                [(job_id, i, r.url, r.data, r.mime_type) for i, r in enumerate(results)],
            )
            await self._event(tx, job_id, current["status"], to, note, now)
            if to is JobStatus.DELIVERED:
                await self.ledger.commit(tx, job_id, now)
                # the images live on in the posted message; keep the database small
                await tx.execute("UPDATE job_results SET data = NULL WHERE job_id = ?", (job_id,))
            elif to in REFUNDED:
                await self.ledger.refund(tx, job_id, now)
        return True

    async def update(self, job_id: str, *, when: Iterable[JobStatus], **fields: Any) -> bool:
        """Set fields without a status change, only while the job is in one of ``when``."""
        unknown = set(fields) - _UPDATABLE
        if unknown or not fields:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        changed = await self.db.execute(
            f"UPDATE jobs SET {assignments} WHERE id = :id AND status IN ({_in(when)})",
            {**fields, "id": job_id},
        )
        return changed == 1

    async def hint(self, job_id: str, now: float) -> None:
        """A callback said something changed: poll at once (or right after the submit lands)."""
        await self.db.execute(
            "UPDATE jobs SET callback_hinted = 1, "
            f"next_poll_at = CASE WHEN status IN ({_in(TRACKED)}) THEN :now "
            "ELSE next_poll_at END WHERE id = :id",
            {"now": now, "id": job_id},
        )

    async def count_delivery_attempt(self, job_id: str) -> int:
        """Record that a delivery is about to be attempted; return the attempt number."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE jobs SET delivery_attempts = delivery_attempts + 1 WHERE id = ? "
                "RETURNING delivery_attempts",
                (job_id,),
            )
        return int(row["delivery_attempts"]) if row else 0

    @staticmethod
    async def _event(
        tx: Transaction,
        job_id: str,
        previous: str | None,
        to: JobStatus,
        note: str | None,
        now: float,
    ) -> None:
        await tx.execute(
            "INSERT INTO job_events (job_id, at, from_status, to_status, note) "
            "VALUES (?, ?, ?, ?, ?)",
            (job_id, now, previous, to.value, note),
        )

    # ------------------------------------------------------------------ reads

    async def get(self, job_id: str, *, images: bool = True) -> Job | None:
        """The job (with its reference and result images unless ``images`` is False), or None."""
        row = await self.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return await self._job(row, images=images) if row else None

    async def with_status(self, statuses: Iterable[JobStatus], limit: int = 500) -> list[Job]:
        """Jobs in any of ``statuses``, oldest first — without reference or result images
        (listings stay cheap however large the images; :meth:`get` loads them)."""
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE status IN ({_in(statuses)}) ORDER BY created_at, id LIMIT ?",
            (limit,),
        )
        return [await self._job(row, images=False) for row in rows]

    async def due_for_poll(self, now: float, limit: int = 100) -> list[Job]:
        """Tracked jobs whose next poll time has come (without images, like :meth:`with_status`)."""
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE status IN ({_in(TRACKED)}) "
            "AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?",
            (now, limit),
        )
        return [await self._job(row, images=False) for row in rows]

    async def next_poll_time(self) -> float | None:
        """The earliest scheduled poll, if any."""
        row = await self.db.fetchone(
            f"SELECT MIN(next_poll_at) FROM jobs WHERE status IN ({_in(TRACKED)})"
        )
        return float(row[0]) if row and row[0] is not None else None

    async def at_provider_counts(self) -> dict[str, int]:
        """How many jobs each provider is working on."""
        rows = await self.db.fetchall(
            f"SELECT provider, COUNT(*) FROM jobs WHERE status IN ({_in(AT_PROVIDER)}) "
            "GROUP BY provider"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def active_count(self, tx: Transaction, user_id: str) -> int:
        """The user's jobs that are waiting or running (inside the caller's transaction)."""
        row = await tx.fetchone(
            f"SELECT COUNT(*) FROM jobs WHERE user_id = ? AND status IN ({_in(ACTIVE)})",
            (user_id,),
        )
        return int(row[0]) if row else 0

    async def queue_position(self, job: Job) -> int | None:
        """1-based place among queued jobs for the same provider (None once it left the queue)."""
        if job.status is not JobStatus.QUEUED:
            return None
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND provider = ? "
            "AND (created_at < ? OR (created_at = ? AND id <= ?))",
            (job.provider, job.created_at, job.created_at, job.id),
        )
        return int(row[0]) if row else None

    async def events(self, job_id: str) -> list[tuple[str | None, str]]:
        """The job's status history as (from, to) pairs."""
        rows = await self.db.fetchall(
            "SELECT from_status, to_status FROM job_events WHERE job_id = ? ORDER BY id",
            (job_id,),
        )
        return [(r[0], r[1]) for r in rows]

    async def _job(self, row: aiosqlite.Row, *, images: bool = True) -> Job:
        refs: list[aiosqlite.Row] = []
        results: list[aiosqlite.Row] = []
        if images:
            refs = await self.db.fetchall(
                "SELECT url, data, mime_type, caption FROM job_references WHERE job_id = ? "
                "ORDER BY position",
                (row["id"],),
            )
            results = await self.db.fetchall(
                "SELECT url, data, mime_type FROM job_results WHERE job_id = ? ORDER BY position",
                (row["id"],),
            )
        request = GenerationRequest.model_validate(
            {
                **json.loads(row["request_json"]),
                "references": [
                    ReferenceImage(
                        url=r["url"], data=r["data"], mime_type=r["mime_type"], caption=r["caption"]
                    )
                    for r in refs
                ],
            }
        )
        return Job(
            id=row["id"],
            status=JobStatus(row["status"]),
            kind=row["kind"],
            origin=Origin(
                user_id=row["user_id"],
                guild_id=row["guild_id"],
                channel_id=row["channel_id"],
                interaction_id=row["interaction_id"],
                interaction_token=row["interaction_token"],
                token_expires_at=row["token_expires_at"],
                origin_message_id=row["origin_message_id"],
                status_message_id=row["status_message_id"],
                upload_limit=row["upload_limit"],
            ),
            provider=row["provider"],
            model=row["model"],
            request=request,
            callback_token=row["callback_token"],
            cost=row["cost"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deadline_at=row["deadline_at"],
            task_id=row["task_id"],
            parent_job_id=row["parent_job_id"],
            quota_day=row["quota_day"],
            posted_message_id=row["posted_message_id"],
            delivered_via=row["delivered_via"],
            failure_kind=FailureKind(row["failure_kind"]) if row["failure_kind"] else None,
            failure_reason=row["failure_reason"],
            callback_hinted=bool(row["callback_hinted"]),
            poll_count=row["poll_count"],
            delivery_attempts=row["delivery_attempts"],
            next_poll_at=row["next_poll_at"],
            submitted_at=row["submitted_at"],
            completed_at=row["completed_at"],
            delivered_at=row["delivered_at"],
            results=tuple(
                ResultImage(url=r["url"], data=r["data"], mime_type=r["mime_type"]) for r in results
            ),
        )
