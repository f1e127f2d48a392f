"""What a store keeps, and for how long: the reference images of delivered jobs only while a
re-roll may still need them, and (SQLite) a database file that gives back the space its
deleted rows left.

Reference files of a job that ended undelivered go in the transaction ending it
(:meth:`bot.storage.jobs.SqlJobs.transition`); result files go when any job ends. What is
left for :meth:`SqlRetention.purge_references` is a delivered job's references, kept for
``REFERENCE_RETENTION_HOURS`` after it ended. :meth:`SqliteRetention.compact` checkpoints the
write-ahead log and, once enough of the file is free pages, rebuilds it (``VACUUM``).
"""

from __future__ import annotations

import logging

from bot.jobs.ports import Compaction
from bot.jobs.states import FINAL
from bot.storage.db import Database as SqliteDatabase
from bot.storage.images import JobImages
from bot.storage.rows import in_list
from bot.storage.sql import Database

log = logging.getLogger(__name__)

#: a rebuild is worth it once this share of the file is free pages ...
FREE_SHARE = 0.25
#: ... and at least this many of them (a small file is not worth the write lock)
MIN_FREE_PAGES = 256


class SqlRetention:
    """Deletes the reference images no longer needed (any backend); see the module docstring."""

    def __init__(self, db: Database, images: JobImages) -> None:
        self.db = db
        self.images = images

    async def purge_references(self, ended_before: float, now: float, limit: int = 500) -> int:
        """Delete the reference images of up to ``limit`` jobs that ended before
        ``ended_before``; marks them purged at ``now``. Returns how many jobs lost theirs."""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f"SELECT id FROM jobs WHERE status IN ({in_list(FINAL)}) "
                "AND references_purged_at IS NULL AND updated_at < ? "
                "AND EXISTS (SELECT 1 FROM job_references r "
                "WHERE r.job_id = jobs.id AND r.data_file IS NOT NULL) "
                "ORDER BY updated_at LIMIT ?",
                (ended_before, limit),
            )
            job_ids = [str(row["id"]) for row in rows]
            dropped = await self.images.drop_references(tx, job_ids, now)
        await self.images.remove(dropped)  # only once no committed row names them
        if job_ids:
            log.info("deleted the reference images of %d ended job(s)", len(job_ids))
        return len(job_ids)


class SqliteRetention(SqlRetention):
    """:class:`SqlRetention`, and compaction of the SQLite file."""

    def __init__(self, db: SqliteDatabase, images: JobImages) -> None:
        super().__init__(db, images)
        self.sqlite = db

    async def compact(self) -> Compaction:
        """Checkpoint the write-ahead log into the file and truncate it; rebuild the file when
        at least :data:`FREE_SHARE` of it (and :data:`MIN_FREE_PAGES`) is free."""
        pages = await self._pragma("page_count")
        free = await self._pragma("freelist_count")
        page_size = await self._pragma("page_size")
        rebuilt = free >= MIN_FREE_PAGES and free >= pages * FREE_SHARE
        if rebuilt:
            await self.sqlite.vacuum()
            log.info("database compacted: %d free page(s) of %d given back", free, pages)
        await self.sqlite.checkpoint()
        after = await self._pragma("page_count")
        return Compaction(
            bytes_before=pages * page_size, bytes_after=after * page_size, rebuilt=rebuilt
        )

    async def _pragma(self, name: str) -> int:
        row = await self.db.fetchone(f"PRAGMA {name}")
        return int(row[0]) if row is not None else 0
