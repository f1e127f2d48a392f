"""Transactions given as bodies, run together: a few turns of the event loop for many.

A body is a coroutine function of a transaction that awaits nothing but that transaction's
statements (``Database.run``). Bodies waiting to run are taken together (up to
:data:`MAX_TOGETHER`, urgent ones first) in one turn on the writing connection:
``BEGIN IMMEDIATE`` (on the event loop's thread when the write lock is free, as it is
unless another process writes; else on the connection's thread, which may wait for it), then
each body in its own savepoint (a body that fails is rolled back to it, alone, and its caller
gets its error), run to its end on the event loop's thread without a pause (its statements
are microseconds each), then one ``COMMIT`` on the connection's thread (it syncs the disk).
So however busy the event loop is, a batch waits for it twice (its turn, ``COMMIT``), not
once or more for each statement of each transaction, and no statement waits for the
interpreter's lock on another thread; and each
caller still returns only once the ``COMMIT`` carrying its change is on disk (a failed
``COMMIT`` fails every body it carried).

Once taken, a body runs to its end even if its caller is cancelled (as if the cancellation
came just after the commit); one still waiting is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.storage.batch import Writer
from bot.storage.codes import sqlite_code
from bot.storage.pipeline import SAVEPOINT
from bot.storage.sql import Params, T

Body = Callable[[Any], Coroutine[Any, Any, Any]]

#: the most bodies one commit carries (they run on the event loop: a few milliseconds)
MAX_TOGETHER = 32
#: batches run back to back in one turn on the connection, at most
TURN_BATCHES = 4
#: how long a statement on a connection's own thread waits for another connection's lock
BUSY_TIMEOUT_MS = 10_000


@dataclass
class _Waiting:
    body: Body
    done: asyncio.Future[Any]
    urgent: bool


class Together:
    """Runs the bodies given to :meth:`run` in batches on the writing connection."""

    def __init__(self, writer: Writer, conn: aiosqlite.Connection) -> None:
        self._writer = writer
        self._conn = conn
        self._waiting: list[_Waiting] = []
        self._urgent = 0  # the first this many waiting are urgent
        self._runner: asyncio.Task[None] | None = None

    async def run(self, body: Callable[[Any], Coroutine[Any, Any, T]], *, urgent: bool) -> T:
        """``body`` run as one transaction, together with the others waiting; its result."""
        item = _Waiting(body, asyncio.get_running_loop().create_future(), urgent)
        if urgent:
            self._waiting.insert(self._urgent, item)
            self._urgent += 1
        else:
            self._waiting.append(item)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run_waiting(), name="bananabot-together")
        try:
            result: T = await asyncio.shield(item.done)
        except asyncio.CancelledError:
            if item in self._waiting:  # not taken yet: it never runs
                self._drop(item)
            raise
        return result

    def _drop(self, item: _Waiting) -> None:
        index = self._waiting.index(item)
        del self._waiting[index]
        self._urgent -= index < self._urgent

    async def close(self) -> None:
        """Stop: bodies still waiting fail (the database is closing)."""
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for item in self._waiting:
            if not item.done.done():
                item.done.set_exception(sqlite3.ProgrammingError("the database is closed"))
                item.done.exception()
        self._waiting.clear()
        self._urgent = 0

    async def _run_waiting(self) -> None:
        while self._waiting:
            async with self._writer.exclusive(urgent=self._urgent > 0):
                await self._run_turn()

    def _take(self) -> list[_Waiting]:
        taken = self._waiting[:MAX_TOGETHER]
        del self._waiting[:MAX_TOGETHER]
        self._urgent = max(0, self._urgent - len(taken))
        return taken

    async def _run_turn(self) -> None:
        """Batches back to back while bodies wait (at most :data:`TURN_BATCHES`, then the
        other transactions get the connection). ``BEGIN`` and ``COMMIT`` run on the
        connection's thread (they may wait for another process's lock; ``COMMIT`` syncs the
        disk), a batch's ``COMMIT`` and the next one's ``BEGIN`` in one call; the bodies run
        here, on the event loop's thread, which holds the interpreter's lock: each of their
        statements takes microseconds, while on the connection's thread each would wait for
        that lock as long as the busy loop keeps it (milliseconds a statement)."""
        conn = self._conn
        execute: Any = conn._execute  # see bot/storage/pipeline.py
        began = False
        for turn in range(TURN_BATCHES):
            taken = self._take()
            if not taken:
                break
            try:
                raw: sqlite3.Connection = conn._conn
                if not began and not begin_at_once(raw):
                    await asyncio.shield(conn.execute("BEGIN IMMEDIATE"))  # it may wait there
                began = True
                outcomes = run_bodies(raw, [item.body for item in taken])
                more = bool(self._waiting) and turn + 1 < TURN_BATCHES
                # shielded: the batch's outcome is known once its COMMIT has run
                began = await asyncio.shield(execute(functools.partial(_commit, raw, more)))
            except Exception as exc:  # nothing of the batch was written
                outcomes = [(False, exc)] * len(taken)
                began = False
                await asyncio.shield(self._roll_back())
            except asyncio.CancelledError:  # closing: the taken bodies' outcome is lost
                _fail(taken, sqlite3.ProgrammingError("the database closed during the write"))
                await asyncio.shield(self._roll_back())
                raise
            _settle(taken, outcomes)
        if began:  # (bodies were dropped meanwhile) an empty transaction: end it
            await asyncio.shield(conn.execute("COMMIT"))

    async def _roll_back(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error, ValueError):
                await self._conn.execute("ROLLBACK")


def begin_at_once(raw: sqlite3.Connection) -> bool:
    """``BEGIN IMMEDIATE`` here and now when no other connection holds the write lock (the
    usual case: this process is the database's one writer); False, having waited for
    nothing, when one does: the caller begins on the connection's thread, where waiting for
    the lock stops nothing else."""
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if not sqlite_code(exc).startswith("SQLITE_BUSY"):
            raise
        return False
    finally:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return True


def _commit(raw: sqlite3.Connection, begin: bool) -> bool:
    """On the connection's thread: ``COMMIT`` (raising if it fails: nothing was written),
    then, with ``begin``, the next batch's ``BEGIN IMMEDIATE``; whether that one began."""
    raw.execute("COMMIT")
    if not begin:
        return False
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.Error:
        return False  # the next batch tries again, and fails with the reason
    return True


def _settle(taken: list[_Waiting], outcomes: list[tuple[bool, Any]]) -> None:
    for item, (ok, value) in zip(taken, outcomes, strict=True):
        if item.done.done():
            continue
        if ok:
            item.done.set_result(value)
        else:
            item.done.set_exception(value)
            item.done.exception()  # retrieved: a caller that left is no error


def _fail(taken: list[_Waiting], error: BaseException) -> None:
    _settle(taken, [(False, error)] * len(taken))


def run_bodies(raw: sqlite3.Connection, bodies: list[Body]) -> list[tuple[bool, Any]]:
    """Inside the open transaction: every body in its own savepoint; each body's outcome,
    ``(True, result)`` or ``(False, error)``. Raises when the transaction itself is lost."""
    outcomes: list[tuple[bool, Any]] = []
    for body in bodies:
        raw.execute(f"SAVEPOINT {SAVEPOINT}")
        try:
            result = drive(body(Immediate(raw)))
        except Exception as exc:  # this body's error: undo it alone
            if not raw.in_transaction:  # SQLite gave up the whole transaction
                raise
            raw.execute(f"ROLLBACK TO {SAVEPOINT}")
            raw.execute(f"RELEASE {SAVEPOINT}")
            outcomes.append((False, exc))
            continue
        raw.execute(f"RELEASE {SAVEPOINT}")
        outcomes.append((True, result))
    return outcomes


class Immediate:
    """A :class:`~bot.storage.sql.Transaction` for a body run whole at once
    (:func:`run_bodies`): each statement runs when called, in the caller's thread,
    so awaiting it never suspends."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def send(self, sql: str, params: Params = ()) -> None:
        """Run a statement whose result is not needed."""
        self._raw.execute(sql, params)

    def send_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per row."""
        self._raw.executemany(sql, list(rows))

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows changed."""
        return self._raw.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run a statement once per row."""
        self._raw.executemany(sql, list(rows))

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of a query."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Every row of a query."""
        rows: list[sqlite3.Row] = self._raw.execute(sql, params).fetchall()
        return rows

    async def lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` keeps every other writer out."""


def drive(body: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here and now.

    Its statements run at once (:class:`Immediate`); awaiting anything else would suspend it
    in the middle of a batch's transaction, the other bodies waiting: a bug, refused (the
    coroutine is closed, its savepoint rolled back by the caller)."""
    try:
        body.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    body.close()
    raise RuntimeError("a transaction body awaited something other than its statements")
