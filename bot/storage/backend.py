"""Which store a process opens: PostgreSQL when ``DATABASE_URL`` is set (``BANANABOT_DB`` is
then ignored), else the SQLite file at ``BANANABOT_DB``."""

from __future__ import annotations

from pathlib import Path

from bot.storage.postgres.store import PostgresStore
from bot.storage.store import SqliteStore

AnyStore = SqliteStore | PostgresStore


async def open_store(database_url: str | None, sqlite_path: Path) -> AnyStore:
    """Open (migrating) the configured store; :class:`~bot.storage.db.DatabaseOpenError` or
    :class:`~bot.storage.postgres.problems.PgOpenError` when it cannot be used."""
    if database_url:
        return await PostgresStore.open(database_url)
    return await SqliteStore.open(sqlite_path)
