"""Lookups (``Database.lookup``): reads of a few rows by key on the event loop's own thread
(:mod:`bot.storage.lookup`), read on a reader's thread instead when SQLite is busy or the
statement runs too long; the same answers on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading

import pytest

from bot.storage import lookup
from bot.storage.db import Database
from bot.storage.postgres.db import PgDatabase


async def test_a_lookup_sees_every_commit(db: Database | PgDatabase) -> None:
    assert await db.lookup_one("SELECT v FROM t WHERE k = ?", ("a",)) is None
    await db.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1))
    row = await db.lookup_one("SELECT v FROM t WHERE k = ?", ("a",))
    assert row is not None and row[0] == 1
    await db.execute("UPDATE t SET v = ? WHERE k = ?", (2, "a"))
    assert [tuple(r) for r in await db.lookup("SELECT k, v FROM t WHERE k = ?", ("a",))] == [
        ("a", 2)
    ]


async def test_a_lookup_needs_no_thread(lite: Database) -> None:
    """Answered on the event loop's thread: while the reader's thread is held, and without
    the loop taking a turn (a reply from a thread would need one)."""
    await lite.execute("INSERT INTO t (k, v) VALUES ('a', 1)")
    held = threading.Event()
    reader = lite._reader  # the reader's thread, held until the lookup is answered
    holding = asyncio.ensure_future(reader._execute(held.wait, 5.0))
    try:
        row = await lite.lookup_one("SELECT v FROM t WHERE k = ?", ("a",))
        assert row is not None and row[0] == 1
        assert not holding.done()
    finally:
        held.set()
        await holding


async def test_a_long_lookup_is_read_on_a_thread(
    lite: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A scan sent as a lookup by mistake is stopped on the loop's thread and read on a
    reader's, whole; the operator is told."""
    async with lite.transaction() as tx:
        await tx.executemany(
            "INSERT INTO t (k, v) VALUES (?, ?)", [(f"k{i}", i) for i in range(500)]
        )
    monkeypatch.setattr(lookup, "MAX_STEPS", 2_000)
    with caplog.at_level(logging.WARNING, logger="bot.storage.lookup"):
        rows = await lite.lookup("SELECT k FROM t WHERE v >= 0 ORDER BY v")
    assert len(rows) == 500 and rows[-1][0] == "k499"
    assert "ran too long" in caplog.text
    # the connection is usable again at once, for a short one
    row = await lite.lookup_one("SELECT v FROM t WHERE k = ?", ("k7",))
    assert row is not None and row[0] == 7


async def test_a_mistake_in_a_lookup_stays_a_mistake(lite: Database) -> None:
    """A query SQLite refuses for the query itself is raised as it is (not read elsewhere,
    not taken for the store's unavailability)."""
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await lite.lookup("SELECT * FROM missing WHERE k = ?", ("a",))
