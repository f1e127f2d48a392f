"""What the repositories (jobs, admission, quota, budget, guilds, meta, retention, images) need
from a database, whichever it is: SQLite (:mod:`bot.storage.db`) or PostgreSQL
(:mod:`bot.storage.postgres.db`).

The repositories write portable SQL with ``?`` or ``:name`` placeholders; a backend that
numbers its parameters (PostgreSQL's ``$1``) translates them. A row reads by position and by
column name. Errors meaning "the database cannot be used just now" leave as
:class:`~bot.jobs.ports.StoreUnavailableError`; any other error is a bug and stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

Params = Sequence[Any] | dict[str, Any]
T = TypeVar("T")


class Row(Protocol):
    """One result row: ``row[0]`` and ``row["column"]`` (``sqlite3.Row``, ``asyncpg.Record``)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> Iterable[str]: ...


class Transaction(Protocol):
    """Statements inside one open transaction."""

    def send(self, sql: str, params: Params = ()) -> None:
        """Queue a statement whose result is not needed, to run before any statement after
        it; if it fails, the transaction fails (at the next awaited statement, or at its
        end) and is rolled back. A backend may send it on at once without waiting for it."""

    def send_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Queue a statement run once per row (as :meth:`send`)."""

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

    def transaction(
        self, *, one_statement: bool = False, urgent: bool = False
    ) -> AbstractAsyncContextManager[Transaction]:
        """One transaction: committed when the block ends, rolled back on any error.
        ``one_statement``: the block runs a single statement (a backend may spare it a
        savepoint). ``urgent``: someone waits on it (a backend that queues its transactions
        may put it first)."""

    async def run(
        self, body: Callable[[Transaction], Coroutine[Any, Any, T]], *, urgent: bool = False
    ) -> T:
        """``body(tx)`` as one transaction (committed when it returns, rolled back if it
        raises); its result. The body awaits nothing but its transaction's statements, and
        writes a few rows, so a backend may run it together with others, without a pause
        (SQLite: many in one commit, on the event loop's thread). ``urgent`` as for
        :meth:`transaction`."""

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a read outside any transaction."""

    async def fetchall(self, sql: str, params: Params = ()) -> Sequence[Row]:
        """All rows of a read outside any transaction."""

    async def lookup(self, sql: str, params: Params = ()) -> Sequence[Row]:
        """All rows of a lookup: a read of a few rows through an index, never a scan (a backend
        may run it without a round trip to another thread or server)."""

    async def lookup_one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a :meth:`lookup`."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write in its own transaction; returns the number of rows changed."""

    async def fetch_together(self, *queries: tuple[str, Params]) -> Sequence[Sequence[Row]]:
        """The rows of each query, all read from one state of the database."""

    async def close(self) -> None:
        """Close every connection."""
