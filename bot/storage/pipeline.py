"""Statements sent to SQLite's connection thread without waiting for them (pipelining).

Each statement awaited on an ``aiosqlite`` connection is a round trip: queued for the
connection's thread, run there, and its result handed back to the event loop, which runs it
only once it gets to it. Under load the loop is busy, so each round trip waits its turn, and a
transaction of several statements waits several turns while the one writing connection is
held. A statement whose result nobody needs is better *sent*: queued for the thread in order
behind the ones before it, with nothing handed back. A transaction then waits only for the
results it reads.

The thread runs the queue in order, so a statement sent before an awaited one runs before
it. A transaction of the group commit (:mod:`bot.storage.batch`) runs in its own savepoint:
when a statement it sent fails, the thread rolls the transaction back to that savepoint at
once and skips the rest of what it sent; a statement it awaits after that raises the error
instead of running, and the transaction's caller gets the error once the batch is committed
without it. Nothing waits at the end of a transaction for what it sent: the ``COMMIT`` that
carries it runs after all of it.

``aiosqlite`` offers no public way to queue work without awaiting it, or to run a function on
the connection's thread: this module and :mod:`bot.storage.together` are the places that use
its connection's queue, its ``_execute`` and its ``sqlite3`` connection (``_tx``,
``_execute``, ``_conn``); ``tests/storage/test_pipeline.py`` fails if a new ``aiosqlite``
changes them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

import aiosqlite

from bot.storage.sql import Params, T

#: the savepoint each member of a batch runs in
SAVEPOINT = "member"


class Pipeline:
    """One transaction's statements on a connection's thread: those it sends, those it
    awaits, and the first failure of one it sent."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        *,
        savepoint: bool,
        lost: Callable[[BaseException], None] = lambda error: None,
    ) -> None:
        """``lost`` is told (on the connection's thread) when a statement sent fails and
        takes the outer transaction with it: the batch is lost."""
        self._conn = conn
        self._savepoint = savepoint
        self._lost = lost
        self._errors: list[BaseException] = []
        #: the transaction's own statements were undone on the thread (a sent one failed)
        self._undone = False
        if savepoint:
            self.send(f"SAVEPOINT {SAVEPOINT}")

    # ------------------------------------------------------------------ on the loop

    def send(self, sql: str, params: Params = ()) -> None:
        """Queue a statement; its result is not wanted, its failure fails the transaction."""
        self._send(lambda raw: raw.execute(sql, params))

    def send_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Queue a statement run once per row."""
        listed = list(rows)
        if listed:
            self._send(lambda raw: raw.executemany(sql, listed))

    async def run(self, statement: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``statement`` on the connection's thread and return what it returns (raising
        what it raises, or the failure of a statement sent before it)."""
        errors = self._errors

        def guarded(raw: sqlite3.Connection) -> T:
            if errors:
                raise errors[0]
            return statement(raw)

        return await self.run_unguarded(guarded)

    def raise_failure(self) -> None:
        """Raise the first failure of a statement sent, if one has failed by now."""
        if self._errors:
            raise self._errors[0]

    async def undo(self) -> bool:
        """Roll the transaction back to its savepoint, after everything it sent (unless that
        is done already); False when the outer transaction is gone with it."""
        return await self.run_unguarded(self._undo_here)

    async def run_unguarded(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``function`` on the connection's thread, even after a failure."""
        raw = self._raw()
        execute: Any = self._conn._execute  # see the module docstring
        result: T = await execute(lambda: function(raw))
        return result

    def _raw(self) -> sqlite3.Connection:
        raw: sqlite3.Connection = self._conn._conn  # see the module docstring
        return raw

    def _send(self, statement: Callable[[sqlite3.Connection], object]) -> None:
        if not self._savepoint:
            raise ValueError("a transaction of one statement awaits it")
        raw = self._raw()

        def run() -> None:
            if self._errors:  # one before it failed: the transaction is undone already
                return
            try:
                statement(raw)
            except BaseException as exc:  # handed to the transaction's caller
                self._errors.append(exc)
                if not self._undo_here(raw):
                    self._lost(exc)

        queue: Any = self._conn._tx  # see the module docstring
        queue.put_nowait((None, run))

    # ------------------------------------------------------------------ on the thread

    def _undo_here(self, raw: sqlite3.Connection) -> bool:
        """Roll back to the savepoint (once); if that cannot be done, roll back the whole
        batch, so that its ``COMMIT`` fails rather than carry half a transaction. False when
        the outer transaction is gone."""
        if self._undone:
            return raw.in_transaction
        self._undone = True
        try:
            if raw.in_transaction:
                raw.execute(f"ROLLBACK TO {SAVEPOINT}")
                raw.execute(f"RELEASE {SAVEPOINT}")
                return True
        except sqlite3.Error:
            if raw.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    raw.execute("ROLLBACK")
        return False
