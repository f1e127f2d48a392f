"""The PostgreSQL store: the repositories SQLite's store uses (:mod:`bot.storage.store`) over a
:class:`~bot.storage.postgres.db.PgDatabase`, image bytes in the ``blobs`` table.

Implements :class:`bot.jobs.ports.Store`. Many processes may share one database.
"""

from __future__ import annotations

import asyncpg

from bot.jobs.ports import Compaction, StoreUnavailableError
from bot.storage.images import JobImages
from bot.storage.parts import SqlStoreParts
from bot.storage.postgres.blobs import PgBlobs
from bot.storage.postgres.db import PgDatabase
from bot.storage.postgres.leases import PgLeases
from bot.storage.postgres.migrate import latest_version, migrate, schema_version
from bot.storage.postgres.problems import PgOpenError, SchemaBehindError
from bot.storage.retention import SqlRetention

_SIZE = (
    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
)


class PgRetention(SqlRetention):
    """Reference purging as in SQLite; PostgreSQL's autovacuum gives space back by itself."""

    async def compact(self) -> Compaction:
        """Nothing to rebuild: the size of the schema's tables, before and after alike."""
        row = await self.db.fetchone(_SIZE)
        size = int(row[0]) if row is not None else 0
        return Compaction(bytes_before=size, bytes_after=size, rebuilt=False)


class PostgresStore(SqlStoreParts[PgRetention, PgLeases]):
    """Jobs, quota, meta, servers, retention and leases over one :class:`PgDatabase`."""

    def __init__(self, db: PgDatabase) -> None:
        files = PgBlobs(db)
        images = JobImages(db, files)
        super().__init__(db, images, PgRetention(db, images), PgLeases(db))
        self.db = db
        self.files = files

    @classmethod
    async def open(cls, url: str, *, apply_migrations: bool = True) -> PostgresStore:
        """Connect to ``url``, apply pending migrations (or, without ``apply_migrations``,
        refuse a schema that is behind), and delete old blobs no row names.

        :class:`~bot.storage.postgres.problems.PgOpenError` (nothing left open) when the
        server cannot be reached, refuses us, or the schema is behind."""
        try:
            db = await PgDatabase.open(url)
        except (StoreUnavailableError, asyncpg.PostgresError, OSError) as exc:
            raise PgOpenError.of(url, exc) from exc
        try:
            if apply_migrations:
                await migrate(db)
            else:
                version = await schema_version(db)
                if version is None or version < latest_version():
                    raise SchemaBehindError(version, latest_version())
            store = cls(db)
            await JobImages(db, store.files).tidy()
        except (StoreUnavailableError, SchemaBehindError) as exc:
            await db.close()
            raise PgOpenError.of(url, exc) from exc
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        """Close the pool."""
        await self.db.close()
