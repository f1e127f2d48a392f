"""The per-provider status-request budget: a token bucket and who gets the reads."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.jobs.budget import Due, StatusBudget, choose


def test_the_bucket_allows_rate_per_second() -> None:
    budget = StatusBudget(10.0)
    taken = sum(budget.take(100.0 + i * 0.01) for i in range(1000))  # 10 s
    assert 100 <= taken <= 110  # the burst of 10, then 10 a second


def test_processes_sharing_a_budget_each_spend_their_part() -> None:
    budget = StatusBudget(10.0)
    budget.share(4)  # four live processes read this provider
    taken = sum(budget.take(100.0 + i * 0.01) for i in range(1000))  # 10 s
    assert 25 <= taken <= 30  # 2.5 a second each, a burst of 2.5
    budget.share(1)  # the others gone: the whole budget again
    taken = sum(budget.take(200.0 + i * 0.01) for i in range(1000))
    assert 100 <= taken <= 112


def test_hinted_reads_may_spend_a_reserve_that_others_never_touch() -> None:
    budget = StatusBudget(5.0, reserve=10.0)  # burst 5, and 50 reads kept for hinted ones
    assert sum(budget.take(0.0) for _ in range(100)) == 5
    assert sum(budget.take(0.0, hinted=True) for _ in range(100)) == 50
    # refilled, the reserve comes first: the next unhinted read waits until it is whole
    assert not budget.take(9.9)
    assert budget.take(10.3)
    # over a long time hinted reads still average the rate
    taken = sum(budget.take(20.0 + i * 0.01, hinted=True) for i in range(6000))  # 60 s
    assert taken <= 5.0 * 60 + 5 + 50 + 1


def test_hinted_then_starved_then_most_likely_first() -> None:
    due = [
        Due("unlikely", "p", likelihood=0.1, overdue=1.0),
        Due("likely", "p", likelihood=0.9, overdue=1.0),
        Due("starved", "p", likelihood=0.0, overdue=60.0),
        Due("hinted", "p", likelihood=0.0, overdue=0.0, hinted=True),
        Due("other-provider", "q", likelihood=0.0, overdue=0.0),
    ]
    chosen, later = choose(due, {"p": StatusBudget(3.0)}, 0.0, starve_after=30.0)
    assert [d.job_id for d in chosen] == ["hinted", "starved", "likely", "other-provider"]
    assert [(d.job_id, at) for d, at in later] == [("unlikely", 1 / 3.0)]


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 300), rate=st.floats(0.5, 50.0), seconds=st.integers(1, 30))
def test_reads_never_exceed_the_budget_and_every_job_is_read(
    n: int, rate: float, seconds: int
) -> None:
    """Jobs due at once and read again as soon as read: per second, never more than the
    budget (plus its one-second burst)."""
    budget = {"p": StatusBudget(rate)}
    next_at = {f"j{i}": 0.0 for i in range(n)}
    last_read = dict.fromkeys(next_at, 0.0)
    reads = 0
    now = 0.0
    worst_wait = 0.0
    for _ in range(seconds * 10):  # ticks of 0.1 s
        due = [Due(j, "p", 0.5, now - at) for j, at in next_at.items() if at <= now]
        chosen, later = choose(due, budget, now, starve_after=5.0)
        for d in chosen:
            worst_wait = max(worst_wait, now - last_read[d.job_id])
            last_read[d.job_id] = now
            next_at[d.job_id] = now + 1.0
        for d, at in later:
            next_at[d.job_id] = at
        reads += len(chosen)
        now += 0.1
    assert reads <= rate * seconds + max(1.0, rate) + 1
