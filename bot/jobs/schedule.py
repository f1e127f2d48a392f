"""When to read a provider task's status: the math, with no I/O.

Each provider and model has a :class:`CompletionTimes`: the seconds from the create request to
completion of the jobs the bot has seen (the last ``max_samples``), blended with a prior — a
log-normal around the documented ``typical_seconds`` — that fades as samples arrive.

Checks are spaced by probability, not by seconds (:meth:`CompletionTimes.next_check`): the next
one comes when a further ``step`` of the distribution's mass has passed, so each check has
about the same chance of finding the task done. The expected number of checks per job is then
about ``1 / (2 step)`` whatever the distribution, and the gap between checks — the longest a
finished task waits to be found — is short where completions are dense and long where they
are rare, always within ``[floor, cap]``.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable

#: prior spread: a log-normal with this sigma puts 90% of completions within ×0.37…×2.7 of typical
PRIOR_SIGMA = 0.6
#: the prior counts as this many samples (half the weight once that many have been seen)
PRIOR_WEIGHT = 20
#: bisection steps for a quantile (the result is within hi / 2**QUANTILE_STEPS)
QUANTILE_STEPS = 48


class CompletionTimes:
    """The distribution of completion times (seconds) of one provider's model."""

    def __init__(
        self,
        typical_seconds: float,
        *,
        max_samples: int = 500,
        prior_sigma: float = PRIOR_SIGMA,
        prior_weight: int = PRIOR_WEIGHT,
    ) -> None:
        self.typical = max(0.1, float(typical_seconds))
        self.sigma = max(0.05, prior_sigma)
        self.prior_weight = max(0, prior_weight)
        self._recent: deque[float] = deque(maxlen=max(1, max_samples))
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._recent)

    def add(self, seconds: float) -> None:
        """One more job completed after ``seconds`` (the oldest sample is forgotten when full)."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._recent.append(seconds)
        bisect.insort(self._sorted, seconds)

    def extend(self, samples: Iterable[float]) -> None:
        """:meth:`add` each sample, oldest first."""
        for seconds in samples:
            self.add(seconds)

    def _prior_cdf(self, t: float) -> float:
        if t <= 0:
            return 0.0
        z = (math.log(t) - math.log(self.typical)) / (self.sigma * math.sqrt(2.0))
        return 0.5 * (1.0 + math.erf(z))

    def _empirical_cdf(self, t: float) -> float:
        """Piecewise linear through the order statistics (0 below the least, 1 from the most)."""
        xs = self._sorted
        n = len(xs)
        i = bisect.bisect_right(xs, t)  # samples <= t
        if i == 0:
            return 0.0
        if i == n:
            return 1.0
        lo, hi = xs[i - 1], xs[i]
        frac = (t - lo) / (hi - lo) if hi > lo else 0.0
        return (i + frac) / n

    def cdf(self, t: float) -> float:
        """The probability that a job completes within ``t`` seconds of its create request."""
        n = len(self._sorted)
        if n == 0:
            return self._prior_cdf(t)
        w = self.prior_weight / (self.prior_weight + n)
        return w * self._prior_cdf(t) + (1.0 - w) * self._empirical_cdf(t)

    def _upper(self) -> float:
        top = self.typical * math.exp(6.0 * self.sigma)
        return max(top, self._sorted[-1] if self._sorted else 0.0) + 1.0

    def quantile(self, p: float) -> float:
        """The least ``t`` with ``cdf(t) >= p`` (to within a few milliseconds)."""
        hi = self._upper()
        if p <= 0:
            return 0.0
        if p >= 1 or self.cdf(hi) < p:
            return hi
        lo = 0.0
        for _ in range(QUANTILE_STEPS):
            mid = (lo + hi) / 2
            if self.cdf(mid) >= p:
                hi = mid
            else:
                lo = mid
        return hi

    def next_check(
        self, elapsed: float, *, step: float, floor: float, cap: float, first: bool = False
    ) -> float:
        """Seconds from now (``elapsed`` seconds after the create request) to the next status
        read: when a further ``step`` of the distribution has passed, kept within
        ``[floor, cap]`` — except the ``first`` read, which may come later than ``cap``
        (nothing is likely to be finished before it)."""
        elapsed = max(0.0, elapsed)
        step = min(1.0, max(1e-3, step))
        done = self.cdf(elapsed)
        if 1.0 - done < step:
            # past the bulk: its average spacing, growing the longer the task overstays
            late = self.quantile(0.95)
            spacing = step * (late - self.quantile(0.05)) / 0.9
            return max(floor, min(cap, spacing + step * max(0.0, elapsed - late)))
        gap = max(floor, self.quantile(done + step) - elapsed)
        return gap if first else min(cap, gap)

    def done_by(self, elapsed: float) -> float:
        """How likely a job submitted ``elapsed`` seconds ago has completed (for ranking)."""
        return self.cdf(max(0.0, elapsed))


class Completions:
    """The :class:`CompletionTimes` of every provider and model, made on first use."""

    def __init__(self, *, max_samples: int = 500) -> None:
        self.max_samples = max_samples
        self._models: dict[tuple[str, str], CompletionTimes] = {}

    def of(self, provider: str, model: str, typical_seconds: float) -> CompletionTimes:
        """The distribution for ``provider``'s ``model`` (a fresh prior the first time)."""
        key = (provider, model)
        found = self._models.get(key)
        if found is None:
            found = CompletionTimes(typical_seconds, max_samples=self.max_samples)
            self._models[key] = found
        return found

    def seen(self) -> dict[tuple[str, str], int]:
        """How many samples each distribution holds."""
        return {key: len(times) for key, times in self._models.items()}
