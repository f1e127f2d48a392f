"""What the polling benchmarks share: the goals, the engine's configuration, and the
simulation of a job's reads in virtual time (:mod:`benchmarks.polling`,
:mod:`benchmarks.polling_mixture`)."""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Callable, Sequence

from bot.jobs.config import EngineConfig
from bot.jobs.plan import Targets
from bot.jobs.schedule import CompletionTimes

TYPICAL = 30.0  # the documented typical time the prior starts from
SIGMA = 0.35  # the realistic spread (log seconds): 95% of jobs within 15–60 s
WAIT_MAX = 4.0  # the goals: every job found within 4 s, half within 1.5 s
WAIT_MEDIAN = 1.5
CONFIG = EngineConfig()
#: reads of one job: (elapsed seconds, read number) -> seconds to the next read
Schedule = Callable[[float, int], float]


TARGETS = Targets(
    wait_max=CONFIG.poll_wait_max, wait_median=CONFIG.poll_wait_median, miss=CONFIG.poll_miss
)


def adaptive(times: CompletionTimes) -> Schedule:
    def delay(elapsed: float, n: int) -> float:
        return times.next_check(elapsed, floor=CONFIG.poll_floor, cap=CONFIG.poll_cap, first=n == 0)

    return delay


def hindsight(done_at: Sequence[float]) -> float:
    """The fewest reads per job of any schedule that finds every one of these jobs within
    ``WAIT_MAX``, knowing their completion times in advance: each read as late as it can be
    (``WAIT_MAX`` after the earliest completion not yet found), which puts the fewest reads
    before every moment at once."""
    reads: list[float] = []
    for finish in sorted(done_at):
        if not reads or finish > reads[-1]:
            reads.append(finish + WAIT_MAX)
    return statistics.mean(bisect.bisect_left(reads, f) + 1 for f in done_at)


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


def reads_row(what: str, per_job: float, fixed: float) -> tuple[str, str, str, str]:
    share = per_job / fixed
    return (
        what,
        f"{per_job:.1f} ({share:.0%} of fixed 3 s)",
        "≤ 40% of fixed 3 s",
        ok(share <= 0.4),
    )


def ok(met: bool) -> str:
    return "yes" if met else "NO"


def print_table(rows: Sequence[tuple[str, str, str, str]]) -> None:
    """The rows as a Markdown table: what, measured, goal, met."""
    header = ("what", "measured", "goal", "met")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
