"""The completion-time distribution and the status-check spacing it gives (pure math)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.jobs.plan import EARLY_SHARE, Targets
from bot.jobs.schedule import Completions, CompletionTimes


def test_the_prior_is_centred_on_the_documented_typical_time() -> None:
    times = CompletionTimes(30.0)
    assert abs(times.quantile(0.5) - 30.0) < 0.05
    assert times.cdf(10.0) < 0.05 < 0.95 < times.cdf(90.0)


def test_samples_replace_the_prior() -> None:
    times = CompletionTimes(30.0)
    rng = random.Random(1)
    times.extend(rng.uniform(60.0, 70.0) for _ in range(500))
    # 20 pseudo-samples of prior against 500 seen: the median moves to the seen ones
    assert 60.0 <= times.quantile(0.5) <= 70.0
    assert times.cdf(59.0) < 0.05


def test_memory_is_bounded_and_the_oldest_samples_go_first() -> None:
    times = CompletionTimes(30.0, max_samples=50, prior_weight=0)
    times.extend([100.0] * 50)
    times.extend([10.0] * 50)
    assert len(times) == 50
    assert times.cdf(11.0) > 0.9


def test_checks_are_dense_where_completions_are_and_sparse_elsewhere() -> None:
    times = CompletionTimes(30.0, prior_weight=0)
    times.extend(float(s) for s in range(40, 61))  # every job takes 40–60 s
    first = times.next_check(0.0, floor=1.0, cap=15.0, first=True)
    # no read is wasted long before the first completions: 4 s (the longest wait) after all
    # but 0.045% of jobs are still running (21 samples: the far end is a smooth guess)
    assert 35.0 <= first <= 42.0
    assert abs(first - (times.quantile(EARLY_SHARE * Targets().miss) + 4.0)) < 0.01
    assert times.next_check(first, floor=1.0, cap=15.0) == 4.0  # most still running: sparse
    # once most have finished reads are cheap (few jobs make them): dense
    assert times.next_check(times.quantile(0.9), floor=1.0, cap=15.0) <= 1.5
    assert times.next_check(500.0, floor=1.0, cap=15.0) == 15.0  # long overstayed


def test_distributions_are_per_provider_and_model() -> None:
    seen = Completions(max_samples=10)
    seen.of("magnific", "a", 30.0).add(5.0)
    assert len(seen.of("magnific", "b", 30.0)) == 0
    assert seen.seen() == {("magnific", "a"): 1, ("magnific", "b"): 0}


@settings(max_examples=200, deadline=None)
@given(
    typical=st.floats(0.5, 600.0),
    samples=st.lists(st.floats(0.0, 1000.0), max_size=40),
    elapsed=st.floats(0.0, 2000.0),
    floor=st.floats(0.05, 5.0),
    extra=st.floats(0.0, 60.0),
)
def test_the_next_check_is_always_within_floor_and_cap(
    typical: float,
    samples: list[float],
    elapsed: float,
    floor: float,
    extra: float,
) -> None:
    times = CompletionTimes(typical, max_samples=16)
    times.extend(samples)
    cap = floor + extra
    assert len(times) <= 16
    gap = times.next_check(elapsed, floor=floor, cap=cap)
    assert floor <= gap <= cap
    first = times.next_check(elapsed, floor=floor, cap=cap, first=True)
    # the first read may come after the cap (nothing is likely done before it), never after
    # the whole distribution; past its bulk it keeps within the cap like any other
    assert floor <= first <= max(cap, times.quantile(1.0) + floor)
    p = times.cdf(elapsed)
    assert 0.0 <= p <= 1.0
    assert times.cdf(elapsed + 1.0) >= p  # a distribution: never decreasing
