"""The quota ledger: reserve when a job is admitted, commit when delivered, refund
otherwise.

Totals per user and UTC day live in ``quota_usage``; every movement is a ``quota_ledger`` row,
unique per (job, entry), so a commit or refund can happen once per job whatever races occur.
The reservation is one conditional upsert: 100 simultaneous requests against an allowance of
5 admit exactly 5 (in PostgreSQL too: a concurrent upsert of the row waits for the other to
commit, then checks the condition again on the row as written). Writes happen inside the job
store's transactions.
"""

from __future__ import annotations

from bot.jobs.quota import (
    BudgetSnapshot,
    CreditTotals,
    QuotaExceededError,
    QuotaSnapshot,
    ServerBudget,
    utc_day,
)
from bot.storage import budget as budget_ledger
from bot.storage.sql import Database, Row, Transaction

_UNLIMITED = 2**62


async def reserve(
    tx: Transaction,
    *,
    job_id: str,
    user_id: str,
    credits: int,
    allowance: int | None,
    at: float,
    guild_id: str | None = None,
    budget: ServerBudget | None = None,
) -> str:
    """Reserve ``credits`` for ``job_id`` inside the caller's transaction; returns the day.
    A job in a server counts against the server's ``budget`` too (:mod:`.budget`).

    Raises :class:`QuotaExceededError` or :class:`~bot.jobs.quota.BudgetExceededError` (the
    caller's transaction then rolls back).
    """
    day = utc_day(at)
    # the day's row made or updated in one statement, only while the credits fit
    row = await tx.fetchone(
        # (typed for PostgreSQL, which cannot deduce a parameter's type from a comparison)
        "INSERT INTO quota_usage (user_id, day, reserved) "
        "SELECT :user, :day, CAST(:credits AS BIGINT) "
        "WHERE CAST(:credits AS BIGINT) <= CAST(:limit AS BIGINT) "
        "ON CONFLICT (user_id, day) DO UPDATE SET reserved = quota_usage.reserved + :credits "
        "WHERE quota_usage.reserved + quota_usage.spent + :credits <= CAST(:limit AS BIGINT) "
        "RETURNING reserved",
        {
            "credits": credits,
            "user": user_id,
            "day": day,
            "limit": _UNLIMITED if allowance is None else allowance,
        },
    )
    if row is None:
        usage = await tx.fetchone(_USAGE, (user_id, day))
        raise QuotaExceededError(_snapshot(user_id, day, allowance, usage), credits)
    if guild_id is not None:
        await budget_ledger.reserve(tx, guild_id=guild_id, credits=credits, budget=budget, at=at)
    tx.send(
        "INSERT INTO quota_ledger (job_id, user_id, day, entry, credits, at, guild_id) "
        "VALUES (?, ?, ?, 'reserve', ?, ?, ?)",
        (job_id, user_id, day, credits, at, guild_id),
    )
    return day


async def settle(tx: Transaction, job_id: str, entry: str, at: float) -> bool:
    """Turn the job's reservation into spending (``commit``) or release it (``refund``), once.

    False if it was already settled (or there was no reservation).
    """
    # the reservation read and its settlement written in one statement
    reservation = await tx.fetchone(
        "INSERT INTO quota_ledger (job_id, user_id, day, entry, credits, at, guild_id) "
        "SELECT job_id, user_id, day, :entry, credits, :at, guild_id FROM quota_ledger "
        "WHERE job_id = :job AND entry = 'reserve' AND NOT EXISTS (SELECT 1 FROM quota_ledger "
        "WHERE job_id = :job AND entry IN ('commit', 'refund')) "
        "RETURNING user_id, day, credits, guild_id",
        {"job": job_id, "entry": entry, "at": at},
    )
    if reservation is None:
        return False
    tx.send(
        "UPDATE quota_usage SET reserved = reserved - :credits, spent = spent + :spent "
        "WHERE user_id = :user AND day = :day",
        {
            "credits": reservation["credits"],
            "spent": reservation["credits"] if entry == "commit" else 0,
            "user": reservation["user_id"],
            "day": reservation["day"],
        },
    )
    if reservation["guild_id"] is not None:
        await budget_ledger.settle(
            tx,
            guild_id=reservation["guild_id"],
            day=reservation["day"],
            credits=reservation["credits"],
            entry=entry,
        )
    return True


_USAGE = "SELECT reserved, spent FROM quota_usage WHERE user_id = ? AND day = ?"


def _snapshot(user_id: str, day: str, allowance: int | None, row: Row | None) -> QuotaSnapshot:
    return QuotaSnapshot(
        user_id=user_id,
        day=day,
        allowance=allowance,
        reserved=int(row["reserved"]) if row else 0,
        spent=int(row["spent"]) if row else 0,
    )


class SqlQuota:
    """Quota reads (:class:`bot.jobs.ports.QuotaStore`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def snapshot(self, user_id: str, at: float, allowance: int | None) -> QuotaSnapshot:
        """The user's reserved and spent credits for the UTC day of ``at``."""
        day = utc_day(at)
        return _snapshot(user_id, day, allowance, await self.db.lookup_one(_USAGE, (user_id, day)))

    async def budget(self, guild_id: str, at: float, budget: ServerBudget | None) -> BudgetSnapshot:
        """The server's use of its ``budget`` on the UTC day and month of ``at``."""
        return await budget_ledger.snapshot(self.db, guild_id, at, budget)

    async def totals(self) -> CreditTotals:
        """Everyone's reserved and spent credits on the latest day with any."""
        row = await self.db.fetchone(
            "SELECT MAX(day), COALESCE(SUM(reserved), 0), COALESCE(SUM(spent), 0) "
            "FROM quota_usage WHERE day = (SELECT MAX(day) FROM quota_usage)"
        )
        if row is None:
            return CreditTotals(day=None, reserved=0, spent=0)
        return CreditTotals(day=row[0], reserved=int(row[1]), spent=int(row[2]))
