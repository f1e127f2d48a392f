"""A per-provider budget of status requests per second, shared by all the jobs waiting there.

When more reads are due than the budget allows, :func:`choose` spends it on — in this order —
jobs a provider callback hinted at (the callback says they are done), jobs kept waiting longer
than ``starve_after`` (oldest first: nobody waits for ever), then the jobs most likely to have
finished. The rest are pushed back, spread over the next seconds at the budget's rate.

Hinted reads may also draw on a reserve of ``reserve`` seconds of the budget that other reads
never touch, so a burst of tasks finishing together (each with its callback) is confirmed at
once rather than at the budget's rate; over any longer time the reads still average at most
the budget (Magnific, for one, allows 50 a second over 5 s and 10 a second over 2 minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: seconds of the budget that only hinted reads may spend ahead
HINT_RESERVE_SECONDS = 10.0


class StatusBudget:
    """A token bucket: ``rate`` reads per second, at most ``burst`` at once; hinted reads may
    also spend a reserve of ``reserve`` seconds' reads (default :data:`HINT_RESERVE_SECONDS`),
    which the bucket refills first."""

    def __init__(
        self, rate: float, *, burst: float | None = None, reserve: float | None = None
    ) -> None:
        self._whole = (max(0.01, float(rate)), burst)
        self._seconds = HINT_RESERVE_SECONDS if reserve is None else max(0.0, reserve)
        self.share(1)
        self._tokens = self.burst + self.reserve
        self._at: float | None = None

    def share(self, processes: int) -> None:
        """Spend only this process's part of the budget, ``processes`` sharing it (each
        process reads its provider at the budget's rate divided among the live ones)."""
        rate, burst = self._whole
        self.rate = max(0.01, rate / max(1, processes))
        self.burst = max(1.0, (float(burst) if burst is not None else rate) / max(1, processes))
        self.reserve = self._seconds * self.rate
        if hasattr(self, "_tokens"):
            self._tokens = min(self._tokens, self.burst + self.reserve)

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            full = self.burst + self.reserve
            self._tokens = min(full, self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def take(self, now: float, *, hinted: bool = False) -> bool:
        """Spend one read if the budget has one now (``hinted``: the reserve too)."""
        self._refill(now)
        if self._tokens >= 1.0 + (0.0 if hinted else self.reserve):
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class Due:
    """A job whose status read is due."""

    job_id: str
    provider: str
    #: how likely its task has finished by now (0–1)
    likelihood: float
    #: seconds since its read was due
    overdue: float
    hinted: bool = False


def _rank(due: Due, starve_after: float) -> tuple[int, float]:
    if due.hinted:
        return (0, -due.overdue)
    if due.overdue >= starve_after:
        return (1, -due.overdue)
    return (2, -due.likelihood)


def choose(
    due: Iterable[Due],
    budgets: Mapping[str, StatusBudget],
    now: float,
    *,
    starve_after: float,
) -> tuple[list[Due], list[tuple[Due, float]]]:
    """The jobs to read now, and the others with the time each is pushed back to.

    A provider without a budget reads every due job."""
    ranked = sorted(due, key=lambda d: _rank(d, starve_after))
    chosen: list[Due] = []
    later: list[tuple[Due, float]] = []
    deferred: dict[str, int] = {}
    for item in ranked:
        budget = budgets.get(item.provider)
        if budget is None or budget.take(now, hinted=item.hinted):
            chosen.append(item)
            continue
        k = deferred.get(item.provider, 0)
        deferred[item.provider] = k + 1
        later.append((item, now + (k + 1) / budget.rate))
    return chosen, later
