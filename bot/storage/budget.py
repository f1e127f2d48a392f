"""Server budgets: what every member of a server reserved and spent together, per
UTC day and per UTC month (``guild_usage``, keyed ``YYYY-MM-DD`` and ``YYYY-MM``).

Every job in a server counts, budget or not, so a budget set in the middle of a day starts
from what was already used. The reservation is one conditional UPDATE per period inside the
admission transaction, like a user's: concurrent requests can never overspend it. Commit and
refund move the same credits (the ledger row remembers the server, see :mod:`.quota`).
"""

from __future__ import annotations

from bot.jobs.quota import (
    BudgetExceededError,
    BudgetSnapshot,
    ServerBudget,
    utc_day,
    utc_month,
)
from bot.storage.sql import Database, Row, Transaction

_UNLIMITED = 2**62
_USED = (
    "SELECT COALESCE(SUM(CASE WHEN period = :day THEN reserved + spent END), 0), "
    "COALESCE(SUM(CASE WHEN period = :month THEN reserved + spent END), 0) "
    "FROM guild_usage WHERE guild_id = :guild AND period IN (:day, :month)"
)


async def reserve(
    tx: Transaction, *, guild_id: str, credits: int, budget: ServerBudget | None, at: float
) -> None:
    """Count ``credits`` against the server's day and month; :class:`BudgetExceededError`
    (the caller's transaction then rolls back) when either budget cannot cover them."""
    budget = budget or ServerBudget()
    for period, key in (("day", utc_day(at)), ("month", utc_month(at))):
        tx.send(
            "INSERT INTO guild_usage (guild_id, period) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (guild_id, key),
        )
        limit = budget.limit(period)
        row = await tx.fetchone(
            "UPDATE guild_usage SET reserved = reserved + :credits "
            "WHERE guild_id = :guild AND period = :key "
            "AND reserved + spent + :credits <= :limit RETURNING reserved",
            {
                "credits": credits,
                "guild": guild_id,
                "key": key,
                "limit": _UNLIMITED if limit is None else limit,
            },
        )
        if row is None:
            used = await tx.fetchone(_USED, _params(guild_id, at))
            snapshot = _snapshot(guild_id, at, budget, used)
            raise BudgetExceededError(snapshot, period, credits)


async def settle(tx: Transaction, *, guild_id: str, day: str, credits: int, entry: str) -> None:
    """Move a settled reservation of the server's day (and its month): ``commit`` spends it,
    ``refund`` releases it."""
    for key in (day, day[:7]):
        tx.send(
            "UPDATE guild_usage SET reserved = reserved - :credits, spent = spent + :spent "
            "WHERE guild_id = :guild AND period = :key",
            {
                "credits": credits,
                "spent": credits if entry == "commit" else 0,
                "guild": guild_id,
                "key": key,
            },
        )


async def snapshot(
    db: Database, guild_id: str, at: float, budget: ServerBudget | None
) -> BudgetSnapshot:
    """The server's use of its budget on the UTC day (and month) of ``at``."""
    row = await db.fetchone(_USED, _params(guild_id, at))
    return _snapshot(guild_id, at, budget or ServerBudget(), row)


def _params(guild_id: str, at: float) -> dict[str, str]:
    return {"guild": guild_id, "day": utc_day(at), "month": utc_month(at)}


def _snapshot(guild_id: str, at: float, budget: ServerBudget, row: Row | None) -> BudgetSnapshot:
    day_used, month_used = (int(row[0]), int(row[1])) if row is not None else (0, 0)
    return BudgetSnapshot(
        guild_id=guild_id,
        day=utc_day(at),
        budget=budget,
        day_used=day_used,
        month_used=month_used,
    )
