"""An SQLite database read as it stood at one moment, to be copied elsewhere
(:mod:`bot.storage.postgres.copy`): one read-only connection holding one read transaction, so
every count and every row comes from the same state, and nothing is written.

The blocking reads run in worker threads; rows come in batches, so a large database never
has to fit in memory.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.storage.blobs import BlobFiles

#: the tables holding image rows, whose ``data_file`` names a file beside the database
IMAGE_TABLES = ("job_references", "job_results")


@dataclass(frozen=True)
class SqliteTable:
    """A table as SQLite describes it: its columns in order, the tables its rows refer to."""

    name: str
    columns: tuple[str, ...]
    parents: frozenset[str]


class SqliteSnapshot:
    """A read-only view of the database at ``path`` and its image files. Use :meth:`open`
    and :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.files = BlobFiles.beside(path)

    @classmethod
    async def open(cls, path: Path) -> SqliteSnapshot:
        """Open ``path`` read-only and begin the read transaction every read shares."""
        return await asyncio.to_thread(cls._open, path)

    @classmethod
    def _open(cls, path: Path) -> SqliteSnapshot:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=10, check_same_thread=False)
        conn.isolation_level = None  # our own BEGIN: one snapshot for every read
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # the snapshot starts
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    async def close(self) -> None:
        """End the read transaction and close the connection."""
        await asyncio.to_thread(self._conn.close)

    async def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(lambda: list(self._conn.execute(sql, params)))

    async def tables(self) -> list[SqliteTable]:
        """Every table of the schema (SQLite's own excepted), in name order."""
        names = await self._all(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
        )
        found = []
        for (name,) in names:
            columns = await self._all(f"PRAGMA table_info({_quoted(name)})")
            keys = await self._all(f"PRAGMA foreign_key_list({_quoted(name)})")
            found.append(
                SqliteTable(
                    name=str(name),
                    columns=tuple(str(column[1]) for column in columns),
                    parents=frozenset(str(key[2]) for key in keys) - {str(name)},
                )
            )
        return found

    async def count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        (row,) = await self._all(f"SELECT COUNT(*) FROM {_quoted(table)}")
        return int(row[0])

    async def rows(
        self, table: str, columns: tuple[str, ...], batch: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The values of ``columns`` of every row of ``table``, ``batch`` rows at a time."""
        listed = ", ".join(_quoted(column) for column in columns)
        cursor = await asyncio.to_thread(
            self._conn.execute, f"SELECT {listed} FROM {_quoted(table)} ORDER BY rowid"
        )
        try:
            while True:
                found = await asyncio.to_thread(cursor.fetchmany, batch)
                if not found:
                    return
                yield found
        finally:
            cursor.close()

    async def inline_bytes(self, tables: set[str]) -> int:
        """The bytes older rows still keep in the ``data`` column of the image tables."""
        total = 0
        for table in IMAGE_TABLES:
            if table in tables:
                (row,) = await self._all(f"SELECT COALESCE(SUM(LENGTH(data)), 0) FROM {table}")
                total += int(row[0])
        return total

    async def file_names(self, tables: set[str]) -> list[str]:
        """The names of every image file a row names, each once, in order."""
        selects = [
            f"SELECT data_file FROM {table} WHERE data_file IS NOT NULL"
            for table in IMAGE_TABLES
            if table in tables
        ]
        if not selects:
            return []
        rows = await self._all(f"SELECT DISTINCT data_file FROM ({' UNION '.join(selects)})")
        return sorted(str(row[0]) for row in rows)

    def read_file(self, name: str) -> tuple[bytes, float] | None:
        """The bytes of image file ``name`` and when it was written (None: it is gone);
        blocking."""
        path = self.files.path(name)
        try:
            with open(path, "rb") as handle:
                return handle.read(), path.stat().st_mtime
        except FileNotFoundError:
            return None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
