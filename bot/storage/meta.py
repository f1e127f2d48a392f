"""Small key/value facts kept in the database (e.g. the last command-sync hash)."""

from __future__ import annotations

from bot.storage.sql import Database


class SqlMeta:
    """The ``meta`` table (:class:`bot.jobs.ports.MetaStore`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        """The stored value of ``key``, or None."""
        row = await self.db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        await self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
