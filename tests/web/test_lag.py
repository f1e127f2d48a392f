"""The event-loop lag monitor: what it records, that it sees a stall, and that the running bot
shows it on /metrics."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from bot.web.lag import LagCollector, LagMonitor
from tests.discord.bot_harness import running_bot, settings_for
from tests.fakes.discord import FakeDiscord


async def ticks(lag: LagMonitor, more: int) -> None:
    """Wait until the monitor has recorded ``more`` further wake-ups."""
    target = lag.count + more
    for _ in range(1000):
        if lag.count >= target:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the monitor does not run")


def test_records_the_last_and_the_largest_lag_and_a_histogram():
    lag = LagMonitor()
    for seconds in (0.002, 0.3, 0.02, -0.001):
        lag.record(seconds)
    assert (lag.current, lag.max, lag.count) == (0.0, 0.3, 4)
    registry = CollectorRegistry()
    registry.register(LagCollector(lag))
    lines = generate_latest(registry).decode().splitlines()
    assert "bananabot_event_loop_lag_seconds 0.0" in lines
    assert "bananabot_event_loop_lag_seconds_max 0.3" in lines
    assert 'bananabot_event_loop_lag_histogram_seconds_bucket{le="0.005"} 2.0' in lines
    assert 'bananabot_event_loop_lag_histogram_seconds_bucket{le="0.25"} 3.0' in lines
    assert 'bananabot_event_loop_lag_histogram_seconds_bucket{le="0.5"} 4.0' in lines
    assert 'bananabot_event_loop_lag_histogram_seconds_bucket{le="+Inf"} 4.0' in lines
    assert "bananabot_event_loop_lag_histogram_seconds_count 4.0" in lines


async def test_a_blocked_loop_shows_as_lag():
    lag = LagMonitor(interval=0.01)
    lag.start()
    try:
        await ticks(lag, 3)  # running
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test
        await ticks(lag, 1)
        # a stall of S seconds is a wake-up at least S - interval late
        assert lag.max >= 0.3 - lag.interval
    finally:
        await lag.stop()
    stopped = lag.count
    await asyncio.sleep(0.05)
    assert lag.count == stopped


async def test_the_running_bot_shows_its_lag_on_metrics(tmp_path):
    async with FakeDiscord() as fake, running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        await ticks(runtime.lag, 1)
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{runtime.metrics_port}/metrics"
            metrics = (await client.get(url)).text
    assert "# TYPE bananabot_event_loop_lag_seconds_max gauge" in metrics
    values = {
        line.split()[0]: float(line.split()[1])
        for line in metrics.splitlines()
        if line.startswith("bananabot_event_loop_lag_seconds")
    }
    assert set(values) == {
        "bananabot_event_loop_lag_seconds",
        "bananabot_event_loop_lag_seconds_max",
    }
    assert (
        0
        <= values["bananabot_event_loop_lag_seconds"]
        <= values["bananabot_event_loop_lag_seconds_max"]
    )
