"""Image bytes in PostgreSQL (the ``blobs`` table), so that every process on every machine
reads what any of them wrote; the same order as SQLite's files (:mod:`bot.storage.blobs`):

* a blob is written (committed on its own) *before* the transaction naming it, so a committed
  row never names a missing blob;
* it is deleted only *after* the transaction that stops naming it commits;
* a crash between the two leaves a blob no row names. Other processes may be between the two
  at any moment, so :meth:`PgBlobs.remove_orphans` deletes only blobs no row names that are
  older than :data:`ORPHAN_AGE` seconds (no staging takes that long).

Bytes stay out of the job transactions themselves: those keep short, and a job's row is never
locked while megabytes travel.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

from bot.storage.blobs import BlobFiles
from bot.storage.postgres.db import PgDatabase

log = logging.getLogger(__name__)

#: seconds after which a blob no row names is taken for a crash's leftover
ORPHAN_AGE = 3600.0


class PgBlobs:
    """The ``blobs`` table (:class:`bot.storage.blobs.Blobs`)."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    @staticmethod
    def new_name(job_id: str, kind: str, position: int) -> str:
        """A fresh name, as SQLite's files are named."""
        return BlobFiles.new_name(job_id, kind, position)

    async def write(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Store every ``(name, data)``, committed before this returns."""
        if not files:
            return
        now = time.time()
        async with self.db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO blobs (name, data, created_at) VALUES (?, ?, ?)",
                [(name, data, now) for name, data in files],
            )

    async def read(self, names: Sequence[str | None]) -> list[bytes | None]:
        """The bytes of each name (None for None, or for a blob that is gone)."""
        wanted = [name for name in names if name is not None]
        if not wanted:
            return [None] * len(names)
        rows = await self.db.fetchall("SELECT name, data FROM blobs WHERE name = ANY(?)", (wanted,))
        found = {str(row[0]): bytes(row[1]) for row in rows}
        for name in set(wanted) - set(found):
            log.warning("image blob %s is gone", name)
        return [found.get(name) if name is not None else None for name in names]

    async def remove(self, names: Iterable[str]) -> None:
        """Delete the named blobs (those already gone are ignored)."""
        names = list(names)
        if names:
            await self.db.execute("DELETE FROM blobs WHERE name = ANY(?)", (names,))

    async def remove_orphans(self, named: set[str]) -> int:
        """Delete the blobs older than :data:`ORPHAN_AGE` that no row names; returns how many.

        ``named`` (what the caller read) is not needed: the rows are asked in the same
        statement, so a row committed meanwhile by another process is seen."""
        removed = await self.db.execute(
            "DELETE FROM blobs b WHERE created_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM job_references r WHERE r.data_file = b.name) "
            "AND NOT EXISTS (SELECT 1 FROM job_results r WHERE r.data_file = b.name)",
            (time.time() - ORPHAN_AGE,),
        )
        if removed:
            log.info("removed %d image blob(s) no job names (left by a crash)", removed)
        return removed
