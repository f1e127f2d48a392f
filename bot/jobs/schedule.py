"""When to read a provider task's status: the math, with no I/O.

Each provider and model has a :class:`CompletionTimes`: the seconds from the create request to
completion of the jobs the bot has seen (the last ``max_samples``), blended with a smooth
log-normal component that starts as the prior around the documented ``typical_seconds`` and
moves to the samples' own centre and spread as they arrive (it counts as ``prior_weight``
samples, so its share fades; it gives the far ends, which a few hundred samples cannot).

Each model's distribution is also kept per job kind (:mod:`bot.jobs.kinds`: resolution and
reference bucket), hierarchically: a kind's distribution has its model's as ``parent``. With
no samples of its own a kind reads its model's distribution as it is (the pooled one, as
before kinds); from its first sample on, its smooth component starts from the model's
smooth centre and spread (or, while the model has no samples either, from the kind's own
typical time) and moves to the kind's samples, so it narrows as they arrive. A kind's sample
is its model's too.

Checks follow a plan (:mod:`bot.jobs.plan`) made from the distribution and remade as it
changes: sparse where most jobs are still running (each read there is made by nearly every
job), dense once most have finished, and never further apart than the targets allow where
completions are at all likely.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable

from bot.jobs.kinds import JobKind
from bot.jobs.plan import Plan, Targets, build, tail_gap

#: prior spread: a log-normal with this sigma puts 90% of completions within ×0.37…×2.7 of typical
PRIOR_SIGMA = 0.6
#: the prior counts as this many samples (half the weight once that many have been seen)
PRIOR_WEIGHT = 20
#: bisection steps for a quantile (the result is within hi / 2**QUANTILE_STEPS)
QUANTILE_STEPS = 48
#: the plan is remade once this share of the samples it was made from has changed (at least 1)
REPLAN_SHARE = 0.1
#: completion times under this are taken as this in the log-normal fit (instant providers)
LEAST_SECONDS = 0.01
#: a planned read this close before now is the one just made (seconds)
SAME_READ = 1e-6
#: the smooth component's least sigma (log seconds)
LEAST_SIGMA = 0.01


class CompletionTimes:
    """The distribution of completion times (seconds) of one provider's model, or of one
    kind of its jobs (``parent``: the model's)."""

    def __init__(
        self,
        typical_seconds: float,
        *,
        max_samples: int = 500,
        prior_sigma: float = PRIOR_SIGMA,
        prior_weight: int = PRIOR_WEIGHT,
        targets: Targets | None = None,
        parent: CompletionTimes | None = None,
    ) -> None:
        self.parent = parent
        self.typical = max(0.1, float(typical_seconds))
        self.sigma = max(0.05, prior_sigma)
        self.prior_weight = max(0, prior_weight)
        self.targets = targets or Targets()
        self._recent: deque[float] = deque(maxlen=max(1, max_samples))
        self._sorted: list[float] = []
        self._log_sum = 0.0
        self._log_squares = 0.0
        self._changes = 0
        self._plan: Plan | None = None
        self._planned_from = 0
        self._smoothed: tuple[float, float] | None = None
        #: samples ever added (children see from it that their prior moved)
        self.added = 0
        self._prior_at = 0  # the parent's ``added`` when the smooth component was fitted
        self._parent_planned = 0  # ... and when the plan was made

    def __len__(self) -> int:
        return len(self._recent)

    def add(self, seconds: float) -> None:
        """One more job completed after ``seconds`` (the oldest sample is forgotten when full);
        the parent's sample too."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        if self.parent is not None:
            self.parent.add(seconds)
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
            self._fit(old, -1.0)
        self._recent.append(seconds)
        bisect.insort(self._sorted, seconds)
        self._fit(seconds, 1.0)
        self._changes += 1
        self.added += 1
        self._smoothed = None

    def extend(self, samples: Iterable[float]) -> None:
        """:meth:`add` each sample, oldest first."""
        for seconds in samples:
            self.add(seconds)

    def _fit(self, seconds: float, sign: float) -> None:
        x = math.log(max(LEAST_SECONDS, seconds))
        self._log_sum += sign * x
        self._log_squares += sign * x * x

    def _smooth(self) -> tuple[float, float]:
        """Centre (log seconds) and sigma of the smooth component: the prior's, counted as
        ``prior_weight`` samples, pooled with the samples' own."""
        parent = self.parent
        if parent is not None and self._prior_at != parent.added:
            self._smoothed = None
        if self._smoothed is None:
            self._smoothed = self._pooled()
            self._prior_at = parent.added if parent is not None else 0
        return self._smoothed

    def _borrowed(self) -> CompletionTimes | None:
        """The parent, while this kind has no samples of its own and the parent has some."""
        parent = self.parent
        if parent is not None and not self._recent and len(parent):
            return parent
        return None

    def _prior(self) -> tuple[float, float]:
        """Centre (log seconds) and sigma the smooth component starts from: the parent's
        smooth component once it has samples, else the documented typical time's."""
        if self.parent is not None and len(self.parent):
            return self.parent._smooth()
        return math.log(self.typical), self.sigma

    def _pooled(self) -> tuple[float, float]:
        """Centres averaged, sigmas too on a log scale (a wide prior does not swamp a narrow
        spread seen in hundreds of samples)."""
        prior_mu, prior_sigma = self._prior()
        n = len(self._recent)
        if n == 0:
            return prior_mu, prior_sigma
        mean = self._log_sum / n
        spread = math.sqrt(max(0.0, self._log_squares / n - mean * mean))
        k = self.prior_weight
        mu = (k * prior_mu + n * mean) / (k + n)
        log_sigma = (k * math.log(prior_sigma) + n * math.log(max(LEAST_SIGMA, spread))) / (k + n)
        return mu, max(LEAST_SIGMA, math.exp(log_sigma))

    def _smooth_cdf(self, t: float) -> float:
        if t <= 0:
            return 0.0
        mu, sigma = self._smooth()
        z = (math.log(t) - mu) / (sigma * math.sqrt(2.0))
        return 0.5 * (1.0 + math.erf(z))

    def _empirical_cdf(self, t: float) -> float:
        """Piecewise linear through the order statistics, the ``i``-th of ``n`` at
        ``i / (n + 1)``; beyond the least and the most, the last ``1 / (n + 1)`` each side
        falls off like the smooth component (a few hundred samples cannot show the far ends,
        yet the next job may well fall there)."""
        xs = self._sorted
        n = len(xs)
        edge = 1.0 / (n + 1)
        i = bisect.bisect_right(xs, t)  # samples <= t
        if i == 0:
            below = self._smooth_cdf(xs[0])
            return edge * self._smooth_cdf(t) / below if below > 0 else 0.0
        if i == n:
            above = 1.0 - self._smooth_cdf(xs[-1])
            left = (1.0 - self._smooth_cdf(t)) / above if above > 0 else 0.0
            return 1.0 - edge * left
        lo, hi = xs[i - 1], xs[i]
        frac = (t - lo) / (hi - lo) if hi > lo else 0.0
        return (i + frac) * edge

    def cdf(self, t: float) -> float:
        """The probability that a job completes within ``t`` seconds of its create request."""
        borrowed = self._borrowed()
        if borrowed is not None:
            return borrowed.cdf(t)
        n = len(self._sorted)
        if n == 0:
            return self._smooth_cdf(t)
        w = self.prior_weight / (self.prior_weight + n)
        return w * self._smooth_cdf(t) + (1.0 - w) * self._empirical_cdf(t)

    def _upper(self) -> float:
        mu, sigma = self._smooth()
        top = math.exp(mu + 6.0 * sigma)
        return max(top, self._sorted[-1] if self._sorted else 0.0) + 1.0

    def quantile(self, p: float) -> float:
        """The least ``t`` with ``cdf(t) >= p`` (to within a few milliseconds)."""
        borrowed = self._borrowed()
        if borrowed is not None:
            return borrowed.quantile(p)
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

    def plan(self) -> Plan:
        """The current plan of reads (remade once enough samples have changed, here or in
        the parent)."""
        borrowed = self._borrowed()
        if borrowed is not None:
            return borrowed.plan()
        parent = self.parent
        moved = parent is not None and parent.added - self._parent_planned >= max(
            1, REPLAN_SHARE * len(parent)
        )
        if (
            self._plan is None
            or moved
            or self._changes >= max(1, REPLAN_SHARE * self._planned_from)
        ):
            self._plan = build(self.cdf, self.quantile, self.targets)
            self._changes = 0
            self._planned_from = len(self._recent)
            self._parent_planned = parent.added if parent is not None else 0
        return self._plan

    def next_check(self, elapsed: float, *, floor: float, cap: float, first: bool = False) -> float:
        """Seconds from now (``elapsed`` seconds after the create request) to the next status
        read: the plan's next, kept within ``[floor, cap]`` — except the plan's first read,
        which may come later than ``cap`` for a ``first`` read (nothing is likely to be
        finished before it)."""
        elapsed = max(0.0, elapsed)
        plan = self.plan()
        i = bisect.bisect_right(plan.reads, elapsed + SAME_READ)
        if i < len(plan.reads):
            gap = max(floor, plan.reads[i] - elapsed)
            return gap if first and i == 0 else min(cap, gap)
        return max(floor, min(cap, tail_gap(plan, elapsed, self.targets)))

    def done_by(self, elapsed: float) -> float:
        """How likely a job submitted ``elapsed`` seconds ago has completed (for ranking)."""
        return self.cdf(max(0.0, elapsed))


class Completions:
    """The :class:`CompletionTimes` of every provider and model, and of every kind of its
    jobs (:mod:`bot.jobs.kinds`), made on first use."""

    def __init__(self, *, max_samples: int = 500, targets: Targets | None = None) -> None:
        self.max_samples = max_samples
        self.targets = targets or Targets()
        self._models: dict[tuple[str, str], CompletionTimes] = {}
        self._kinds: dict[tuple[str, str, JobKind], CompletionTimes] = {}

    def of(
        self, provider: str, model: str, typical_seconds: float, kind: JobKind | None = None
    ) -> CompletionTimes:
        """The distribution for ``provider``'s ``model`` (a fresh prior the first time), or
        for its jobs of ``kind`` (the model's as parent; its typical time scaled)."""
        pooled = self._models.get((provider, model))
        if pooled is None:
            pooled = CompletionTimes(
                typical_seconds, max_samples=self.max_samples, targets=self.targets
            )
            self._models[(provider, model)] = pooled
        if kind is None:
            return pooled
        found = self._kinds.get((provider, model, kind))
        if found is None:
            found = CompletionTimes(
                typical_seconds * kind.scale,
                max_samples=self.max_samples,
                targets=self.targets,
                parent=pooled,
            )
            self._kinds[(provider, model, kind)] = found
        return found

    def seen(self) -> dict[tuple[str, str], int]:
        """How many samples each model's distribution holds."""
        return {key: len(times) for key, times in self._models.items()}

    def seen_kinds(self) -> dict[tuple[str, str, str, str], int]:
        """How many samples each kind's distribution holds: (provider, model, resolution,
        reference bucket) -> count."""
        return {
            (provider, model, kind.resolution, kind.references): len(times)
            for (provider, model, kind), times in self._kinds.items()
        }
