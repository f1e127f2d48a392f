"""A loopback fake of nano-banana-pro.net's synchronous generate endpoint.

``POST /api/ai/nano-banana/generate`` with ``Authorization: Bearer sk-...``, a JSON or
multipart/form-data body; it holds the request for ``delay_seconds`` (the generation) and
answers ``{"model": "nano-banana-2-<size>", "created": <unix>, "images": [{"url": ...}]}``,
or ``{"error": "..."}`` with 400/401/402/403/429/500/503.

It follows the document (``shared/seeds/nano-banana-pro-net-generate.txt``), not our client,
and refuses what the document does not show:

- fields other than ``prompt``, ``size``, ``aspectRatio`` and ``image``;
- ``size`` other than ``"2k"`` / ``"4k"`` (the only values shown), and 4K on a plan without it
  (``allow_4k``; answered ``plan_refusal_status`` with a text naming the plan: how the service
  says it is undocumented);
- in JSON, ``image`` other than a URL string or an array of them;
- in multipart, anything but exactly one ``image`` part that is a file (the example shows one),
  or any field given twice;
- more references than the plan allows (Standard: 8), a file over 2.5MB, or not an image.

What the document leaves open is assumed here, and marked: the size made when none is sent
(``default_size``), and that ``aspectRatio`` may be a multipart text field too.
"""

from __future__ import annotations

import asyncio
import io
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes._base import FakeServer, Fault, On, Recorded, json_response

SIZES = ("2k", "4k")  # the only values the document shows
FIELDS = frozenset(("prompt", "size", "aspectRatio", "image"))
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")
DEFAULT_CONTENT_BLOCK = "Your prompt was flagged by our content policy and cannot be processed"


def nearest_aspect(image: bytes, choices: tuple[str, ...]) -> str:
    """The supported aspect ratio closest to an image's shape."""
    with Image.open(io.BytesIO(image)) as img:
        shape = img.width / img.height

    def distance(choice: str) -> float:
        w, h = (int(p) for p in choice.split(":"))
        return abs(w / h - shape)

    return min(choices, key=distance)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The service's error body."""
    return json_response({"error": message}, status=status, headers=headers)


@dataclass
class Params:
    """A parsed generate request."""

    prompt: Any = None
    size: Any = None
    aspect_ratio: Any = None
    urls: list[Any] = field(default_factory=list)
    files: list[tuple[str, bytes, str]] = field(default_factory=list)


class FakeNanoBananaPro(FakeServer):
    """nano-banana-pro.net: one blocking generate call."""

    #: the artificial generation time of every request
    delay_seconds: float = 0.01
    #: reference images allowed per request (Standard plan: 8; Pro: 14)
    max_references: int = 8
    #: per uploaded file ("Max image size 2.5MB")
    max_file_bytes: int = 2_500_000
    #: False simulates a plan without 4K
    allow_4k: bool = True
    #: how that plan refuses 4K (undocumented: any 4xx whose text names the plan)
    plan_refusal_status: int = 403
    plan_refusal_text: str = "4K generation requires a paid plan"
    #: the size made when the request names none (undocumented; assumed)
    default_size: str = "1k"

    def __init__(self, api_key: str = "sk-test-4f9c2a7e1b") -> None:
        super().__init__(api_key)
        self.app.router.add_post("/api/ai/nano-banana/generate", self._generate)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        fault = self.take_fault(On.CREATE)
        if fault is not None:
            common = await self.common_fault(request, fault)
            if common is not None:
                return common
            if fault is not Fault.SLOW:
                return self._fault(fault)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error(401, "Unauthorized")
        params = self._params(recorded)
        if isinstance(params, web.Response):
            return params
        problem = self._validate(params)
        if problem is not None:
            return problem
        outcome = self.take_outcome()
        await asyncio.sleep(self.delay_seconds)
        if not outcome.success:
            if outcome.content_policy:
                return error(400, outcome.reason or DEFAULT_CONTENT_BLOCK)
            return error(500, outcome.reason or "Generation failed")
        size = params.size or self.default_size
        reference = params.files[0][1] if params.files else None
        aspect = params.aspect_ratio or (
            nearest_aspect(reference, ASPECT_RATIOS) if reference else "1:1"
        )
        count = 1 if outcome.images is None else outcome.images
        urls = await asyncio.to_thread(
            self.make_result_files,
            params.prompt,
            aspect,
            size.upper(),
            count,
            "PNG",
            reference,
        )
        return json_response(
            {
                "model": f"nano-banana-2-{size}",
                "created": int(time.time()),
                "images": [{"url": url} for url in urls],
            }
        )

    def _fault(self, fault: Fault) -> web.Response:
        if fault is Fault.BAD_KEY:
            return error(401, "Unauthorized")
        if fault is Fault.NO_CREDITS:
            return error(402, "Insufficient credits")
        if fault is Fault.RATE_LIMITED:
            return error(
                429,
                "Too many concurrent generations",
                headers={"Retry-After": self.retry_after},
            )
        return error(503, "Service temporarily unavailable")  # UNAVAILABLE, CODE_IN_200

    def _params(self, recorded: Recorded) -> Params | web.Response:
        if recorded.form is not None:
            return self._form_params(recorded.form)
        if isinstance(recorded.json, dict):
            body = recorded.json
            unknown = sorted(set(body) - FIELDS)
            if unknown:
                return error(400, f"Unknown parameter '{unknown[0]}'")
            image = body.get("image")
            urls = [] if image is None else image if isinstance(image, list) else [image]
            return Params(
                prompt=body.get("prompt"),
                size=body.get("size"),
                aspect_ratio=body.get("aspectRatio"),
                urls=urls,
            )
        return error(400, "Invalid request body: send JSON or multipart/form-data")

    @staticmethod
    def _form_params(form: dict[str, list[Any]]) -> Params | web.Response:
        """A multipart body as the document's example shows it: text fields once each, and
        one ``image`` part that is a file."""
        unknown = sorted(set(form) - FIELDS)
        if unknown:
            return error(400, f"Unknown parameter '{unknown[0]}'")
        for name, values in form.items():
            if len(values) > 1:
                return error(400, f"Parameter '{name}' given {len(values)} times")
        texts: dict[str, Any] = {}
        for name in ("prompt", "size", "aspectRatio"):
            value = form.get(name, [None])[0]
            if isinstance(value, tuple):
                return error(400, f"Parameter '{name}' must be text, not a file")
            texts[name] = value
        params = Params(
            prompt=texts["prompt"], size=texts["size"], aspect_ratio=texts["aspectRatio"]
        )
        image = form.get("image", [])
        if image and not isinstance(image[0], tuple):
            return error(400, "In multipart/form-data, 'image' must be an uploaded file")
        params.files = list(image)
        return params

    def _validate(self, params: Params) -> web.Response | None:
        if not isinstance(params.prompt, str) or not params.prompt.strip():
            return error(400, "Prompt is required")
        if params.size is not None and params.size not in SIZES:
            return error(400, f"Invalid size '{params.size}'. Must be one of: 2k, 4k")
        if params.aspect_ratio is not None and params.aspect_ratio not in ASPECT_RATIOS:
            return error(
                400,
                f"Invalid aspectRatio '{params.aspect_ratio}'. Must be one of: "
                + ", ".join(ASPECT_RATIOS),
            )
        for url in params.urls:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                return error(400, "Invalid image URL")
        if len(params.urls) + len(params.files) > self.max_references:
            return error(400, f"Too many reference images: your plan allows {self.max_references}")
        for _name, data, _mime in params.files:
            if len(data) > self.max_file_bytes:
                return error(400, "Image file too large: maximum size is 2.5MB")
            try:
                with Image.open(io.BytesIO(data)) as img:
                    img.verify()
            except Exception:
                return error(400, "Invalid image file")
        if params.size == "4k" and not self.allow_4k:
            return error(self.plan_refusal_status, self.plan_refusal_text)
        return None
