"""Transactions given as bodies, run together: one round trip to SQLite's thread for many.

A body is a coroutine function of a transaction that awaits nothing but that transaction's
statements (``Database.run``). Bodies waiting to run are taken together (up to
:data:`MAX_TOGETHER`, urgent ones first) in one turn on the writing connection, and on its
thread, in one call: ``BEGIN IMMEDIATE``, each body in its own savepoint (a body that fails
is rolled back to it, alone, and its caller gets its error), one ``COMMIT``. So however busy
the event loop is, a batch costs the loop two turns (the connection's, and the result's), not
several for each statement of each transaction; and each caller still returns only once the
``COMMIT`` carrying its change is on disk (a failed ``COMMIT`` fails every body it carried).

Once taken, a body runs to its end even if its caller is cancelled (as if the cancellation
came just after the commit); one still waiting is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aiosqlite

from bot.storage.batch import Writer
from bot.storage.pipeline import SAVEPOINT, OnThread, drive

T = TypeVar("T")
Body = Callable[[Any], Coroutine[Any, Any, Any]]

#: the most bodies one commit carries
MAX_TOGETHER = 64


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
            urgent = self._urgent > 0
            async with self._writer.exclusive(urgent=urgent):
                taken = self._waiting[:MAX_TOGETHER]
                del self._waiting[:MAX_TOGETHER]
                self._urgent = max(0, self._urgent - len(taken))
                if not taken:
                    continue
                bodies = [item.body for item in taken]
                try:
                    execute: Any = self._conn._execute  # see bot/storage/pipeline.py
                    raw: sqlite3.Connection = self._conn._conn
                    # shielded: once on the thread the batch runs to its end, so the
                    # connection is never left inside its transaction
                    outcomes: list[tuple[bool, Any]] = await asyncio.shield(
                        execute(functools.partial(run_together, raw, bodies))
                    )
                except Exception as exc:  # the connection itself failed (or closed)
                    outcomes = [(False, exc)] * len(taken)
                except asyncio.CancelledError:  # closing: the taken bodies' outcome is lost
                    for item in taken:
                        if not item.done.done():
                            item.done.set_exception(
                                sqlite3.ProgrammingError("the database closed during the write")
                            )
                            item.done.exception()
                    raise
            for item, (ok, value) in zip(taken, outcomes, strict=True):
                if item.done.done():
                    continue
                if ok:
                    item.done.set_result(value)
                else:
                    item.done.set_exception(value)
                    item.done.exception()  # retrieved: a caller that left is no error


def run_together(raw: sqlite3.Connection, bodies: list[Body]) -> list[tuple[bool, Any]]:
    """On the connection's thread: every body in its own savepoint, one ``COMMIT``; each
    body's outcome, ``(True, result)`` or ``(False, error)``."""
    outcomes: list[tuple[bool, Any]] = []
    try:
        raw.execute("BEGIN IMMEDIATE")
        for body in bodies:
            raw.execute(f"SAVEPOINT {SAVEPOINT}")
            try:
                result = drive(body(OnThread(raw)))
            except Exception as exc:  # this body's error: undo it alone
                if not raw.in_transaction:  # SQLite gave up the whole transaction
                    raise
                raw.execute(f"ROLLBACK TO {SAVEPOINT}")
                raw.execute(f"RELEASE {SAVEPOINT}")
                outcomes.append((False, exc))
                continue
            raw.execute(f"RELEASE {SAVEPOINT}")
            outcomes.append((True, result))
        raw.execute("COMMIT")
    except Exception as exc:  # nothing of the batch was written
        if raw.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                raw.execute("ROLLBACK")
        return [(False, exc)] * len(bodies)
    return outcomes
