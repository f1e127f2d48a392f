"""A loopback fake of Google's Gemini API ``generateContent`` for the image models.

``POST /v1beta/models/{model}:generateContent`` with ``x-goog-api-key``; answers synchronously
(after ``delay_seconds``) with ``candidates[0].content.parts`` holding a text part and an
``inlineData`` PNG of the requested aspect ratio and size. Blocks come back as HTTP 200 with
``finishReason`` (``IMAGE_SAFETY``, ``NO_IMAGE``...) and no image, or with
``promptFeedback.blockReason`` and no candidates. With the ``google_search`` tool the candidate
carries ``groundingMetadata`` (:mod:`tests.fakes.grounding`). Errors use Google's envelope
``{"error": {"code", "message", "status", "details"}}``, a wrong key included (400
``API_KEY_INVALID``, as Google really answers).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import re
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from PIL import Image

from providers.local import image_size, render_image
from tests.fakes import grounding
from tests.fakes._base import FakeServer, Fault, On, json_response

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES = ("1K", "2K", "4K")


@dataclass(frozen=True)
class GoogleModel:
    """What one Google image model accepts (as far as the fake enforces it)."""

    image_sizes: tuple[str, ...]  # empty: imageSize is not accepted
    max_images: int
    grounding: bool


MODELS = {
    "gemini-3-pro-image-preview": GoogleModel(IMAGE_SIZES, 14, grounding=True),
    "gemini-3.1-flash-image-preview": GoogleModel(IMAGE_SIZES, 14, grounding=True),
    "gemini-2.5-flash-image": GoogleModel((), 3, grounding=False),
}

_CODE = re.compile(r"^[A-Z_]+$")


def google_error(
    code: int,
    status: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Google's error envelope."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_response({"error": error}, status=code, headers=headers)


def invalid(message: str) -> web.Response:
    return google_error(400, "INVALID_ARGUMENT", message)


def nearest_aspect(image: bytes) -> str:
    """The supported aspect ratio closest to an image's shape (Gemini keeps an edit's shape)."""
    with Image.open(io.BytesIO(image)) as img:
        shape = img.width / img.height

    def distance(choice: str) -> float:
        w, h = (int(p) for p in choice.split(":"))
        return abs(w / h - shape)

    return min(ASPECT_RATIOS, key=distance)


class FakeGemini(FakeServer):
    """Google's Gemini API for the Nano Banana models."""

    #: the artificial generation time of every request
    delay_seconds: float = 0.01

    def __init__(self, api_key: str = "AIzaSyFAKE-test-key_0123456789") -> None:
        super().__init__(api_key)
        #: set to e.g. "SAFETY" to block the next prompt via promptFeedback (one shot)
        self.prompt_block_reason: str | None = None
        #: the ``groundingChunks`` of a grounded answer (None: three made from the prompt)
        self.grounding_chunks: list[dict[str, Any]] | None = None
        self.app.router.add_post("/v1beta/models/{target}", self._generate)
        self.app.router.add_get("/v1beta/models", self._list_models)

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        """``models.list``: the models this key may use, a page at a time (free, key checked)."""
        await self.record(request)
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return google_error(
                403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers"
            )
        if key != self.api_key:
            return self._bad_key()
        size = max(1, min(1000, int(request.query.get("pageSize") or 50)))
        models = [
            {
                "name": f"models/{model_id}",
                "displayName": model_id,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
            for model_id in MODELS
        ]
        body: dict[str, Any] = {"models": models[:size]}
        if len(models) > size:
            body["nextPageToken"] = f"page-{size}"
        return json_response(body)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        fault = self.take_fault(On.CREATE)
        if fault is not None:
            common = await self.common_fault(request, fault)
            if common is not None:
                return common
            if fault is not Fault.SLOW:
                return self._fault(fault)
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        if key != self.api_key:
            return self._bad_key()
        model_id, _, method = request.match_info["target"].partition(":")
        model = MODELS.get(model_id)
        if method != "generateContent" or model is None:
            return google_error(
                404,
                "NOT_FOUND",
                f"models/{model_id} is not found for API version v1beta, or is not supported "
                f"for {method or 'this method'}. Call ListModels to see the list of available "
                "models and their supported methods.",
            )
        body = recorded.json
        if not isinstance(body, dict):
            return invalid("Invalid JSON payload received.")
        parsed = self._parse(body, model)
        if isinstance(parsed, web.Response):
            return parsed
        prompt, references, aspect, size, modalities = parsed
        response_id = uuid.uuid4().hex[:22]
        usage = {"promptTokenCount": 12 + 258 * len(references), "totalTokenCount": 0}
        if self.prompt_block_reason is not None:
            reason, self.prompt_block_reason = self.prompt_block_reason, None
            return json_response(
                {
                    "promptFeedback": {"blockReason": reason},
                    "usageMetadata": usage,
                    "modelVersion": model_id,
                    "responseId": response_id,
                }
            )
        outcome = self.take_outcome()
        await asyncio.sleep(self.delay_seconds)
        if not outcome.success:
            reason = outcome.reason or ("IMAGE_SAFETY" if outcome.content_policy else "NO_IMAGE")
            candidate: dict[str, Any] = {"index": 0}
            if _CODE.match(reason):
                candidate["finishReason"] = reason
            else:
                candidate["finishReason"] = "IMAGE_SAFETY" if outcome.content_policy else "NO_IMAGE"
                candidate["finishMessage"] = reason
            if candidate["finishReason"] == "NO_IMAGE":
                candidate["content"] = {
                    "role": "model",
                    "parts": [
                        {"text": "I can't create that image. Try describing it differently."}
                    ],
                }
            return json_response(
                {
                    "candidates": [candidate],
                    "usageMetadata": usage,
                    "modelVersion": model_id,
                    "responseId": response_id,
                }
            )
        parts: list[dict[str, Any]] = [{"text": "Here is the image you asked for."}]
        count = 1 if outcome.images is None else outcome.images
        if "IMAGE" in modalities:
            reference = references[0] if references else None
            pixels = image_size(aspect or (nearest_aspect(reference) if reference else "1:1"), size)
            for index in range(count):
                data = await asyncio.to_thread(
                    render_image,
                    prompt,
                    pixels,
                    reference=reference,
                    seed=index,
                    noise=self.noisy_images,
                )
                parts.append(
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(data).decode("ascii"),
                        },
                        "thoughtSignature": "c2lnbmF0dXJl",
                    }
                )
        answer: dict[str, Any] = {
            "content": {"role": "model", "parts": parts},
            "finishReason": "STOP",
            "index": 0,
        }
        if any(isinstance(t, dict) and "google_search" in t for t in body.get("tools") or []):
            answer["groundingMetadata"] = grounding.metadata(prompt, self.grounding_chunks)
        return json_response(
            {
                "candidates": [answer],
                "usageMetadata": usage,
                "modelVersion": model_id,
                "responseId": response_id,
            }
        )

    def _parse(
        self, body: dict[str, Any], model: GoogleModel
    ) -> tuple[str, list[bytes], str | None, str, list[str]] | web.Response:
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return invalid("* GenerateContentRequest.contents: contents is not specified")
        texts: list[str] = []
        references: list[bytes] = []
        for content in contents:
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list) or not parts:
                return invalid(
                    "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty."
                )
            for part in parts:
                if not isinstance(part, dict):
                    return invalid("Invalid value at 'contents[0].parts'")
                inline = part.get("inlineData") or part.get("inline_data")
                if isinstance(inline, dict):
                    mime = inline.get("mimeType") or inline.get("mime_type") or ""
                    try:
                        data = base64.b64decode(inline.get("data") or "", validate=True)
                        with Image.open(io.BytesIO(data)) as img:
                            img.verify()
                    except (binascii.Error, ValueError, OSError):
                        return invalid(
                            "Unable to process input image. Please retry or report in "
                            "https://developers.generativeai.google/guide/troubleshooting"
                        )
                    if not str(mime).startswith("image/"):
                        return invalid(f"Unsupported MIME type: {mime}")
                    references.append(data)
                elif isinstance(part.get("text"), str):
                    texts.append(part["text"])
        if not texts:
            return invalid("The prompt is empty: send a text part")
        if len(references) > model.max_images:
            return invalid(f"Too many input images: this model accepts at most {model.max_images}")
        config = body.get("generationConfig") or {}
        modalities = config.get("responseModalities") or ["TEXT"]
        image_config = config.get("imageConfig") or {}
        aspect = image_config.get("aspectRatio")
        if aspect is not None and aspect not in ASPECT_RATIOS:
            return invalid(f"Unsupported aspect ratio: {aspect}")
        size = image_config.get("imageSize")
        if size is not None and not model.image_sizes:
            return invalid("imageSize is not supported for this model.")
        if size is not None and size not in model.image_sizes:
            return invalid(f"Unsupported image size: {size}. Use one of 1K, 2K, 4K.")
        tools = body.get("tools") or []
        if tools and not model.grounding:
            return invalid("Tool use is not supported for this model.")
        return texts[-1], references, aspect, size or "1K", list(modalities)

    def _bad_key(self) -> web.Response:
        message = "API key not valid. Please pass a valid API key."
        return google_error(
            400,
            "INVALID_ARGUMENT",
            message,
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
                {
                    "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                    "locale": "en-US",
                    "message": message,
                },
            ],
        )

    def _fault(self, fault: Fault) -> web.Response:
        if fault is Fault.BAD_KEY:
            return self._bad_key()
        help_link = {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Learn more about Gemini API quotas",
                    "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                }
            ],
        }
        if fault is Fault.NO_CREDITS:
            # What a project without billing gets from an image model: a free tier of zero.
            return google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details. "
                "\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
                "generate_content_free_tier_requests, limit: 0, model: gemini-3-pro-image"
                "\nPlease retry in 38.86s.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests",
                                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                                "quotaValue": "0",
                            }
                        ],
                    },
                    help_link,
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"},
                ],
            )
        if fault is Fault.RATE_LIMITED:
            return google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_requests_per_model",
                                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                                "quotaValue": "20",
                            }
                        ],
                    },
                    help_link,
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{self.retry_after}s",
                    },
                ],
                headers={"Retry-After": self.retry_after},
            )
        # UNAVAILABLE (and CODE_IN_200, which has no meaning for Google)
        return google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
