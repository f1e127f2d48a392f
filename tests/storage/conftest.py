"""The storage backends the contract tests run against: each must implement
:class:`bot.jobs.ports.Store` the same way. A new backend adds one entry here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.jobs.ports import Store
from bot.storage.store import SqliteStore


async def _sqlite(tmp_path: Path) -> Store:
    return await SqliteStore.open(tmp_path / "store.db")


BACKENDS: dict[str, Callable[[Path], Awaitable[Store]]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await BACKENDS[request.param](tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
