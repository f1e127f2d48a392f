"""Hypothesis strategies shared by the fuzz tests: JSON shaped like providers' answers, odd
text, and image bytes that are almost right."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import strategies as st
from PIL import Image

#: keys that providers' answers and callbacks use, so the fuzzing reaches their parsers
KEYS = st.sampled_from(
    [
        "data",
        "task_id",
        "taskId",
        "status",
        "generated",
        "error",
        "code",
        "msg",
        "message",
        "successFlag",
        "response",
        "resultImageUrl",
        "resultUrls",
        "errorMessage",
        "info",
        "images",
        "url",
        "candidates",
        "content",
        "parts",
        "inlineData",
        "finishReason",
        "promptFeedback",
        "blockReason",
        "details",
        "reason",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "COMPLETED",
            "FAILED",
            "IN_PROGRESS",
            "CREATED",
            "",
            "0",
            "1",
            "2",
            "3",
            "200",
            "https://cdn.example/a.png",
            '["https://cdn.example/b.png"]',
            "IMAGE_SAFETY",
            "STOP",
        ]
    ),
    st.text(max_size=40),
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=10)), children, max_size=6),
    ),
    max_leaves=25,
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
)
#: text a member might type, or an attacker might: control characters, right-to-left marks,
#: mention and markdown syntax, very long runs
HOSTILE_TEXT = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from("@#<>*_`~|\\\u202e\u200b\x00\n\t:!&"), max_size=60),
    st.builds(
        lambda s, n: s * n, st.sampled_from(["a", "<@1>", "@everyone ", "🍌"]), st.integers(1, 3000)
    ),
)


def image_bytes(
    fmt: str, size: tuple[int, int] = (24, 16), mode: str = "RGB", **options: Any
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 120 if mode in ("L", "I;16") else None).save(out, fmt, **options)
    return out.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.new("P", (20, 20), c) for c in (1, 2, 3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def _rotated_jpeg() -> bytes:
    image = Image.new("RGB", (30, 10), (10, 200, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90°
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


REAL_IMAGES = [
    image_bytes("PNG"),
    image_bytes("JPEG"),
    image_bytes("WEBP"),
    image_bytes("JPEG", mode="CMYK"),
    image_bytes("PNG", mode="I;16"),
    image_bytes("PNG", mode="RGBA"),
    _animated_gif(),
    _rotated_jpeg(),
]


@st.composite
def almost_images(draw: st.DrawFn) -> bytes:
    """A real image, truncated, with bytes flipped, or with a header of huge dimensions."""
    data = bytearray(draw(st.sampled_from(REAL_IMAGES)))
    how = draw(st.sampled_from(["whole", "truncate", "flip", "huge", "junk"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            index = draw(st.integers(0, len(data) - 1))
            data[index] = draw(st.integers(0, 255))
    elif how == "huge" and data[:4] == b"\x89PNG":
        data[16:24] = (60_000).to_bytes(4, "big") * 2  # IHDR width and height
    elif how == "junk":
        data = bytearray(draw(st.binary(max_size=200)))
    return bytes(data)
