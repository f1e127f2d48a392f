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
