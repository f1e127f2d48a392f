"""Image bytes as files beside the database, so they are never written inside a transaction.

A file lives at ``<db>.blobs/<job_id>/<kind>-<position>-<nonce>`` and the row that owns it
names it (``data_file``, relative to the directory). The order makes it crash-safe:

* a file is written to a temporary name, fsynced, renamed into place and its directory
  fsynced (in a worker thread) *before* the transaction naming it commits, so a committed row
  never names a missing or partial file;
* a file is deleted only *after* the transaction that stops naming it commits;
* a crash between the two leaves a file no row names: :meth:`BlobFiles.remove_orphans`
  deletes those when the store opens (one process owns a database at a time).

The nonce keeps two racing writers (two transitions of one job) off each other's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_-]+/(ref|res)-\d+-[0-9a-f]+$")
_TMP = ".tmp"


class Blobs(Protocol):
    """Where a store keeps image bytes, each under a name its row holds (``data_file``):
    files here, a table in PostgreSQL (:mod:`bot.storage.postgres.blobs`)."""

    def new_name(self, job_id: str, kind: str, position: int) -> str:
        """A fresh name for image ``position`` (``kind``: ``ref`` or ``res``) of ``job_id``."""

    async def write(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Keep every ``(name, data)`` durably; returns once all are kept."""

    async def read(self, names: Sequence[str | None]) -> list[bytes | None]:
        """The bytes of each name (None for None, or for one that is gone)."""

    async def remove(self, names: Iterable[str]) -> None:
        """Delete the named blobs (those already gone are ignored)."""

    async def remove_orphans(self, named: set[str]) -> int:
        """Delete the blobs no row names (left by a crash); returns how many."""


class BlobFiles:
    """The directory of image files beside one database."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def beside(cls, db_path: Path) -> BlobFiles:
        """The files of the database at ``db_path``: the directory ``<db_path>.blobs``."""
        return cls(db_path.with_name(db_path.name + ".blobs"))

    @staticmethod
    def new_name(job_id: str, kind: str, position: int) -> str:
        """A fresh name for image ``position`` (``kind``: ``ref`` or ``res``) of ``job_id``."""
        name = f"{job_id}/{kind}-{position}-{secrets.token_hex(6)}"
        if not _NAME.match(name):
            raise ValueError(f"unusable blob name {name!r}")
        return name

    def path(self, name: str) -> Path:
        """Where the file ``name`` lives (refusing any name we would not have made)."""
        if not _NAME.match(name):
            raise ValueError(f"not a blob name: {name!r}")
        return self.root / name

    # ------------------------------------------------------------------ async (worker threads)

    async def write(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Write every ``(name, data)`` durably; returns once all are on disk."""
        if files:
            await asyncio.to_thread(self.write_sync, files)

    async def read(self, names: Sequence[str | None]) -> list[bytes | None]:
        """The bytes of each named file (None for None, or for a file that is gone)."""
        if not any(names):
            return [None] * len(names)
        return await asyncio.to_thread(self.read_sync, names)

    async def remove(self, names: Iterable[str]) -> None:
        """Delete the named files (those already gone are ignored)."""
        names = list(names)
        if names:
            await asyncio.to_thread(self.remove_sync, names)

    async def remove_orphans(self, named: set[str]) -> int:
        """:meth:`remove_orphans_sync` in a worker thread."""
        return await asyncio.to_thread(self.remove_orphans_sync, named)

    # ------------------------------------------------------------------ the blocking work

    def write_sync(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Each file to a temporary name, fsync, rename into place; then fsync directories."""
        dirs: set[Path] = set()
        if not self.root.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.root.parent)
        for name, data in files:
            final = self.path(name)
            try:
                final.parent.mkdir()
                dirs.add(self.root)  # a new entry in the root
            except FileExistsError:
                pass
            temporary = final.with_name(final.name + _TMP)
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
            dirs.add(final.parent)
        for directory in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
            _fsync_dir(directory)

    def read_sync(self, names: Sequence[str | None]) -> list[bytes | None]:
        """Blocking :meth:`read`."""
        found: list[bytes | None] = []
        for name in names:
            if name is None:
                found.append(None)
                continue
            try:
                found.append(self.path(name).read_bytes())
            except FileNotFoundError:
                # only after a concurrent commit dropped it (results of an ended job)
                log.warning("image file %s is gone", name)
                found.append(None)
        return found

    def remove_sync(self, names: Iterable[str]) -> None:
        """Blocking :meth:`remove`; a job directory left empty goes too."""
        parents: set[Path] = set()
        for name in names:
            path = self.path(name)
            path.unlink(missing_ok=True)
            parents.add(path.parent)
        for parent in parents:
            with contextlib.suppress(OSError):  # not empty (or already gone)
                parent.rmdir()

    def remove_orphans_sync(self, named: set[str]) -> int:
        """Delete every file (and temporary file) that no row names; returns how many.

        Only safe while nothing writes new files: call it when the store opens.
        """
        if not self.root.is_dir():
            return 0
        removed = 0
        for directory in self.root.iterdir():
            if not directory.is_dir():
                continue
            for path in directory.iterdir():
                if f"{directory.name}/{path.name}" not in named:
                    path.unlink(missing_ok=True)
                    removed += 1
            with contextlib.suppress(OSError):
                directory.rmdir()
        if removed:
            log.info("removed %d image file(s) no job names (left by a crash)", removed)
        return removed


def _fsync_dir(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
