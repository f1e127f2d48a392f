"""The quota ledger: reserve when a job is accepted, commit when delivered, refund otherwise.

Totals per user and UTC day live in ``quota_usage``; every movement is a ``quota_ledger`` row,
unique per (job, entry), so a commit or refund can happen once per job whatever races occur.
The reservation is one conditional UPDATE: 100 simultaneous requests against an allowance of
5 admit exactly 5.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosqlite

from bot.storage.db import Database, Transaction


class QuotaExceededError(Exception):
    """The user's allowance for the day cannot cover the cost."""

    def __init__(self, snapshot: QuotaSnapshot, cost: int) -> None:
        super().__init__(
            f"this needs {cost} credit(s) and {snapshot.remaining} of {snapshot.allowance} "
            f"are left today"
        )
        self.snapshot = snapshot
        self.cost = cost


@dataclass(frozen=True)
class QuotaSnapshot:
    """A user's allowance for one UTC day."""

    user_id: str
    day: str
    allowance: int | None  # None: unlimited
    reserved: int
    spent: int
    resets_at: datetime

    @property
    def remaining(self) -> int | None:
        """Credits still available (None when unlimited)."""
        if self.allowance is None:
            return None
        return max(0, self.allowance - self.reserved - self.spent)


def utc_day(at: float) -> str:
    """The UTC calendar day of a Unix time, as YYYY-MM-DD."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def next_reset(day: str) -> datetime:
    """Midnight UTC after ``day``."""
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)


class QuotaLedger:
    """Reserve / commit / refund credits; totals per user and UTC day."""

    def __init__(self, db: Database, allowance: int | None) -> None:
        self.db = db
        self.allowance = allowance

    async def reserve(
        self, tx: Transaction, *, job_id: str, user_id: str, credits: int, at: float
    ) -> str:
        """Reserve ``credits`` for ``job_id`` inside the caller's transaction; returns the day.

        Raises :class:`QuotaExceededError` (the caller's transaction then rolls back).
        """
        day = utc_day(at)
        limit = self.allowance if self.allowance is not None else 2**62
        await tx.execute(
            "INSERT INTO quota_usage (user_id, day) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (user_id, day),
        )
        row = await tx.fetchone(
            "UPDATE quota_usage SET reserved = reserved + :credits "
            "WHERE user_id = :user AND day = :day AND reserved + spent + :credits <= :limit "
            "RETURNING reserved",
            {"credits": credits, "user": user_id, "day": day, "limit": limit},
        )
        if row is None:
            raise QuotaExceededError(await self._snapshot(tx, user_id, day), credits)
        await tx.execute(
            "INSERT INTO quota_ledger (job_id, user_id, day, entry, credits, at) "
            "VALUES (?, ?, ?, 'reserve', ?, ?)",
            (job_id, user_id, day, credits, at),
        )
        return day

    async def commit(self, tx: Transaction, job_id: str, at: float) -> bool:
        """Turn the job's reservation into spending, once. False if already settled."""
        return await self._settle(tx, job_id, "commit", at)

    async def refund(self, tx: Transaction, job_id: str, at: float) -> bool:
        """Release the job's reservation, once. False if already settled (or none)."""
        return await self._settle(tx, job_id, "refund", at)

    async def _settle(self, tx: Transaction, job_id: str, entry: str, at: float) -> bool:
        reservation = await tx.fetchone(
            "SELECT user_id, day, credits FROM quota_ledger WHERE job_id = ? AND entry = 'reserve'",
            (job_id,),
        )
        if reservation is None:
            return False
        inserted = await tx.execute(
            "INSERT INTO quota_ledger (job_id, user_id, day, entry, credits, at) "
            "SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM quota_ledger "
            "WHERE job_id = ? AND entry IN ('commit', 'refund'))",
            (
                job_id,
                reservation["user_id"],
                reservation["day"],
                entry,
                reservation["credits"],
                at,
                job_id,
            ),
        )
        if inserted != 1:
            return False
        spent = reservation["credits"] if entry == "commit" else 0
        await tx.execute(
            "UPDATE quota_usage SET reserved = reserved - :credits, spent = spent + :spent "
            "WHERE user_id = :user AND day = :day",
            {
                "credits": reservation["credits"],
                "spent": spent,
                "user": reservation["user_id"],
                "day": reservation["day"],
            },
        )
        return True

    async def snapshot(self, user_id: str, at: float) -> QuotaSnapshot:
        """The user's allowance, reserved and spent credits for the UTC day of ``at``."""
        day = utc_day(at)
        row = await self.db.fetchone(
            "SELECT reserved, spent FROM quota_usage WHERE user_id = ? AND day = ?",
            (user_id, day),
        )
        return self._make_snapshot(user_id, day, row)

    async def _snapshot(self, tx: Transaction, user_id: str, day: str) -> QuotaSnapshot:
        row = await tx.fetchone(
            "SELECT reserved, spent FROM quota_usage WHERE user_id = ? AND day = ?",
            (user_id, day),
        )
        return self._make_snapshot(user_id, day, row)

    def _make_snapshot(self, user_id: str, day: str, row: aiosqlite.Row | None) -> QuotaSnapshot:
        return QuotaSnapshot(
            user_id=user_id,
            day=day,
            allowance=self.allowance,
            reserved=int(row["reserved"]) if row else 0,
            spent=int(row["spent"]) if row else 0,
            resets_at=next_reset(day),
        )
