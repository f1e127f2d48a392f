"""The storage backends the contract tests run against: each must implement
:class:`bot.jobs.ports.Store` the same way. A new backend adds one entry here.

PostgreSQL's tests run in a schema of their own (:mod:`tests.pg`) and are skipped, saying so,
when the server cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from bot.jobs.ports import Store
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
