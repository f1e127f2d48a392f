"""Fitting result images under Discord's upload limits: re-encoding, downscaling, totals."""

import io

import pytest
from PIL import Image, ImageCms, ImageDraw

from bot.media.fit import (
    ImageTooLargeError,
    fit_all,
    fit_all_async,
    fit_image,
    fit_image_async,
)
from bot.media.sniff import EXTENSIONS, ImageFile, NotAnImageError, inspect_image, sniff_mime
from providers.local import render_image

MiB = 1024 * 1024


def png_file(data: bytes) -> ImageFile:
    return ImageFile(data=data, mime_type="image/png", extension="png")


def noisy(size: tuple[int, int], prompt: str = "a lighthouse in a storm") -> ImageFile:
    return png_file(render_image(prompt, size, noise=True))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def check_fitted(result: ImageFile, max_bytes: int, original_size: tuple[int, int]) -> Image.Image:
    """The result fits, says truthfully what it is, decodes, and keeps the aspect ratio."""
    assert len(result.data) <= max_bytes
    mime = sniff_mime(result.data)
    assert mime in ("image/webp", "image/jpeg")
    assert (result.mime_type, result.extension) == (mime, EXTENSIONS[mime])
    decoded = Image.open(io.BytesIO(result.data))
    decoded.load()  # the whole file decodes
    width, height = original_size
    assert decoded.width / decoded.height == pytest.approx(width / height, rel=0.01)
    return decoded


# Just under 4K (3840x2160) to keep the tests quick, yet still a PNG over 8 MiB.
BIG = (3200, 1800)


@pytest.fixture(scope="module")
def big_png() -> ImageFile:
    image = noisy(BIG)
    assert len(image.data) > 8 * MiB  # a noisy PNG compresses badly
    return image


def test_an_image_that_fits_is_returned_untouched():
    image = noisy((320, 200))
    assert fit_image(image, len(image.data)) is image
    assert fit_image(image, 8 * MiB).data == image.data


def test_a_big_png_is_fitted_under_8_mib_at_full_size(big_png):
    result = fit_image(big_png, 8 * MiB)
    decoded = check_fitted(result, 8 * MiB, BIG)
    assert decoded.size == BIG  # quality alone was enough


def test_a_big_png_is_downscaled_to_fit_under_1_mib(big_png):
    result = fit_image(big_png, 1 * MiB)
    decoded = check_fitted(result, 1 * MiB, BIG)
    assert 512 <= decoded.width < BIG[0]


def test_transparency_survives_when_webp_wins():
    image = Image.open(io.BytesIO(render_image("glass", (768, 768)))).convert("RGBA")
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).ellipse((80, 80, 688, 688), fill=255)
    image.putalpha(mask)
    data = encode(image, "PNG")

    result = fit_image(png_file(data), len(data) // 2)

    decoded = check_fitted(result, len(data) // 2, image.size)
    assert result.mime_type == "image/webp"
    assert decoded.mode == "RGBA"
    alpha = decoded.getchannel("A")
    assert alpha.getpixel((5, 5)) == 0  # corner: transparent
    assert alpha.getpixel((384, 384)) == 255  # centre: opaque


def test_exif_orientation_is_baked_into_the_pixels():
    image = Image.open(io.BytesIO(render_image("tall", (600, 400), noise=True)))
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    data = encode(image, "JPEG", quality=98, exif=exif)

    result = fit_image(ImageFile(data, "image/jpeg", "jpg"), len(data) // 2)

    decoded = check_fitted(result, len(data) // 2, (400, 600))
    assert decoded.size == (400, 600)
    assert decoded.getexif().get(0x0112, 1) == 1


def test_the_icc_profile_is_kept():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.open(io.BytesIO(render_image("colour", (400, 300), noise=True)))
    data = encode(image, "PNG", icc_profile=icc)

    result = fit_image(png_file(data), len(data) // 2)

    assert Image.open(io.BytesIO(result.data)).info.get("icc_profile") == icc


def test_an_impossible_limit_raises():
    with pytest.raises(ImageTooLargeError, match="cannot fit a 800x600 image") as caught:
        fit_image(noisy((800, 600)), 2000)
    assert isinstance(caught.value, ValueError)
    assert caught.value.max_bytes == 2000
    assert caught.value.smallest_bytes is not None
    assert caught.value.smallest_bytes > 2000


def test_bad_input_is_refused():
    with pytest.raises(NotAnImageError):
        fit_image(png_file(b"<html>not an image</html>" * 100), 100)
    with pytest.raises(ValueError, match="positive"):
        fit_image(noisy((64, 64)), 0)


def test_fit_all_keeps_small_files_and_shrinks_the_largest_to_meet_the_total():
    small, first, second = noisy((64, 64)), noisy((640, 400), "one"), noisy((480, 480), "two")
    images = [first, small, second]
    total = 250_000
    assert len(small.data) < total // 3 < min(len(first.data), len(second.data))

    assert fit_all(images, 8 * MiB) == images  # no total cap: everything already fits
    result = fit_all(images, 8 * MiB, total_max_bytes=total)

    assert sum(len(image.data) for image in result) <= total
    assert result[1] is small
    check_fitted(result[0], total, (640, 400))
    check_fitted(result[2], total, (480, 480))


def test_fit_all_raises_when_the_total_is_impossible():
    with pytest.raises(ImageTooLargeError, match="together"):
        fit_all([noisy((320, 200)), noisy((320, 200), "b")], 8 * MiB, total_max_bytes=4000)


async def test_the_async_twins_run_the_same_fitting():
    image = noisy((320, 200))
    limit = len(image.data) // 3

    result = await fit_image_async(image, limit)
    check_fitted(result, limit, (320, 200))
    results = await fit_all_async([image, image], limit, total_max_bytes=limit)
    assert sum(len(r.data) for r in results) <= limit


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header announces width x height pixels, in about a kilobyte."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1000, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(30_000, 30_000), (9_000, 9_000)])
def test_decompression_bombs_are_refused_from_the_header(size):
    data = bomb_png(*size)
    assert len(data) < 2_000
    with pytest.raises(NotAnImageError, match="image too large"):
        inspect_image(data)
