"""Reference and result images of jobs: the bytes in blobs (:class:`bot.storage.blobs.Blobs`:
files beside SQLite, a table in PostgreSQL), the rows (``job_references``, ``job_results``)
naming them in ``data_file``.

A job's files are staged (written and fsynced, outside any lock) before the transaction that
names them; after a transaction that did not name them they are discarded. Result files go
once the job has ended (delivered: the images live on in the posted message; failed: they
will never be shown). Reference files go when a job ends undelivered (nothing can re-roll it)
and, for a delivered one, once its re-roll retention is over (:mod:`bot.storage.retention`).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from bot.jobs.ports import StoreUnavailableError
from bot.jobs.states import FINAL
from bot.storage.blobs import Blobs
from bot.storage.rows import in_list
from bot.storage.sql import Database, Row, Transaction
from providers.base import ReferenceImage, ResultImage

log = logging.getLogger(__name__)

_NAMED = (
    "SELECT data_file FROM job_references WHERE data_file IS NOT NULL{job} "
    "UNION ALL SELECT data_file FROM job_results WHERE data_file IS NOT NULL{job}"
)


class JobImages:
    """The image files of one database's jobs."""

    def __init__(self, db: Database, files: Blobs) -> None:
        self.db = db
        self.files = files

    async def stage(
        self, job_id: str, kind: str, images: Sequence[ReferenceImage | ResultImage]
    ) -> list[str | None]:
        """Write the bytes of ``images`` to new files; their names (None: no bytes).

        :class:`~bot.jobs.ports.StoreUnavailableError` when the disk refuses them."""
        names = [
            self.files.new_name(job_id, kind, i) if image.data is not None else None
            for i, image in enumerate(images)
        ]
        try:
            await self.files.write(
                [
                    (name, image.data)
                    for name, image in zip(names, images, strict=True)
                    if name is not None and image.data is not None
                ]
            )
        except OSError as exc:  # a full disk, a read-only file system
            await self.remove(names)
            code = errno.errorcode.get(exc.errno or 0, "OSError")
            raise StoreUnavailableError(f"image files cannot be written: {exc}", code) from exc
        return names

    async def discard(self, job_id: str, staged: Sequence[str | None]) -> None:
        """After a transaction failed: remove the staged files no committed row names.

        Asked on the writing connection, so a commit still in flight (its caller cancelled)
        is seen before anything is removed.
        """
        names = [name for name in staged if name is not None]
        if not names:
            return
        try:
            async with self.db.transaction() as tx:
                rows = await tx.fetchall(_NAMED.format(job=" AND job_id = :job"), {"job": job_id})
        except Exception as exc:  # the caller's own error matters more
            log.warning("job %s: staged image files left for the next start (%s)", job_id, exc)
            return
        named = {str(row[0]) for row in rows}
        await self.remove([name for name in names if name not in named])

    async def remove(self, names: Sequence[str | None]) -> None:
        """Delete files no row names any more; a failure only leaves them to the next open."""
        try:
            await self.files.remove(name for name in names if name is not None)
        except OSError as exc:
            log.warning("could not remove image files (removed at the next start): %s", exc)

    async def insert(
        self,
        tx: Transaction,
        table: str,
        job_id: str,
        images: Sequence[ReferenceImage | ResultImage],
        names: Sequence[str | None],
    ) -> None:
        """The rows of ``images`` (``job_references`` or ``job_results``) naming their files."""
        if not images:
            return
        rows = [
            (job_id, i, image.url, name, image.mime_type, getattr(image, "caption", None))
            for i, (image, name) in enumerate(zip(images, names, strict=True))
        ]
        if table == "job_references":
            sql = (
                "INSERT INTO job_references (job_id, position, url, data_file, mime_type, "
                "caption) VALUES (?, ?, ?, ?, ?, ?)"
            )
            tx.send_many(sql, rows)
        else:
            sql = (
                "INSERT INTO job_results (job_id, position, url, data_file, mime_type) "
                "VALUES (?, ?, ?, ?, ?)"
            )
            tx.send_many(sql, [row[:5] for row in rows])

    @staticmethod
    async def drop_results(tx: Transaction, job_id: str) -> list[str]:
        """Inside the transaction ending the job: stop naming its result files; their names
        (remove them once it commits)."""
        rows = await tx.fetchall(
            "SELECT data_file FROM job_results WHERE job_id = ? AND data_file IS NOT NULL",
            (job_id,),
        )
        if rows:  # (RETURNING would give the new values)
            tx.send(
                "UPDATE job_results SET data_file = NULL, data = NULL WHERE job_id = ?", (job_id,)
            )
        return [str(row[0]) for row in rows]

    @staticmethod
    async def drop_references(tx: Transaction, job_ids: Sequence[str], now: float) -> list[str]:
        """Inside a transaction: stop naming the reference files of ``job_ids`` and mark the
        jobs' references purged at ``now``; the files' names (remove them once it commits)."""
        if not job_ids:
            return []
        marks = ", ".join("?" for _ in job_ids)
        rows = await tx.fetchall(
            f"SELECT data_file FROM job_references WHERE job_id IN ({marks}) "
            "AND data_file IS NOT NULL",
            list(job_ids),
        )
        if rows:
            tx.send(
                f"UPDATE job_references SET data_file = NULL, data = NULL "
                f"WHERE job_id IN ({marks})",
                list(job_ids),
            )
            tx.send(
                f"UPDATE jobs SET references_purged_at = ? WHERE id IN ({marks})",
                [now, *job_ids],
            )
        return [str(row[0]) for row in rows]

    async def load(self, rows: Sequence[Row | Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Image rows with their bytes read back (``data``), in a worker thread."""
        found = await self.files.read([row["data_file"] for row in rows])
        return [{**dict(row), "data": data} for row, data in zip(rows, found, strict=True)]

    # ------------------------------------------------------------------ when the store opens

    async def tidy(self) -> None:
        """Move bytes an older version kept in the database out to files, then delete the
        files no row names (a crash between writing a file and committing its row)."""
        await self._move_old_bytes()
        named = {str(row[0]) for row in await self.db.fetchall(_NAMED.format(job=""))}
        await self.files.remove_orphans(named)

    async def _move_old_bytes(self) -> None:
        # ended jobs' results are never shown again (a block, not a body: it may change
        # many rows, on the connection's thread rather than the event loop's)
        async with self.db.transaction(one_statement=True) as tx:
            await tx.execute(
                "UPDATE job_results SET data = NULL WHERE data IS NOT NULL AND job_id IN "
                f"(SELECT id FROM jobs WHERE status IN ({in_list(FINAL)}))"
            )
        for table, kind in (("job_references", "ref"), ("job_results", "res")):
            keys = await self.db.fetchall(
                f"SELECT job_id, position FROM {table} WHERE data IS NOT NULL"
            )
            for job_id, position in keys:  # one at a time: file first, then the row
                row = await self.db.fetchone(
                    f"SELECT data FROM {table} WHERE job_id = ? AND position = ?",
                    (job_id, position),
                )
                if row is None or row[0] is None:
                    continue
                name = self.files.new_name(job_id, kind, position)
                await self.files.write([(name, bytes(row[0]))])
                await self.db.execute(
                    f"UPDATE {table} SET data_file = ?, data = NULL "
                    "WHERE job_id = ? AND position = ?",
                    (name, job_id, position),
                )
            if keys:
                log.info("moved %d image(s) from %s to files", len(keys), table)
