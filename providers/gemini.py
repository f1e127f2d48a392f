"""Google's own Gemini API (Nano Banana image models), called directly.

Completion model: **synchronous**. ``POST /v1beta/models/{model}:generateContent`` answers once
the image exists, with the image bytes inline (base64), not a URL. There is no task and no
webhook, so the read timeout is long, and a timeout or dropped reply surfaces as
:class:`~providers.errors.SubmitOutcomeUnknownError` and is never repeated (it may have billed).

Quirks (``shared/providers.md`` section 4.1):

- The key goes in the ``x-goog-api-key`` header, never in ``?key=``, which would end up in
  logged URLs.
- Our model names map to Google's ids (``_GOOGLE_MODELS``). ``imageConfig.imageSize`` must be
  an uppercase ``1K``/``2K``/``4K`` and is not accepted by ``gemini-2.5-flash-image``.
- Reference images travel inline as base64 bytes; URLs are not accepted here.
- A blocked or failed generation is usually an HTTP **200**: either ``promptFeedback.blockReason``
  with no candidates, or a candidate whose ``finishReason`` is e.g. ``IMAGE_SAFETY`` or
  ``NO_IMAGE`` and which holds no image part. Those become :class:`RequestRejectedError`, never an
  empty success. Responses may use camelCase (``inlineData``/``mimeType``) or snake_case.
- Errors use Google's envelope ``{"error": {"code", "message", "status", "details"}}``. A wrong
  key is a **400** ``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``. Google has no credits:
  the nearest thing is a quota that cannot be met by waiting a moment (a ``limit: 0`` free tier,
  which is what the image models have without billing, or a per-day quota) or a billing
  precondition, and those map to :class:`InsufficientCreditsError`; per-minute quotas are rate
  limits.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import uuid
from typing import Any, ClassVar

import httpx

from providers import _http, cpu, grounding
from providers.base import (
    Capabilities,
    Completion,
    GenerationRequest,
    KeyCheck,
    ModelCapabilities,
    Provider,
    ResultImage,
    TaskState,
    TaskStatus,
)
from providers.errors import (
    BadKeyError,
    InsufficientCreditsError,
    ProtocolError,
    ProviderError,
    RateLimitedError,
    RequestRejectedError,
)
from providers.grounding import field as _get
from providers.settings import ProviderSettings

log = logging.getLogger(__name__)

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")

#: our model name -> Google's model id
_GOOGLE_MODELS = {
    "nano-banana-pro": "gemini-3-pro-image-preview",
    "nano-banana-2": "gemini-3.1-flash-image-preview",
    "nano-banana": "gemini-2.5-flash-image",
}

#: models that take ``imageConfig.imageSize`` (2.5 Flash Image only makes ~1K images)
_TAKES_IMAGE_SIZE = frozenset({"nano-banana-pro", "nano-banana-2"})

_MAX_PROMPT = 30_000  # well inside the models' input-token limits

_MODELS = (
    ModelCapabilities(
        name="nano-banana-pro",
        aspect_ratios=ASPECT_RATIOS,
        default_aspect_ratio="1:1",
        resolutions=("1K", "2K", "4K"),
        default_resolution="1K",
        max_references=14,
        max_prompt_length=_MAX_PROMPT,
        grounding=True,
        typical_seconds=30.0,
    ),
    ModelCapabilities(
        name="nano-banana-2",
        aspect_ratios=ASPECT_RATIOS,
        default_aspect_ratio="1:1",
        resolutions=("1K", "2K", "4K"),
        default_resolution="1K",
        max_references=14,
        max_prompt_length=_MAX_PROMPT,
        grounding=True,
        typical_seconds=20.0,
    ),
    ModelCapabilities(
        name="nano-banana",
        aspect_ratios=ASPECT_RATIOS,
        default_aspect_ratio="1:1",
        resolutions=("1K",),
        default_resolution="1K",
        max_references=3,  # Google: 2.5 Flash Image works best with up to 3 inputs
        max_prompt_length=_MAX_PROMPT,
        grounding=False,
        typical_seconds=10.0,
    ),
)

#: finish/block reasons that are a content-policy decision (the rest: no image, for other causes)
_POLICY_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)

_BILLING = re.compile(r"billing", re.IGNORECASE)
_LIMIT_ZERO = re.compile(r"\blimit:\s*0\b")


class GeminiSettings(ProviderSettings, env_prefix="GEMINI_"):
    """``GEMINI_API_KEY`` and ``GEMINI_BASE_URL``."""


class GeminiProvider(Provider):
    """Google's Gemini API: one blocking ``generateContent`` call returns the image bytes."""

    name = "gemini"
    settings_type: ClassVar[type[ProviderSettings]] = GeminiSettings
    default_base_url = "https://generativelanguage.googleapis.com"
    read_timeout = 300.0
    capabilities = Capabilities(
        provider="gemini",
        models=_MODELS,
        default_model="nano-banana-pro",
        completion=Completion.SYNCHRONOUS,
        accepts_reference_bytes=True,
        accepts_reference_urls=False,
        # Inline data is limited by the 20 MB request size, base64 included.
        max_reference_bytes=7_000_000,
    )

    async def verify_key(self) -> KeyCheck:
        """List one model (``GET /v1beta/models``): free, and refused with a bad key."""

        def parse(response: httpx.Response) -> KeyCheck:
            if response.status_code >= 400:
                raise self._error(response, _http.json_body(response))
            return KeyCheck(verified=True)

        return await _http.request(
            self,
            "GET",
            f"{self.base_url}/v1beta/models",
            creating=False,
            parse=parse,
            params={"pageSize": "1"},
            headers={"x-goog-api-key": self.api_key},
        )

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Generate and wait for the image; return a SUCCEEDED status holding its bytes.

        ``callback_url`` is ignored (no webhooks). A blocked or imageless answer raises
        :class:`RequestRejectedError` with Google's reason code and text.
        """
        model = self.capabilities.model(request.model)
        google_model = _GOOGLE_MODELS[model.name]
        # base64 and JSON of up to ~20 MB of reference images: off the event loop
        image_config, content = await cpu.run(self._encoded_body, request, model)
        log.info(
            "gemini generateContent: model=%s imageConfig=%s references=%d grounding=%s",
            google_model,
            image_config,
            len(request.references),
            request.grounding,
        )
        return await _http.request(
            self,
            "POST",
            f"{self.base_url}/v1beta/models/{google_model}:generateContent",
            creating=True,
            parse=self._parse,
            headers={"x-goog-api-key": self.api_key, "content-type": "application/json"},
            content=content,
        )

    def _encoded_body(
        self, request: GenerationRequest, model: ModelCapabilities
    ) -> tuple[dict[str, str], bytes]:
        """The body's ``imageConfig`` (for the log) and the whole body as JSON bytes."""
        body = self._body(request, model)
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return body["generationConfig"]["imageConfig"], content

    # ------------------------------------------------------------------ request

    def _body(self, request: GenerationRequest, model: ModelCapabilities) -> dict[str, Any]:
        """The ``generateContent`` body: reference images (captioned) first, then the prompt."""
        parts: list[dict[str, Any]] = []
        for ref in request.references:
            if ref.caption:
                parts.append({"text": ref.caption})
            parts.append(
                {
                    "inlineData": {
                        "mimeType": ref.mime_type,
                        "data": base64.b64encode(ref.data or b"").decode("ascii"),
                    }
                }
            )
        parts.append({"text": request.prompt})
        image_config: dict[str, str] = {}
        aspect = request.aspect_ratio
        if aspect is None and not request.references:
            aspect = model.default_aspect_ratio
        # With references and no explicit choice, aspectRatio is omitted: the model then keeps
        # the input image's shape, which is what an edit wants.
        if aspect is not None:
            image_config["aspectRatio"] = aspect
        if model.name in _TAKES_IMAGE_SIZE:
            image_config["imageSize"] = request.resolution or model.default_resolution or "1K"
        body: dict[str, Any] = {
            "contents": [{"role": "user", "parts": parts}],
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE"],
                "imageConfig": image_config,
            },
        }
        if request.grounding:
            body["tools"] = [{"google_search": {}}]
        return body

    # ------------------------------------------------------------------ response

    def _parse(self, response: httpx.Response) -> TaskStatus:
        """Turn the answer into a SUCCEEDED status, or raise the matching ProviderError."""
        body = _http.json_body(response)
        if response.status_code >= 400:
            raise self._error(response, body)
        body = _http.json_object(response, self.name)
        task_id = str(body.get("responseId") or body.get("response_id") or uuid.uuid4().hex)
        candidates = body.get("candidates") or []
        feedback = _get(body, "promptFeedback", "prompt_feedback")
        block = (
            _get(feedback, "blockReason", "block_reason") if isinstance(feedback, dict) else None
        )
        if not candidates and block and block != "BLOCK_REASON_UNSPECIFIED":
            message = _get(feedback, "blockReasonMessage", "block_reason_message")
            raise self._rejected(str(block), [str(message)] if message else [])
        if not isinstance(candidates, list) or not candidates:
            raise ProtocolError(
                f"{self.name} answered without a candidate or a block reason",
                detail=self.scrub(_http.body_snippet(response)),
            )
        candidate = candidates[0]
        if not isinstance(candidate, dict):
            raise ProtocolError(f"{self.name} sent a malformed candidate")
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        images: list[ResultImage] = []
        texts: list[str] = []
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict) or part.get("thought"):
                continue  # interim "thinking" images and thoughts are not results
            inline = _get(part, "inlineData", "inline_data")
            if isinstance(inline, dict):
                images.append(self._image(inline))
            elif isinstance(part.get("text"), str) and part["text"].strip():
                texts.append(part["text"].strip())
        if images:
            return TaskStatus(
                task_id=task_id,
                state=TaskState.SUCCEEDED,
                images=tuple(images),
                sources=grounding.gemini_sources(candidate),
            )
        finish = _get(candidate, "finishReason", "finish_reason")
        # STOP with only text means the model answered in words instead of drawing.
        code = str(finish) if finish and finish != "STOP" else "NO_IMAGE"
        finish_message = _get(candidate, "finishMessage", "finish_message")
        raise self._rejected(code, ([str(finish_message)] if finish_message else []) + texts)

    def _image(self, inline: dict[str, Any]) -> ResultImage:
        """Decode one inline image part."""
        data = inline.get("data")
        mime = _get(inline, "mimeType", "mime_type")
        if not isinstance(data, str) or not data:
            raise ProtocolError(f"{self.name} sent an image part without data")
        try:
            if "-" in data or "_" in data:
                raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
            else:
                raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(f"{self.name} sent image data that is not base64") from exc
        return ResultImage(data=raw, mime_type=str(mime) if mime else "image/png")

    def _rejected(self, code: str, texts: list[str]) -> RequestRejectedError:
        """A refusal carrying Google's reason code and whatever text came with it."""
        text = self.scrub(" ".join(texts))[:500]
        reason = f"{code}: {text}" if text else code
        policy = code in _POLICY_REASONS
        what = "blocked the request (content policy)" if policy else "returned no image"
        return RequestRejectedError(
            f"{self.name} {what}: {code}", reason=reason, content_policy=policy, detail=reason
        )

    def _error(self, response: httpx.Response, body: Any) -> ProviderError:
        """Map Google's error envelope: a wrong key, billing and spent quotas are Google's own
        cases; every other status takes the shared mapping."""
        status = response.status_code
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = self.scrub(str(error.get("message") or "")).strip()
        code = str(error.get("status") or "")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        reasons = {str(d.get("reason")) for d in details if d.get("reason")}
        text = message or _http.body_snippet(response)
        detail = self.scrub(f"HTTP {status} {code}: {text}".replace("  ", " "))
        if (
            "API_KEY_INVALID" in reasons
            or "API key not valid" in message
            or "API Key not found" in message
        ):
            return BadKeyError(f"{self.name} refused the API key", detail=detail)
        if status in (401, 403):
            if "BILLING_DISABLED" in reasons or _BILLING.search(message):
                return InsufficientCreditsError(
                    f"{self.name} needs billing enabled on the Google project", detail=detail
                )
            return BadKeyError(f"{self.name} refused the API key", detail=detail)
        if status == 429:
            if _quota_spent(message, details):
                # Waiting seconds will not help: the free tier has no quota for this model
                # ("limit: 0", i.e. billing is off) or a per-day quota is used up.
                return InsufficientCreditsError(
                    f"{self.name} quota is used up (enable billing or wait for the daily reset)",
                    detail=detail,
                )
            return RateLimitedError(
                f"{self.name} is rate limiting requests",
                retry_after=_retry_after(response, details),
                detail=detail,
            )
        if status == 400 and code == "FAILED_PRECONDITION" and _BILLING.search(message):
            # e.g. "free tier is not available in your country. Please enable billing ..."
            return InsufficientCreditsError(
                f"{self.name} needs billing enabled on the Google project", detail=detail
            )
        mapped = _http.error_for_status(self, response, message or None, detail=detail)
        if mapped is not None:
            return mapped
        return ProtocolError(f"{self.name} answered HTTP {status}", detail=detail)


def _quota_spent(message: str, details: list[dict[str, Any]]) -> bool:
    """True when a 429 is a quota that will not come back within seconds."""
    if _LIMIT_ZERO.search(message):
        return True
    for detail in details:
        for violation in detail.get("violations") or []:
            if not isinstance(violation, dict):
                continue
            quota_id = str(violation.get("quotaId") or "")
            if "PerDay" in quota_id or str(violation.get("quotaValue")) == "0":
                return True
    return False


def _retry_after(response: httpx.Response, details: list[dict[str, Any]]) -> float | None:
    """Retry-After header, else the envelope's ``RetryInfo.retryDelay`` (e.g. ``"26s"``)."""
    header = _http.retry_after_seconds(response)
    if header is not None:
        return header
    for detail in details:
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                continue
    return None
