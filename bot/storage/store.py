"""The SQLite store: one database file holding jobs, the quota ledger and key/value facts.

Implements :class:`bot.jobs.ports.Store`, the protocol any storage backend implements.
"""

from __future__ import annotations

from pathlib import Path

from bot.storage.db import Database
from bot.storage.jobs import SqliteJobs
from bot.storage.meta import SqliteMeta
from bot.storage.migrate import migrate
from bot.storage.quota import SqliteQuota


class SqliteStore:
    """Jobs, quota and meta over one :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._jobs = SqliteJobs(db)
        self._quota = SqliteQuota(db)
        self._meta = SqliteMeta(db)

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        """Open (creating if needed) the database at ``path`` and apply pending migrations."""
        db = await Database.open(path)
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    @property
    def jobs(self) -> SqliteJobs:
        """Jobs and the ledger effects of their status changes."""
        return self._jobs

    @property
    def quota(self) -> SqliteQuota:
        """Quota reads."""
        return self._quota

    @property
    def meta(self) -> SqliteMeta:
        """Key/value facts."""
        return self._meta

    async def ping(self) -> None:
        """One round trip to the database."""
        await self.db.fetchone("SELECT 1")

    async def close(self) -> None:
        """Close the connection."""
        await self.db.close()
