"""nanobananaapi.ai: asynchronous tasks, finished by callback or by polling ``record-info``.

Completion model: a create request (``POST /api/v1/nanobanana/<generator>``) answers at once
with ``data.taskId``; the task then runs for tens of seconds. The provider POSTs the outcome to
the ``callBackUrl`` we gave (unsigned, possibly repeated, 3 attempts at most) and the task can
always be read with ``GET /api/v1/nanobanana/record-info?taskId=<id>``. Callbacks are treated as
hints: the engine confirms them with :meth:`NanoBananaApiProvider.fetch`.

Three generators, one per model:

* ``nano-banana-2`` -> ``/generate-2``: camelCase ``imageUrls`` (``[]`` means text-to-image),
  ``aspectRatio`` (15 values incl. ``auto``), ``resolution``, ``googleSearch``, ``outputFormat``.
* ``nano-banana-pro`` -> ``/generate-pro``: ``imageUrls`` (at most 8), ``aspectRatio``
  (11 values), ``resolution``; no grounding. Its documented answer says ``message``, not ``msg``.
* ``nano-banana`` -> ``/generate`` (v1): ``type`` is ``TEXTTOIAMGE`` / ``IMAGETOIAMGE`` (the
  vendor's spelling, which must be sent exactly), the aspect ratio travels in snake_case
  ``image_size``, ``numImages`` 1-4, and ``callBackUrl`` is required.

Quirks handled here:

* Envelope ``{"code", "msg" | "message", "data"}``; HTTP 200 may carry an error ``code``, so the
  body code is always checked (and plain HTTP errors / HTML gateway pages are mapped too).
* A failed task keeps ``code: 200``; failure lives in ``data.successFlag`` (2 create-task
  failed, 3 generation failed) and ``data.errorMessage``.
* Null vs ``""`` vs ``0`` vary between docs and production; ``resultImageUrl`` may be a string
  or a list (``numImages`` > 1), with ``resultUrls`` seen as an alternative. Time strings are
  never parsed (the docs even show hour ``24``).
* Two callback shapes: v1 ``/generate`` sends ``{"code", "msg", "data": {"taskId", "info":
  {"resultImageUrl"}}}`` with the outcome in ``code`` (400 = content policy); generate-2 (and,
  by assumption, generate-pro) sends the ``record-info`` data shape.
* Reference images are taken by public URL only.

The create bodies are built in ``providers._nanobananaapi_body``; the task record and callback
readers live in ``providers._nanobananaapi_parse``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from providers import _http
from providers._nanobananaapi_body import (
    NANO_BANANA,
    NANO_BANANA_2,
    NANO_BANANA_PRO,
    create_body,
)
from providers._nanobananaapi_parse import (
    as_int,
    envelope_message,
    record_status,
    text,
    v1_callback_status,
)
from providers.base import (
    Capabilities,
    Completion,
    GenerationRequest,
    ModelCapabilities,
    Provider,
    TaskState,
    TaskStatus,
)
from providers.errors import (
    CallbackRejectedError,
    ProtocolError,
    ProviderError,
    ProviderUnavailableError,
    RequestRejectedError,
    TaskNotFoundError,
)
from providers.settings import ProviderSettings

#: model -> create path
CREATE_PATHS: dict[str, str] = {
    NANO_BANANA_2: "/api/v1/nanobanana/generate-2",
    NANO_BANANA_PRO: "/api/v1/nanobanana/generate-pro",
    NANO_BANANA: "/api/v1/nanobanana/generate",
}
STATUS_PATH = "/api/v1/nanobanana/record-info"
CREDIT_PATH = "/api/v1/common/credit"

#: Sent when the caller has no callback URL. v1 ``/generate`` requires ``callBackUrl`` and one
#: integration reports the platform rejects generate-2 requests without it, so we always send
#: one. The ``.invalid`` TLD is reserved (RFC 2606) and never resolves, so the provider's
#: callback simply fails and nothing leaks to a third party; the task is then polled.
PLACEHOLDER_CALLBACK_URL = "https://callback.invalid/bananabot-polling"

_RESOLUTIONS = ("1K", "2K", "4K")

_NB2 = ModelCapabilities(
    name=NANO_BANANA_2,
    aspect_ratios=(
        "auto",
        "1:1",
        "1:4",
        "1:8",
        "2:3",
        "3:2",
        "3:4",
        "4:1",
        "4:3",
        "4:5",
        "5:4",
        "8:1",
        "9:16",
        "16:9",
        "21:9",
    ),
    # "auto" lets the model choose (and keeps an edited image's shape); clients send it.
    default_aspect_ratio="auto",
    resolutions=_RESOLUTIONS,
    default_resolution="1K",  # the docs state no default; working clients send 1K
    max_references=14,
    max_prompt_length=20_000,
    grounding=True,
    max_images=1,
    output_formats=("png", "jpg"),
    typical_seconds=30.0,
)

_PRO = ModelCapabilities(
    name=NANO_BANANA_PRO,
    aspect_ratios=(
        "auto",
        "1:1",
        "2:3",
        "3:2",
        "3:4",
        "4:3",
        "4:5",
        "5:4",
        "9:16",
        "16:9",
        "21:9",
    ),
    default_aspect_ratio="auto",
    resolutions=_RESOLUTIONS,
    default_resolution="1K",  # not documented; the cheapest tier, as for generate-2
    max_references=8,
    # Not documented for nanobananaapi; 10,000 is the limit of the same model on the kie.ai
    # platform this service is a white-label of. A longer prompt is refused locally.
    max_prompt_length=10_000,
    grounding=False,
    max_images=1,
    output_formats=(),  # generate-pro documents no output format
    typical_seconds=40.0,
)

_V1 = ModelCapabilities(
    name=NANO_BANANA,
    aspect_ratios=("1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9"),
    # No documented default; when none is asked for, ``image_size`` is omitted so the
    # provider's own default applies (and an edit is not forced into a square).
    default_aspect_ratio=None,
    resolutions=(),
    default_resolution=None,
    # Neither limit is documented for v1; these are kie.ai's limits for the same model.
    max_references=10,
    max_prompt_length=5_000,
    grounding=False,
    max_images=4,
    output_formats=(),
    typical_seconds=15.0,
)


class NanoBananaApiSettings(ProviderSettings, env_prefix="NANOBANANAAPI_"):
    """``NANOBANANAAPI_API_KEY``, ``NANOBANANAAPI_BASE_URL`` and ``NANOBANANAAPI_WATERMARK``."""

    #: the v1 (``nano-banana``) ``watermark`` text put on every image; unset = none sent
    watermark: str | None = None


class NanoBananaApiProvider(Provider):
    """nanobananaapi.ai: Nano Banana 2, Pro and v1 as async tasks (callback or polling)."""

    name = "nanobananaapi"
    settings_type: ClassVar[type[ProviderSettings]] = NanoBananaApiSettings
    settings: NanoBananaApiSettings
    default_base_url = "https://api.nanobananaapi.ai"
    capabilities: ClassVar[Capabilities] = Capabilities(
        provider="nanobananaapi",
        models=(_NB2, _PRO, _V1),
        default_model=NANO_BANANA_2,
        completion=Completion.CALLBACK,
        accepts_reference_bytes=False,
        accepts_reference_urls=True,
        signed_callbacks=False,
    )
    read_timeout = 30.0

    # ------------------------------------------------------------------ public API

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Create a task on the model's generator and return it queued, with its task id.

        ``callback_url`` is where the provider POSTs the outcome; without one a placeholder
        that never resolves is sent (the field is required) and the task must be polled.
        """
        model = self.capabilities.model(request.model)

        def parse(response: httpx.Response) -> TaskStatus:
            data = self._unwrap(response, action="create request")
            task_id = text(data.get("taskId")) if isinstance(data, dict) else None
            if task_id is None:
                raise ProtocolError(
                    f"{self.name} answered the create request without a task id",
                    detail=self.scrub(_http.body_snippet(response)),
                )
            return TaskStatus(task_id=task_id, state=TaskState.QUEUED)

        return await _http.request(
            self,
            "POST",
            self.base_url + CREATE_PATHS[model.name],
            creating=True,
            parse=parse,
            json=create_body(
                model,
                request,
                callback_url or PLACEHOLDER_CALLBACK_URL,
                watermark=self.settings.watermark,
            ),
            headers=self._headers(),
        )

    async def fetch(self, task_id: str, *, model: str) -> TaskStatus:
        """Read a task through ``record-info`` (the same endpoint for every model)."""

        def parse(response: httpx.Response) -> TaskStatus:
            data = self._unwrap(response, action="status read", task_id=task_id)
            if not isinstance(data, dict):
                raise ProtocolError(
                    f"{self.name} sent a task status without data",
                    detail=self.scrub(_http.body_snippet(response)),
                )
            return record_status(self.name, data, task_id, error=ProtocolError)

        return await _http.request(
            self,
            "GET",
            self.base_url + STATUS_PATH,
            creating=False,
            parse=parse,
            params={"taskId": task_id},  # exactly "taskId": "task_id" gives a code 500
            headers=self._headers(),
        )

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> TaskStatus:
        """Turn a callback body (either shape) into a status.

        Callbacks are unsigned, so nothing can be verified here: the bot's unguessable
        per-job callback URL is the only protection, and the engine confirms the outcome
        with :meth:`fetch` before acting on it.
        """
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CallbackRejectedError(
                f"{self.name} callback is not JSON", detail=body[:200].decode("utf-8", "replace")
            ) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise CallbackRejectedError(
                f"{self.name} callback has no data object", detail=str(payload)[:300]
            )
        data: dict[str, Any] = payload["data"]
        task_id = text(data.get("taskId"))
        if task_id is None:
            raise CallbackRejectedError(
                f"{self.name} callback has no task id", detail=str(payload)[:300]
            )
        if "successFlag" in data or "response" in data:
            # generate-2 / generate-pro: the record-info data shape. Its top-level code is
            # "typically 200"; a 400 there is read as v1 reads it: a content-policy block.
            status = record_status(self.name, data, task_id, error=CallbackRejectedError)
            if status.state is TaskState.FAILED and as_int(payload.get("code")) == 400:
                status = status.model_copy(update={"content_policy": True})
            return status
        return v1_callback_status(self.name, payload, data, task_id)

    async def balance(self) -> float | None:
        """Remaining account credits (``GET /api/v1/common/credit``; ``data`` is a number)."""

        def parse(response: httpx.Response) -> float:
            data = self._unwrap(response, action="credit read")
            try:
                if isinstance(data, bool) or not isinstance(data, int | float | str):
                    raise ValueError(data)
                return float(data)
            except ValueError as exc:
                raise ProtocolError(
                    f"{self.name} sent an unreadable credit balance",
                    detail=self.scrub(_http.body_snippet(response)),
                ) from exc

        return await _http.request(
            self,
            "GET",
            self.base_url + CREDIT_PATH,
            creating=False,
            parse=parse,
            headers=self._headers(),
        )

    # ------------------------------------------------------------------ requests

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    # ------------------------------------------------------------------ responses

    def _unwrap(self, response: httpx.Response, *, action: str, task_id: str | None = None) -> Any:
        """The envelope's ``data`` after checking the body ``code`` and the HTTP status."""
        body = _http.json_body(response)
        code = as_int(body.get("code")) if isinstance(body, dict) else None
        if isinstance(body, dict) and code is not None:
            message = envelope_message(body)
            if code == 200 and response.status_code < 400:
                return body.get("data")
            if code != 200:
                raise self._code_error(code, message, response, action=action, task_id=task_id)
            error = _http.error_for_status(self, response, message or None)
            assert error is not None
            raise error
        error = _http.error_for_status(self, response)
        if error is not None:
            raise error
        raise ProtocolError(
            f"{self.name} sent an unexpected answer to the {action}",
            detail=f"HTTP {response.status_code}: {_http.body_snippet(response)}",
        )

    def _code_error(
        self,
        code: int,
        message: str,
        response: httpx.Response,
        *,
        action: str,
        task_id: str | None,
    ) -> ProviderError:
        """Map an envelope error ``code`` (whatever the HTTP status): the codes that are this
        provider's own first, then the shared mapping for the HTTP-like rest."""
        detail = self.scrub(
            f"HTTP {response.status_code}, code {code}: {message or _http.body_snippet(response)}"
        )
        name = self.name
        if code == 404 and task_id is not None:
            return TaskNotFoundError(f"{name} does not know task {task_id}", detail=detail)
        if code == 455:
            return ProviderUnavailableError(
                f"{name} is down for maintenance", detail=detail, not_processed=True
            )
        if code == 501:
            return RequestRejectedError(
                f"{name} could not generate the image: {message or 'generation failed'}",
                reason=message or "generation failed",
                content_policy=_http.looks_like_content_policy(message),
                detail=detail,
            )
        if code == 505:
            return RequestRejectedError(
                f"{name} has this feature disabled: {message or 'feature disabled'}",
                reason=message or "feature disabled",
                detail=detail,
            )
        error = _http.error_for_status(self, response, message or None, code=code)
        if error is None or code >= 600:
            return ProtocolError(f"{name} sent unknown code {code} to the {action}", detail=detail)
        return error
