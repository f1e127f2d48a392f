"""A loopback fake of nanobananaapi.ai (see providers.md section 2).

Speaks the documented contract: Bearer auth; the ``{"code", "msg", "data"}`` envelope (the
generate-pro create answer says ``message``); the three create endpoints with their own field
names and validation; ``record-info?taskId=`` with ``successFlag`` 0 -> 1/2/3; the credit
endpoint; a Spring-style 404 for undocumented paths; callbacks in the shape of each endpoint
(v1 shape for ``/generate``, record-info shape for generate-2/pro), retried up to 3 times.

``http_status_mirrors_code`` chooses how errors travel: False (default) answers HTTP 200 with
the error code in the body, as the real service is reported to do; True makes the HTTP status
equal the body code. ``blank_nulls`` renders empty fields as ``""``/``0`` (as the docs'
examples do) instead of ``null`` (as production does).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from tests.fakes._base import FakeServer, FakeTask, Fault, On, Recorded, json_response

GENERATE_2 = "/api/v1/nanobanana/generate-2"
GENERATE_PRO = "/api/v1/nanobanana/generate-pro"
GENERATE_V1 = "/api/v1/nanobanana/generate"
RECORD_INFO = "/api/v1/nanobanana/record-info"
CREDIT = "/api/v1/common/credit"

NB2_RATIOS = (
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
    "auto",
)
PRO_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
V1_RATIOS = ("1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9")
RESOLUTIONS = ("1K", "2K", "4K")
V1_TYPES = ("TEXTTOIAMGE", "IMAGETOIAMGE")
#: the body fields each generator's document shows; anything else is refused
FIELDS: dict[str, frozenset[str]] = {
    "nano-banana-2": frozenset(
        [
            "prompt",
            "imageUrls",
            "aspectRatio",
            "resolution",
            "googleSearch",
            "outputFormat",
            "callBackUrl",
        ]
    ),
    "nano-banana-pro": frozenset(
        ("prompt", "imageUrls", "aspectRatio", "resolution", "callBackUrl")
    ),
    "nano-banana": frozenset(
        ("prompt", "type", "callBackUrl", "numImages", "imageUrls", "watermark", "image_size")
    ),
}

MAINTENANCE_MSG = "The service is currently under maintenance, please try again later"
NO_CREDITS_MSG = "The current credits are insufficient. Please top up."
RATE_LIMIT_MSG = "Too many requests, please try again later"
SERVER_EXCEPTION_MSG = "Server exception, please check the parameters and try again"


def _is_uri(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


class FakeNanoBananaApi(FakeServer):
    """nanobananaapi.ai on 127.0.0.1."""

    #: False: errors are HTTP 200 with the code in the body; True: HTTP status = body code
    http_status_mirrors_code: bool = False
    #: render empty fields as "" / 0 (docs examples) instead of null (production)
    blank_nulls: bool = False
    #: the successFlag a failed task ends with: 3 generate failed, 2 create-task failed
    failure_success_flag: int = 3
    #: the code the UNAVAILABLE fault answers with: 455 maintenance (kie family) or 503
    unavailable_code: int = 455

    def __init__(self, api_key: str = "test-key") -> None:
        super().__init__(api_key)
        self.credits: float = 1000.0
        self.callbacks_skipped: list[tuple[str, bytes]] = []  # non-loopback callback URLs
        self.created_at: dict[str, str] = {}
        self.done: set[str] = set()  # task ids whose outcome (and images) are ready
        router = self.app.router
        router.add_post(GENERATE_2, self._generate_2)
        router.add_post(GENERATE_PRO, self._generate_pro)
        router.add_post(GENERATE_V1, self._generate_v1)
        router.add_get(RECORD_INFO, self._record_info)
        router.add_get(CREDIT, self._credit)
        router.add_route("*", "/{tail:.*}", self._not_found)

    async def __aenter__(self) -> FakeNanoBananaApi:
        await self.start()
        return self

    # ------------------------------------------------------------------ envelope helpers

    def answer(
        self,
        code: int,
        msg: str,
        data: Any = ...,
        *,
        key: str = "msg",
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """The envelope, with the HTTP status chosen by ``http_status_mirrors_code``."""
        body: dict[str, Any] = {"code": code, key: msg}
        if data is not ...:
            body["data"] = data
        status = code if self.http_status_mirrors_code and code != 200 else 200
        return json_response(body, status=status, headers=headers)

    def _blank(self, value: Any, blank: Any = "") -> Any:
        return blank if value is None and self.blank_nulls else value

    async def _gate(
        self, request: web.Request, kind: On
    ) -> tuple[Recorded, web.StreamResponse | None]:
        """Record, apply a queued fault, check the key; a response ends the request."""
        recorded = await self.record(request)
        fault = self.take_fault(kind)
        if fault is not None:
            common = await self.common_fault(request, fault)
            if common is not None:
                return recorded, common
            if fault is not Fault.SLOW:
                return recorded, self._render_fault(fault)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return recorded, self.answer(401, "Unauthorized")
        return recorded, None

    def _render_fault(self, fault: Fault) -> web.Response:
        if fault is Fault.BAD_KEY:
            return self.answer(401, "Unauthorized")
        if fault is Fault.NO_CREDITS:
            return self.answer(402, NO_CREDITS_MSG, None)
        if fault is Fault.RATE_LIMITED:
            return self.answer(429, RATE_LIMIT_MSG, None, headers={"Retry-After": self.retry_after})
        if fault is Fault.UNAVAILABLE:
            return self.answer(self.unavailable_code, MAINTENANCE_MSG, None)
        # CODE_IN_200: always HTTP 200, whatever the mirroring mode
        return json_response({"code": 500, "msg": "Server internal error", "data": None})

    async def _not_found(self, request: web.Request) -> web.Response:
        """Spring Boot's default 404 for any undocumented path."""
        await self.record(request)
        body = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "status": 404,
            "error": "Not Found",
            "path": request.path,
        }
        return json_response(body, status=404)

    # ------------------------------------------------------------------ create endpoints

    async def _generate_2(self, request: web.Request) -> web.StreamResponse:
        return await self._create(request, "nano-banana-2", self._check_2)

    async def _generate_pro(self, request: web.Request) -> web.StreamResponse:
        return await self._create(request, "nano-banana-pro", self._check_pro, key="message")

    async def _generate_v1(self, request: web.Request) -> web.StreamResponse:
        return await self._create(request, "nano-banana", self._check_v1)

    async def _create(
        self, request: web.Request, model: str, check: Any, *, key: str = "msg"
    ) -> web.StreamResponse:
        recorded, stop = await self._gate(request, On.CREATE)
        if stop is not None:
            return stop
        body = recorded.json
        if not isinstance(body, dict):
            return self.answer(400, "Parameter error: the body must be a JSON object", key=key)
        unknown = sorted(set(body) - FIELDS[model])
        problem = f"unknown field {unknown[0]}" if unknown else _check_prompt(body) or check(body)
        if problem:
            return self.answer(400, f"Parameter error: {problem}", key=key)
        cost = self.cost(model, body)
        if self.credits < cost:
            return self.answer(402, NO_CREDITS_MSG, None, key=key)
        self.credits -= cost
        task_id = self.new_task_id().replace("-", "")  # 32 hex, like the real ids
        task = FakeTask(
            task_id=task_id,
            model=model,
            params=body,
            outcome=self.take_outcome(),
            callback_url=body.get("callBackUrl"),
        )
        self.tasks[task_id] = task
        self.created_at[task_id] = _now()
        self.spawn(self._progress(task))
        return self.answer(200, "success", {"taskId": task_id}, key=key)

    @staticmethod
    def cost(model: str, body: dict[str, Any]) -> float:
        """Credits a request costs (made-up but stable numbers)."""
        if model == "nano-banana":
            return 4.0 * int(body.get("numImages") or 1)
        per_resolution = {"1K": 8.0, "2K": 12.0, "4K": 18.0}
        base = per_resolution.get(body.get("resolution") or "1K", 8.0)
        return base * 2 if model == "nano-banana-pro" else base

    @staticmethod
    def _check_images(body: dict[str, Any], limit: int | None) -> str | None:
        urls = body.get("imageUrls")
        if urls is None:
            return None
        if not isinstance(urls, list) or not all(_is_uri(u) for u in urls):
            return "imageUrls must be an array of http(s) URLs"
        if limit is not None and len(urls) > limit:
            return f"imageUrls accepts at most {limit} images"
        return None

    @staticmethod
    def _check_enum(body: dict[str, Any], field: str, allowed: tuple[str, ...]) -> str | None:
        value = body.get(field)
        if value is not None and value not in allowed:
            return f"{field} must be one of {', '.join(allowed)}"
        return None

    @staticmethod
    def _check_callback(body: dict[str, Any], required: bool) -> str | None:
        url = body.get("callBackUrl")
        if url is None:
            return "callBackUrl is required" if required else None
        if not _is_uri(url):
            return "callBackUrl must be a valid URL"
        return None

    def _check_2(self, body: dict[str, Any]) -> str | None:
        google = body.get("googleSearch")
        if google is not None and not isinstance(google, bool):
            return "googleSearch must be a boolean"
        return (
            self._check_images(body, 14)
            or self._check_enum(body, "aspectRatio", NB2_RATIOS)
            or self._check_enum(body, "resolution", RESOLUTIONS)
            or self._check_enum(body, "outputFormat", ("png", "jpg"))
            or self._check_callback(body, required=False)
        )

    def _check_pro(self, body: dict[str, Any]) -> str | None:
        return (
            self._check_images(body, 8)
            or self._check_enum(body, "aspectRatio", PRO_RATIOS)
            or self._check_enum(body, "resolution", RESOLUTIONS)
            or self._check_callback(body, required=True)
        )

    def _check_v1(self, body: dict[str, Any]) -> str | None:
        kind = body.get("type")
        if kind not in V1_TYPES:
            return f"type must be one of {', '.join(V1_TYPES)}"
        count = body.get("numImages")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4
        ):
            return "numImages must be an integer from 1 to 4"
        if kind == "IMAGETOIAMGE" and not body.get("imageUrls"):
            return "imageUrls is required for IMAGETOIAMGE"
        watermark = body.get("watermark")
        if watermark is not None and not isinstance(watermark, str):
            return "watermark must be a string"
        return (
            self._check_images(body, None)
            or self._check_enum(body, "image_size", V1_RATIOS)
            or self._check_callback(body, required=True)
        )

    # ------------------------------------------------------------------ task progression

    def finished(self, task: FakeTask) -> bool:
        return task.task_id in self.done

    async def _progress(self, task: FakeTask) -> None:
        while task.step < self.steps_to_finish:
            await asyncio.sleep(self.step_seconds)
            task.step += 1
        params = task.params
        if task.outcome.success:
            if task.model == "nano-banana":
                count = int(params.get("numImages") or 1)
                aspect = params.get("image_size") or "1:1"
                resolution = "1K"
                image_format = "JPEG"
            else:
                count = 1
                aspect = params.get("aspectRatio") or "1:1"
                resolution = params.get("resolution") or "1K"
                image_format = "PNG" if params.get("outputFormat") == "png" else "JPEG"
            if aspect == "auto":
                aspect = "1:1"
            task.image_urls = await asyncio.to_thread(
                self.make_result_files,
                str(params.get("prompt", "")),
                aspect,
                resolution,
                task.outcome.images if task.outcome.images is not None else count,
                image_format,
            )
        self.done.add(task.task_id)
        if task.callback_url and self.send_callbacks:
            body = json.dumps(self.callback_body(task)).encode()
            if urlsplit(task.callback_url).hostname in ("127.0.0.1", "localhost"):
                await self.post_callback(task.callback_url, body)
            else:  # never leave the machine (the placeholder .invalid URL lands here)
                self.callbacks_skipped.append((task.callback_url, body))

    def record_data(self, task: FakeTask) -> dict[str, Any]:
        """The ``data`` of a record-info answer for ``task`` right now."""
        params = task.params
        resolution = str(params.get("resolution") or "1K").lower()
        operation = "nano-banana" if task.model == "nano-banana" else f"{task.model}_{resolution}"
        data: dict[str, Any] = {
            "taskId": task.task_id,
            "paramJson": json.dumps(params),
            "completeTime": None,
            "response": None,
            "successFlag": 0,
            "errorCode": None,
            "errorMessage": None,
            "operationType": operation,
            "createTime": self.created_at.get(task.task_id, _now()),
        }
        if self.finished(task) and task.outcome.success:
            urls = task.image_urls
            data["completeTime"] = _now()
            data["response"] = {
                "originImageUrl": None,
                "resultImageUrl": urls[0] if len(urls) == 1 else urls,
            }
            data["successFlag"] = 1
        elif self.finished(task):
            data["completeTime"] = _now()
            data["successFlag"] = self.failure_success_flag
            data["errorCode"] = 400 if task.outcome.content_policy else 500
            data["errorMessage"] = task.outcome.reason or "Image generation task failed"
        if self.blank_nulls:
            for field in ("completeTime", "errorMessage"):
                data[field] = self._blank(data[field])
            data["errorCode"] = self._blank(data["errorCode"], 0)
            if data["response"] is None:
                data["response"] = {"originImageUrl": "", "resultImageUrl": ""}
            else:
                data["response"]["originImageUrl"] = ""
        return data

    def callback_body(self, task: FakeTask) -> dict[str, Any]:
        """The callback POSTed for a finished task, in its endpoint's shape."""
        if task.model != "nano-banana":
            return {"code": 200, "msg": "success", "data": self.record_data(task)}
        if task.outcome.success:
            urls = task.image_urls
            info: Any = urls[0] if len(urls) == 1 else urls
            return {
                "code": 200,
                "msg": "Image generated successfully.",
                "data": {"taskId": task.task_id, "info": {"resultImageUrl": info}},
            }
        if task.outcome.content_policy:
            code = 400
            msg = task.outcome.reason or "Your prompt has been flagged for violating content policy"
        else:
            code = 501
            msg = task.outcome.reason or "Image generation task failed"
        return {
            "code": code,
            "msg": msg,
            "data": {"taskId": task.task_id, "info": {"resultImageUrl": ""}},
        }

    # ------------------------------------------------------------------ reads

    async def _record_info(self, request: web.Request) -> web.StreamResponse:
        _, stop = await self._gate(request, On.STATUS)
        if stop is not None:
            return stop
        task_id = request.query.get("taskId")
        if not task_id:  # e.g. ``task_id=`` instead of ``taskId=``
            return self.answer(500, SERVER_EXCEPTION_MSG, None)
        task = self.tasks.get(task_id)
        if task is None:
            return self.answer(404, "Task not found")
        return self.answer(200, "success", self.record_data(task))

    async def _credit(self, request: web.Request) -> web.StreamResponse:
        _, stop = await self._gate(request, On.STATUS)
        if stop is not None:
            return stop
        credits = int(self.credits) if float(self.credits).is_integer() else self.credits
        return self.answer(200, "success", credits)


def _check_prompt(body: dict[str, Any]) -> str | None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    if len(prompt) > 20_000:
        return "prompt must be at most 20000 characters"
    return None
