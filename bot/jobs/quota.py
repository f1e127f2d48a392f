"""Credits: a user's allowance for one UTC day, and the refusal when it cannot cover a job.

The ledger itself (reserve on acceptance, commit on delivery, refund otherwise) is kept by the
store (:class:`bot.jobs.ports.JobStore`); these are the types it speaks in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class QuotaSnapshot:
    """A user's allowance for one UTC day."""

    user_id: str
    day: str
    allowance: int | None  # None: unlimited
    reserved: int
    spent: int

    @property
    def remaining(self) -> int | None:
        """Credits still available (None when unlimited)."""
        if self.allowance is None:
            return None
        return max(0, self.allowance - self.reserved - self.spent)

    @property
    def resets_at(self) -> datetime:
        """Midnight UTC after the snapshot's day."""
        return next_reset(self.day)


@dataclass(frozen=True)
class CreditTotals:
    """Credits reserved and spent by everyone on one UTC day (for metrics)."""

    day: str | None
    reserved: int
    spent: int


class QuotaExceededError(Exception):
    """The user's allowance for the day cannot cover the cost."""

    def __init__(self, snapshot: QuotaSnapshot, cost: int) -> None:
        super().__init__(
            f"this needs {cost} credit(s) and {snapshot.remaining} of {snapshot.allowance} "
            f"are left today"
        )
        self.snapshot = snapshot
        self.cost = cost


def utc_day(at: float) -> str:
    """The UTC calendar day of a Unix time, as YYYY-MM-DD."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def next_reset(day: str) -> datetime:
    """Midnight UTC after ``day``."""
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)


@dataclass(frozen=True)
class ServerBudget:
    """Credits a whole server may use per UTC day and per UTC month (None: unlimited)."""

    daily: int | None = None
    monthly: int | None = None

    def limit(self, period: str) -> int | None:
        """The limit for ``period`` (``day`` or ``month``)."""
        return self.daily if period == "day" else self.monthly


@dataclass(frozen=True)
class BudgetSnapshot:
    """A server's use of its budget: reserved plus spent, this UTC day and this UTC month."""

    guild_id: str
    day: str
    budget: ServerBudget
    day_used: int
    month_used: int

    @property
    def month(self) -> str:
        """The UTC month, as YYYY-MM."""
        return self.day[:7]

    def remaining(self, period: str) -> int | None:
        """Credits left in ``period`` (None: unlimited)."""
        limit = self.budget.limit(period)
        used = self.day_used if period == "day" else self.month_used
        return None if limit is None else max(0, limit - used)

    def resets_at(self, period: str) -> datetime:
        """When ``period``'s budget starts again (midnight UTC; the 1st of the next month)."""
        if period == "day":
            return next_reset(self.day)
        start = datetime.strptime(self.month + "-01", "%Y-%m-%d").replace(tzinfo=UTC)
        return (start + timedelta(days=32)).replace(day=1)


class BudgetExceededError(Exception):
    """The server's budget for the day or month cannot cover the cost."""

    def __init__(self, snapshot: BudgetSnapshot, period: str, cost: int) -> None:
        super().__init__(
            f"this needs {cost} credit(s) and the server has {snapshot.remaining(period)} of "
            f"{snapshot.budget.limit(period)} left this {period}"
        )
        self.snapshot = snapshot
        self.period = period
        self.cost = cost


def utc_month(at: float) -> str:
    """The UTC calendar month of a Unix time, as YYYY-MM."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")
