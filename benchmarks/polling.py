"""Polling benchmark: discovery delay and status reads per job, and reads per second under load.

    python -m benchmarks.polling          # the figures in the README (a few seconds)
    python -m benchmarks.polling --tiny   # a smoke run (the test suite)

A simulation in virtual time of the engine's own scheduling code — the learned distribution
and check spacing of :mod:`bot.jobs.schedule`, the budget of :mod:`bot.jobs.budget`, with the
engine's defaults (:class:`bot.jobs.config.EngineConfig`) — so minutes of waiting take
milliseconds. Jobs' provider completion times are spread evenly over 10–90 s.
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence

from bot.jobs.budget import Due, StatusBudget, choose
from bot.jobs.config import EngineConfig
from bot.jobs.schedule import CompletionTimes
from providers.polling import poll_delay

TYPICAL = 30.0  # the documented typical time the prior starts from
CONFIG = EngineConfig()
#: reads of one job: (elapsed seconds, read number) -> seconds to the next read
Schedule = Callable[[float, int], float]


def learned(samples: int, seed: int = 1) -> CompletionTimes:
    """The distribution after ``samples`` earlier jobs, spread like the measured ones."""
    times = CompletionTimes(TYPICAL, max_samples=CONFIG.poll_samples)
    rng = random.Random(seed)
    times.extend(rng.uniform(10.0, 90.0) for _ in range(samples))
    return times


def adaptive(times: CompletionTimes) -> Schedule:
    def delay(elapsed: float, n: int) -> float:
        return times.next_check(
            elapsed,
            step=CONFIG.poll_step,
            floor=CONFIG.poll_floor,
            cap=CONFIG.poll_cap,
            first=n == 0,
        )

    return delay


def discovery(done_at: Sequence[float], schedule: Schedule) -> tuple[list[float], list[int]]:
    """Per job: seconds from completion to the read that found it, and reads made."""
    delays: list[float] = []
    reads: list[int] = []
    for finish in done_at:
        t, n = 0.0, 0
        while n < 10_000:
            t += schedule(t, n)
            n += 1
            if t >= finish:
                break
        delays.append(t - finish)
        reads.append(n)
    return delays, reads


def reads_per_second(waiting: int, seconds: int, rate: float | None) -> tuple[float, int]:
    """``waiting`` jobs still running throughout (submitted over the minute before), read
    as the engine reads them (100 due at most per look, 10 looks a second): the mean and the
    highest reads in any one second."""
    times = learned(500)
    budgets = {"p": StatusBudget(rate)} if rate is not None else {}
    rng = random.Random(2)
    submitted = {f"j{i}": -rng.uniform(0.0, 60.0) for i in range(waiting)}
    due: list[tuple[float, str]] = []
    for job, at in submitted.items():
        due.append((at + times.next_check(0.0, step=0.05, floor=1.0, cap=15.0, first=True), job))
    heapq.heapify(due)
    per_second: Counter[int] = Counter()
    for tick in range(seconds * 10):
        now = tick / 10
        batch: list[Due] = []
        while due and due[0][0] <= now and len(batch) < 100:
            at, job = heapq.heappop(due)
            batch.append(Due(job, "p", times.done_by(now - submitted[job]), now - at))
        chosen, later = choose(batch, budgets, now, starve_after=CONFIG.status_starve_after)
        for d in chosen:
            per_second[int(now)] += 1
            elapsed = now - submitted[d.job_id]
            gap = times.next_check(elapsed, step=0.05, floor=1.0, cap=CONFIG.poll_cap)
            heapq.heappush(due, (now + gap, d.job_id))
        for d, at in later:
            heapq.heappush(due, (at, d.job_id))
    counts = [per_second[s] for s in range(seconds)]
    return sum(counts) / seconds, max(counts)


def run(jobs: int, waiting: Sequence[int], seconds: int) -> list[tuple[str, str, str, str]]:
    """Rows: what, measured, goal, met."""
    done_at = [10.0 + 80.0 * i / max(1, jobs - 1) for i in range(jobs)]
    _, fixed_reads = discovery(done_at, lambda _t, _n: 3.0)
    fixed = statistics.mean(fixed_reads)
    rows: list[tuple[str, str, str, str]] = []
    schedules: list[tuple[str, Schedule]] = [
        ("fixed 3 s poll", lambda _t, _n: 3.0),
        (
            "previous schedule (0.6 × typical, then 2 s ×1.5 to 15 s)",
            lambda _t, n: poll_delay(n, TYPICAL),
        ),
        ("learning, cold (prior around typical 30 s only)", adaptive(CompletionTimes(TYPICAL))),
        ("learning, after 500 jobs", adaptive(learned(500))),
    ]
    for name, schedule in schedules:
        delays, reads = discovery(done_at, schedule)
        med, worst, per_job = statistics.median(delays), max(delays), statistics.mean(reads)
        share = per_job / fixed
        rows.append((f"{name}: discovery delay median", f"{med:.2f} s", "≤ 1.5 s", _ok(med <= 1.5)))
        rows.append((f"{name}: discovery delay max", f"{worst:.2f} s", "≤ 4 s", _ok(worst <= 4.0)))
        rows.append(
            (
                f"{name}: status reads per job",
                f"{per_job:.1f} ({share:.0%} of fixed 3 s)",
                "≤ 40% of fixed 3 s",
                _ok(share <= 0.4),
            )
        )
    rate = CONFIG.status_rate("p")
    for n in waiting:
        mean, peak = reads_per_second(n, seconds, None)
        rows.append((f"{n:,} waiting, no budget: reads/s", f"{mean:.0f} (peak {peak})", "—", ""))
        mean, peak = reads_per_second(n, seconds, rate)
        goal = f"≤ budget {rate:g}/s (+ 1 s burst)"
        met = _ok(rate is not None and peak <= 2 * rate)
        rows.append((f"{n:,} waiting, budget: reads/s", f"{mean:.1f} (peak {peak})", goal, met))
    return rows


def _ok(met: bool) -> str:
    return "yes" if met else "NO"


def main(argv: Sequence[str] | None = None) -> list[tuple[str, str, str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tiny", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    if args.tiny:
        rows = run(jobs=4, waiting=(50,), seconds=5)
    else:
        rows = run(jobs=20, waiting=(1_000, 10_000), seconds=120)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("what", "measured", "goal", "met")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return rows


if __name__ == "__main__":
    main()
