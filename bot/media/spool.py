"""Downloads kept on disk, not in memory: an anonymous temporary file, filled as the bytes
arrive and read back only when they are used.

A hundred members attaching 2 MB images at once would otherwise hold a hundred downloads in
memory while they wait their turn in the worker pool (``providers/cpu.py``); spooled, they
wait on disk, and each is read in the worker that checks it. Writes go in batches of
:data:`FLUSH_BYTES` to a worker thread, so the event loop never waits on the disk, and one
download holds at most one batch in memory.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import IO

#: bytes kept in memory before they are written out
FLUSH_BYTES = 64 * 1024


class Spool:
    """An anonymous temporary file (gone once closed, or when the process dies)."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        #: bytes written so far
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        """Add ``chunk``; written out once a batch has gathered."""
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        self.size += len(chunk)
        if self._pending_size >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        """Write out what is gathered (in a worker thread)."""
        if not self._pending:
            return
        batch, self._pending, self._pending_size = self._pending, [], 0
        await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[bytes]) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="bananabot-")  # noqa: SIM115 - kept open
        self._file.writelines(batch)

    def read(self) -> bytes:
        """Every byte (blocking: call it in a worker thread, after :meth:`flush`)."""
        if self._file is None:
            return b"".join(self._pending)
        assert not self._pending, "read before flush"
        self._file.seek(0)
        return self._file.read()

    def close(self) -> None:
        """Drop the file and anything still gathered."""
        self._pending = []
        if self._file is not None:
            self._file.close()
            self._file = None
