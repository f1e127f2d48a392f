"""What the repositories (jobs, admission, quota, budget, guilds, meta, retention, images) need
from a database, whichever it is: SQLite (:mod:`bot.storage.db`) or PostgreSQL
(:mod:`bot.storage.postgres.db`).

The repositories write portable SQL with ``?`` or ``:name`` placeholders; a backend that
numbers its parameters (PostgreSQL's ``$1``) translates them. A row reads by position and by
column name. Errors meaning "the database cannot be used just now" leave as
:class:`~bot.jobs.ports.StoreUnavailableError`; any other error is a bug and stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Params = Sequence[Any] | dict[str, Any]


class Row(Protocol):
    """One result row: ``row[0]`` and ``row["column"]`` (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> Iterable[str]: ...


class Transaction(Protocol):
    """Statements inside one open transaction."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows changed."""

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per row."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query (``RETURNING`` included)."""

    async def fetchall(self, sql: str, params: Params = ()) -> Sequence[Row]:
        """Every row of a query."""

    async def lock(self, key: str) -> None:
        """Hold a lock named ``key`` until the transaction ends, for a read-then-write that
        must not interleave with another process's (a no-op where every write transaction
        already excludes the others, as SQLite's ``BEGIN IMMEDIATE`` does)."""


class Database(Protocol):
    """An open database."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One transaction: committed when the block ends, rolled back on any error."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a read outside any transaction."""

    async def fetchall(self, sql: str, params: Params = ()) -> Sequence[Row]:
        """All rows of a read outside any transaction."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write in its own transaction; returns the number of rows changed."""

    async def fetch_together(self, *queries: tuple[str, Params]) -> Sequence[Sequence[Row]]:
        """The rows of each query, all read from one state of the database."""

    async def close(self) -> None:
        """Close every connection."""
