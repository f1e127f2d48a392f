"""Small previews of results (the audit log's thumbnails), made in the bounded worker pool."""

from __future__ import annotations

import io

from bot.media.sniff import decode_image
from providers import cpu

THUMBNAIL_EDGE = 256


def thumbnail(data: bytes, edge: int = THUMBNAIL_EDGE) -> bytes:
    """A JPEG at most ``edge`` pixels on its longer side (through the one decoding guard)."""
    image = decode_image(data)
    try:
        image.thumbnail((edge, edge))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
        return out.getvalue()
    finally:
        image.close()


async def thumbnail_async(data: bytes, edge: int = THUMBNAIL_EDGE) -> bytes:
    """:func:`thumbnail`, off the event loop."""
    return await cpu.run(thumbnail, data, edge)
