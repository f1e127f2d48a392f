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
* Webhooks are signed Standard-Webhooks style (see :mod:`providers.magnific_signature`).
* ``GET /v1/ai/text-to-image/<model>`` lists the key's tasks, ``{"data": [{"task_id", "status"}]}``
  with ``page``/``per_page``, no results (see :meth:`MagnificProvider.list_tasks`). A live test of
  such a list on another model got 404, so a 404/405 or an undocumented answer means "no list".
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from providers import _http, grounding
from providers._magnific_parse import NO_LIST, STATES, error_text, listed
from providers.base import (
    Capabilities,
    Completion,
    GenerationRequest,
    KeyCheck,
    ListedTask,
    ModelCapabilities,
    Provider,
    ResultImage,
    TaskState,
    TaskStatus,
)
from providers.errors import (
    CallbackRejectedError,
    ListingUnavailableError,
    ProtocolError,
    ProviderError,
    TaskNotFoundError,
)
from providers.magnific_signature import verify_webhook_signature
from providers.settings import ProviderSettings

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16", "21:9")
RESOLUTIONS = ("1K", "2K", "4K")


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
        lists_tasks=True,  # documented; may not exist live (list_tasks then says so)
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

    async def list_tasks(self, model: str, *, page: int, per_page: int) -> list[ListedTask]:
        """One page of the key's tasks of ``model``: ``GET /v1/ai/text-to-image/<model>``.

        Documented: the endpoint ("Get the status of all tasks"), the same auth header as a
        task read, ``{"data": [{"task_id", "status"}, ...]}`` with the four task statuses and
        no results, and ``page``/``per_page`` query parameters that must be greater than 0.
        Not documented: per_page's default and maximum, and the order; so a page shorter than
        ``per_page`` need not be the last (the server may cap it lower, and items left out
        here shorten it too): only an empty page surely ends the list.

        Assumed: a 404 or 405 means the list is not offered (a live test of another model's
        list got 404), a 400 or 422 that it does not take the documented parameters, and so
        does a 2xx that is not ``{"data": [...]}``: all raise
        :class:`ListingUnavailableError`. Other refusals map as :meth:`fetch`'s do. An item
        without an id or with a status we do not know is left out, not an error: the list only
        says which tasks are worth a full read.
        """
        if page < 1 or per_page < 1:
            raise ValueError(f"page and per_page start at 1, not {page} and {per_page}")
        caps = self.capabilities.model(model)

        def parse(response: httpx.Response) -> list[ListedTask]:
            if response.status_code in NO_LIST:
                raise ListingUnavailableError(
                    f"{self.name} does not list its tasks",
                    detail=self.scrub(
                        f"HTTP {response.status_code}: {_http.body_snippet(response)}"
                    ),
                )
            payload = _http.json_body(response)
            if response.status_code >= 400:
                raise self._error(response, payload)
            items = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(items, list):
                raise ListingUnavailableError(
                    f"{self.name} task list is not as documented",
                    detail=self.scrub(
                        f"HTTP {response.status_code}: {_http.body_snippet(response)}"
                    ),
                )
            return [task for item in items if (task := listed(item)) is not None]

        return await _http.request(
            self,
            "GET",
            f"{self.base_url}/v1/ai/text-to-image/{caps.name}",
            creating=False,
            parse=parse,
            params={"page": page, "per_page": per_page},
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
        reason = error_text(payload) if payload is not None else None
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
        state = STATES.get(raw_status) if isinstance(raw_status, str) else None
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
