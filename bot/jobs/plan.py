"""Where to place a job's status reads, given its model's completion-time distribution.

A plan is the list of read times (seconds after the create request) that costs few reads
on average while it keeps to two targets (:class:`Targets`):

* no finished task waits longer than ``wait_max`` to be found, except a share ``miss`` of
  them at the distribution's far ends (the first read comes ``wait_max`` after all but a
  share ``EARLY_SHARE × miss`` are still running; reads spread out once all but the rest of
  ``miss`` have finished);
* a share ``quick_share`` (over half: the median) is found within ``wait_median``.

A read at ``t`` is made only by the jobs still running then, so it costs the share still
running, ``1 − F(t)``: reads early in the distribution are dear and late ones cheap. Plans are
therefore sparse (``wait_max`` apart) where most jobs are still running, and reads are added
one at a time where each finds the most completions quickly for its cost (:func:`build`).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable
from dataclasses import dataclass

#: probability -> seconds, and seconds -> probability (a distribution's quantile and CDF)
Quantile = Callable[[float], float]
Cdf = Callable[[float], float]

#: the share of ``miss`` spent before the first read; the rest goes past the plan's end,
#: where reads are cheap (made by the few jobs still running), so it gets little
EARLY_SHARE = 0.9
#: no two planned reads closer than this (seconds)
MIN_GAP = 1.0
#: past the bulk, each gap is longer by this share of the time since the bulk's end
TAIL_GROWTH = 0.1
#: a plan never holds more reads than this (a distribution spread over an hour: ~27 min)
MAX_READS = 400


@dataclass(frozen=True)
class Targets:
    """What a plan of status reads keeps to (see the module's docstring)."""

    wait_max: float = 4.0
    wait_median: float = 1.5
    #: found within ``wait_median``: over a half, for a margin (the samples are not the jobs)
    quick_share: float = 0.58
    #: the share of finished tasks allowed to wait longer than ``wait_max``
    miss: float = 0.0005


@dataclass(frozen=True)
class Plan:
    """Read times (seconds after the create request, increasing), their average cost in reads
    per job, and the share of completions found within ``wait_median`` (by the distribution)."""

    reads: tuple[float, ...]
    cost: float
    quick: float

    @property
    def end(self) -> float:
        """The last planned read: past it, reads spread out (:func:`tail_gap`)."""
        return self.reads[-1]


def _sparse(first: float, end: float, targets: Targets) -> list[float]:
    """Reads ``wait_max`` apart from ``first`` up to the first at or past ``end``."""
    reads = [first]
    while reads[-1] < end and len(reads) < MAX_READS:
        reads.append(reads[-1] + targets.wait_max)
    return reads


def _score(cdf: Cdf, reads: list[float], targets: Targets) -> tuple[float, float]:
    """Average reads per job (the first is always made; each later one by the jobs still
    running at the one before), and the share of completions found within ``wait_median``."""
    cost = 1.0
    quick = 0.0
    before = 0.0
    for i, t in enumerate(reads):
        if i:
            cost += 1.0 - cdf(reads[i - 1])
        quick += cdf(t) - cdf(max(before, t - targets.wait_median))
        before = t
    return cost, quick


def build(cdf: Cdf, quantile: Quantile, targets: Targets) -> Plan:
    """The plan: reads ``wait_max`` apart across the bulk, then one read more at a time
    where it finds the most completions within ``wait_median`` for its cost, until a share
    ``quick_share`` is (or no read more would help).

    A read put ``wait_median`` before the next one finds quickly the completions in the
    ``wait_median`` before it, which were found late; it is made by the jobs still running at
    it, so its worth is that mass over the share still running (the hazard rate, highest a
    little past the median of a log-normal)."""
    miss = max(0.0, targets.miss)
    end = quantile(1.0 - (1.0 - EARLY_SHARE) * miss)
    first = min(quantile(EARLY_SHARE * miss) + targets.wait_max, end)
    reads = _sparse(first, end, targets)
    cost, quick = _score(cdf, reads, targets)
    m = targets.wait_median
    heap: list[tuple[float, float, float]] = []  # (−worth, new read, completions it finds)

    def offer(a: float, b: float) -> None:
        x = b - m
        if x - a < MIN_GAP:
            return
        gain = cdf(x) - cdf(max(a, x - m))
        running = 1.0 - cdf(x)
        if gain > 0:
            heapq.heappush(heap, (-gain / max(running, 1e-12), x, gain))

    for a, b in zip([0.0, *reads], reads, strict=False):
        offer(a, b)
    while quick < targets.quick_share and heap and len(reads) < MAX_READS:
        _, x, gain = heapq.heappop(heap)
        i = bisect.bisect_left(reads, x)
        a = reads[i - 1] if i else 0.0
        reads.insert(i, x)
        cost += 1.0 - cdf(x)
        quick += gain
        offer(a, x)
    return Plan(tuple(reads), cost, quick)


def tail_gap(plan: Plan, elapsed: float, targets: Targets) -> float:
    """The gap after a read past the plan's end: ``wait_max``, growing the longer the task
    overstays (few jobs are still running; the caller caps it)."""
    return targets.wait_max + TAIL_GROWTH * max(0.0, elapsed - plan.end)
