"""nano-banana-pro.net ("NB Pro API"): one synchronous generate endpoint.

Completion model: **synchronous**. ``POST /api/ai/nano-banana/generate`` holds the connection
open while the image is generated (tens of seconds, more at 4K or with several references) and
answers with the finished image URLs. There is no task id, no status endpoint and no webhook.
So the read timeout is long, and a timeout or dropped reply on the generate request surfaces as
:class:`~providers.errors.SubmitOutcomeUnknownError` and is never repeated: the generation may
already be running, and billed.

What the document shows, and so what we send (``shared/seeds/nano-banana-pro-net-generate.txt``):

- ``size`` appears only as ``"2k"`` and ``"4k"`` (lowercase), 4K only on paid plans. Our
  capabilities therefore offer 2K and 4K, and ``size`` is sent only when one was chosen: the
  service's own default applies otherwise (undocumented; we charge it as 1K).
- Only 8 aspect ratios (no 4:5 / 5:4).
- ``image`` is one URL string or an array of URLs in a JSON body; that is how several
  references travel. A local file is uploaded as ``multipart/form-data`` with **one** file part
  named ``image`` next to the text fields; several file parts, or URLs beside a file, are not
  shown, so an uploaded reference goes alone (``max_references_with_upload=1``) and a reference
  that has a URL is always sent by URL. That ``aspectRatio`` may travel as a text field of the
  multipart body is assumed (the body parameters are documented once, for both content types).
- Errors are a bare ``{"error": "..."}``: 400 invalid request, 401 bad/missing key, 402 no
  credits, 500 "Generation failed" (its text is the reason we show). How a plan refuses 4K is
  not documented: a 403, or any other 4xx whose text names the plan or subscription, reads as a
  plan refusal, not as a bad key. Long jobs may also end in a gateway's HTML 502/504 page.
- The success body's ``model`` reads ``nano-banana-2-<size>`` whatever the branding says; it
  carries no id, so we derive a stable task id from the response.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, ClassVar

import httpx

from providers import _http
from providers.base import (
    Capabilities,
    Completion,
    GenerationRequest,
    ModelCapabilities,
    Provider,
    ReferenceImage,
    ResultImage,
    TaskState,
    TaskStatus,
)
from providers.errors import (
    ProtocolError,
    ProviderError,
    ProviderUnavailableError,
    RequestInvalidError,
    RequestRejectedError,
)
from providers.settings import ProviderSettings

log = logging.getLogger(__name__)

GENERATE_PATH = "/api/ai/nano-banana/generate"

_MODEL = ModelCapabilities(
    name="nano-banana-pro",
    aspect_ratios=("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"),
    default_aspect_ratio="1:1",
    # The document shows "2k" and "4k" only; with none chosen no size is sent and the service's
    # own (undocumented) default applies.
    resolutions=("2K", "4K"),
    default_resolution=None,
    # By URL: 8 on the Standard plan, the cheapest one with API access (Pro allows 14, Free 3
    # but has no API access). A Pro account could raise this; the service rejects more with a
    # 400. An uploaded file goes alone (see the capabilities).
    max_references=8,
    # Undocumented (the docs' body-parameter table rendered empty); a generous guess that the
    # service will reject with a 400 if it is too generous.
    max_prompt_length=10_000,
    max_images=1,
    typical_seconds=40.0,
)

_EXTENSIONS = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png", "image/webp": "webp"}


class NanoBananaProSettings(ProviderSettings, env_prefix="NANOBANANAPRO_"):
    """``NANOBANANAPRO_API_KEY`` and ``NANOBANANAPRO_BASE_URL``."""


class NanoBananaProProvider(Provider):
    """nano-banana-pro.net: one blocking POST returns the finished image URLs."""

    name = "nanobananapro"
    settings_type: ClassVar[type[ProviderSettings]] = NanoBananaProSettings
    default_base_url = "https://nano-banana-pro.net"
    read_timeout = 300.0
    capabilities = Capabilities(
        provider="nanobananapro",
        models=(_MODEL,),
        default_model="nano-banana-pro",
        completion=Completion.SYNCHRONOUS,
        accepts_reference_bytes=True,
        accepts_reference_urls=True,
        max_reference_bytes=2_500_000,  # "Max image size 2.5MB" on every plan
        # the multipart example shows one ``image`` file part and nothing else of the kind
        max_references_with_upload=1,
    )

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Generate and wait for the image; return a SUCCEEDED status with its URL(s).

        ``callback_url`` is ignored: the service has no webhooks. Raises a ProviderError;
        a content-policy refusal is a :class:`RequestRejectedError` with ``content_policy``.
        """
        fields = self._fields(request)
        upload = _upload(request)
        log.info(
            "nanobananapro generate: size=%s aspect=%s references=%d (%s)",
            fields.get("size"),
            fields.get("aspectRatio"),
            len(request.references),
            "one uploaded" if upload is not None else "by URL",
        )
        body: dict[str, Any] = {"json": fields}
        if upload is not None:
            data = upload.data or b""
            name = f"reference.{_extension(upload.mime_type)}"
            body = {"data": fields, "files": [("image", (name, data, upload.mime_type))]}
        return await _http.request(
            self,
            "POST",
            self.base_url + GENERATE_PATH,
            creating=True,
            parse=lambda response: self._parse(response, request),
            headers={"Authorization": f"Bearer {self.api_key}"},
            **body,
        )

    # ------------------------------------------------------------------ request

    @staticmethod
    def _fields(request: GenerationRequest) -> dict[str, Any]:
        """The body's fields: prompt, a chosen size (lowercase), aspectRatio and URL references
        (a multipart body takes the same text fields; its ``image`` is the uploaded file)."""
        fields: dict[str, Any] = {"prompt": request.prompt}
        if request.resolution is not None:
            fields["size"] = request.resolution.lower()
        aspect = request.aspect_ratio
        if aspect is None and not request.references:
            aspect = _MODEL.default_aspect_ratio
        # With references and no explicit choice we omit aspectRatio, as the docs' own
        # image-to-image example does, so the service can follow the input image's shape.
        if aspect is not None:
            fields["aspectRatio"] = aspect
        urls = [ref.url for ref in request.references if ref.url is not None]
        if len(urls) == 1:
            fields["image"] = urls[0]  # the documented single-reference form
        elif urls:
            fields["image"] = urls
        return fields

    # ------------------------------------------------------------------ response

    def _parse(self, response: httpx.Response, request: GenerationRequest) -> TaskStatus:
        """Turn the answer into a SUCCEEDED status, or raise the matching ProviderError."""
        body = _http.json_body(response)
        if response.status_code >= 400:
            raise self._error(response, body, request)
        body = _http.json_object(response, self.name)
        images = body.get("images")
        if not isinstance(images, list):
            raise ProtocolError(
                f"{self.name} answered without an images list",
                detail=self.scrub(_http.body_snippet(response)),
            )
        urls = [
            item["url"]
            for item in images
            if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]
        ]
        if not urls:
            raise ProtocolError(
                f"{self.name} reported success but returned no image",
                detail=self.scrub(_http.body_snippet(response)),
            )
        digest = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:16]
        task_id = f"{body.get('created', '')}-{digest}".lstrip("-")
        return TaskStatus(
            task_id=task_id,
            state=TaskState.SUCCEEDED,
            images=tuple(ResultImage(url=url) for url in urls),
        )

    def _error(
        self, response: httpx.Response, body: Any, request: GenerationRequest
    ) -> ProviderError:
        """Map an error status and its ``{"error": "..."}`` text: a plan's refusal and the
        documented 500 "Generation failed" mean something of their own here; every other
        status takes the shared mapping."""
        status = response.status_code
        text = _error_text(body)
        text = self.scrub(text) if text else None
        detail = f"HTTP {status}: {text or self.scrub(_http.body_snippet(response))}"
        if status == 403 or (
            400 <= status < 500 and status not in (401, 429) and _names_the_plan(text)
        ):
            return self._plan_refusal(status, text, request, detail)
        if status == 500 and text is not None:
            # Documented as "Generation failed": the service's own words are the reason. The
            # job may have been billed, so it is not repeated (a create is not retried).
            if _http.looks_like_content_policy(text):
                return RequestRejectedError(
                    f"{self.name} refused the request: {text}",
                    reason=text,
                    content_policy=True,
                    detail=detail,
                )
            failed = ProviderUnavailableError(
                f"{self.name} failed to generate the image: {text} (HTTP 500)", detail=detail
            )
            failed.reason = text
            return failed
        error = _http.error_for_status(self, response, text)
        if error is not None:
            return error
        return ProtocolError(f"{self.name} answered HTTP {status}", detail=detail)

    def _plan_refusal(
        self, status: int, text: str | None, request: GenerationRequest, detail: str
    ) -> RequestRejectedError:
        """The account's plan does not allow the request (how it says so is undocumented: a
        403, or a 4xx naming the plan). Shown with what would fit where that is clear."""
        hint = ""
        if request.resolution == "4K":
            hint = " (4K generation needs a paid plan, Standard or Pro: choose 2K)"
        return RequestRejectedError(
            f"{self.name} refused this for the account's plan: {text or f'HTTP {status}'}{hint}",
            reason=text,
            detail=detail,
        )


_PLAN = re.compile(r"\b(plan|subscription|subscribe|upgrade)", re.IGNORECASE)


def _names_the_plan(text: str | None) -> bool:
    """Whether an error text speaks of the account's plan (a refusal of what it lacks)."""
    return bool(text and _PLAN.search(text))


def _upload(request: GenerationRequest) -> ReferenceImage | None:
    """The reference to upload as the one multipart file, if any: a reference without a URL.

    Validation lets such a reference through only on its own (``max_references_with_upload``);
    a request that breaks that anyway is refused here rather than sent in an undocumented shape.
    """
    uploads = [ref for ref in request.references if ref.url is None and ref.data is not None]
    if not uploads:
        return None
    if len(request.references) > 1:
        raise RequestInvalidError(
            "nanobananapro takes an uploaded reference image only on its own; "
            "give several references as https:// URLs"
        )
    return uploads[0]


def _error_text(body: Any) -> str | None:
    """The provider's error text from ``{"error": "..."}`` (leniently: nested or ``message``)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("error")
    if not error:
        error = body.get("message") or body.get("msg")
    if not error:
        return None
    return str(error).strip() or None


def _extension(mime_type: str) -> str:
    """A file extension for an upload's filename."""
    mime = mime_type.lower()
    return _EXTENSIONS.get(mime) or mime.rpartition("/")[2] or "bin"
