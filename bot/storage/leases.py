"""Workers and their claims on jobs (:class:`bot.jobs.ports.LeaseStore`), in portable SQL.

Each claim selects and marks its jobs in one transaction: in SQLite ``BEGIN IMMEDIATE``
serialises claimers (one process owns the file, so the store is not *shared*: a claim only
keeps this engine from starting work twice); PostgreSQL's subclass
(:mod:`bot.storage.postgres.leases`) locks the selected rows and skips those another
claimer holds, and counts a provider's jobs under an advisory lock. A claim looks first
without any lock, so a pass with nothing due takes none."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from bot.jobs.models import Job
from bot.jobs.ports import Unlisten, Wake
from bot.jobs.states import AT_PROVIDER, TRACKED, JobStatus
from bot.storage.admission import record_event
from bot.storage.rows import in_list, job_from_row, marks
from bot.storage.sql import Database, Transaction

#: a worker not seen for this long is forgotten (its jobs were taken over long before)
FORGET_AFTER = 7 * 24 * 3600.0

#: jobs not claimed by a worker seen at or after ``:live``
_UNCLAIMED = (
    "(claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM workers WHERE seen_at >= :live))"
)

_POLL_DUE = f"status IN ({in_list(TRACKED)}) AND next_poll_at <= :now"
_DELIVERY_DUE = "status = 'succeeded' AND COALESCE(next_delivery_at, 0) <= :now"


async def _nothing() -> None:
    return None


class SqlLeases:
    """SQL for the ``workers`` table and the jobs' ``claimed_by``."""

    #: what a claim's ``SELECT`` adds to lock the rows it takes (none: the write lock does)
    LOCK_ROWS = ""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def shared(self) -> bool:
        """No: one process owns an SQLite store."""
        return False

    async def notify(self, tx: Transaction) -> None:
        """Wake the other processes when ``tx`` commits (nobody else here)."""

    async def beat(self, worker: str, now: float) -> None:
        """Record the worker as seen at ``now`` (forgetting workers long gone)."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO workers (id, started_at, seen_at) VALUES (:id, :now, :now) "
                "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
                {"id": worker, "now": now},
            )
            await tx.execute("DELETE FROM workers WHERE seen_at < ?", (now - FORGET_AFTER,))

    async def live(self, live_since: float) -> int:
        """Workers seen at or after ``live_since``."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM workers WHERE seen_at >= ?", (live_since,)
        )
        return int(row[0]) if row else 0

    async def release(self, worker: str) -> None:
        """Forget the worker (the others then take over its submits at once)."""
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM workers WHERE id = ?", (worker,))
            await self.notify(tx)

    async def claim_submit(
        self, job_id: str, *, worker: str, now: float, concurrency: int
    ) -> Job | None:
        """Queued → submitting within the provider's concurrency: counted and marked in one
        statement, under the provider's lock (the job's provider never changes, so it is read
        before)."""
        current = await self.db.lookup_one(
            "SELECT provider FROM jobs WHERE id = ? AND status = 'queued'", (job_id,)
        )
        if current is None:
            return None
        provider = str(current["provider"])
        async with self.turn(provider), self.db.transaction() as tx:
            await tx.lock(f"bananabot:provider:{provider}")  # counted alone
            row = await tx.fetchone(
                "UPDATE jobs SET status = 'submitting', updated_at = :now, submitted_at = :now, "
                "claimed_by = :worker WHERE id = :id AND status = 'queued' AND (SELECT COUNT(*) "
                f"FROM jobs WHERE provider = :provider AND status IN ({in_list(AT_PROVIDER)})) "
                "< :concurrency RETURNING *",
                {
                    "now": now,
                    "worker": worker,
                    "id": job_id,
                    "provider": provider,
                    "concurrency": concurrency,
                },
            )
            if row is None:
                return None
            await record_event(tx, job_id, JobStatus.QUEUED.value, JobStatus.SUBMITTING, None, now)
        return dataclasses.replace(job_from_row(row), previous_status=JobStatus.QUEUED)

    def turn(self, provider: str) -> AbstractAsyncContextManager[object]:
        """Held around a claim of ``provider``'s job (nothing here: the write lock is)."""
        return contextlib.nullcontext()

    async def claim_polls(self, worker: str, now: float, until: float, limit: int) -> list[Job]:
        """Due polls, claimed until ``until``; as they were before the claim."""
        return await self._claim(_POLL_DUE, "next_poll_at", worker, now, until, limit)

    async def claim_deliveries(
        self, worker: str, now: float, until: float, limit: int
    ) -> list[Job]:
        """Due deliveries, claimed until ``until``; as they were before the claim."""
        return await self._claim(_DELIVERY_DUE, "next_delivery_at", worker, now, until, limit)

    async def _claim(
        self, due: str, column: str, worker: str, now: float, until: float, limit: int
    ) -> list[Job]:
        params = {"now": now, "limit": limit}
        if not await self.db.fetchall(f"SELECT id FROM jobs WHERE {due} LIMIT 1", params):
            return []  # nothing due: the write lock is not taken
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT * FROM jobs WHERE {due} ORDER BY {column}, id LIMIT :limit"
                + self.LOCK_ROWS,
                params,
            )
            if rows:
                places, ids = marks("j", [str(row["id"]) for row in rows])
                await tx.execute(
                    f"UPDATE jobs SET {column} = :until, claimed_by = :worker "
                    f"WHERE id IN ({places})",
                    {**ids, "until": until, "worker": worker},
                )
        return [job_from_row(row) for row in rows]

    async def renew(self, worker: str, job_ids: Sequence[str], until: float) -> int:
        """Push the worker's deliveries in progress to ``until``."""
        if not job_ids:
            return 0
        places, ids = marks("j", job_ids)
        return await self.db.execute(
            f"UPDATE jobs SET next_delivery_at = :until WHERE id IN ({places}) "
            "AND claimed_by = :worker AND status = 'succeeded'",
            {**ids, "until": until, "worker": worker},
        )

    async def stranded(self, live_since: float, limit: int = 1000) -> list[Job]:
        """Submitting jobs of workers not seen since ``live_since`` (or of none)."""
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE status = 'submitting' AND {_UNCLAIMED} "
            "ORDER BY created_at, id LIMIT :limit",
            {"live": live_since, "limit": limit},
        )
        return [job_from_row(row) for row in rows]

    async def resume(self, now: float, live_since: float) -> int:
        """Tracked and succeeded jobs of workers not seen since ``live_since`` due at ``now``."""
        params = {"now": now, "live": live_since}
        async with self.db.transaction() as tx:
            polls = await tx.execute(
                f"UPDATE jobs SET next_poll_at = :now WHERE status IN ({in_list(TRACKED)}) "
                f"AND {_UNCLAIMED}",
                params,
            )
            deliveries = await tx.execute(
                f"UPDATE jobs SET next_delivery_at = :now WHERE status = 'succeeded' "
                f"AND {_UNCLAIMED}",
                params,
            )
        return polls + deliveries

    async def nudge(self) -> None:
        """Nobody else to wake."""

    async def listen(self, wake: Wake) -> Unlisten:
        """Nothing to hear: no other process uses this store."""
        return _nothing
