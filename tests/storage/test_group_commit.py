"""Group commit (:mod:`bot.storage.batch`): transactions that queue together share one
commit, yet each succeeds or fails on its own, and each caller returns only once its change
is committed."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.storage.db import Database


@pytest.fixture
async def db(tmp_path):
    opened = await Database.open(tmp_path / "batch.db")
    await opened.executescript("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    try:
        yield opened
    finally:
        await opened.close()


async def keys(db: Database) -> list[str]:
    return [str(row[0]) for row in await db.fetchall("SELECT k FROM t ORDER BY k")]


async def test_a_failing_statement_fails_only_its_own_transaction(db):
    await db.execute("INSERT INTO t VALUES ('taken', 0)")

    async def insert(key: str) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (?, 1)", (f"{key}-a",))
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))

    outcomes = await asyncio.gather(
        *(insert(key) for key in ("k1", "k2", "taken", "k4", "k5")), return_exceptions=True
    )
    assert [type(o) for o in outcomes] == [
        type(None),
        type(None),
        sqlite3.IntegrityError,
        type(None),
        type(None),
    ]
    # the failing one's first statement went with it; every other change is committed
    assert await keys(db) == sorted(
        ["k1", "k1-a", "k2", "k2-a", "k4", "k4-a", "k5", "k5-a", "taken"]
    )


async def test_an_error_in_a_block_rolls_back_only_that_block(db):
    async def write(key: str, fail: bool) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))
            if fail:
                raise ValueError("changed my mind")

    outcomes = await asyncio.gather(
        write("a", False), write("b", True), write("c", False), return_exceptions=True
    )
    assert isinstance(outcomes[1], ValueError)
    assert await keys(db) == ["a", "c"]


async def test_each_caller_returns_with_its_change_committed(db):
    async def write(key: str) -> list[str]:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))
        return await keys(db)  # the reading connection sees only what is committed

    seen = await asyncio.gather(*(write(f"k{i:02}") for i in range(40)))
    for i, found in enumerate(seen):
        assert f"k{i:02}" in found


async def test_a_cancelled_transaction_leaves_the_others_and_the_connection_usable(db):
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES ('slow', 1)")
            inside.set()
            await release.wait()

    async def quick(key: str) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t VALUES (?, 1)", (key,))

    holder = asyncio.create_task(slow())
    await inside.wait()
    waiting = [asyncio.create_task(quick(key)) for key in ("q1", "q2", "q3")]
    await asyncio.sleep(0.01)
    waiting[1].cancel()  # waiting for its turn
    holder.cancel()  # inside its block
    await asyncio.gather(holder, *waiting, return_exceptions=True)
    assert await keys(db) == ["q1", "q3"]
    await db.execute("INSERT INTO t VALUES ('after', 1)")
    await db.vacuum()  # an exclusive turn once the batch is done
    assert await keys(db) == ["after", "q1", "q3"]
