"""The one owner of the SQLite connection.

WAL journal, foreign keys, a busy timeout, and explicit ``BEGIN IMMEDIATE`` transactions: a
writer takes the write lock at the start, so two processes (or a crashed one's successor) never
interleave a read-then-write. Inside this process an asyncio lock serialises transactions on the
single connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

Params = Sequence[Any] | dict[str, Any]


class Database:
    """An open SQLite database. Use :meth:`open`; close with :meth:`close`."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._conn = connection
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating if needed) the database at ``path`` with our pragmas."""
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA busy_timeout = 10000")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        return cls(conn, path)

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error)."""
        async with self._lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield Transaction(self._conn)
            except BaseException:
                # also when cancelled during BEGIN: never leave the connection mid-transaction
                if self._conn.in_transaction:
                    await asyncio.shield(self._conn.execute("ROLLBACK"))
                raise
            await self._conn.execute("COMMIT")

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """One row of a read outside any transaction."""
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """All rows of a read outside any transaction."""
        async with self._lock, self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write in its own transaction; returns the number of rows changed."""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def executescript(self, script: str) -> None:
        """Run a whole SQL script (migrations); the script manages its own transaction."""
        async with self._lock:
            try:
                await self._conn.executescript(script)
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise


class Transaction:
    """Statements inside one open transaction."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows changed."""
        async with self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per row."""
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """The first row of a query (``RETURNING`` included)."""
        async with self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """Every row of a query."""
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())
