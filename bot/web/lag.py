"""How late the event loop runs: a periodic timer, and how long after its time it woke.

Anything that holds the loop (a decode, a large JSON, a blocking call) delays every
interaction the bot answers; Discord allows 3 s. :class:`LagMonitor` sleeps ``interval``
seconds again and again and records how late each wake-up was: the last lag, the largest
since start, and a histogram (a stall of S seconds shows as a lag of at least S − interval).
:class:`LagCollector` shows them on ``/metrics`` (registered in the runtime's metrics
registry) as ``bananabot_event_loop_lag_seconds`` (last), ``bananabot_event_loop_lag_seconds_max``
and ``bananabot_event_loop_lag_histogram_seconds``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Iterable

from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric

#: histogram bucket bounds, in seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LagMonitor:
    """Measures event-loop lag while started (:meth:`start`, :meth:`stop`)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.current = 0.0
        self.max = 0.0
        self.total = 0.0
        self.count = 0
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one: above every bound
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start measuring on the running loop (again: no effect)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="lag-monitor")

    async def stop(self) -> None:
        """Stop measuring."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def record(self, lag: float) -> None:
        """One wake-up ``lag`` seconds late."""
        lag = max(0.0, lag)
        self.current = lag
        self.max = max(self.max, lag)
        self.total += lag
        self.count += 1
        self.buckets[bisect.bisect_left(BUCKETS, lag)] += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.record(loop.time() - due)


class LagCollector:
    """A ``prometheus_client`` collector reading a :class:`LagMonitor` at scrape time."""

    def __init__(self, lag: LagMonitor) -> None:
        self.lag = lag

    def describe(self) -> Iterable[Metric]:
        """The families (so the registry knows their names)."""
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        """The last lag, the largest, and the histogram of every wake-up."""
        lag = self.lag
        current = GaugeMetricFamily(
            "bananabot_event_loop_lag_seconds",
            "How late the event loop woke the last timer.",
            value=lag.current,
        )
        largest = GaugeMetricFamily(
            "bananabot_event_loop_lag_seconds_max",
            "The longest event-loop lag since start.",
            value=lag.max,
        )
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, n in zip((*BUCKETS, None), lag.buckets, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound is None else str(bound), cumulative))
        histogram = HistogramMetricFamily(
            "bananabot_event_loop_lag_histogram_seconds",
            "Event-loop lag of each timer.",
            buckets=buckets,
            sum_value=lag.total,
        )
        return [current, largest, histogram]
