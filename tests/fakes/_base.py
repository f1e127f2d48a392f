"""Shared machinery for the loopback fake provider servers.

Each fake is an aiohttp app on 127.0.0.1 that speaks one provider's documented contract
(see ../shared/providers.md). This module gives them: start/stop on a free port, a record of
every request, a queue of injected faults, task progression over time, result images served
as real image files, and callbacks delivered to a URL the client gave.
"""

from __future__ import annotations

import asyncio
import email.message
import email.parser
import email.policy
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from providers.base import Provider
from providers.local import image_size, render_image
from providers.settings import ProviderSettings, RetryPolicy


class Fault(StrEnum):
    """A failure a fake produces on a later request, each in its provider's own format."""

    BAD_KEY = "bad_key"  # 401
    NO_CREDITS = "no_credits"  # 402 (or the envelope's 402 code)
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    HTML_502 = "html_502"  # a gateway's HTML error page
    UNAVAILABLE = "unavailable"  # 503 (or the envelope's maintenance code)
    CODE_IN_200 = "code_in_200"  # HTTP 200 whose envelope carries an error code
    SLOW = "slow"  # hold the request open for ``slow_seconds``
    DROP = "drop"  # close the connection without answering


class On(StrEnum):
    """Which kind of request a fault applies to."""

    CREATE = "create"
    STATUS = "status"  # one task's status read
    LIST = "list"  # a read of the task list (where a fake has one)
    ANY = "any"


@dataclass
class Outcome:
    """How the next task ends."""

    success: bool = True
    reason: str | None = None  # failure text, as the provider would word it
    content_policy: bool = False
    images: int | None = None  # number of result images (default: as requested)


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, Any] | None = None


@dataclass
class FakeTask:
    """A task inside a fake: progresses through ``steps`` over time."""

    task_id: str
    model: str
    params: dict[str, Any]
    outcome: Outcome
    callback_url: str | None = None
    step: int = 0
    image_urls: list[str] = field(default_factory=list)


FAST_RETRY = RetryPolicy(initial_wait=0.01, max_wait=0.05)


def provider_settings(
    provider: type[Provider], fake: FakeServer, **overrides: Any
) -> ProviderSettings:
    """``provider``'s own settings class pointing at ``fake`` (its key, its URL) with a fast
    retry policy; nothing is read from the environment."""
    values: dict[str, Any] = {
        "api_key": SecretStr(fake.api_key),
        "base_url": fake.base_url,
        "retry": FAST_RETRY,
    }
    values.update(overrides)
    return provider.settings_type.from_values(**values)


def parse_multipart(content_type: str, body: bytes) -> dict[str, list[Any]]:
    """Parse a multipart/form-data body: text fields as str, files as (filename, bytes, type)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, list[Any]] = {}
    for part in message.iter_parts():
        assert isinstance(part, email.message.EmailMessage)
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        value: Any = (filename, payload, part.get_content_type()) if filename else payload.decode()
        fields.setdefault(str(name), []).append(value)
    return fields


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response with the bare ``application/json`` content type real APIs send."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    "</h1></center><hr><center>cloudflare</center></body></html>"
)


class FakeServer:
    """Base of every fake provider server."""

    #: how long each progression step takes (tests keep this small)
    step_seconds: float = 0.05
    #: how many steps a task takes from creation to its outcome
    steps_to_finish: int = 2
    slow_seconds: float = 5.0
    retry_after: str = "1"

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.app = web.Application(
            client_max_size=64 * 1024 * 1024, middlewares=[self._count_in_flight]
        )
        self._in_flight = 0
        self._quiet = asyncio.Event()  # set while nothing is in flight or in the background
        self._quiet.set()
        self.app.router.add_get("/files/{name}", self._serve_file)
        self.requests: list[Recorded] = []
        self.tasks: dict[str, FakeTask] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.callbacks_sent: list[tuple[str, bytes, int]] = []  # url, body, answer status
        self.outcomes: deque[Outcome] = deque()
        self._faults: deque[tuple[Fault, On]] = deque()
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.port = 0
        self.send_callbacks = True
        self.noisy_images = False
        #: extra characters in each result URL's signature (presigned storage URLs run to
        #: kilobytes; 6000 makes each URL a row larger than an SQLite page)
        self.url_padding = 0
        #: serve one render per size and format again (see :meth:`make_result_files`)
        self.same_renders = False
        #: seconds a result file takes to arrive (a storage CDN far away, a large file)
        self.file_delay = 0.0
        self._renders: dict[tuple[tuple[int, int], str], bytes] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Listen on a free loopback port; return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _count_in_flight(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._in_flight += 1
        self._busy_changed()
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            self._in_flight -= 1
            self._busy_changed()

    def _busy_changed(self) -> None:
        if self._in_flight or self._background:
            self._quiet.clear()
        else:
            self._quiet.set()

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being handled and no background work (task progress,
        callbacks) remains: what the fake was going to do, it has done. Bounded."""
        await asyncio.wait_for(self._quiet.wait(), timeout)

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ scripting

    def inject(self, fault: Fault, *, on: On = On.ANY, times: int = 1) -> None:
        """Make the next ``times`` matching requests fail with ``fault``."""
        for _ in range(times):
            self._faults.append((fault, on))

    def next_outcome(self, outcome: Outcome) -> None:
        """Set how the next created task ends (default: success)."""
        self.outcomes.append(outcome)

    def take_fault(self, kind: On) -> Fault | None:
        """Pop the first queued fault that applies to a request of ``kind``."""
        for index, (fault, on) in enumerate(self._faults):
            if on in (On.ANY, kind):
                del self._faults[index]
                return fault
        return None

    def take_outcome(self) -> Outcome:
        return self.outcomes.popleft() if self.outcomes else Outcome()

    def requests_to(self, path_part: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path contains ``path_part``."""
        return [
            r
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        ]

    # ------------------------------------------------------------------ helpers for fakes

    async def record(self, request: web.Request) -> Recorded:
        """Store the request (body read once, JSON or multipart parsed) and return it."""
        body = await request.read()
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        )
        content_type = request.content_type
        if content_type == "application/json" and body:
            try:
                recorded.json = json.loads(body)
            except ValueError:
                recorded.json = None
        elif content_type == "multipart/form-data":
            recorded.form = parse_multipart(request.headers["Content-Type"], body)
        self.requests.append(recorded)
        return recorded

    def new_task_id(self) -> str:
        return str(uuid.uuid4())

    def make_result_files(
        self,
        prompt: str,
        aspect_ratio: str | None,
        resolution: str | None,
        count: int,
        image_format: str = "PNG",
        reference: bytes | None = None,
    ) -> list[str]:
        """Render ``count`` real images and return the URLs they are served at (with
        ``same_renders``, the first of each size and format is served again for every later
        one: a benchmark's fake then spends no time drawing while it measures the bot)."""
        urls = []
        size = image_size(aspect_ratio or "1:1", resolution or "1K")
        for index in range(count):
            key = (size, image_format.upper())
            data = self._renders.get(key) if self.same_renders else None
            if data is None:
                data = render_image(
                    prompt,
                    size,
                    image_format=image_format,
                    seed=index,
                    reference=reference,
                    noise=self.noisy_images,
                )
                if self.same_renders:
                    self._renders[key] = data
            ext = "jpg" if image_format.upper() in ("JPEG", "JPG") else "png"
            name = f"{uuid.uuid4().hex}.{ext}"
            mime = "image/jpeg" if ext == "jpg" else "image/png"
            self.files[name] = (data, mime)
            signature = "hmac%3Dabc" + "0" * self.url_padding
            urls.append(f"{self.base_url}/files/{name}?token=exp%3D9999999999~{signature}")
        return urls

    async def _serve_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.file_delay:
            await asyncio.sleep(self.file_delay)
        if name not in self.files:
            return web.Response(status=404, text="Not Found")
        data, mime = self.files[name]
        return web.Response(body=data, headers={"Content-Type": mime})

    def spawn(self, coro: Any) -> None:
        """Run a coroutine in the background, cancelled on close."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        self._busy_changed()

        def done(finished: asyncio.Task[None]) -> None:
            self._background.discard(finished)
            self._busy_changed()

        task.add_done_callback(done)

    async def post_callback(
        self, url: str, body: bytes, headers: dict[str, str] | None = None, attempts: int = 3
    ) -> None:
        """POST a callback as the provider would; retried up to ``attempts`` on non-200."""
        async with aiohttp.ClientSession() as session:
            for _ in range(attempts):
                try:
                    async with session.post(
                        url,
                        data=body,
                        headers={"Content-Type": "application/json", **(headers or {})},
                        timeout=aiohttp.ClientTimeout(total=15),
                    ) as resp:
                        self.callbacks_sent.append((url, body, resp.status))
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    self.callbacks_sent.append((url, body, 0))
                await asyncio.sleep(self.step_seconds)

    async def common_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        """Apply a fault every provider shares; None when the fake must render it itself.

        SLOW sleeps and then lets the request proceed (so a client with a shorter read
        timeout sees a timeout, and the fake still acts on the request, as a real one would).
        """
        if fault is Fault.HTML_502:
            return web.Response(status=502, text=HTML_502, content_type="text/html")
        if fault is Fault.SLOW:
            await asyncio.sleep(self.slow_seconds)
            return None
        if fault is Fault.DROP:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        return None
