"""A database that cannot be opened is said in words, and leaves no connection (and so no
thread that would keep the process alive) behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from bot.storage.db import Database, DatabaseOpenError, OpenProblem
from bot.storage.store import SqliteStore


def threads() -> set[threading.Thread]:
    """Live threads, but for the event loop's default executor (``asyncio.run`` ends those)."""
    return {
        thread
        for thread in threading.enumerate()
        if thread.is_alive() and not thread.name.startswith("asyncio_")
    }


async def settled(before: set[threading.Thread]) -> set[threading.Thread]:
    """Threads started since ``before`` that are still alive (after they had time to end)."""
    for _ in range(100):  # bounded: 1 s at most
        left = threads() - before
        if not left:
            return left
        for thread in left:
            thread.join(0.01)
    return threads() - before


def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_bytes(os.urandom(8192))
    return path


def unwritable(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        return Path("/proc/bananabot-test.db")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "bot.db"


@pytest.mark.parametrize("opener", [Database.open, SqliteStore.open], ids=["db", "store"])
@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (not_a_database, OpenProblem.NOT_A_DATABASE),
        (lambda tmp: tmp, OpenProblem.DIRECTORY),
        (unwritable, OpenProblem.NOT_WRITABLE),
    ],
    ids=["garbage", "directory", "unwritable"],
)
async def test_open_fails_in_words_and_closes_everything(tmp_path, opener, make, problem):
    path = make(tmp_path)
    before = threads()
    with pytest.raises(DatabaseOpenError) as caught:
        await opener(path)
    assert caught.value.problem is problem
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert await settled(before) == set()  # every connection's worker thread has ended


@pytest.mark.parametrize(
    ("statement", "connections"),
    [("busy_timeout", 2), ("query_only", 3)],
    ids=["a-reader-connecting", "a-reader-set-up"],
)
async def test_a_pragma_failing_closes_the_connections(
    tmp_path, monkeypatch, statement, connections
):
    """Whichever statement fails while opening, the connections opened so far are closed."""
    import aiosqlite

    opened: list[aiosqlite.Connection] = []
    real_connect = aiosqlite.connect

    def counting_connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        opened.append(connection)
        return connection

    monkeypatch.setattr(aiosqlite, "connect", counting_connect)
    real_execute = aiosqlite.Connection.execute

    def failing_execute(self, sql, *args, **kwargs):
        if statement in sql and len(opened) == connections:
            raise aiosqlite.OperationalError("disk I/O error")
        return real_execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "execute", failing_execute)
    before = threads()
    with pytest.raises(DatabaseOpenError):
        await Database.open(tmp_path / "bot.db")
    assert len(opened) == connections
    assert await settled(before) == set()


@pytest.mark.parametrize("make", [lambda tmp: tmp, unwritable], ids=["directory", "unwritable"])
async def test_a_connection_that_cannot_open_has_ended_its_thread_before_the_error(tmp_path, make):
    """aiosqlite stops a failed connection's thread without waiting; were the error to reach
    ``asyncio.run`` first, the loop would close and the thread print a traceback at exit."""
    before = threads()
    with pytest.raises(DatabaseOpenError):
        await Database.open(make(tmp_path))
    assert threads() - before == set()  # at once, not after a while
