"""A loopback fake of Magnific's Nano Banana Pro / Pro Flash API (providers.md section 1).

Speaks the documented contract: ``x-magnific-api-key`` (or legacy ``x-freepik-api-key``) auth,
``{"data": {...}}`` envelopes, ``{"message": ...}`` and problem+json ``invalid_params`` errors,
tasks moving ``CREATED -> IN_PROGRESS -> COMPLETED | FAILED`` over time, result images served
from ``/files``, and unwrapped task JSON POSTed to ``webhook_url`` on every status change,
signed like Magnific's webhooks when ``webhook_secret`` is set. Reference images are recorded,
never downloaded. A Flash task asked for ``use_google_search_tool`` ends with grounding metadata
(:mod:`tests.fakes.grounding`: the document says only that the response "may include" it).

``GET /v1/ai/text-to-image/<model>`` lists this fake's tasks of that model (it has one key),
``{"data": [{"task_id", "status"}, ...]}`` with no results, newest first, paged by ``page`` and
``per_page`` (optional; integers of at least 1, else a problem+json 400). Default and maximum
per_page, the order and the refusal of other query parameters are not documented: assumed here.
With ``lists_tasks`` False it answers 404, as a live test of another model's list did.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes import grounding
from tests.fakes._base import FakeServer, FakeTask, Fault, On, Recorded, json_response

MODELS = ("nano-banana-pro", "nano-banana-pro-flash")
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "4:3", "3:4", "5:4", "4:5", "16:9", "9:16", "21:9")
RESOLUTIONS = ("1K", "2K", "4K")  # the docs' "low/medium/high" are not accepted (see providers.md)
DEFAULT_RESOLUTION = {"nano-banana-pro": "2K", "nano-banana-pro-flash": "1K"}
MIME_TYPES = ("image/png", "image/jpeg", "image/webp")
FIELDS = {"prompt", "webhook_url", "reference_images", "aspect_ratio", "resolution"}
FLASH_ONLY = {"use_google_search_tool"}
REFERENCE_FIELDS = {"image", "text", "mime_type"}
LIST_PARAMS = ("page", "per_page")
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass
class MagnificTask(FakeTask):
    """A fake task with its current Magnific status."""

    status: str = "CREATED"
    error: str | None = None
    grounding: dict[str, Any] | None = None  # grounding metadata, once a grounded task ends


def sign(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """A ``webhook-signature`` value: HMAC-SHA256 keyed with the secret's UTF-8 bytes."""
    digest = hmac.new(
        secret.encode(), f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256
    ).digest()
    return "v1," + base64.b64encode(digest).decode()


class FakeMagnific(FakeServer):
    """Magnific's text-to-image task API for both Nano Banana models."""

    def __init__(self, api_key: str = "test-key", webhook_secret: str | None = None) -> None:
        super().__init__(api_key)
        #: signs callbacks (raw UTF-8 key) when set; unsigned otherwise
        self.webhook_secret = webhook_secret
        #: what a create answers; the Nano Banana docs example says IN_PROGRESS
        self.create_status = "CREATED"
        #: the ``groundingChunks`` a grounded task names (None: three made from the prompt)
        self.grounding_chunks: list[dict[str, Any]] | None = None
        #: how a create answers: wrapped in ``{"data": ...}`` as the curl examples show, or the
        #: bare task object of the endpoint's response example (``{"task_id", "status",
        #: "generated"}``); the documents show both
        self.create_wrapped = True
        #: whether ``GET /v1/ai/text-to-image/<model>`` lists tasks (False: 404, as seen live)
        self.lists_tasks = True
        #: per_page when none is given, and the most a page holds (ASSUMED: undocumented)
        self.default_per_page = 20
        self.max_per_page = 100
        #: how long each next task takes to finish (seconds), while any are left; then
        #: ``steps_to_finish`` steps of ``step_seconds``
        self.durations: deque[float] = deque()
        #: when each task timed by ``durations`` finished (``time.time()``)
        self.finished_at: dict[str, float] = {}
        self.app.router.add_post("/v1/ai/text-to-image/{model}", self._create)
        self.app.router.add_get("/v1/ai/text-to-image/{model}", self._list)
        self.app.router.add_get("/v1/ai/text-to-image/{model}/{task_id}", self._status)

    async def __aenter__(self) -> FakeMagnific:
        await self.start()
        return self

    # ------------------------------------------------------------------ responses

    @staticmethod
    def _message(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return json_response({"message": message}, status=status, headers=headers)

    @staticmethod
    def _invalid(problems: list[tuple[str, str]]) -> web.Response:
        return web.Response(
            body=json.dumps(
                {
                    "message": "Your request parameters didn't validate.",
                    "invalid_params": [{"name": n, "reason": r} for n, r in problems],
                }
            ).encode(),
            status=400,
            headers={"Content-Type": "application/problem+json"},
        )

    def _fault_response(self, fault: Fault) -> web.Response:
        if fault is Fault.BAD_KEY:
            return self._message(401, "Invalid API key")
        if fault is Fault.NO_CREDITS:
            return self._message(402, "Insufficient credits to perform this request")
        if fault is Fault.RATE_LIMITED:
            return self._message(
                429, "Rate limit exceeded", headers={"Retry-After": self.retry_after}
            )
        # UNAVAILABLE, and CODE_IN_200 (Magnific has no error codes in 200 envelopes)
        return self._message(503, "Service Unavailable. Please try again later.")

    async def _prelude(
        self, request: web.Request, kind: On
    ) -> tuple[Recorded, web.StreamResponse | None]:
        """Record, apply a queued fault, check the key. A response means: answer with it."""
        recorded = await self.record(request)
        fault = self.take_fault(kind)
        if fault is not None:
            response = await self.common_fault(request, fault)
            if response is not None:
                return recorded, response
            if fault is not Fault.SLOW:
                return recorded, self._fault_response(fault)
        key = request.headers.get("x-magnific-api-key") or request.headers.get("x-freepik-api-key")
        if not key:
            return recorded, self._message(401, "Missing API key")
        if key != self.api_key:
            return recorded, self._message(401, "Invalid API key")
        return recorded, None

    @staticmethod
    def task_json(task: MagnificTask) -> dict[str, Any]:
        """The task object as GET returns it inside ``data`` (and webhooks send it bare)."""
        body: dict[str, Any] = {
            "generated": list(task.image_urls) if task.status == "COMPLETED" else [],
            "task_id": task.task_id,
            "status": task.status,
        }
        if task.status == "FAILED" and task.error is not None:
            body["error"] = task.error
        if task.status == "COMPLETED" and task.grounding is not None:
            body["grounding_metadata"] = task.grounding
        return body

    # ------------------------------------------------------------------ validation

    def _validate(self, model: str, body: Any) -> list[tuple[str, str]]:
        if not isinstance(body, dict):
            return [("body", "The request body must be a JSON object")]
        problems: list[tuple[str, str]] = []
        allowed = FIELDS | (FLASH_ONLY if model == "nano-banana-pro-flash" else set())
        problems += [
            (name, f"Parameter '{name}' is not valid") for name in body if name not in allowed
        ]
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            problems.append(("prompt", "Parameter 'prompt' must not be empty"))
        elif not 2 <= len(prompt) <= 3000:
            problems.append(("prompt", "Parameter 'prompt' must be between 2 and 3000 characters"))
        webhook = body.get("webhook_url")
        if webhook is not None and (
            not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
        ):
            problems.append(("webhook_url", "Parameter 'webhook_url' must be a valid URL"))
        if "aspect_ratio" in body and body["aspect_ratio"] not in ASPECT_RATIOS:
            problems.append(
                ("aspect_ratio", f"Parameter 'aspect_ratio' must be one of {list(ASPECT_RATIOS)}")
            )
        if "resolution" in body and body["resolution"] not in RESOLUTIONS:
            problems.append(
                ("resolution", f"Parameter 'resolution' must be one of {list(RESOLUTIONS)}")
            )
        if "use_google_search_tool" in body and not isinstance(
            body["use_google_search_tool"], bool
        ):
            problems.append(
                ("use_google_search_tool", "Parameter 'use_google_search_tool' must be a boolean")
            )
        problems += self._validate_references(body.get("reference_images"))
        return problems

    @staticmethod
    def _validate_references(refs: Any) -> list[tuple[str, str]]:
        if refs is None:
            return []
        if not isinstance(refs, list):
            return [("reference_images", "Parameter 'reference_images' must be an array")]
        if len(refs) > 14:
            return [("reference_images", "Parameter 'reference_images' must have at most 14 items")]
        problems = []
        for index, ref in enumerate(refs):
            where = f"reference_images.{index}"
            if not isinstance(ref, dict):
                problems.append((where, f"Parameter '{where}' must be an object"))
                continue
            problems += [
                (f"{where}.{k}", f"Parameter '{where}.{k}' is not valid")
                for k in ref
                if k not in REFERENCE_FIELDS
            ]
            image = ref.get("image")
            if not isinstance(image, str) or not image.startswith(("http://", "https://", "gs://")):
                problems.append(
                    (f"{where}.image", f"Parameter '{where}.image' must be a public URL")
                )
            if "text" in ref and not isinstance(ref["text"], str):
                problems.append((f"{where}.text", f"Parameter '{where}.text' must be a string"))
            if "mime_type" in ref and ref["mime_type"] not in MIME_TYPES:
                problems.append(
                    (
                        f"{where}.mime_type",
                        f"Parameter '{where}.mime_type' must be one of {list(MIME_TYPES)}",
                    )
                )
        return problems

    def _paging(self, request: web.Request) -> tuple[list[tuple[str, str]], int, int]:
        """Problems with the list's query, and its page and per_page (clamped)."""
        problems = [
            (name, f"Parameter '{name}' is not valid")
            for name in request.query
            if name not in LIST_PARAMS
        ]
        values = {"page": 1, "per_page": self.default_per_page}
        for name in LIST_PARAMS:
            given = request.query.getall(name, [])
            if not given:
                continue
            if len(given) > 1 or not _INTEGER.fullmatch(given[0]):
                problems.append((name, f"Parameter '{name}' is not valid"))
            elif int(given[0]) < 1:
                problems.append((name, f"Parameter '{name}' must be greater than 0"))
            else:
                values[name] = int(given[0])
        return problems, values["page"], min(values["per_page"], self.max_per_page)

    # ------------------------------------------------------------------ handlers

    async def _create(self, request: web.Request) -> web.StreamResponse:
        recorded, early = await self._prelude(request, On.CREATE)
        if early is not None:
            return early
        model = request.match_info["model"]
        if model not in MODELS:
            return self._message(404, "Not Found")
        try:
            body = json.loads(recorded.body)
        except ValueError:
            return self._message(400, "Invalid JSON body")
        problems = self._validate(model, body)
        if problems:
            return self._invalid(problems)
        task = MagnificTask(
            task_id=self.new_task_id(),
            model=model,
            params=body,
            outcome=self.take_outcome(),
            callback_url=body.get("webhook_url"),
            status=self.create_status,
        )
        self.tasks[task.task_id] = task
        self.spawn(self._progress(task))
        if not self.create_wrapped:
            return json_response(self.task_json(task))
        return json_response({"data": {**self.task_json(task), "error": None}})

    async def _status(self, request: web.Request) -> web.StreamResponse:
        _, early = await self._prelude(request, On.STATUS)
        if early is not None:
            return early
        task = self.tasks.get(request.match_info["task_id"])
        if not isinstance(task, MagnificTask) or task.model != request.match_info["model"]:
            return self._message(404, "Not Found")
        return json_response({"data": self.task_json(task)})

    async def _list(self, request: web.Request) -> web.StreamResponse:
        _, early = await self._prelude(request, On.LIST)
        if early is not None:
            return early
        model = request.match_info["model"]
        if not self.lists_tasks or model not in MODELS:
            return self._message(404, "Not Found")
        problems, page, per_page = self._paging(request)
        if problems:
            return self._invalid(problems)
        newest_first = [
            task
            for task in reversed(self.tasks.values())  # created in insertion order
            if isinstance(task, MagnificTask) and task.model == model
        ]
        shown = newest_first[(page - 1) * per_page : page * per_page]
        return json_response({"data": [{"task_id": t.task_id, "status": t.status} for t in shown]})

    # ------------------------------------------------------------------ progression

    async def _progress(self, task: MagnificTask) -> None:
        """Advance the task one step every ``step_seconds`` (or, while ``durations`` has
        any, take the next of them to finish); call back on each change."""
        if self.durations:
            await self._timed(task, self.durations.popleft())
            return
        while task.step < self.steps_to_finish:
            await asyncio.sleep(self.step_seconds)
            task.step += 1
            previous = task.status
            if task.step >= self.steps_to_finish:
                self._finish(task)
            else:
                task.status = "IN_PROGRESS"
            if task.status != previous and task.callback_url and self.send_callbacks:
                await self._callback(task)

    async def _timed(self, task: MagnificTask, seconds: float) -> None:
        """Run the task for ``seconds`` (in progress after half of it, at most 1 s), noting
        when it finished in ``finished_at``."""
        started = time.monotonic()
        await asyncio.sleep(min(1.0, seconds / 2))
        task.status = "IN_PROGRESS"
        if task.callback_url and self.send_callbacks:
            await self._callback(task)
        await asyncio.sleep(max(0.0, started + seconds - time.monotonic()))
        self._finish(task)
        self.finished_at[task.task_id] = time.time()
        if task.callback_url and self.send_callbacks:
            await self._callback(task)

    def _finish(self, task: MagnificTask) -> None:
        outcome = task.outcome
        if not outcome.success:
            task.status = "FAILED"
            task.error = outcome.reason
            return
        count = 1 if outcome.images is None else outcome.images
        task.image_urls = self.make_result_files(
            task.params["prompt"],
            task.params.get("aspect_ratio", "1:1"),
            task.params.get("resolution", DEFAULT_RESOLUTION[task.model]),
            count,
            image_format="JPEG",
        )
        if task.params.get("use_google_search_tool") is True:
            found = grounding.metadata(task.params["prompt"], self.grounding_chunks)
            task.grounding = grounding.snake_case(found)
        task.status = "COMPLETED"

    async def _callback(self, task: MagnificTask) -> None:
        assert task.callback_url is not None
        body = json.dumps(self.task_json(task)).encode()
        headers: dict[str, str] = {}
        if self.webhook_secret is not None:
            webhook_id = f"msg_{uuid.uuid4().hex}"
            timestamp = str(int(time.time()))
            headers = {
                "webhook-id": webhook_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": sign(self.webhook_secret, webhook_id, timestamp, body),
            }
        await self.post_callback(task.callback_url, body, headers)
