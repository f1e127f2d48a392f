"""Reference images, however they arrive (a Discord attachment, a CLI path or URL), made into
what a provider takes: checked by content, passed by URL to URL-only providers (and a CLI URL
to any provider that fetches URLs, declared as the type its bytes show), and otherwise
uploaded as bytes, re-encoded when the provider cannot take the format or the size.

The one loader for the Discord intake and the headless CLI, so both refuse and shrink alike.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from bot.media.fetch import FetchError, ImageFetcher
from bot.media.fit import ImageTooLargeError, fit_image_async, still_png
from bot.media.sniff import (
    ImageFile,
    ImageInfo,
    NotAnImageError,
    inspect_image,
    inspect_image_async,
)
from bot.media.spool import Spool
from providers import cpu
from providers.base import Capabilities, ReferenceImage
from providers.validation import format_name

_URL = re.compile(r"^https?://", re.IGNORECASE)
#: a caption's most characters (Discord's limit for an attachment's description, its alt text)
MAX_CAPTION = 1024
#: reference downloads in flight at once (the others wait their turn)
DOWNLOADS_AT_ONCE = 16


class ReferenceImageError(Exception):
    """A reference image cannot be used. ``invalid``: the input itself is at fault (the user
    can fix it), as opposed to a download that failed."""

    def __init__(self, message: str, *, invalid: bool = True) -> None:
        super().__init__(message)
        self.invalid = invalid


class ReferenceLoader:
    """Turns image bytes, files and URLs into a provider's :class:`ReferenceImage`."""

    def __init__(self, fetcher: ImageFetcher) -> None:
        self.fetcher = fetcher
        # each download in flight holds its network and write buffers (a few hundred KB)
        self._downloads = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    async def from_bytes(
        self,
        caps: Capabilities,
        label: str,
        data: bytes,
        *,
        url: str | None = None,
        by_url: bool = False,
    ) -> ReferenceImage:
        """``data`` (downloaded from ``url``, when it came from one) as a reference for a
        provider with ``caps``; ``label`` names it in errors. ``by_url``: a still image the
        provider can fetch itself keeps its ``url`` too, so it goes by link (a provider that
        takes only one uploaded file beside nothing else can then take several)."""
        try:
            info = await inspect_image_async(data)
        except NotAnImageError as exc:
            raise ReferenceImageError(f"{label} is not a usable image: {exc}") from exc
        return await self._reference(caps, label, data, info, url=url, by_url=by_url)

    async def _reference(
        self,
        caps: Capabilities,
        label: str,
        data: bytes,
        info: ImageInfo,
        *,
        url: str | None,
        by_url: bool,
    ) -> ReferenceImage:
        """:meth:`from_bytes` for bytes already checked (``info``)."""
        still = info.mime_type in caps.reference_formats and not info.animated
        if not caps.accepts_reference_bytes:
            if url is None:
                raise ReferenceImageError(
                    f"{label}: {caps.provider} only takes reference images by public URL; "
                    "host the file and pass its https:// URL"
                )
            if not still:
                raise ReferenceImageError(
                    f"{label} is {_kind(info)}, and {caps.provider} takes only "
                    f"{', '.join(format_name(f) for f in caps.reference_formats)} references "
                    "(by link, so I can't convert it): attach a still image instead"
                )
            return ReferenceImage(url=url, mime_type=info.mime_type)
        image = ImageFile.of(data, info)
        if not still:  # the first frame, as a still PNG the provider takes
            image = await cpu.run(still_png, data)
        limit = caps.max_reference_bytes
        if limit is not None and len(image.data) > limit:
            try:
                image = await fit_image_async(image, limit)
            except ImageTooLargeError as exc:
                raise ReferenceImageError(f"{label} is too large for {caps.provider}") from exc
        if by_url and url is not None and still and caps.accepts_reference_urls:
            return ReferenceImage(url=url, data=image.data, mime_type=image.mime_type)
        return ReferenceImage(data=image.data, mime_type=image.mime_type)

    async def download(
        self,
        caps: Capabilities,
        label: str,
        url: str,
        *,
        caption: str | None = None,
        by_url: bool = False,
    ) -> ReferenceImage:
        """The image at ``url`` (a chat attachment: its URL expires, so the bytes are taken
        now), downloaded under the fetcher's guard and made a reference as in
        :meth:`from_bytes`, with ``caption`` (the attachment's description, its alt text).
        A failed download is not ``invalid`` (the user did nothing wrong).

        The download waits on disk, not in memory (:meth:`spool`), and is read by the worker
        that checks it (:meth:`from_spool`).
        """
        spool = await self.spool(label, url)
        try:
            return await self.from_spool(
                caps, label, spool, url=url, caption=caption, by_url=by_url
            )
        finally:
            spool.close()

    async def spool(self, label: str, url: str) -> Spool:
        """Download ``url`` into a file on disk (:mod:`bot.media.spool`), unchecked, at most
        :data:`DOWNLOADS_AT_ONCE` at a time; the caller closes it. A failed download is not
        ``invalid``."""
        try:
            async with self._downloads:
                return await self.fetcher.spool(url)
        except FetchError as exc:
            raise ReferenceImageError(
                f"{label} could not be downloaded ({exc})", invalid=False
            ) from exc

    async def from_spool(
        self,
        caps: Capabilities,
        label: str,
        spool: Spool,
        *,
        url: str,
        caption: str | None = None,
        by_url: bool = False,
    ) -> ReferenceImage:
        """A spooled download made a reference as in :meth:`from_bytes`. Its bytes are read
        by the worker that checks them, so many downloads waiting for the worker pool wait
        as files, not in memory."""
        try:
            data, info = await cpu.run(_read_checked, spool)
        except NotAnImageError as exc:
            raise ReferenceImageError(f"{label} is not a usable image: {exc}") from exc
        reference = await self._reference(caps, label, data, info, url=url, by_url=by_url)
        return captioned(reference, caption)

    async def from_source(
        self, caps: Capabilities, source: str, *, caption: str | None = None
    ) -> ReferenceImage:
        """A reference named on the command line (an ``http(s)://`` URL or a file path), with
        ``caption`` (``--caption``)."""
        return captioned(await self._from_source(caps, source), caption)

    async def _from_source(self, caps: Capabilities, source: str) -> ReferenceImage:
        label = f"reference {source}"
        if _URL.match(source):
            if caps.accepts_reference_urls:
                return await self._by_url(caps, label, source)
            try:
                fetched = await self.fetcher.fetch(source)
            except FetchError as exc:
                raise ReferenceImageError(f"{label}: {exc}", invalid=False) from exc
            return await self.from_bytes(caps, label, fetched.data)
        path = Path(source)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise ReferenceImageError(f"{label}: no such file") from exc
        except IsADirectoryError as exc:
            raise ReferenceImageError(f"{label} is a directory: name an image file") from exc
        except OSError as exc:
            raise ReferenceImageError(f"{label}: cannot read it ({exc.strerror})") from exc
        return await self.from_bytes(caps, label, data)

    async def _by_url(self, caps: Capabilities, label: str, url: str) -> ReferenceImage:
        """``url`` as a reference the provider fetches itself, declared as the type it really
        is: the bytes are downloaded (under the fetcher's guard) and sniffed. When they cannot
        be downloaded here, the type is inferred from the URL's file extension; a download that
        is not an image is refused. A type the provider cannot take is converted and uploaded
        where the provider takes bytes, as :meth:`from_bytes` does."""
        try:
            data = await self.fetcher.fetch_bytes(url)
        except FetchError as exc:
            guessed = _type_from_url(url)
            if guessed is None:
                raise ReferenceImageError(
                    f"{label} could not be downloaded to learn its type ({exc}); name a URL "
                    "ending in .png, .jpg or .webp, or download it and pass the file",
                    invalid=False,
                ) from exc
            return ReferenceImage(url=url, mime_type=guessed)
        try:
            info = await inspect_image_async(data)
        except NotAnImageError as exc:
            raise ReferenceImageError(f"{label} is not a usable image: {exc}") from exc
        if info.mime_type in caps.reference_formats and not info.animated:
            return ReferenceImage(url=url, mime_type=info.mime_type)
        return await self.from_bytes(caps, label, data, url=url)


_URL_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


def _read_checked(spool: Spool) -> tuple[bytes, ImageInfo]:
    """A spooled download's bytes, checked to be a whole image (in a worker)."""
    data = spool.read()
    return data, inspect_image(data)


def _type_from_url(url: str) -> str | None:
    """The image type a URL's path names by its extension (``…/photo.JPG?sig=…``), if any."""
    return _URL_TYPES.get(PurePosixPath(urlsplit(url).path).suffix.lower())


def captioned(reference: ReferenceImage, caption: str | None) -> ReferenceImage:
    """``reference`` with ``caption`` (trimmed, cut to :data:`MAX_CAPTION`; a blank one is
    no caption), which providers that take one send beside the image."""
    text = " ".join((caption or "").split())[:MAX_CAPTION]
    return reference.model_copy(update={"caption": text}) if text else reference


def _kind(info: ImageInfo) -> str:
    name = format_name(info.mime_type)
    return f"an animated {name}" if info.animated else f"a {name}"
