"""The one owner of the SQLite connections: one that writes, two that read on their threads
and one that looks a few rows up on the event loop's (the SQLite
:class:`~bot.storage.sql.Database`).

WAL journal, foreign keys, a busy timeout, ``synchronous = FULL`` (every commit is on disk
before the next side effect), and explicit ``BEGIN IMMEDIATE`` transactions: a writer takes
the write lock at the start, so two processes (or a crashed one's successor) never interleave a
read-then-write. Inside this process transactions take turns on the writing connection, and
those that queue together share one commit (:mod:`bot.storage.batch`).

Reads outside a transaction never touch that lock: in WAL mode a reader sees the last commit
and never waits for a writer, so a read (``/quota``, a listing) never queues behind a write.
Single-statement reads go to one read-only connection, each in one round trip to its thread
(so they need no lock of their own); reads that must see one state together
(:meth:`Database.fetch_together`) take turns on a second one. Lookups of a few rows by key
(:meth:`Database.lookup`: a job by its id, a user's credits) skip the round trip to a thread
(:mod:`bot.storage.lookup`). (An in-memory database has only the one connection; its reads
share the writer's lock.)

SQLite's errors that mean the database cannot be used just now (disk full, read-only, I/O
error, locked too long, …: :data:`UNAVAILABLE`) leave as
:class:`~bot.jobs.ports.StoreUnavailableError`, so the engine slows down and tries again
without knowing SQLite; any other error (a bad query, a constraint) is a bug and stays as it is.
A failed transaction, its ``COMMIT`` included, is always rolled back.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

import aiosqlite

from bot.jobs.ports import StoreUnavailableError
from bot.storage.batch import Writer
from bot.storage.codes import sqlite_code
from bot.storage.lookup import Lookups
from bot.storage.pipeline import Pipeline
from bot.storage.sql import Params, T
from bot.storage.sql import Transaction as SqlTransaction
from bot.storage.together import BUSY_TIMEOUT_MS, Together

#: SQLite result codes (and their extended forms) meaning the database cannot be used just
#: now, as opposed to a mistake in a query
UNAVAILABLE = (
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_IOERR",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_PERM",
    "SQLITE_NOMEM",
    "SQLITE_PROTOCOL",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
)


@contextmanager
def unavailable_as_store_error() -> Iterator[None]:
    """Turn SQLite's "cannot be used just now" errors into :class:`StoreUnavailableError`."""
    try:
        yield
    except sqlite3.Error as exc:
        code = sqlite_code(exc)
        if code.startswith(UNAVAILABLE):
            raise StoreUnavailableError(f"the database is unavailable: {exc}", code) from exc
        raise


class OpenProblem(StrEnum):
    """Why a database file could not be opened, in the words an operator acts on."""

    NOT_A_DATABASE = "is not an SQLite database"
    DIRECTORY = "is a directory, not a database file"
    NOT_WRITABLE = "cannot be created or written"
    LOCKED = "is locked by another process"
    OTHER = "cannot be opened"


class DatabaseOpenError(Exception):
    """The database at ``path`` cannot be opened, created or migrated (``problem`` says why,
    ``reason`` is SQLite's or the system's own words). Every connection is closed by then."""

    def __init__(self, path: Path, problem: OpenProblem, reason: str) -> None:
        super().__init__(f"{path} {problem.value} ({reason})")
        self.path = path
        self.problem = problem
        self.reason = reason

    @classmethod
    def of(
        cls, path: Path, exc: sqlite3.Error | OSError | StoreUnavailableError
    ) -> DatabaseOpenError:
        """Classify what went wrong opening ``path``."""
        if isinstance(exc, StoreUnavailableError):  # SQLite's own error is the one to classify
            cause = exc.__cause__
            exc = cause if isinstance(cause, sqlite3.Error | OSError) else OSError(str(exc))
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        code = sqlite_code(exc)
        if path.is_dir():
            problem = OpenProblem.DIRECTORY
        elif code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            problem = OpenProblem.NOT_A_DATABASE
        elif code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            problem = OpenProblem.LOCKED
        elif (
            code.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM"))
            or isinstance(exc, OSError)
            or not _writable(path)
        ):
            problem = OpenProblem.NOT_WRITABLE
        else:
            problem = OpenProblem.OTHER
        return cls(path, problem, reason)


def _writable(path: Path) -> bool:
    target = path if path.exists() else path.parent
    return os.access(target if str(target) else ".", os.W_OK)


class Database:
    """An open SQLite database. Use :meth:`open`; close with :meth:`close`."""

    def __init__(
        self,
        connection: aiosqlite.Connection,
        path: Path,
        readers: tuple[aiosqlite.Connection, aiosqlite.Connection] | None = None,
        lookups: Lookups | None = None,
    ) -> None:
        self._conn = connection
        self.path = path
        self._writer = Writer(connection)
        self._together = Together(self._writer, connection)
        self._shared = readers is None  # in memory: reads share the writer and take turns on it
        self._reader, self._snapshots = readers or (connection, connection)
        self._snapshot_lock = asyncio.Lock()
        self._lookups = lookups

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        """Open (creating if needed) the database at ``path`` with our pragmas.

        :class:`DatabaseOpenError` (every connection closed) when it cannot be opened.
        """
        path = Path(path)
        try:
            return await cls._open(path)
        except (sqlite3.Error, OSError) as exc:
            raise DatabaseOpenError.of(path, exc) from exc

    @classmethod
    async def _open(cls, path: Path) -> Database:
        memory = str(path) == ":memory:"
        if not memory:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = await _connect(path)
        readers: list[aiosqlite.Connection] = []
        lookups: Lookups | None = None
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            for _ in range(0 if memory else 2):  # opened once WAL is on: they never block it
                readers.append(await _connect(path))
                await readers[-1].execute("PRAGMA query_only = ON")
            lookups = None if memory else await Lookups.open(path)
        except BaseException:
            for opened in (*readers, conn):
                await opened.close()
            raise
        return cls(conn, path, (readers[0], readers[1]) if readers else None, lookups)

    async def close(self) -> None:
        """Close every connection."""
        await self._together.close()
        if self._lookups is not None:
            self._lookups.close()
        if not self._shared:
            await self._reader.close()
            await self._snapshots.close()
        await self._conn.close()

    @asynccontextmanager
    async def transaction(
        self, *, one_statement: bool = False, urgent: bool = False
    ) -> AsyncIterator[Transaction]:
        """A transaction, committed (on disk) when the block ends; rolled back on any error
        in it. Transactions that queue together share one ``BEGIN IMMEDIATE`` … ``COMMIT``
        (:mod:`bot.storage.batch`), each in its own savepoint: a failing statement fails only
        its own transaction, a failed ``COMMIT`` (a full disk may refuse it) every one it
        carried. ``one_statement``: the block runs a single statement (it needs no savepoint:
        SQLite undoes a failed statement itself). ``urgent``: someone waits on it, so it
        goes before the transactions waiting that are not."""
        with unavailable_as_store_error():
            async with self._writer.transaction(
                one_statement=one_statement, urgent=urgent
            ) as pipeline:
                yield Transaction(pipeline)

    async def run(
        self, body: Callable[[SqlTransaction], Coroutine[Any, Any, T]], *, urgent: bool = False
    ) -> T:
        """``body(tx)`` as one transaction, run together with the other bodies waiting
        (:mod:`bot.storage.together`: between ``BEGIN`` and ``COMMIT`` on the connection's
        thread, the bodies on the event loop's, so a body writes a few rows, not thousands);
        its result, once committed. ``urgent``: before the transactions waiting that are
        not."""
        with unavailable_as_store_error():
            return await self._together.run(body, urgent=urgent)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[aiosqlite.Connection]:
        """The writing connection, between transactions (pragmas, maintenance)."""
        async with self._writer.exclusive():
            yield self._conn

    async def fetch_together(self, *queries: tuple[str, Params]) -> list[Sequence[aiosqlite.Row]]:
        """The rows of each query, all read from one state of the database.

        Runs to the end even if the caller is cancelled, so the connection is never left
        inside its read transaction.
        """
        with unavailable_as_store_error():
            return await asyncio.shield(self._fetch_together(queries))

    async def _fetch_together(
        self, queries: Sequence[tuple[str, Params]]
    ) -> list[Sequence[aiosqlite.Row]]:
        async with self._snapshot_turn():
            await self._snapshots.execute("BEGIN")
            try:
                return [
                    list(await self._snapshots.execute_fetchall(sql, params))
                    for sql, params in queries
                ]
            finally:
                await self._snapshots.execute("COMMIT")

    @asynccontextmanager
    async def _snapshot_turn(self) -> AsyncIterator[None]:
        if self._shared:  # in memory: the one connection, between transactions
            async with self._writer.exclusive():
                yield
        else:
            async with self._snapshot_lock:
                yield

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """The first row of a read outside any transaction (never waits for a writer)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """All rows of a read outside any transaction (never waits for a writer)."""
        with unavailable_as_store_error():
            if not self._shared:  # one call on the reader's thread: nothing interleaves with it
                return list(await self._reader.execute_fetchall(sql, params))
            async with self._writer.exclusive():
                return list(await self._reader.execute_fetchall(sql, params))

    async def lookup(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """All rows of a lookup: a read of a few rows through an index (a job by its id),
        never a scan or a listing. On the event loop's thread (:mod:`bot.storage.lookup`),
        else, when SQLite is busy just now, as :meth:`fetchall`."""
        if self._lookups is not None:
            with unavailable_as_store_error():
                rows = self._lookups.rows(sql, params)
            if rows is not None:
                return rows
        return await self.fetchall(sql, params)

    async def lookup_one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """The first row of a :meth:`lookup`."""
        rows = await self.lookup(sql, params)
        return rows[0] if rows else None

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write in its own transaction (run together with the others waiting, on the
        event loop's thread, see :meth:`run`: a write of a few rows; one that may change many
        goes in a :meth:`transaction` block); returns the number of rows changed."""
        return await self.run(lambda tx: tx.execute(sql, params))

    async def vacuum(self) -> None:
        """Rebuild the file without its free pages (holds the write lock meanwhile)."""
        async with self._writer.exclusive():
            await self._conn.execute_fetchall("VACUUM")

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the file and truncate it (what readers still need
        stays)."""
        async with self._writer.exclusive():
            await self._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def executescript(self, script: str) -> None:
        """Run a whole SQL script (migrations); the script manages its own transaction."""
        async with self._writer.exclusive():
            try:
                await self._conn.executescript(script)
            except BaseException:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise


async def _connect(path: Path) -> aiosqlite.Connection:
    # usable from the event loop's thread too, between its own thread's calls: the bodies
    # of bot.storage.together run there (the writer's turns keep them from overlapping)
    pending = aiosqlite.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn = await pending
    except BaseException:
        # aiosqlite stops the connection's thread, without waiting for it: wait here, so it
        # never reports to an event loop that has closed meanwhile (a traceback at exit)
        thread = getattr(pending, "_thread", None)
        if isinstance(thread, threading.Thread) and thread.is_alive():
            await asyncio.shield(asyncio.to_thread(thread.join, 5.0))
        raise
    try:
        conn.row_factory = aiosqlite.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except BaseException:
        await conn.close()  # its thread would keep the process alive
        raise
    return conn


class Transaction:
    """Statements inside one open transaction: awaited (a result is read), or sent (queued
    behind the others without waiting: :mod:`bot.storage.pipeline`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def send(self, sql: str, params: Params = ()) -> None:
        """Queue a statement whose result is not needed; if it fails, the transaction does
        (it is undone, and its caller gets the error)."""
        self._pipeline.send(sql, params)

    def send_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Queue a statement run once per row (as :meth:`send`)."""
        self._pipeline.send_many(sql, rows)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows changed (one round trip to the
        connection's thread)."""
        if "RETURNING" in sql.upper():
            raise ValueError("a statement with RETURNING goes to fetchone or fetchall")
        return await self._pipeline.run(lambda raw: raw.execute(sql, params).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per row."""
        listed = list(rows)
        await self._pipeline.run(lambda raw: raw.executemany(sql, listed))

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        """The first row of a query (``RETURNING`` included)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        """Every row of a query (in one round trip to the connection's thread)."""
        rows: list[aiosqlite.Row] = await self._pipeline.run(
            lambda raw: raw.execute(sql, params).fetchall()
        )
        return rows

    async def lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already keeps every other writer out."""
