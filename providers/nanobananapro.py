"""nano-banana-pro.net ("NB Pro API"): one synchronous generate endpoint.

Completion model: **synchronous**. ``POST /api/ai/nano-banana/generate`` holds the connection
open while the image is generated (tens of seconds, more at 4K or with several references) and
answers with the finished image URLs. There is no task id, no status endpoint and no webhook.
So the read timeout is long, and a timeout or dropped reply on the generate request surfaces as
:class:`~providers.base.SubmitOutcomeUnknownError` and is never repeated: the generation may
already be running, and billed.

Quirks (``shared/providers.md`` section 3):

- ``size`` is lowercase ``1k``/``2k``/``4k``; our capabilities use ``1K``/``2K``/``4K`` like
  every other provider, so the value is lowercased on the wire.
- Only 8 aspect ratios (no 4:5 / 5:4).
- ``image`` is one URL string or an array of URLs in a JSON body. Local files are uploaded as
  ``multipart/form-data`` instead; that example in the docs shows a single file part named
  ``image`` next to ``prompt``/``size`` text fields.
- Errors are a bare ``{"error": "..."}``: 400 invalid request, 401 bad/missing key, 402 no
  credits, 500 "Generation failed". 403 is not documented; we read it as a plan/permission
  refusal (4K or API access needs a paid plan), not as a bad key. Long jobs may also end in a
  gateway's HTML 502/504 page.
- The success body's ``model`` reads ``nano-banana-2-<size>`` whatever the branding says; it
  carries no id, so we derive a stable task id from the response.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, ClassVar

import httpx

from providers import _http
from providers.base import (
    Capabilities,
    Completion,
    GenerationRequest,
    ModelCapabilities,
    ProtocolError,
    Provider,
    ProviderError,
    ProviderUnavailableError,
    RequestRejectedError,
    ResultImage,
    TaskState,
    TaskStatus,
)
from providers.settings import ProviderSettings

log = logging.getLogger(__name__)

GENERATE_PATH = "/api/ai/nano-banana/generate"

_MODEL = ModelCapabilities(
    name="nano-banana-pro",
    aspect_ratios=("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"),
    default_aspect_ratio="1:1",
    resolutions=("1K", "2K", "4K"),
    # The service's own default size is undocumented, so we always send one explicitly.
    default_resolution="1K",
    # 8 on the Standard plan, the cheapest one with API access (Pro allows 14, Free 3 but has
    # no API access). A Pro account could raise this; the service rejects more with a 400.
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
    )

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Generate and wait for the image; return a SUCCEEDED status with its URL(s).

        ``callback_url`` is ignored: the service has no webhooks. Raises a ProviderError;
        a content-policy refusal is a :class:`RequestRejectedError` with ``content_policy``.
        """
        fields = self._fields(request)
        byte_refs = [ref for ref in request.references if ref.data is not None and ref.url is None]
        log.info(
            "nanobananapro generate: size=%s aspect=%s references=%d (%d uploaded)",
            fields.get("size"),
            fields.get("aspectRatio"),
            len(request.references),
            len(byte_refs),
        )

        body: dict[str, Any] = {"json": fields}
        if byte_refs:
            body = {
                "data": self._form_fields(fields, request),
                "files": [
                    ("image", (f"ref_{n}.{_extension(ref.mime_type)}", ref.data, ref.mime_type))
                    for n, ref in enumerate(byte_refs, start=1)
                ],
            }
        return await _http.request(
            self,
            "POST",
            self.base_url + GENERATE_PATH,
            creating=True,
            parse=self._parse,
            headers={"Authorization": f"Bearer {self.api_key}"},
            **body,
        )

    # ------------------------------------------------------------------ request

    def _fields(self, request: GenerationRequest) -> dict[str, Any]:
        """The JSON body: prompt, lowercase size, aspectRatio and URL references."""
        resolution = request.resolution or _MODEL.default_resolution or "1K"
        fields: dict[str, Any] = {"prompt": request.prompt, "size": resolution.lower()}
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

    @staticmethod
    def _form_fields(fields: dict[str, Any], request: GenerationRequest) -> dict[str, Any]:
        """Text fields of the multipart body.

        URL references travel as repeated text fields named ``image`` next to the file parts.
        That mix is not documented (only a single uploaded file is shown) and is unconfirmed.
        """
        form: dict[str, Any] = {k: v for k, v in fields.items() if k != "image"}
        urls = [ref.url for ref in request.references if ref.url is not None]
        if urls:
            form["image"] = urls
        return form

    # ------------------------------------------------------------------ response

    def _parse(self, response: httpx.Response) -> TaskStatus:
        """Turn the answer into a SUCCEEDED status, or raise the matching ProviderError."""
        body = _http.json_body(response)
        if response.status_code >= 400:
            raise self._error(response, body)
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

    def _error(self, response: httpx.Response, body: Any) -> ProviderError:
        """Map an error status and its ``{"error": "..."}`` text: 403 and 500 mean something
        of their own here; every other status takes the shared mapping."""
        status = response.status_code
        text = _error_text(body)
        text = self.scrub(text) if text else None
        detail = f"HTTP {status}: {text or self.scrub(_http.body_snippet(response))}"
        if status == 403:
            # Undocumented. The plan table makes a permission refusal likely (4K or API access
            # on a plan without it), so this is a rejection to show, not a broken key.
            return RequestRejectedError(
                f"{self.name} refused the request for this account's plan: "
                f"{text or 'HTTP 403 (4K and API access need a paid plan)'}",
                reason=text,
                detail=detail,
            )
        if status == 500:
            # Documented as "Generation failed". The job may have been billed, so it is a
            # plain unavailable error (not retried for a create request).
            return ProviderUnavailableError(
                f"{self.name} failed to generate the image (HTTP 500)", detail=detail
            )
        error = _http.error_for_status(self, response, text)
        if error is not None:
            return error
        return ProtocolError(f"{self.name} answered HTTP {status}", detail=detail)


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
