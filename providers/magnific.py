"""Magnific (formerly the Freepik API): Nano Banana Pro and Nano Banana Pro Flash.

Completion model: an asynchronous task. ``POST /v1/ai/text-to-image/<model>`` answers at once
with a ``task_id``; the task then moves ``CREATED -> IN_PROGRESS -> COMPLETED | FAILED``. We learn
of the end either by reading ``GET /v1/ai/text-to-image/<model>/{task_id}`` or from the webhook
Magnific POSTs to ``webhook_url`` on *every* status change (so callbacks are often non-terminal).

Quirks this adapter handles (see ``providers.md`` section 1):

* Auth is the ``x-magnific-api-key`` header, never ``Authorization: Bearer``.
* API responses are wrapped in ``{"data": {...}}``; webhook bodies are the same task object
  *without* the wrapper. Both are parsed with ``payload.get("data", payload)``.
* The create answer may say ``CREATED`` or ``IN_PROGRESS`` and may carry ``"error": null``.
* ``generated`` is a list of URL strings once ``COMPLETED``; the URLs are signed and expire soon,
  so callers must download them promptly. A ``FAILED`` task may carry an ``error`` string; there is
  no documented reason field and no content-policy flag, so the block is inferred from its words
  (the one detector in ``providers._http``).
* Resolutions are uppercase ``1K/2K/4K``. The docs also list ``low/medium/high``, which no source
  shows being accepted; they are never sent.
* ``use_google_search_tool`` (grounding) exists only on ``nano-banana-pro-flash``; it is never sent
  to ``nano-banana-pro``.
* Reference images go by public URL only, as ``{"image", "text", "mime_type"}`` objects.
* Webhooks are signed Standard-Webhooks style: ``webhook-id``, ``webhook-timestamp`` and
  ``webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{raw body}")>``. The docs say
  the key is the secret's bytes; one integration treats a ``whsec_`` secret as base64, so both keys
  are tried (see :func:`verify_webhook_signature`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from providers import _http, grounding
from providers.base import (
    CallbackRejectedError,
    CallbackSignatureError,
    Capabilities,
    Completion,
    GenerationRequest,
    KeyCheck,
    ModelCapabilities,
    ProtocolError,
    Provider,
    ProviderError,
    ResultImage,
    TaskNotFoundError,
    TaskState,
    TaskStatus,
)
from providers.settings import ProviderSettings

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16", "21:9")
RESOLUTIONS = ("1K", "2K", "4K")

#: a webhook whose timestamp is further than this from our clock is refused (replay window)
WEBHOOK_TOLERANCE_SECONDS = 300


def _model(
    name: str, *, default_resolution: str, grounding: bool, typical_seconds: float
) -> ModelCapabilities:
    return ModelCapabilities(
        name=name,
        aspect_ratios=ASPECT_RATIOS,
        default_aspect_ratio="1:1",
        resolutions=RESOLUTIONS,
        default_resolution=default_resolution,
        max_references=14,  # the schema's limit; the Flash overview page reportedly says 3
        min_prompt_length=2,
        max_prompt_length=3000,
        grounding=grounding,
        max_images=1,
        typical_seconds=typical_seconds,
    )


PRO = _model("nano-banana-pro", default_resolution="2K", grounding=False, typical_seconds=40.0)
FLASH = _model(
    "nano-banana-pro-flash", default_resolution="1K", grounding=True, typical_seconds=20.0
)

_STATES = {
    "CREATED": TaskState.QUEUED,
    "IN_PROGRESS": TaskState.RUNNING,
    "COMPLETED": TaskState.SUCCEEDED,
    "FAILED": TaskState.FAILED,
}


def _signing_keys(secret: str) -> list[bytes]:
    """The HMAC keys a secret may stand for: its UTF-8 bytes, and for ``whsec_...`` secrets
    (Standard Webhooks / Svix form) also the base64-decoded remainder."""
    keys = [secret.encode()]
    if secret.startswith("whsec_"):
        with contextlib.suppress(binascii.Error, ValueError):
            decoded = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
            if decoded:
                keys.append(decoded)
    return keys


def verify_webhook_signature(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Check a Magnific webhook's signature on the raw body; raise
    :class:`CallbackSignatureError` when it is missing, wrong or outside the time window.

    ``webhook-signature`` is a space-separated list of ``version,base64sig`` entries; the
    delivery is genuine if any ``v1`` entry matches (compared in constant time).
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    webhook_id = lowered.get("webhook-id", "").strip()
    timestamp = lowered.get("webhook-timestamp", "").strip()
    signatures = lowered.get("webhook-signature", "").strip()
    if not (webhook_id and timestamp and signatures):
        raise CallbackSignatureError("magnific callback is not signed")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise CallbackSignatureError(
            "magnific callback has a bad timestamp", detail=f"webhook-timestamp {timestamp[:40]!r}"
        ) from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > WEBHOOK_TOLERANCE_SECONDS:
        raise CallbackSignatureError(
            "magnific callback is too old or from the future",
            detail=f"timestamp {sent_at}, now {current:.0f}",
        )
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    expected = [
        base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        for key in _signing_keys(secret)
    ]
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version != "v1" or not signature:
            continue
        given = signature.encode()
        # no early exit over keys: each comparison is constant-time and they all run
        matches = [hmac.compare_digest(given, candidate) for candidate in expected]
        if any(matches):
            return
    raise CallbackSignatureError("magnific callback signature does not match")


class MagnificSettings(ProviderSettings, env_prefix="MAGNIFIC_"):
    """``MAGNIFIC_API_KEY``, ``MAGNIFIC_BASE_URL`` and ``MAGNIFIC_WEBHOOK_SECRET``."""

    webhook_secret: SecretStr | None = None  # verifies signed webhooks when set


class MagnificProvider(Provider):
    """Magnific's Nano Banana Pro / Pro Flash text-to-image API (async tasks, signed webhooks)."""

    name = "magnific"
    settings_type: ClassVar[type[ProviderSettings]] = MagnificSettings
    settings: MagnificSettings
    default_base_url = "https://api.magnific.com"
    read_timeout = 30.0
    capabilities = Capabilities(
        provider="magnific",
        models=(PRO, FLASH),
        default_model=PRO.name,
        completion=Completion.CALLBACK,
        accepts_reference_bytes=False,
        accepts_reference_urls=True,
        signed_callbacks=True,
        callbacks_on_every_change=True,  # "sent to webhook_url on each status change"
    )

    # ------------------------------------------------------------------ public API

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Create a Magnific task; return its (queued or running) status with the task id.

        ``callback_url`` becomes ``webhook_url``: Magnific then POSTs every status change there.
        """
        model = self.capabilities.model(request.model)
        return await _http.request(
            self,
            "POST",
            f"{self.base_url}/v1/ai/text-to-image/{model.name}",
            creating=True,
            parse=lambda response: self._status(self._data(response)),
            json=self._body(request, model, callback_url),
            headers=self._headers(),
        )

    async def fetch(self, task_id: str, *, model: str) -> TaskStatus:
        """Read a task's status (``model`` picks the endpoint the task was created on)."""
        caps = self.capabilities.model(model)

        def parse(response: httpx.Response) -> TaskStatus:
            if response.status_code == 404:
                raise TaskNotFoundError(
                    f"{self.name} does not know task {task_id[:64]}",
                    detail=self.scrub(f"HTTP 404: {_http.body_snippet(response)}"),
                )
            return self._status(self._data(response))

        return await _http.request(
            self,
            "GET",
            f"{self.base_url}/v1/ai/text-to-image/{caps.name}/{quote(task_id, safe='')}",
            creating=False,
            parse=parse,
            headers=self._headers(),
        )

    async def verify_key(self) -> KeyCheck:
        """Read the status of a task that does not exist: 404 proves the key, 401/403 refuse it
        (Magnific has no credit endpoint)."""
        with contextlib.suppress(TaskNotFoundError):
            await self.fetch("bananabot-key-check", model=self.capabilities.default_model)
        return KeyCheck(verified=True)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> TaskStatus:
        """Turn a webhook delivery into a status.

        When a webhook secret is configured the signature is checked on the raw bytes first
        (missing or wrong -> :class:`CallbackRejectedError`). A body that is not a JSON object
        is rejected the same way; a task object we cannot read raises :class:`ProtocolError`.
        Non-terminal statuses are returned too: Magnific calls on every change.
        """
        secret = self.settings.webhook_secret
        if secret is not None and secret.get_secret_value():
            verify_webhook_signature(secret.get_secret_value(), headers, body)
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise CallbackRejectedError(
                f"{self.name} callback is not JSON", detail=body[:200].decode(errors="replace")
            ) from None
        if not isinstance(payload, dict):
            raise CallbackRejectedError(
                f"{self.name} callback is not a JSON object",
                detail=body[:200].decode(errors="replace"),
            )
        # documented without the "data" wrapper; accept it anyway, as other receivers do
        data = payload.get("data", payload)
        return self._status(data)

    # ------------------------------------------------------------------ helpers

    def _headers(self) -> dict[str, str]:
        return {"x-magnific-api-key": self.api_key, "Accept": "application/json"}

    def _body(
        self, request: GenerationRequest, model: ModelCapabilities, callback_url: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"prompt": request.prompt}
        if callback_url:
            body["webhook_url"] = callback_url
        if request.references:
            refs = []
            for ref in request.references:
                item: dict[str, str] = {"image": ref.url or ""}  # validation guarantees a URL
                if ref.caption:
                    item["text"] = ref.caption
                item["mime_type"] = ref.mime_type
                refs.append(item)
            body["reference_images"] = refs
        # Magnific's own defaults match ours (1:1; 2K Pro, 1K Flash), but sending them makes the
        # request say exactly what the user will get.
        body["aspect_ratio"] = request.aspect_ratio or model.default_aspect_ratio
        body["resolution"] = request.resolution or model.default_resolution
        if model.grounding:
            # Flash only; the field is undocumented on Pro and never sent there.
            body["use_google_search_tool"] = request.grounding
        return body

    def _data(self, response: httpx.Response) -> Any:
        """The task object of a 2xx answer; raise the mapped error for anything else.

        The curl examples and working clients show it wrapped in ``{"data": ...}``; the create
        endpoint's response example shows it bare (``{"task_id", "status", "generated"}``).
        Both are read: refusing a create the provider accepted could leave a billed task behind.
        """
        payload = _http.json_body(response)
        if response.status_code >= 400:
            raise self._error(response, payload)
        if isinstance(payload, dict) and "data" not in payload and "task_id" in payload:
            return payload
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise ProtocolError(
                f"{self.name} sent an unexpected answer",
                detail=self.scrub(f"HTTP {response.status_code}: {_http.body_snippet(response)}"),
            )
        return payload["data"]

    def _error(self, response: httpx.Response, payload: Any) -> ProviderError:
        reason = _error_text(payload) if payload is not None else None
        error = _http.error_for_status(self, response, reason or None)
        assert error is not None  # only called for status >= 400
        return error

    def _status(self, data: Any) -> TaskStatus:
        """Map one Magnific task object to a :class:`TaskStatus`."""
        if not isinstance(data, dict):
            raise ProtocolError(
                f"{self.name} sent a task we cannot read", detail=self.scrub(repr(data)[:300])
            )
        task_id = data.get("task_id")
        raw_status = data.get("status")
        if not isinstance(task_id, str) or not task_id:
            raise ProtocolError(
                f"{self.name} sent a task without an id", detail=self.scrub(repr(data)[:300])
            )
        state = _STATES.get(raw_status) if isinstance(raw_status, str) else None
        if state is None:
            raise ProtocolError(
                f"{self.name} sent an unknown task status",
                detail=f"task {task_id}: status {raw_status!r}"[:300],
            )
        if state is TaskState.FAILED:
            error = data.get("error")
            reason = error.strip() if isinstance(error, str) and error.strip() else None
            reason = self.scrub(reason) if reason else "generation failed"
            return TaskStatus(
                task_id=task_id,
                state=state,
                reason=reason,
                content_policy=_http.looks_like_content_policy(reason),
            )
        if state is not TaskState.SUCCEEDED:
            return TaskStatus(task_id=task_id, state=state)
        images = tuple(ResultImage(url=url) for url in self._urls(task_id, data.get("generated")))
        if not images:
            # Seen as a silent filter on other models: finished, nothing to show.
            return TaskStatus(
                task_id=task_id, state=TaskState.FAILED, reason="completed without any image"
            )
        sources = grounding.magnific_sources(data)
        return TaskStatus(task_id=task_id, state=state, images=images, sources=sources)

    def _urls(self, task_id: str, generated: Any) -> list[str]:
        if generated is None:
            return []
        if not isinstance(generated, list):
            raise ProtocolError(
                f"{self.name} sent results we cannot read",
                detail=f"task {task_id}: generated {self.scrub(repr(generated))}"[:300],
            )
        urls = []
        for item in generated:
            # documented as plain URL strings; accept {"url": ...} objects leniently
            url = item.get("url") if isinstance(item, dict) else item
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ProtocolError(
                    f"{self.name} sent a result that is not a URL",
                    detail=f"task {task_id}: {self.scrub(repr(item))}"[:300],
                )
            urls.append(url)
        return urls


def _error_text(payload: Any) -> str:
    """The provider's own words from an error body: ``message`` plus any ``invalid_params``
    reasons (problem+json, found top-level or nested under ``problem``)."""
    if isinstance(payload, str):
        return payload.strip()
    if not isinstance(payload, dict):
        return ""
    parts: list[str] = []
    for source in (payload, payload.get("problem")):
        if not isinstance(source, dict):
            continue
        for key in ("message", "detail", "error", "title"):
            value = source.get(key)
            if isinstance(value, str) and value.strip() and value.strip() not in parts:
                parts.append(value.strip())
                break
        params = source.get("invalid_params")
        if isinstance(params, list):
            for param in params:
                if not isinstance(param, dict):
                    continue
                reason = param.get("reason")
                name = param.get("name")
                if isinstance(reason, str) and reason.strip():
                    text = reason.strip()
                    parts.append(f"{name}: {text}" if isinstance(name, str) and name else text)
    return "; ".join(parts)[:500]
