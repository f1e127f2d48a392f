"""Posting result images where they can go, each place with its own upload limit.

A follow-up through the interaction may carry files up to the interaction's
``attachment_size_limit`` (a Nitro requester raises it); the bot's own channel messages are
limited by the server's boost tier (``Guild.filesize_limit``), DMs by Discord's default 10 MiB,
and every request by a total. Images are fitted to the place before sending; if Discord still
answers 40005 (the server lost a boost, say), they are fitted smaller and sent again, never the
same bytes twice.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

import discord

from bot.jobs.models import Job
from bot.jobs.ports import DeliveryError
from bot.media.fit import ImageTooLargeError, fit_all_async
from bot.media.sniff import ImageFile

DM_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's default per file, whatever the server's tier
MAX_REQUEST_BYTES = 25 * 1024 * 1024  # all files of one message together
MAX_FILES = 10
REQUEST_TOO_LARGE = 40005
SHRINK = 0.7  # after a 40005, the next attempt's per-file limit, relative to the largest file
MAX_SHRINKS = 4

#: Discord's answers that mean "the bot cannot post here", with a reason for the requester
CANNOT_POST: dict[int, str] = {
    10003: "the channel is gone",
    50001: "I can't see that channel",
    50013: "I'm missing a permission there",
    50083: "the thread is archived",
    160005: "the thread is locked",
}
#: the interaction's token has expired or is unknown: post with the bot's own token instead
TOKEN_GONE = frozenset({50027, 10015})

Send = Callable[[list[discord.File]], Awaitable[discord.Message]]


class CannotPostHereError(Exception):
    """Discord refused the post because of where it was going; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refusal_reason(error: discord.HTTPException) -> str | None:
    """Why Discord will not take a post in this place, or None for any other error."""
    if error.code in CANNOT_POST:
        return CANNOT_POST[error.code]
    if error.status == 403:
        return "I'm not allowed to post there"
    return None


class _Upload(io.BytesIO):
    """An image's bytes as a file to upload, never copied whole: aiohttp asks a
    :class:`io.BytesIO` for its buffer only to learn its size, and a BytesIO made from bytes
    copies them all to give one (a copy per post in flight, 37 MB at once under a burst)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._data = data

    def getbuffer(self) -> memoryview:
        """A read-only view of the bytes (no copy)."""
        return memoryview(self._data)


def files_for(job: Job, images: list[ImageFile]) -> list[discord.File]:
    """The images as uploads with stable names (``banana-<job>-<n>.<ext>``)."""
    return [
        discord.File(_Upload(image.data), filename=f"banana-{job.id}-{index}.{image.extension}")
        for index, image in enumerate(images, start=1)
    ]


async def send_fitted(
    send: Send, job: Job, images: list[ImageFile], per_file: int
) -> discord.Message:
    """Send ``images`` fitted under ``per_file`` bytes each (and the request total).

    On 40005 the images are fitted smaller and sent again (at most :data:`MAX_SHRINKS` times).
    Raises :class:`DeliveryError` (permanent) when they cannot be made small enough,
    :class:`CannotPostHereError` when Discord refuses the place, and lets other
    :class:`discord.HTTPException` errors through.
    """
    limit = per_file
    for _ in range(MAX_SHRINKS + 1):
        try:
            fitted = _as_they_are(images[:MAX_FILES], limit) or await fit_all_async(
                images[:MAX_FILES], limit, MAX_REQUEST_BYTES
            )
        except ImageTooLargeError as exc:
            raise DeliveryError(str(exc), permanent=True) from exc
        try:
            return await send(files_for(job, fitted))
        except discord.HTTPException as exc:
            reason = refusal_reason(exc)
            if reason is not None:
                raise CannotPostHereError(reason) from exc
            if exc.code != REQUEST_TOO_LARGE:
                raise
            # Discord does not say its limit: the default one first, then smaller steps
            largest = max(len(image.data) for image in fitted)
            limit = max(1, min(DM_UPLOAD_LIMIT, int(largest * SHRINK)))
    raise DeliveryError(
        "Discord refused the images as too large, even made smaller", permanent=True
    )


def _as_they_are(images: list[ImageFile], per_file: int) -> list[ImageFile] | None:
    """``images`` when they fit as they are (no trip to the worker pool), else None."""
    sizes = [len(image.data) for image in images]
    if sizes and max(sizes) <= per_file and sum(sizes) <= MAX_REQUEST_BYTES:
        return images
    return None
