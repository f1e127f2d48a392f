"""The storage backends the contract tests run against: each must implement
:class:`bot.jobs.ports.Store` the same way. A new backend adds one entry here.

Below them, a bare database with one table ``t`` (``lite``: SQLite alone; ``db``: each backend
in turn), for the tests of the databases' own mechanics.

PostgreSQL's tests run in a schema of their own (:mod:`tests.pg`) and are skipped, saying so,
when the server cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from bot.jobs.ports import Store
from bot.storage.db import Database
from bot.storage.postgres.db import PgDatabase
from bot.storage.postgres.store import PostgresStore
from bot.storage.store import SqliteStore
from tests.pg import pg_schema


@asynccontextmanager
async def _sqlite(tmp_path: Path) -> AsyncIterator[Store]:
    store = await SqliteStore.open(tmp_path / "store.db")
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def _postgres(tmp_path: Path) -> AsyncIterator[Store]:
    async with pg_schema() as url:
        store = await PostgresStore.open(url)
        try:
            yield store
        finally:
            await store.close()


BACKENDS: dict[str, Callable[[Path], AbstractAsyncContextManager[Store]]] = {
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with BACKENDS[request.param](tmp_path) as opened:
        yield opened


SCHEMA = "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"


@asynccontextmanager
async def _bare_sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "t.db")
    await opened.executescript(SCHEMA)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def lite(tmp_path) -> AsyncIterator[Database]:
    """SQLite alone (its own mechanics: the connection's thread, turns, commits)."""
    async with _bare_sqlite(tmp_path) as opened:
        yield opened


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request, tmp_path) -> AsyncIterator[Database | PgDatabase]:
    """Each backend in turn: the same outcomes on both."""
    if request.param == "sqlite":
        async with _bare_sqlite(tmp_path) as opened:
            yield opened
        return
    async with pg_schema() as url:
        pg = await PgDatabase.open(url)
        try:
            async with pg.transaction() as tx:
                await tx.execute(SCHEMA)
            yield pg
        finally:
            await pg.close()
