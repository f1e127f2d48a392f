"""Lookups: reads of a few rows through an index (a job by its id, a user's credits for a day),
run on the event loop's own thread.

A read on a reader's thread costs two hand-overs between threads, and on a busy loop each one
waits for the loop's next turn: several milliseconds for a statement SQLite answers in
microseconds. A lookup runs on a connection of its own, read-only, in autocommit (no read
transaction is ever left open), from the event loop's thread only. In WAL mode a reader never
waits for a writer, and this connection never waits at all (no busy timeout): when SQLite is
busy just now, or a statement runs longer than :data:`MAX_STEPS` steps of SQLite's virtual
machine (a scan sent here by mistake), it is stopped and :meth:`Lookups.rows` answers None,
and the caller reads on a reader's thread instead.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

from bot.storage.codes import sqlite_code
from bot.storage.sql import Params

log = logging.getLogger(__name__)

#: SQLite's virtual machine steps between two calls of the progress handler
STEPS_PER_CHECK = 1_000
#: steps a lookup may take on the event loop's thread (well under a millisecond), checked every
#: STEPS_PER_CHECK
MAX_STEPS = 100_000
#: SQLite's answers that send a lookup to a reader's thread (busy or locked just now, stopped
#: by the step limit)
ELSEWHERE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_INTERRUPT")


class Lookups:
    """The event loop's read-only connection to one database file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._checks = 0
        conn.set_progress_handler(self._progress, STEPS_PER_CHECK)

    @classmethod
    async def open(cls, path: Path) -> Lookups:
        """A connection to ``path`` (opened on a worker thread: opening touches the disk)."""
        return cls(await asyncio.to_thread(_connect, path))

    def rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row] | None:
        """The rows of ``sql``, read on this thread; None when it should be read elsewhere."""
        self._checks = 0
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            code = sqlite_code(exc)
            if not code.startswith(ELSEWHERE):
                raise
            if code.startswith("SQLITE_INTERRUPT"):
                log.warning("a lookup ran too long for the event loop, read elsewhere: %s", sql)
            return None

    def close(self) -> None:
        """Close the connection (nothing is written: nothing to wait for)."""
        self._conn.close()

    def _progress(self) -> int:
        self._checks += 1
        return 1 if self._checks * STEPS_PER_CHECK > MAX_STEPS else 0


def _connect(path: Path) -> sqlite3.Connection:
    # timeout 0: never wait for a lock on the event loop's thread (a reader's thread will)
    conn = sqlite3.connect(str(path), timeout=0, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn
