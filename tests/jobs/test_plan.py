"""The plan of status reads: where it puts them, and what it costs (pure math)."""

from __future__ import annotations

import itertools
import math
import random
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.jobs.plan import MAX_READS, MIN_GAP, Targets
from bot.jobs.schedule import CompletionTimes


def _found(times: CompletionTimes, finish: float) -> tuple[float, int]:
    """Seconds from completion to the read that finds it, and the reads made (bounded)."""
    t, n = 0.0, 0
    while n < 1000:
        t += times.next_check(t, floor=1.0, cap=15.0, first=n == 0)
        n += 1
        if t >= finish:
            break
    return t - finish, n


def _learned(median: float, sigma: float, samples: int, seed: int) -> CompletionTimes:
    times = CompletionTimes(30.0)
    rng = random.Random(seed)
    times.extend(rng.lognormvariate(math.log(median), sigma) for _ in range(samples))
    return times


def test_a_realistic_spread_is_found_within_the_targets() -> None:
    times = _learned(30.0, 0.35, 500, seed=1)
    rng = random.Random(2)
    jobs = [rng.lognormvariate(math.log(30.0), 0.35) for _ in range(2000)]
    found = [_found(times, finish) for finish in jobs]
    delays = sorted(d for d, _ in found)
    assert statistics.median(delays) <= 1.5
    assert delays[int(0.99 * len(delays))] <= 4.0
    assert sum(d > 4.0 for d in delays) <= 0.005 * len(delays)  # the plan allows 0.1%
    reads = statistics.mean(n for _, n in found)
    fixed = statistics.mean(math.ceil(f / 3.0) for f in jobs)
    assert reads <= 0.75 * fixed
    # the plan's own reckoning of its cost is what the jobs paid
    assert abs(times.plan().cost - reads) <= 0.1 * reads


def test_reads_are_sparse_while_most_jobs_run_and_dense_once_most_have_finished() -> None:
    times = _learned(30.0, 0.35, 500, seed=3)
    reads = times.plan().reads
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    early = [g for a, g in zip(reads, gaps, strict=False) if times.cdf(a) < 0.1]
    late = [g for a, g in zip(reads, gaps, strict=False) if 0.6 < times.cdf(a) < 0.99]
    assert early and all(abs(g - 4.0) < 1e-9 for g in early)
    assert late and statistics.mean(late) < 3.0
    assert times.plan().quick >= Targets().quick_share


def test_the_plan_is_remade_once_a_tenth_of_its_samples_changed() -> None:
    times = _learned(30.0, 0.35, 100, seed=4)
    plan = times.plan()
    times.extend([60.0] * 9)
    assert times.plan() is plan
    times.add(60.0)
    assert times.plan() is not plan


def test_a_narrow_history_is_trusted_over_a_wide_prior() -> None:
    times = CompletionTimes(40.0)
    times.extend([100.0 + i % 10 for i in range(500)])  # 100–109 s, every time
    # the first read comes just before the first completions, not where the prior
    # (around 40 s, wide) would still put a few
    assert 95.0 <= times.plan().reads[0] <= 101.0


@settings(max_examples=100, deadline=None)
@given(
    typical=st.floats(1.0, 300.0),
    median=st.floats(1.0, 300.0),
    sigma=st.floats(0.01, 1.5),
    samples=st.integers(0, 300),
    seed=st.integers(0, 1000),
)
def test_planned_reads_are_never_too_far_apart_nor_too_close(
    typical: float, median: float, sigma: float, samples: int, seed: int
) -> None:
    times = CompletionTimes(typical)
    rng = random.Random(seed)
    times.extend(rng.lognormvariate(math.log(median), sigma) for _ in range(samples))
    plan = times.plan()
    reads = plan.reads
    assert reads[0] >= 0.0
    assert reads[0] <= times.quantile(1.0)
    for a, b in itertools.pairwise(reads):
        assert MIN_GAP - 1e-9 <= b - a <= Targets().wait_max + 1e-9
    # up to where all but a share ``miss / 2`` have finished (or as many reads as a plan holds)
    end = times.quantile(1.0 - Targets().miss / 2)
    assert reads[-1] >= end - 1e-6 or len(reads) >= MAX_READS
    assert 0.0 <= plan.quick <= 1.0 + 1e-9
    assert 1.0 <= plan.cost <= len(reads)
