"""Statements sent without waiting (:mod:`bot.storage.pipeline`), transaction bodies run
together (``Database.run``, :mod:`bot.storage.together`), urgent transactions, and the age
limit of a group commit's batch — on SQLite, and the same outcomes on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import aiosqlite
import pytest

from bot.storage import batch
from bot.storage.db import Database
from bot.storage.postgres.db import PgDatabase
from bot.storage.sql import Transaction
from bot.storage.together import BUSY_TIMEOUT_MS


class Holder:
    """A transaction holding the writing connection until :meth:`release` (it then writes
    ``first``)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._holding, self._release = asyncio.Event(), asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Holder:
        self._task = asyncio.create_task(self._hold())
        await self._holding.wait()
        return self

    async def _hold(self) -> None:
        async with self.db.transaction() as tx:
            self._holding.set()
            await self._release.wait()
            await tx.execute("INSERT INTO t VALUES ('first', 0)")

    async def release(self) -> None:
        self._release.set()
        assert self._task is not None
        await self._task


async def keys(db: Database | PgDatabase) -> list[str]:
    return [str(row[0]) for row in await db.fetchall("SELECT k FROM t ORDER BY k")]


def test_the_aiosqlite_internals_the_pipeline_uses_are_there():
    # bot/storage/pipeline.py queues work on aiosqlite's connection thread by hand
    connection = aiosqlite.Connection(lambda: sqlite3.connect(":memory:"), iter_chunk_size=64)
    assert hasattr(connection, "_tx") and hasattr(connection._tx, "put_nowait")
    assert callable(connection._execute)
    assert isinstance(type(connection).__dict__.get("_conn"), property)


async def test_sent_statements_run_in_order_before_the_next_awaited_one(db):
    async with db.transaction() as tx:
        tx.send("INSERT INTO t VALUES (?, 1)", ("a",))
        tx.send_many("INSERT INTO t VALUES (?, ?)", [("b", 2), ("c", 3)])
        row = await tx.fetchone("SELECT COUNT(*), SUM(v) FROM t")
        assert tuple(row) == (3, 6)
        tx.send("UPDATE t SET v = v + 10 WHERE k = ?", ("a",))
    assert await keys(db) == ["a", "b", "c"]
    row = await db.fetchone("SELECT v FROM t WHERE k = 'a'")
    assert row is not None and row[0] == 11


async def test_a_failing_sent_statement_fails_only_its_own_transaction(db):
    await db.execute("INSERT INTO t VALUES ('taken', 0)")

    async def insert(key: str) -> None:
        async with db.transaction() as tx:
            tx.send("INSERT INTO t VALUES (?, 1)", (f"{key}-a",))
            tx.send("INSERT INTO t VALUES (?, 1)", (key,))
            tx.send("INSERT INTO t VALUES (?, 1)", (f"{key}-b",))

    outcomes = await asyncio.gather(
        *(insert(key) for key in ("k1", "taken", "k3")), return_exceptions=True
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], Exception)
    assert (
        "taken" in str(outcomes[1])
        or "duplicate" in str(outcomes[1]).lower()
        or ("UNIQUE" in str(outcomes[1]))
    )
    # the failing one's statements before and after the failure went with it
    assert await keys(db) == ["k1", "k1-a", "k1-b", "k3", "k3-a", "k3-b", "taken"]


async def test_a_statement_awaited_after_a_failed_send_raises_and_nothing_is_kept(db):
    await db.execute("INSERT INTO t VALUES ('taken', 0)")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        async with db.transaction() as tx:
            tx.send("INSERT INTO t VALUES ('new', 1)")
            tx.send("INSERT INTO t VALUES ('taken', 1)")
            await tx.fetchall("SELECT k FROM t")
    assert await keys(db) == ["taken"]


async def test_urgent_transactions_go_before_the_others_waiting(lite):
    db = lite
    order: list[str] = []

    async def write(key: str, urgent: bool) -> None:
        async with db.transaction(urgent=urgent) as tx:
            order.append(key)
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))

    holder = await Holder(db).start()
    waiting = [
        asyncio.create_task(write("plain-1", False)),
        asyncio.create_task(write("urgent-1", True)),
        asyncio.create_task(write("plain-2", False)),
        asyncio.create_task(write("urgent-2", True)),
    ]
    await asyncio.sleep(0.05)  # all queued behind the holder
    await holder.release()
    await asyncio.gather(*waiting)
    assert order == ["urgent-1", "urgent-2", "plain-1", "plain-2"]
    assert len(await keys(db)) == 5


async def test_a_batch_takes_no_new_member_once_it_is_old(lite, monkeypatch):
    db = lite
    commits: list[str] = []
    await db._conn.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )

    async def write(key: str) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))

    await asyncio.gather(*(write(f"a{i}") for i in range(8)))
    together = len(commits)
    commits.clear()
    monkeypatch.setattr(batch, "MAX_BATCH_AGE", 0.0)
    await asyncio.gather(*(write(f"b{i}") for i in range(8)))
    assert together < 8  # young batches take the transactions waiting
    assert len(commits) == 8  # an old one commits before the next joins
    assert len(await keys(db)) == 16


async def test_bodies_run_together_each_succeeding_or_failing_alone(db):
    await db.execute("INSERT INTO t VALUES ('taken', 0)")

    def insert(key: str):
        async def body(tx: Transaction) -> str:
            tx.send("INSERT INTO t VALUES (?, 1)", (f"{key}-a",))
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))
            return key

        return body

    outcomes = await asyncio.gather(
        *(db.run(insert(key)) for key in ("k1", "taken", "k3")), return_exceptions=True
    )
    assert outcomes[0] == "k1" and outcomes[2] == "k3"
    assert isinstance(outcomes[1], Exception)
    assert await keys(db) == ["k1", "k1-a", "k3", "k3-a", "taken"]


async def test_bodies_waiting_together_share_one_commit_on_sqlite(lite):
    db = lite
    commits: list[str] = []
    await db._conn.set_trace_callback(
        lambda sql: commits.append(sql) if sql.strip().upper() == "COMMIT" else None
    )

    def insert(key: str):
        async def body(tx: Transaction) -> None:
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))

        return body

    await asyncio.gather(*(db.run(insert(f"k{i:02}")) for i in range(20)))
    assert len(await keys(db)) == 20
    assert 1 <= len(commits) <= 3  # the first alone at most, the rest together


async def test_a_body_that_awaits_anything_else_is_refused_and_the_others_commit(lite):
    db = lite

    async def bad(tx: Transaction) -> None:
        await tx.execute("INSERT INTO t VALUES ('bad', 1)")
        await asyncio.sleep(0)

    async def good(tx: Transaction) -> None:
        await tx.execute("INSERT INTO t VALUES ('good', 1)")

    outcomes = await asyncio.gather(db.run(bad), db.run(good), return_exceptions=True)
    assert isinstance(outcomes[0], RuntimeError) and outcomes[1] is None
    assert await keys(db) == ["good"]


async def test_a_body_whose_caller_left_before_it_ran_never_runs(lite):
    db = lite

    async def late(tx: Transaction) -> None:
        await tx.execute("INSERT INTO t VALUES ('late', 1)")

    holder = await Holder(db).start()
    waiting = asyncio.create_task(db.run(late))
    await asyncio.sleep(0.02)
    waiting.cancel()
    await holder.release()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await db.run(lambda tx: tx.execute("INSERT INTO t VALUES ('after', 2)"))
    assert await keys(db) == ["after", "first"]


async def test_bodies_wait_for_another_process_writing_off_the_event_loop(lite):
    """Another connection (another process) holds the write lock: the batch's ``BEGIN`` does
    not wait on the event loop's thread (which keeps turning) but on the connection's, and
    the bodies commit once the lock is free."""
    db = lite
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release() -> None:
        time.sleep(0.3)
        other.execute("COMMIT")
        other.close()
        released.set()

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while not released.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    releasing = threading.Thread(target=release)
    releasing.start()
    ticking = asyncio.ensure_future(tick())
    try:
        await asyncio.wait_for(db.run(lambda tx: tx.execute("INSERT INTO t VALUES ('k', 1)")), 10)
    finally:
        releasing.join(5)
        await asyncio.wait_for(ticking, 5)
    assert released.is_set() and ticks >= 10  # the loop kept turning while the body waited
    assert await keys(db) == ["k"]
    # the lock is free again: the next batch begins at once, and the timeout is back
    await db.run(lambda tx: tx.execute("INSERT INTO t VALUES ('m', 2)"))
    assert await keys(db) == ["k", "m"]
    writer: sqlite3.Connection = db._conn._conn
    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
