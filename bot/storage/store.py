"""The SQLite store, the default (:mod:`bot.storage.postgres` is the other): one database
file holding jobs, the quota ledger and key/value facts, and beside it a directory of the
jobs' image files (``<db>.blobs``, see :mod:`bot.storage.blobs`).

Implements :class:`bot.jobs.ports.Store`, the protocol any storage backend implements. One
process owns a database at a time.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.jobs.ports import StoreUnavailableError
from bot.storage.blobs import BlobFiles
from bot.storage.db import Database, DatabaseOpenError
from bot.storage.guilds import SqlGuilds
from bot.storage.images import JobImages
from bot.storage.jobs import SqlJobs
from bot.storage.meta import SqlMeta
from bot.storage.migrate import migrate
from bot.storage.quota import SqlQuota
from bot.storage.retention import SqliteRetention


class SqliteStore:
    """Jobs, quota and meta over one :class:`Database`."""

    def __init__(self, db: Database, files: BlobFiles) -> None:
        self.db = db
        self.files = files
        images = JobImages(db, files)
        self._jobs = SqlJobs(db, images)
        self._retention = SqliteRetention(db, images)
        self._guilds = SqlGuilds(db)
        self._quota = SqlQuota(db)
        self._meta = SqlMeta(db)

    @classmethod
    async def open(cls, path: Path | str) -> SqliteStore:
        """Open (creating if needed) the database at ``path``, apply pending migrations, move
        image bytes an older version kept in it out to files, and delete image files no row
        names (left by a crash between writing them and committing their row).

        :class:`~bot.storage.db.DatabaseOpenError` (nothing left open) when any of that fails
        for want of a usable file or directory."""
        if str(path) == ":memory:":
            raise ValueError("the SQLite store needs a file: its images are kept beside it")
        path = Path(path)
        db = await Database.open(path)
        try:
            await migrate(db)
            files = BlobFiles.beside(path)
            await JobImages(db, files).tidy()
        except (sqlite3.Error, OSError, StoreUnavailableError) as exc:
            await db.close()
            raise DatabaseOpenError.of(path, exc) from exc
        except BaseException:
            await db.close()
            raise
        return cls(db, files)

    @property
    def jobs(self) -> SqlJobs:
        """Jobs and the ledger effects of their status changes."""
        return self._jobs

    @property
    def quota(self) -> SqlQuota:
        """Quota reads."""
        return self._quota

    @property
    def meta(self) -> SqlMeta:
        """Key/value facts."""
        return self._meta

    @property
    def guilds(self) -> SqlGuilds:
        """Moderated servers: settings, audit log, usage."""
        return self._guilds

    @property
    def retention(self) -> SqliteRetention:
        """Deleting what is no longer needed (old references, free pages)."""
        return self._retention

    async def ping(self) -> None:
        """One round trip to the database."""
        await self.db.fetchone("SELECT 1")

    async def close(self) -> None:
        """Close the connections."""
        await self.db.close()
