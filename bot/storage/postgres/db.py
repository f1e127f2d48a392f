"""The PostgreSQL :class:`~bot.storage.sql.Database`: an asyncpg connection pool.

Transactions run at READ COMMITTED, PostgreSQL's default, and stay exact under concurrency
from many processes by row-level means rather than SERIALIZABLE with retries:

* compare-and-set transitions and the ledger's reservations are conditional ``UPDATE``\\ s: a
  second writer of the same row waits for the first to commit, then checks its ``WHERE``
  again on the row as written, so exactly one of two racing transitions wins and a limit is
  never passed;
* the one read-then-write that needs more (a user's active jobs counted, then a job inserted;
  a server's settings read, changed and written) first takes a transaction-scoped advisory
  lock on the user or server (:meth:`PgTransaction.lock`), so those take turns.

No statement therefore depends on a snapshot older than itself, and no retry loop is needed.
A serialisation failure or deadlock (SQLSTATE 40001, 40P01; not expected with the above) is
reported as :class:`~bot.jobs.ports.StoreUnavailableError`, so the engine tries again later.

Errors meaning the server cannot be used just now (connection refused or lost, too many
connections, shutting down, disk full, out of memory: :data:`UNAVAILABLE`) leave as
:class:`~bot.jobs.ports.StoreUnavailableError`, as SQLite's do (:mod:`bot.storage.db`); any
other error (bad SQL, a constraint) is a bug and stays as it is.

:meth:`PgDatabase.dedicated` hands out a connection of its own, outside the pool, for work
that holds one for long (``LISTEN``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.jobs.ports import StoreUnavailableError
from bot.storage.postgres.placeholders import bind
from bot.storage.sql import Params, T, Transaction

#: SQLSTATE classes and codes meaning the server cannot be used just now: connection
#: exceptions, insufficient resources, operator intervention, system errors, and the two
#: "try again" conditions of concurrent transactions
UNAVAILABLE = ("08", "53", "57P", "58", "40001", "40P01")

Connection = asyncpg.Connection | PoolConnectionProxy


def shown(url: str) -> str:
    """``url`` with any password replaced by ``***``, fit for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be used just now (not a bug)."""
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "").startswith(UNAVAILABLE)
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc).lower()  # a connection lost while in use, a pool shutting down
        return "closed" in text or "closing" in text
    return isinstance(exc, OSError | TimeoutError)


@contextmanager
def unavailable_as_store_error() -> Iterator[None]:
    """Turn "cannot be used just now" errors into :class:`StoreUnavailableError`."""
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        if is_unavailable(exc):
            code = str(getattr(exc, "sqlstate", None) or type(exc).__name__)
            raise StoreUnavailableError(f"the database is unavailable: {exc}", code) from exc
        raise


def _changed(status: str) -> int:
    """Rows changed, from a command status such as ``UPDATE 3`` or ``INSERT 0 1``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgTransaction:
    """Statements inside one open transaction on one connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._queued: list[tuple[str, Iterable[Params]]] = []

    def send(self, sql: str, params: Params = ()) -> None:
        """Queue a statement: it runs before the next awaited one, or at the end."""
        self._queued.append((sql, [params]))

    def send_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Queue a statement run once per row (as :meth:`send`)."""
        self._queued.append((sql, list(rows)))

    async def flush(self) -> None:
        """Run the queued statements, in order."""
        while self._queued:
            sql, rows = self._queued.pop(0)
            await self._run_many(sql, rows)

    async def _run_many(self, sql: str, rows: Iterable[Params]) -> None:
        bound = [bind(sql, row) for row in rows]
        if len(bound) == 1:
            await self._conn.execute(bound[0][0], *bound[0][1])
        elif bound:
            await self._conn.executemany(bound[0][0], [args for _, args in bound])

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; returns the number of rows changed."""
        await self.flush()
        text, args = bind(sql, params)
        return _changed(await self._conn.execute(text, *args))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per row."""
        await self.flush()
        await self._run_many(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        """The first row of a query (``RETURNING`` included)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """Every row of a query."""
        await self.flush()
        text, args = bind(sql, params)
        return list(await self._conn.fetch(text, *args))

    async def lock(self, key: str) -> None:
        """A transaction-scoped advisory lock on ``key`` (by its 64-bit hash)."""
        await self.flush()
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)

    async def script(self, sql: str) -> None:
        """Run several statements as written (no placeholders: migrations)."""
        await self.flush()
        await self._conn.execute(sql)


class PgDatabase:
    """An open PostgreSQL database. Use :meth:`open`; close with :meth:`close`."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url

    @classmethod
    async def open(cls, url: str, *, min_size: int = 1, max_size: int = 10) -> PgDatabase:
        """Connect a pool to ``url``; :class:`StoreUnavailableError` when the server cannot
        be reached, asyncpg's own error when it refuses us (authentication, no database)."""
        with unavailable_as_store_error():
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, timeout=10, command_timeout=60
            )
        return cls(pool, url)

    @property
    def url(self) -> str:
        """The URL connected to, without its password."""
        return shown(self._url)

    async def close(self) -> None:
        """Close every connection (waiting at most a few seconds for those in use)."""
        try:
            await asyncio.wait_for(self._pool.close(), 5)
        except TimeoutError:
            self._pool.terminate()

    @asynccontextmanager
    async def transaction(
        self, *, one_statement: bool = False, urgent: bool = False
    ) -> AsyncIterator[PgTransaction]:
        """``BEGIN`` … ``COMMIT`` on a pooled connection (``ROLLBACK`` on any error);
        ``one_statement`` and ``urgent`` change nothing here."""
        with unavailable_as_store_error():
            async with self._pool.acquire() as conn, conn.transaction():
                tx = PgTransaction(conn)
                yield tx
                await tx.flush()

    async def run(
        self, body: Callable[[Transaction], Coroutine[Any, Any, T]], *, urgent: bool = False
    ) -> T:
        """``body(tx)`` in a transaction of its own; its result."""
        async with self.transaction(urgent=urgent) as tx:
            return await body(tx)

    async def fetch_together(self, *queries: tuple[str, Params]) -> list[list[asyncpg.Record]]:
        """The rows of each query, from one snapshot (a read-only REPEATABLE READ
        transaction)."""
        with unavailable_as_store_error():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                found = []
                for sql, params in queries:
                    text, args = bind(sql, params)
                    found.append(list(await conn.fetch(text, *args)))
                return found

    async def fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        """The first row of a read outside any transaction."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """All rows of a read outside any transaction."""
        text, args = bind(sql, params)
        with unavailable_as_store_error():
            return list(await self._pool.fetch(text, *args))

    async def lookup(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """A lookup of a few rows: one round trip to the server, as any read."""
        return await self.fetchall(sql, params)

    async def lookup_one(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        """The first row of a :meth:`lookup`."""
        return await self.fetchone(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        """One write in its own transaction; returns the number of rows changed."""
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    @asynccontextmanager
    async def dedicated(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of its own, outside the pool (``LISTEN`` holds one), closed after."""
        with unavailable_as_store_error():
            conn = await asyncpg.connect(self._url, timeout=10)
        try:
            yield conn
        finally:
            await conn.close()
