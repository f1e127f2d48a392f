"""Recognise an image by its content, never by a file name or a declared type, and decode it
safely: the one guard against decompression bombs and corrupt files lives here."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from providers import cpu

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
)

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")

# A decompression bomb guard: no provider makes images near this size.
MAX_PIXELS = 80_000_000


class NotAnImageError(ValueError):
    """The bytes are not a usable image (wrong type, or corrupt)."""


@dataclass(frozen=True)
class ImageInfo:
    """What the bytes turned out to be."""

    mime_type: str
    width: int
    height: int
    frames: int = 1

    @property
    def animated(self) -> bool:
        """More than one frame (a GIF, WebP or PNG animation)."""
        return self.frames > 1

    @property
    def extension(self) -> str:
        """The usual file extension for the type."""
        return EXTENSIONS[self.mime_type]


@dataclass(frozen=True)
class ImageFile:
    """Verified image bytes with their type: a result ready to deliver, or a re-encoding."""

    data: bytes
    mime_type: str
    extension: str

    @classmethod
    def of(cls, data: bytes, info: ImageInfo) -> ImageFile:
        """Bytes that :func:`inspect_image` described as ``info``."""
        return cls(data=data, mime_type=info.mime_type, extension=info.extension)


def sniff_mime(data: bytes) -> str | None:
    """The image MIME type from the magic bytes, or None."""
    for magic, offset, mime in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode_image(data: bytes, formats: Sequence[str] = FORMATS) -> Image.Image:
    """Decode ``data`` fully, refusing anything that is not a whole, reasonably sized image.

    The type must be recognised from the magic bytes; the pixel count is checked against
    :data:`MAX_PIXELS` before any pixel is decoded (and Pillow's own bomb warning is an
    error); a truncated or corrupt file raises :class:`NotAnImageError`. The caller closes
    the returned image.
    """
    if sniff_mime(data) is None:
        raise NotAnImageError("not a PNG, JPEG, WebP or GIF image")
    image: Image.Image | None = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(formats))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise NotAnImageError(f"image too large ({width}x{height} pixels)")
            image.load()
    except NotAnImageError:
        if image is not None:
            image.close()
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        # the header alone announced too many pixels: nothing was decoded
        if image is not None:
            image.close()
        raise NotAnImageError(f"image too large (over {MAX_PIXELS:,} pixels)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if image is not None:
            image.close()
        raise NotAnImageError(f"corrupt or truncated image ({exc})") from exc
    return image


def inspect_image(data: bytes) -> ImageInfo:
    """Check that ``data`` is a whole PNG/JPEG/WebP/GIF image; raise :class:`NotAnImageError`.

    The type comes from the magic bytes, and Pillow must be able to decode the pixels, so a
    truncated or corrupt file is refused here rather than failing later at a provider.
    """
    mime = sniff_mime(data)
    with decode_image(data) as image:
        width, height = image.size
        frames = int(getattr(image, "n_frames", 1))
    assert mime is not None  # decode_image refuses unknown types
    return ImageInfo(mime_type=mime, width=width, height=height, frames=frames)


async def inspect_image_async(data: bytes) -> ImageInfo:
    """:func:`inspect_image` in the bounded CPU pool (decoding takes up to a second)."""
    return await cpu.run(inspect_image, data)


def inspect_whole(data: bytes) -> ImageInfo:
    """:func:`inspect_image` without decoding the pixels, for a provider's result: the type
    from the magic bytes, the size from the header (the bomb guard applies), and the file
    checked to be whole (every PNG chunk's CRC and its end chunk, JPEG's end marker, GIF's
    trailer, WebP's RIFF length), at a small fraction of a decode's cost."""
    mime = sniff_mime(data)
    if mime is None:
        raise NotAnImageError("not a PNG, JPEG, WebP or GIF image")
    if not _whole(data, mime):
        raise NotAnImageError("truncated or corrupt image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(FORMATS)) as image:
                width, height = image.size
                frames = int(getattr(image, "n_frames", 1))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise NotAnImageError(f"image too large (over {MAX_PIXELS:,} pixels)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise NotAnImageError(f"corrupt or truncated image ({exc})") from exc
    if width * height > MAX_PIXELS:
        raise NotAnImageError(f"image too large ({width}x{height} pixels)")
    return ImageInfo(mime_type=mime, width=width, height=height, frames=frames)


async def inspect_whole_async(data: bytes) -> ImageInfo:
    """:func:`inspect_whole` in the bounded CPU pool (the CRCs of a large PNG take a few
    milliseconds)."""
    return await cpu.run(inspect_whole, data)


def _whole(data: bytes, mime: str) -> bool:
    """Whether the file ends where its format says it does."""
    if mime == "image/png":
        return _png_whole(data)
    if mime == "image/jpeg":
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if mime == "image/gif":
        return data.endswith(b"\x3b")
    return len(data) >= 8 + int.from_bytes(data[4:8], "little")  # WebP: the RIFF length


def _png_whole(data: bytes) -> bool:
    """Every chunk complete with a matching CRC, up to ``IEND``."""
    at = 8
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        end = at + 12 + length
        if end > len(data):
            return False
        crc = struct.unpack(">I", data[end - 4 : end])[0]
        if zlib.crc32(data[at + 4 : end - 4]) != crc:
            return False
        if kind == b"IEND":
            return True
        at = end
    return False
