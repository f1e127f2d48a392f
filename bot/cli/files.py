"""The CLI's notifier: results saved as files, failures kept for the one-line error, and a
single updating progress line when stderr is a terminal."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

from bot.jobs.models import FailureKind, Job, Progress, Receipt
from bot.jobs.ports import DeliveryError
from bot.media.sniff import ImageFile


def result_name(job: Job, index: int, extension: str) -> str:
    """A stable file name for a job's ``index``-th image (so repeating a delivery overwrites)."""
    slug = re.sub(r"[^a-z0-9]+", "-", job.request.prompt.lower())[:40].strip("-") or "image"
    return f"{slug}-{job.id}-{index}.{extension}"


class FileNotifier:
    """Saves results to a directory; records failures for the caller to report."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.saved: dict[str, list[Path]] = {}
        self.failures: dict[str, tuple[FailureKind, str]] = {}
        self.progress_log: list[tuple[str, Progress]] = []

    async def progress(self, job: Job, progress: Progress) -> None:
        """Keep the report."""
        self.progress_log.append((job.id, progress))

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        """Write each image under a stable name; a repeated delivery overwrites the same files."""
        paths = [
            self.out_dir / result_name(job, i, image.extension)
            for i, image in enumerate(images, start=1)
        ]

        def write() -> None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            for path, image in zip(paths, images, strict=True):
                temporary = path.with_suffix(path.suffix + ".part")
                temporary.write_bytes(image.data)
                temporary.replace(path)

        try:
            await asyncio.to_thread(write)
        except OSError as exc:  # a local problem: trying again would only fail again
            raise DeliveryError(
                f"cannot write to {exc.filename or self.out_dir} ({exc.strerror}): "
                "pass --out a directory you may write to",
                permanent=True,
            ) from exc
        self.saved[job.id] = paths
        return Receipt(via="file", message_id=str(paths[0]) if paths else None)

    async def earlier_delivery(self, job: Job) -> Receipt | None:
        """The files of an earlier attempt, if it wrote them all."""
        paths = sorted(self.out_dir.glob(f"*-{job.id}-*.*"))
        complete = [p for p in paths if not p.name.endswith(".part")]
        if not complete or len(complete) < len(job.results):
            return None
        self.saved[job.id] = complete
        return Receipt(via="file", message_id=str(complete[0]))

    async def failed(self, job: Job, kind: FailureKind, message: str, refunded: bool) -> None:
        """Remember the failure for the caller."""
        self.failures[job.id] = (kind, message)

    async def ended(self, job: Job) -> None:
        """Nothing to record: the caller reads the job's outcome from the store."""


class TerminalNotifier(FileNotifier):
    """Saves files, and draws a single updating progress line when stderr is a terminal."""

    def __init__(self, out_dir: Path, label: str) -> None:
        super().__init__(out_dir)
        self.label = label
        self.active = sys.stderr.isatty()
        self.started = time.monotonic()

    async def progress(self, job: Job, progress: Progress) -> None:
        """Draw the progress line."""
        await super().progress(job, progress)
        if self.active:
            where = f" (position {progress.position})" if progress.position else ""
            elapsed = time.monotonic() - self.started
            sys.stderr.write(f"\r{self.label}: {progress.stage.value}{where} {elapsed:5.0f}s ")
            sys.stderr.flush()

    def done(self) -> None:
        """End the progress line."""
        if self.active:
            sys.stderr.write("\n")
