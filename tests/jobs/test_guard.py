"""The store guard's backoff and bookkeeping, against a real SQLite store made read-only."""

from __future__ import annotations

import logging

from bot.jobs.guard import Backoff, StoreGuard
from bot.jobs.metrics import Metrics
from bot.jobs.ports import StoreUnavailableError
from bot.storage.store import SqliteStore
from tests.storage.faults import read_only, restore


def test_the_backoff_doubles_to_its_cap_with_jitter_never_below_half():
    low, high = Backoff(0.5, 30.0, rng=lambda: 0.0), Backoff(0.5, 30.0, rng=lambda: 0.999999)
    assert [low.delay(n) for n in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert [round(high.delay(n), 3) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert low.delay(10_000) == 15.0  # no overflow however long the outage
    jittered = {Backoff(0.5, 30.0).delay(3) for _ in range(20)}
    assert len(jittered) > 1 and all(2.0 <= d <= 4.0 for d in jittered)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_kept_writes_go_first_in_order_and_health_returns_once_all_are_written(
    tmp_path, caplog
):
    store = await SqliteStore.open(tmp_path / "bot.db")
    clock = Clock()
    guard = StoreGuard(store, Metrics(), Backoff(1.0, 8.0, rng=lambda: 1.0), clock=clock)
    written: list[str] = []

    def write(key: str):
        async def record() -> None:
            await store.meta.set(key, "v")
            written.append(key)

        return record

    caplog.set_level(logging.INFO, logger="bot.jobs.guard")
    try:
        await read_only(store)
        for key in ("a", "b"):
            try:
                await write(key)()
            except StoreUnavailableError as exc:
                guard.keep("submit", key, write(key), exc)
        assert (guard.healthy, guard.kept, guard.wait()) == (False, 2, 1.0)
        assert not await guard.ready()  # the backoff has not passed: the store is not touched
        clock.now += 1.0
        assert not await guard.ready()  # still read-only: the next try doubles
        assert (guard.kept, guard.wait()) == (2, 2.0)
        await restore(store)
        clock.now += 2.0
        assert await guard.ready()
        assert (guard.healthy, guard.kept, written) == (True, 0, ["a", "b"])
        assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
            "the store is failing",
            "the store takes writes again after 3.0 s",
        ]
        # failing again soon after (a flapping disk): the backoff goes on from where it was
        await read_only(store)
        try:
            await store.meta.set("c", "v")
        except StoreUnavailableError as exc:
            guard.failed(exc)
        assert guard.wait() == 4.0
    finally:
        await restore(store)
        await store.close()
