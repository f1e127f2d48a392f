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
from bot.storage.images import JobImages
from bot.storage.leases import SqlLeases
from bot.storage.migrate import migrate
from bot.storage.parts import SqlStoreParts
from bot.storage.retention import SqliteRetention


class SqliteStore(SqlStoreParts[SqliteRetention, SqlLeases]):
    """Jobs, quota, meta, servers, retention and leases over one :class:`Database`."""

    def __init__(self, db: Database, files: BlobFiles) -> None:
        images = JobImages(db, files)
        super().__init__(db, images, SqliteRetention(db, images), SqlLeases(db))
        self.db = db
        self.files = files

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

    async def close(self) -> None:
        """Close the connections."""
        await self.db.close()
