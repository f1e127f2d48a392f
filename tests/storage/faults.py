"""Real SQLite failures, made and lifted on a store's writing connection (tests and
benchmarks only; nothing here is a mock).

* :func:`disk_full`: ``PRAGMA max_page_count`` set to the pages the file has now, so every
  write that needs a new page fails with ``SQLITE_FULL`` ("database or disk is full"), as on a
  full disk (a write that fits in the pages already there still succeeds, as it would there);
* :func:`read_only`: ``PRAGMA query_only = ON``, so every write fails with
  ``SQLITE_READONLY`` ("attempt to write a readonly database"), as on a file system remounted
  read-only;
* :func:`restore`: both lifted.

Only the writing connection matters: the store reads through read-only connections anyway.
The pragmas are applied between transactions (under the database's own lock).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from enum import StrEnum

import aiosqlite

from bot.storage.backend import AnyStore
from bot.storage.store import SqliteStore


class StoreFault(StrEnum):
    DISK_FULL = "disk full"
    READ_ONLY = "read-only"


def _writer(store: AnyStore) -> aiosqlite.Connection:
    return _sqlite(store).db._conn


def _sqlite(store: AnyStore) -> SqliteStore:
    assert isinstance(store, SqliteStore), "these faults are SQLite's own"
    return store


async def _pragma(store: AnyStore, sql: str) -> int | None:
    async with _sqlite(store).db._lock:  # between transactions, never inside one
        rows = list(await _writer(store).execute_fetchall(sql))
    return int(rows[0][0]) if rows else None


async def disk_full(store: AnyStore) -> None:
    """Writes needing a new page fail with SQLITE_FULL."""
    pages = await _pragma(store, "PRAGMA page_count")
    await _pragma(store, f"PRAGMA max_page_count = {pages}")


async def read_only(store: AnyStore) -> None:
    """Every write fails with SQLITE_READONLY."""
    await _pragma(store, "PRAGMA query_only = ON")


async def restore(store: AnyStore) -> None:
    """Lift both faults."""
    await _pragma(store, "PRAGMA query_only = OFF")
    await _pragma(store, "PRAGMA max_page_count = 1073741823")  # SQLite's default


async def apply(store: AnyStore, fault: StoreFault) -> None:
    """Make ``fault`` happen now."""
    if fault is StoreFault.DISK_FULL:
        await disk_full(store)
    else:
        await read_only(store)


@contextlib.asynccontextmanager
async def failing(store: AnyStore, fault: StoreFault) -> AsyncIterator[None]:
    """``fault`` for the duration of the block, then lifted."""
    await apply(store, fault)
    try:
        yield
    finally:
        await restore(store)
