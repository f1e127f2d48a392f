"""Group commit: the transactions that queue for the one writing connection together share
one ``BEGIN IMMEDIATE`` … ``COMMIT``, and so one fsync.

Each transaction runs alone on the connection, inside its own ``SAVEPOINT`` (sent to the
connection's thread without waiting, :mod:`bot.storage.pipeline`; one that succeeded is left
open, and ``COMMIT`` takes them all): a statement that fails rolls back that transaction only
(``ROLLBACK TO`` the latest savepoint, its own), and only its caller sees the error. When it
is done
and another transaction is already waiting, the connection passes to that one with the outer
transaction still open; the last of the batch (or the :data:`MAX_BATCH`-th) commits it. Every
caller returns only once the ``COMMIT`` containing its change is on disk, as with a
transaction of its own, so durability is unchanged: a failed ``COMMIT`` fails every member of
its batch (none of them was written), and an error that makes SQLite roll back the whole
transaction (a full disk, an I/O error) fails every member too.

Work that must not run inside a transaction (``VACUUM``, pragmas, migrations) takes an
exclusive turn (:meth:`Writer.exclusive`), which first commits any open batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiosqlite

from bot.storage.pipeline import Pipeline

#: the most transactions one commit carries (the first waits for all the others' statements)
MAX_BATCH = 32
#: a batch takes no new member once it has been open this long (seconds): its members wait
#: for every later member's statements, so under a steady stream of transactions it would
#: otherwise grow to MAX_BATCH and hold the first for all of theirs
MAX_BATCH_AGE = 0.005


@dataclass
class _Batch:
    """One open ``BEGIN IMMEDIATE``: how many transactions it holds, and its outcome."""

    committed: asyncio.Future[None]
    opened: float
    members: int = 0
    #: set when the outer transaction is lost: every member fails with it
    lost: BaseException | None = None


@dataclass
class _Waiter:
    turn: asyncio.Future[None]
    joins: bool  # a transaction, which may join the open batch
    urgent: bool = False  # goes before the others waiting (after the urgent ones)
    done: bool = field(default=False)


def _lose(batch: _Batch, error: BaseException) -> None:
    """A statement sent took the outer transaction with it (on the connection's thread)."""
    batch.lost = batch.lost or error


class Writer:
    """Takes turns on the writing connection and commits transactions in batches."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._busy = False
        self._waiting: deque[_Waiter] = deque()
        self._urgent = 0  # the first this many waiting are urgent
        self._batch: _Batch | None = None

    @asynccontextmanager
    async def transaction(
        self, *, one_statement: bool = False, urgent: bool = False
    ) -> AsyncIterator[Pipeline]:
        """A transaction's turn: inside, the connection is in a savepoint of the open batch
        (sent, not awaited), and the pipeline yielded runs the statements; returns once the
        batch's ``COMMIT`` is on disk (raising what it raised, or what a statement the
        transaction sent raised: it was undone then, see :mod:`bot.storage.pipeline`).

        ``one_statement``: the block runs one statement, which SQLite itself undoes if it
        fails, so it needs no savepoint. ``urgent``: someone waits on it (a result to post),
        so it goes before the transactions waiting that are not."""
        await self._turn(joins=True, urgent=urgent)
        try:
            batch = await self._join()
        except BaseException:
            await self._release()
            raise
        try:
            pipeline = Pipeline(
                self._conn, savepoint=not one_statement, lost=functools.partial(_lose, batch)
            )
            yield pipeline  # a savepoint that succeeded stays open: COMMIT takes it with the rest
        except BaseException as exc:
            if one_statement:
                self._check(batch, exc)
            else:
                await asyncio.shield(self._undo(batch, pipeline, exc))
            await self._release()
            raise
        await self._release()
        await asyncio.shield(batch.committed)
        pipeline.raise_failure()  # a statement it sent failed: it was undone, the rest committed

    @asynccontextmanager
    async def exclusive(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """The connection to oneself, outside any transaction (an open batch commits first);
        ``urgent``: before the turns waiting that are not."""
        await self._turn(joins=False, urgent=urgent)
        try:
            yield
        finally:
            await self._release()

    async def _join(self) -> _Batch:
        batch = self._batch
        if batch is None:
            if self._conn.in_transaction:  # a ROLLBACK that failed with the disk
                await self._conn.execute("ROLLBACK")
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                # also when cancelled during BEGIN: never leave the connection mid-transaction
                if self._conn.in_transaction:
                    await asyncio.shield(self._conn.execute("ROLLBACK"))
                raise
            loop = asyncio.get_running_loop()
            batch = self._batch = _Batch(loop.create_future(), loop.time())
        batch.members += 1
        return batch

    def _check(self, batch: _Batch, error: BaseException) -> None:
        """After a failed lone statement: the batch is lost if SQLite rolled it all back."""
        if not self._conn.in_transaction:
            batch.lost = batch.lost or error

    async def _undo(self, batch: _Batch, pipeline: Pipeline, error: BaseException) -> None:
        """Roll back one member's statements (after all it sent); if the outer transaction is
        gone, the batch is lost."""
        try:
            if await pipeline.undo():
                return
        except sqlite3.Error as exc:
            error = exc
        batch.lost = batch.lost or error

    # ------------------------------------------------------------------ turns

    async def _turn(self, *, joins: bool, urgent: bool = False) -> None:
        """Wait until the connection is ours (``urgent``: before those waiting that are not)."""
        if not self._busy:
            self._busy = True
            return
        waiter = _Waiter(asyncio.get_running_loop().create_future(), joins, urgent)
        if urgent:
            self._waiting.insert(self._urgent, waiter)
            self._urgent += 1
        else:
            self._waiting.append(waiter)
        try:
            await waiter.turn
        except asyncio.CancelledError:
            if waiter.done:  # the turn came as we were cancelled: pass it on
                await self._release()
            else:
                self._waiting.remove(waiter)
                self._urgent -= waiter.urgent
            raise

    async def _release(self) -> None:
        """Done with the connection: pass it on (to a transaction joining the open batch),
        or commit the batch first. Runs to the end even if the caller is cancelled."""
        await asyncio.shield(asyncio.ensure_future(self._pass_on()))

    async def _pass_on(self) -> None:
        batch = self._batch
        if batch is not None:
            following = self._waiting[0] if self._waiting else None
            joining = (
                following is not None
                and following.joins
                and batch.members < MAX_BATCH
                and asyncio.get_running_loop().time() - batch.opened < MAX_BATCH_AGE
            )
            if joining and batch.lost is None:
                self._grant()
                return
            self._batch = None
            await self._commit(batch)
        if self._waiting:
            self._grant()
        else:
            self._busy = False

    def _grant(self) -> None:
        waiter = self._waiting.popleft()
        self._urgent -= waiter.urgent
        waiter.done = True
        waiter.turn.set_result(None)

    async def _commit(self, batch: _Batch) -> None:
        error = batch.lost
        if error is None:
            try:
                await self._conn.execute("COMMIT")
            except Exception as exc:  # a full disk may refuse the commit itself
                error = batch.lost or exc  # (or a statement sent lost the batch before it)
        if error is not None and self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # else rolled back before the next BEGIN
                await self._conn.execute("ROLLBACK")
        if error is None:
            batch.committed.set_result(None)
        else:
            batch.committed.set_exception(error)
            batch.committed.exception()  # retrieved: a batch nobody waits for is no error
