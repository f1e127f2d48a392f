"""Make result images small enough to upload to Discord.

Why: Discord refuses a file larger than the interaction's ``attachment_size_limit`` (10 MiB
by default, more in boosted servers), and a whole message's upload is capped as well. Image
providers can return 4K PNGs of 20–30 MB, which would make delivery fail outright.

Strategy, cheapest loss first:

1. Bytes that already fit are returned untouched (a PNG stays a PNG, byte for byte).
2. Otherwise the image is decoded (only PNG/JPEG/WebP/GIF, with the decompression-bomb guard
   of :func:`bot.media.sniff.decode_image`), its EXIF orientation is baked into the pixels and it is
   re-encoded at the quality steps 95, 90, 85, 80, 70. Each step is encoded as both WebP
   (keeps alpha) and JPEG (alpha flattened onto white) and the smaller of the two is taken
   (a large opaque image only as WebP when a centre sample shows it clearly smaller, else as
   JPEG: a 4K WebP encode costs seconds, a JPEG one a tenth of that);
   the highest quality that fits wins. Assuming size falls with quality, the search does not
   walk every step: it probes 95, then 70 (can this size fit at all?), then bisects between.
3. If nothing fits at quality 70, the image is downscaled (Lanczos) by steps of 0.85 from the
   original pixels, down to a floor of 512 px on the longest side, and step 2 is repeated.
   Scales that could not fit even if the file shrank with the cube of the scale are
   skipped, so a big overshoot does not pay for every intermediate step.
4. If even the floor at quality 70 is too big, :class:`ImageTooLargeError` is raised.

The ICC profile (when it describes RGB) and the remaining EXIF data are carried over. An
animated GIF that does not fit keeps only its first frame.

The work is CPU-bound (1.5–2 s per WebP encode of a 4K image), so async code should
call :func:`fit_image_async` / :func:`fit_all_async`, which run it in a worker thread.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageOps

from bot.media.sniff import EXTENSIONS, ImageFile, decode_image, sniff_mime
from providers import cpu

QUALITIES = (95, 90, 85, 80, 70)  # tried best first; each as WebP and JPEG
SCALE_STEP = 0.85
MIN_LONGEST_SIDE = 512  # never downscale below this (smaller originals are not upscaled)
WEBP_METHOD = 4  # libwebp effort, 0 (fast) .. 6 (small); 4 is Pillow's default
#: an opaque image larger than this is encoded only in the format a sample of it favours
SAMPLE_ABOVE_PIXELS = 2_000_000
SAMPLE_SIDE = 768
#: for such an image WebP is encoded only when its sample is at most this share of JPEG's
WEBP_WORTH = 0.8

_WEBP_MAX_SIDE = 16383
_JPEG_MAX_SIDE = 65500
_JPEG_MAX_EXIF = 65000  # a JPEG APP1 segment holds at most 64 KiB
_EXIF_ORIENTATION = 0x0112
_WHITE = (255, 255, 255)


class ImageTooLargeError(ValueError):
    """The image cannot be made small enough, even downscaled to the floor at low quality."""

    def __init__(self, message: str, *, max_bytes: int, smallest_bytes: int | None) -> None:
        super().__init__(message)
        self.max_bytes = max_bytes
        self.smallest_bytes = smallest_bytes


@dataclass(frozen=True)
class _Encoded:
    data: bytes
    mime_type: str
    quality: int
    size: tuple[int, int]


class _Source:
    """The decoded image, normalised to RGB or RGBA, plus the metadata to carry over."""

    def __init__(self, image: Image.Image) -> None:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        if orientation != 1:
            image = ImageOps.exif_transpose(image)  # also drops the tag from the EXIF
        exif = image.getexif()
        self.exif = exif.tobytes() if len(exif) else b""
        icc = image.info.get("icc_profile")
        # Only an RGB profile still describes the pixels once they are converted to RGB(A).
        self.icc = icc if isinstance(icc, bytes) and icc[16:20] == b"RGB " else b""

        has_alpha = _has_alpha(image)
        base = image.convert("RGBA" if has_alpha else "RGB")
        if has_alpha and base.getchannel("A").getextrema()[0] == 255:
            base = base.convert("RGB")  # an alpha channel that is opaque everywhere
        base.info.clear()  # metadata is passed explicitly to the encoders
        self.base = base
        self._sampled: dict[int, frozenset[str]] = {}  # quality -> formats worth encoding

    @property
    def has_alpha(self) -> bool:
        return self.base.mode == "RGBA"

    def sizes(self) -> list[tuple[int, int]]:
        """The full size, then each downscaling step down to the floor (inclusive)."""
        width, height = self.base.size
        longest = max(width, height)
        floor = min(MIN_LONGEST_SIDE, longest)

        def scaled(factor: float) -> tuple[int, int]:
            return max(1, round(width * factor)), max(1, round(height * factor))

        sizes = [(width, height)]
        factor = SCALE_STEP
        while longest * factor >= floor:
            size = scaled(factor)
            if size != sizes[-1]:
                sizes.append(size)
            factor *= SCALE_STEP
        if max(sizes[-1]) > floor:
            sizes.append(scaled(floor / longest))
        return sizes

    def encoder(
        self, size: tuple[int, int], cache: dict[tuple[tuple[int, int], int], _Encoded | None]
    ) -> Callable[[int], _Encoded | None]:
        """Encode at ``size``: a function from quality to the smaller of WebP and JPEG.

        Results are kept in ``cache`` (by size and quality), which may outlive this object.
        """
        frames: list[Image.Image] = []  # resized (and flattened) on the first real encode

        def encode(quality: int) -> _Encoded | None:
            key = (size, quality)
            if key not in cache:
                if not frames:
                    frames.extend(self._frames(size))
                frame, flat = frames
                options: list[_Encoded] = []
                formats = self._formats(size, quality)
                if max(size) <= _WEBP_MAX_SIDE and "WEBP" in formats:
                    options.append(self._save(frame, "WEBP", quality, method=WEBP_METHOD))
                if max(size) <= _JPEG_MAX_SIDE and "JPEG" in formats:
                    options.append(self._save(flat, "JPEG", quality, optimize=True))
                cache[key] = min(options, key=lambda e: len(e.data), default=None)
            return cache[key]

        return encode

    def _formats(self, size: tuple[int, int], quality: int) -> frozenset[str]:
        """The formats worth encoding at ``size``: both, unless the image is large and opaque;
        then one, chosen on a sample (its centre, :data:`SAMPLE_SIDE` square) at ``quality``:
        WebP where it is clearly smaller (:data:`WEBP_WORTH`), else JPEG (a 4K WebP encode
        costs seconds, a JPEG one a tenth of that)."""
        if self.has_alpha or size[0] * size[1] < SAMPLE_ABOVE_PIXELS:
            return frozenset({"WEBP", "JPEG"})
        if quality not in self._sampled:
            width, height = self.base.size
            side = min(SAMPLE_SIDE, width, height)
            left, top = (width - side) // 2, (height - side) // 2
            crop = self.base.crop((left, top, left + side, top + side))
            webp = len(self._save(crop, "WEBP", quality, method=WEBP_METHOD).data)
            jpeg = len(self._save(crop, "JPEG", quality, optimize=True).data)
            # a WebP encode costs about ten JPEG ones: worth it only when clearly smaller
            favoured = "WEBP" if webp <= jpeg * WEBP_WORTH else "JPEG"
            self._sampled[quality] = frozenset({favoured})
        return self._sampled[quality]

    def _frames(self, size: tuple[int, int]) -> tuple[Image.Image, Image.Image]:
        """The image at ``size`` for WebP (alpha kept) and for JPEG (flattened onto white)."""
        frame = (
            self.base
            if size == self.base.size
            else self.base.resize(size, Image.Resampling.LANCZOS)
        )
        if not self.has_alpha:
            return frame, frame
        flat = Image.new("RGB", size, _WHITE)
        flat.paste(frame, mask=frame.getchannel("A"))
        return frame, flat

    def _save(self, image: Image.Image, fmt: str, quality: int, **options: object) -> _Encoded:
        if self.icc:
            options["icc_profile"] = self.icc
        if self.exif and (fmt != "JPEG" or len(self.exif) <= _JPEG_MAX_EXIF):
            options["exif"] = self.exif
        out = io.BytesIO()
        image.save(out, fmt, quality=quality, **options)
        mime = "image/webp" if fmt == "WEBP" else "image/jpeg"
        return _Encoded(out.getvalue(), mime, quality, image.size)


def _best_quality(
    encode: Callable[[int], _Encoded | None], max_bytes: int, *, top_first: bool
) -> tuple[_Encoded | None, _Encoded | None]:
    """The highest-quality encoding that fits, and the lowest-quality one (for the estimate).

    Assumes the size falls as the quality does. With ``top_first`` (at full size, where a
    modest overshoot is the common case) the top quality is probed first; then the bottom one,
    to learn whether anything fits at this size at all; then the steps in between are
    bisected. After a downscale, which was chosen so that the bottom quality just fits, the
    top is unlikely to fit, so it is left to the bisection.
    """

    def fits(encoded: _Encoded | None) -> bool:
        return encoded is not None and len(encoded.data) <= max_bytes

    if top_first and fits(best := encode(QUALITIES[0])):
        return best, None
    lowest = encode(QUALITIES[-1])
    if not fits(lowest):
        return None, lowest
    assert lowest is not None
    between = QUALITIES[1:-1] if top_first else QUALITIES[:-1]  # best first
    best, lo, hi = lowest, 0, len(between)  # the first fitting index of ``between`` is in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        encoded = encode(between[mid])
        if fits(encoded):
            assert encoded is not None
            best, hi = encoded, mid
        else:
            lo = mid + 1
    return best, lowest


def _next_index(sizes: list[tuple[int, int]], index: int, nbytes: int, max_bytes: int) -> int:
    """The next size worth trying after ``sizes[index]`` gave ``nbytes`` at the lowest quality.

    Skips sizes that would still be too big even if the file shrank with the cube of the
    scale. Photos shrink about with its square or slower (detail gets denser); noise-like
    content shrinks faster, and the cube leaves room for that, so no size that could fit is
    skipped in practice.
    """
    current = max(sizes[index])
    for later in range(index + 1, len(sizes)):
        if nbytes * (max(sizes[later]) / current) ** 3 <= max_bytes:
            return later
    return len(sizes) - 1 if index < len(sizes) - 1 else len(sizes)


def _mib(nbytes: int) -> str:
    return f"{nbytes / 1024 / 1024:.2f} MiB" if nbytes >= 1024 * 1024 else f"{nbytes} bytes"


def fit_image(image: ImageFile, max_bytes: int) -> ImageFile:
    """Return ``image`` if it is at most ``max_bytes`` long, else a re-encoded copy that is.

    The copy is WebP or JPEG at the highest quality step that fits, downscaled if needed; its
    ``mime_type`` and ``extension`` come from sniffing the new bytes. CPU-bound: from async
    code use :func:`fit_image_async`.

    Raises :class:`ImageTooLargeError` if no encoding fits (even at the size floor and
    quality 70), :class:`~bot.media.sniff.NotAnImageError` if the bytes are not an image, and
    ``ValueError`` if ``max_bytes`` is not positive.
    """
    return _Fitter(image).fit(max_bytes)


class _Fitter:
    """Fits one image, remembering its encodings so a tighter second fit reuses them.

    The decoded pixels are dropped after each fit (a 4K RGBA frame is 33 MB); a later fit
    decodes again, which costs far less than repeating an encode.
    """

    def __init__(self, image: ImageFile) -> None:
        self.image = image
        self._sizes: list[tuple[int, int]] = []
        self._encoded: dict[tuple[tuple[int, int], int], _Encoded | None] = {}

    def fit(self, max_bytes: int) -> ImageFile:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        if len(self.image.data) <= max_bytes:
            return self.image
        with decode_image(self.image.data) as decoded:
            source = _Source(decoded)
        sizes = self._sizes = self._sizes or source.sizes()
        smallest: _Encoded | None = None
        index = 0
        while index < len(sizes):
            best, lowest = _best_quality(
                source.encoder(sizes[index], self._encoded), max_bytes, top_first=index == 0
            )
            if best is not None:
                return _to_image_file(best)
            if lowest is None:  # no encoder takes an image this wide; try a smaller one
                index += 1
                continue
            smallest = lowest
            index = _next_index(sizes, index, len(lowest.data), max_bytes)
        width, height = sizes[0]
        detail = (
            f"; the smallest attempt, {smallest.size[0]}x{smallest.size[1]} "
            f"{smallest.mime_type.removeprefix('image/').upper()} at quality {smallest.quality}, "
            f"was {_mib(len(smallest.data))}"
            if smallest is not None
            else ""
        )
        raise ImageTooLargeError(
            f"cannot fit a {width}x{height} image ({_mib(len(self.image.data))}) "
            f"into {_mib(max_bytes)}{detail}",
            max_bytes=max_bytes,
            smallest_bytes=len(smallest.data) if smallest is not None else None,
        )


def _to_image_file(encoded: _Encoded) -> ImageFile:
    # The type is confirmed from the bytes; a full decode (inspect_image) would cost as much
    # as half a WebP encode to re-check what Pillow just wrote.
    mime = sniff_mime(encoded.data)
    if mime != encoded.mime_type:  # pragma: no cover - an encoder bug
        raise RuntimeError(f"encoded {encoded.mime_type} but the bytes are {mime}")
    return ImageFile(data=encoded.data, mime_type=mime, extension=EXTENSIONS[mime])


def _share(sizes: Sequence[int], total: int) -> int | None:
    """The per-file cap that makes ``sizes`` sum to at most ``total``, or None if they do.

    Water-filling: files below the cap keep their size; the rest share what is left equally.
    """
    if sum(sizes) <= total:
        return None
    remaining = total
    ordered = sorted(sizes)
    for position, size in enumerate(ordered):
        left = len(ordered) - position
        if size * left > remaining:
            return remaining // left
        remaining -= size
    raise AssertionError("unreachable: the sizes sum to more than total")  # pragma: no cover


def fit_all(
    images: Sequence[ImageFile], max_bytes: int, total_max_bytes: int | None = None
) -> list[ImageFile]:
    """Fit each image under ``max_bytes``, and all of them together under ``total_max_bytes``.

    When the fitted images together exceed ``total_max_bytes``, a per-file cap is chosen so
    that smaller files stay as they are and the largest ones share the rest equally; those are
    re-fitted from their original bytes (not re-compressed twice), reusing the encodings
    already tried. Order is kept.

    Raises :class:`ImageTooLargeError` if an image, or the set, cannot be made small enough.
    CPU-bound: from async code use :func:`fit_all_async`.
    """
    if total_max_bytes is not None and total_max_bytes <= 0:
        raise ValueError(f"total_max_bytes must be positive, not {total_max_bytes}")
    fitters = [_Fitter(image) for image in images]
    fitted = [fitter.fit(max_bytes) for fitter in fitters]
    if total_max_bytes is None:
        return fitted
    cap = _share([len(image.data) for image in fitted], total_max_bytes)
    if cap is None:
        return fitted
    if cap <= 0:
        raise ImageTooLargeError(
            f"{len(images)} images cannot share {_mib(total_max_bytes)}",
            max_bytes=total_max_bytes,
            smallest_bytes=None,
        )
    try:
        return [
            fitter.fit(cap) if len(image.data) > cap else image
            for fitter, image in zip(fitters, fitted, strict=True)
        ]
    except ImageTooLargeError as exc:
        raise ImageTooLargeError(
            f"{len(images)} images cannot fit into {_mib(total_max_bytes)} together: {exc}",
            max_bytes=total_max_bytes,
            smallest_bytes=exc.smallest_bytes,
        ) from exc


async def fit_image_async(image: ImageFile, max_bytes: int) -> ImageFile:
    """:func:`fit_image` in the bounded CPU pool, so the event loop keeps running."""
    return await cpu.run(fit_image, image, max_bytes)


async def fit_all_async(
    images: Sequence[ImageFile], max_bytes: int, total_max_bytes: int | None = None
) -> list[ImageFile]:
    """:func:`fit_all` in the bounded CPU pool, so the event loop keeps running."""
    return await cpu.run(fit_all, images, max_bytes, total_max_bytes)


def still_png(data: bytes) -> ImageFile:
    """The first frame of an image (a GIF, or any animation) as a still PNG; colours and
    transparency kept. CPU-bound: call it in a worker thread."""
    with decode_image(data) as image:
        image.seek(0)
        frame = image.convert("RGBA" if _has_alpha(image) else "RGB")
    out = io.BytesIO()
    frame.save(out, "PNG")
    return ImageFile(data=out.getvalue(), mime_type="image/png", extension="png")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
