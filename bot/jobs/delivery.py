"""The seam between the engine and whatever shows results to people.

The Discord layer implements :class:`Delivery` with messages; the headless CLI implements it
with files (:class:`FileDelivery`). Delivery must happen once per job: after a crash between
showing the results and recording it, the engine first asks ``earlier_delivery`` (before
downloading anything again) and only calls ``deliver`` when nothing was shown.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Protocol

from bot.jobs.models import FailureKind, ImageFile, Job, Progress, Receipt


class DeliveryError(Exception):
    """Delivery failed. ``permanent`` failures are not retried (the job fails, is refunded)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Delivery(Protocol):
    """What the engine needs from the presentation layer."""

    async def progress(self, job: Job, progress: Progress) -> None:
        """Show how the job is doing (best effort; errors are logged, never fatal)."""

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        """Show the results. Idempotent per ``job.id``. Raises :class:`DeliveryError`."""

    async def earlier_delivery(self, job: Job) -> Receipt | None:
        """Before a repeated attempt: where this job's results were already shown, if they were
        (the process died between showing them and recording it)."""

    async def failed(self, job: Job, kind: FailureKind, message: str, refunded: bool) -> None:
        """Tell the requester the job failed and whether the credits came back."""


def result_name(job: Job, index: int, extension: str) -> str:
    """A stable file name for a job's ``index``-th image (so repeating a delivery overwrites)."""
    slug = re.sub(r"[^a-z0-9]+", "-", job.request.prompt.lower()).strip("-")[:40] or "image"
    return f"{slug}-{job.id}-{index}.{extension}"


class FileDelivery:
    """Saves results to a directory; records failures for the caller to report."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.saved: dict[str, list[Path]] = {}
        self.failures: dict[str, tuple[FailureKind, str]] = {}
        self.progress_log: list[tuple[str, Progress]] = []

    async def progress(self, job: Job, progress: Progress) -> None:
        """Keep the report (the CLI draws its own progress line)."""
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
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.out_dir}: {exc.strerror}") from exc
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
