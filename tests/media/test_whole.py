"""A provider's result is checked whole without decoding its pixels: the same description as
a full decode for every kind of image, and a truncated or damaged file refused."""

from __future__ import annotations

import zlib

import pytest

from bot.media.sniff import NotAnImageError, inspect_image, inspect_whole
from tests.fuzz.strategies import REAL_IMAGES


@pytest.mark.parametrize("data", REAL_IMAGES)
def test_a_whole_image_is_described_as_a_decode_describes_it(data):
    assert inspect_whole(data) == inspect_image(data)


@pytest.mark.parametrize("data", REAL_IMAGES)
@pytest.mark.parametrize("keep", [0.5, 0.9, -1])
def test_a_truncated_image_is_refused(data, keep):
    cut = len(data) - 1 if keep == -1 else int(len(data) * keep)
    with pytest.raises(NotAnImageError):
        inspect_whole(data[:cut])


def test_a_damaged_png_chunk_is_refused():
    png = next(data for data in REAL_IMAGES if data.startswith(b"\x89PNG"))
    damaged = bytearray(png)
    damaged[len(png) // 2] ^= 0xFF
    with pytest.raises(NotAnImageError, match="truncated or corrupt"):
        inspect_whole(bytes(damaged))


def test_a_header_announcing_too_many_pixels_is_refused():
    png = bytearray(next(data for data in REAL_IMAGES if data.startswith(b"\x89PNG")))
    png[16:24] = (60_000).to_bytes(4, "big") * 2
    png[29:33] = zlib.crc32(png[12:29]).to_bytes(4, "big")  # the header itself is whole
    with pytest.raises(NotAnImageError, match="too large"):
        inspect_whole(bytes(png))
