"""nanobananaapi.ai adapter against its loopback fake (and a few hand-made payloads)."""

from __future__ import annotations

import asyncio
import functools
import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from PIL import Image
from pydantic import SecretStr

from providers.base import (
    Completion,
    GenerationRequest,
    Mode,
    ReferenceImage,
    TaskState,
    TaskStatus,
)
from providers.errors import (
    BadKeyError,
    CallbackRejectedError,
    InsufficientCreditsError,
    ProtocolError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestInvalidError,
    RequestRejectedError,
    SubmitOutcomeUnknownError,
    TaskNotFoundError,
)
from providers.nanobananaapi import (
    PLACEHOLDER_CALLBACK_URL,
    NanoBananaApiProvider,
    NanoBananaApiSettings,
)
from providers.polling import run_to_completion
from providers.settings import RetryPolicy
from providers.validation import validate_request
from tests.fakes._base import Fault, On, Outcome, provider_settings
from tests.fakes.nanobananaapi import (
    CREDIT,
    GENERATE_2,
    GENERATE_PRO,
    GENERATE_V1,
    RECORD_INFO,
    FakeNanoBananaApi,
)

SECRET = "sk-nbapi-SUPERSECRET-0123456789"
REF_A = "https://example.com/a.png"
REF_B = "https://example.com/b.jpg"


@pytest.fixture
async def fake() -> AsyncIterator[FakeNanoBananaApi]:
    async with FakeNanoBananaApi(api_key=SECRET) as server:
        server.retry_after = "0"
        yield server


@pytest.fixture(params=[False, True], ids=["code-in-200", "status-mirrors-code"])
async def any_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeNanoBananaApi]:
    """The fake in both error modes: HTTP 200 + body code, and HTTP status = body code."""
    async with FakeNanoBananaApi(api_key=SECRET) as server:
        server.retry_after = "0"
        server.http_status_mirrors_code = request.param
        yield server


def make_provider(
    fake: FakeNanoBananaApi, *, key: str | None = None, timeout: float | None = None
) -> NanoBananaApiProvider:
    return NanoBananaApiProvider(
        provider_settings(
            NanoBananaApiProvider,
            fake,
            api_key=SecretStr(key or fake.api_key),
            timeout_seconds=timeout,
        )
    )


@pytest.fixture
async def provider(fake: FakeNanoBananaApi) -> AsyncIterator[NanoBananaApiProvider]:
    prov = make_provider(fake)
    yield prov
    await prov.aclose()


@pytest.fixture
async def any_provider(any_fake: FakeNanoBananaApi) -> AsyncIterator[NanoBananaApiProvider]:
    prov = make_provider(any_fake)
    yield prov
    await prov.aclose()


async def download(url: str) -> Image.Image:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    response.raise_for_status()
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def ratio(image: Image.Image) -> float:
    return image.width / image.height


def created(fake: FakeNanoBananaApi, path: str) -> list[dict[str, Any]]:
    return [r.json for r in fake.requests if r.path == path and r.method == "POST"]


def assert_secret_free(err: ProviderError) -> None:
    assert SECRET not in str(err)
    assert SECRET not in (err.detail or "")
    assert SECRET not in repr(err.args)


class CallbackSink:
    """A loopback endpoint that collects callback bodies (answering ``status``)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.status = 200
        self.arrived = asyncio.Event()
        app = web.Application()
        app.router.add_post("/cb/{token}", self._receive)
        self.runner = web.AppRunner(app, access_log=None)
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.arrived.set()
        return web.Response(status=self.status)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}/cb/tok123"

    async def wait(self, count: int = 1) -> list[bytes]:
        async with asyncio.timeout(5):
            while len(self.bodies) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.bodies


@pytest.fixture
async def sink() -> AsyncIterator[CallbackSink]:
    server = CallbackSink()
    await server.start()
    yield server
    await server.runner.cleanup()


# ---------------------------------------------------------------------------- capabilities


def test_capabilities() -> None:
    caps = NanoBananaApiProvider.capabilities
    assert caps.default_model == "nano-banana-2"
    assert caps.model_names == ("nano-banana-2", "nano-banana-pro", "nano-banana")
    assert caps.completion is Completion.CALLBACK
    assert not caps.accepts_reference_bytes and caps.accepts_reference_urls
    assert not caps.signed_callbacks
    assert not caps.callbacks_on_every_change  # called back when the task ends
    nb2, pro, v1 = (caps.model(n) for n in ("nano-banana-2", "nano-banana-pro", "nano-banana"))
    assert (
        len(nb2.aspect_ratios) == 15 and "auto" in nb2.aspect_ratios and "8:1" in nb2.aspect_ratios
    )
    assert len(pro.aspect_ratios) == 11 and "auto" in pro.aspect_ratios
    assert "8:1" not in pro.aspect_ratios
    assert len(v1.aspect_ratios) == 10 and "auto" not in v1.aspect_ratios
    assert nb2.max_references == 14 and pro.max_references == 8
    assert nb2.grounding and not pro.grounding and not v1.grounding
    assert (nb2.max_images, pro.max_images, v1.max_images) == (1, 1, 4)
    assert v1.resolutions == () and v1.default_resolution is None
    assert nb2.resolutions == pro.resolutions == ("1K", "2K", "4K")
    assert nb2.output_formats == ("png", "jpg")
    assert nb2.max_prompt_length == 20_000


def test_not_configured_without_key() -> None:
    with pytest.raises(ProviderError, match="NANOBANANAAPI_API_KEY"):
        NanoBananaApiProvider(NanoBananaApiSettings.from_values())


# ---------------------------------------------------------------------------- end to end


async def test_nano_banana_2_text_to_image_end_to_end(fake, provider) -> None:
    request = GenerationRequest(prompt="a banana on the moon", aspect_ratio="16:9")
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    assert len(status.images) == 1 and status.images[0].url
    image = await download(status.images[0].url)
    assert image.format == "JPEG"  # outputFormat jpg by default
    assert ratio(image) == pytest.approx(16 / 9, rel=0.03)
    assert fake.requests_to(RECORD_INFO)  # it polled
    assert all(r.query == {"taskId": status.task_id} for r in fake.requests_to(RECORD_INFO))


async def test_nano_banana_pro_text_to_image_end_to_end(fake, provider) -> None:
    request = GenerationRequest(
        prompt="a banana cathedral", model="nano-banana-pro", aspect_ratio="9:16", resolution="2K"
    )
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    image = await download(status.images[0].url or "")
    assert ratio(image) == pytest.approx(9 / 16, rel=0.03)
    assert max(image.size) > 2048  # 2K
    assert created(fake, GENERATE_PRO)[0]["resolution"] == "2K"


async def test_nano_banana_v1_text_to_image_end_to_end_several_images(fake, provider) -> None:
    request = GenerationRequest(
        prompt="four bananas", model="nano-banana", aspect_ratio="4:3", count=3
    )
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    assert len(status.images) == 3  # resultImageUrl came back as a list
    for result in status.images:
        image = await download(result.url or "")
        assert ratio(image) == pytest.approx(4 / 3, rel=0.03)
    body = created(fake, GENERATE_V1)[0]
    assert body["numImages"] == 3 and body["image_size"] == "4:3"


async def test_png_output_format(fake, provider) -> None:
    request = GenerationRequest(prompt="lossless banana", output_format="png")
    status = await run_to_completion(provider, request, interval=0.02)
    image = await download(status.images[0].url or "")
    assert image.format == "PNG"
    assert created(fake, GENERATE_2)[0]["outputFormat"] == "png"


async def test_blank_instead_of_null_fields_are_parsed(fake, provider) -> None:
    fake.blank_nulls = True  # the docs' "" / 0 style
    status = await run_to_completion(provider, GenerationRequest(prompt="x"), interval=0.02)
    assert status.state is TaskState.SUCCEEDED and len(status.images) == 1


# ---------------------------------------------------------------------------- field mapping


async def test_nano_banana_2_defaults_exact_body(fake, provider) -> None:
    status = await provider.submit(GenerationRequest(prompt="hello"))
    assert status.state is TaskState.QUEUED
    assert len(status.task_id) == 32
    (body,) = created(fake, GENERATE_2)
    assert body == {
        "prompt": "hello",
        "imageUrls": [],
        "aspectRatio": "auto",
        "resolution": "1K",
        "callBackUrl": PLACEHOLDER_CALLBACK_URL,
        "googleSearch": False,
    }  # no outputFormat unless chosen: the documented default (jpg) applies
    recorded = fake.requests_to(GENERATE_2)[0]
    assert recorded.headers["Authorization"] == f"Bearer {SECRET}"
    assert recorded.headers["Content-Type"].startswith("application/json")


async def test_nano_banana_2_every_option(fake, provider) -> None:
    request = GenerationRequest(
        prompt="edit this",
        mode=Mode.EDIT,
        references=(ReferenceImage(url=REF_A), ReferenceImage(url=REF_B)),
        aspect_ratio="1:8",
        resolution="4K",
        grounding=True,
        output_format="png",
    )
    await provider.submit(request, callback_url="https://bot.example/cb/abc")
    (body,) = created(fake, GENERATE_2)
    assert body == {
        "prompt": "edit this",
        "imageUrls": [REF_A, REF_B],
        "aspectRatio": "1:8",
        "resolution": "4K",
        "callBackUrl": "https://bot.example/cb/abc",
        "googleSearch": True,
        "outputFormat": "png",
    }


async def test_nano_banana_pro_body(fake, provider) -> None:
    await provider.submit(GenerationRequest(prompt="p", model="nano-banana-pro"))
    await provider.submit(
        GenerationRequest(
            prompt="q",
            model="nano-banana-pro",
            references=(ReferenceImage(url=REF_A),),
            aspect_ratio="21:9",
            resolution="4K",
        ),
        callback_url="https://bot.example/cb/x",
    )
    first, second = created(fake, GENERATE_PRO)
    assert first == {
        "prompt": "p",
        "imageUrls": [],
        "aspectRatio": "auto",
        "resolution": "1K",
        "callBackUrl": PLACEHOLDER_CALLBACK_URL,
    }
    assert second == {
        "prompt": "q",
        "imageUrls": [REF_A],
        "aspectRatio": "21:9",
        "resolution": "4K",
        "callBackUrl": "https://bot.example/cb/x",
    }  # no googleSearch / outputFormat on pro


async def test_nano_banana_v1_text_body_uses_vendor_spelling(fake, provider) -> None:
    await provider.submit(GenerationRequest(prompt="p", model="nano-banana"))
    (body,) = created(fake, GENERATE_V1)
    assert body == {
        "prompt": "p",
        "type": "TEXTTOIAMGE",  # sic
        "numImages": 1,
        "callBackUrl": PLACEHOLDER_CALLBACK_URL,
    }  # no image_size: the provider's own default applies


async def test_nano_banana_v1_edit_body(fake, provider) -> None:
    request = GenerationRequest(
        prompt="make it blue",
        model="nano-banana",
        mode=Mode.EDIT,
        references=(ReferenceImage(url=REF_A),),
        aspect_ratio="21:9",
        count=4,
    )
    await provider.submit(request, callback_url="https://bot.example/cb/1")
    (body,) = created(fake, GENERATE_V1)
    assert body == {
        "prompt": "make it blue",
        "type": "IMAGETOIAMGE",  # sic
        "numImages": 4,
        "callBackUrl": "https://bot.example/cb/1",
        "imageUrls": [REF_A],
        "image_size": "21:9",
    }


async def test_v1_image_size_carries_aspect_ratio(fake, provider) -> None:
    ratios = ("1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9")
    for value in ratios:
        await provider.submit(
            GenerationRequest(prompt="p", model="nano-banana", aspect_ratio=value)
        )
    bodies = created(fake, GENERATE_V1)
    assert [body["image_size"] for body in bodies] == list(ratios)
    assert all("aspectRatio" not in body for body in bodies)


async def test_references_reach_the_task(fake, provider) -> None:
    request = GenerationRequest(
        prompt="blend", references=tuple(ReferenceImage(url=f"{REF_A}?n={i}") for i in range(14))
    )
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    task = fake.tasks[status.task_id]
    assert len(task.params["imageUrls"]) == 14


def test_local_checks_refuse_at_admission() -> None:
    # the engine validates before anything is sent; the provider trusts what it is given
    bad = [
        GenerationRequest(prompt="p", model="nano-banana-pro", grounding=True),
        GenerationRequest(prompt="p", count=2),
        GenerationRequest(prompt="p", model="nano-banana", resolution="2K"),
        GenerationRequest(prompt="p", model="nano-banana", aspect_ratio="auto"),
        GenerationRequest(prompt="p", model="nano-banana-pro", aspect_ratio="8:1"),
        GenerationRequest(
            prompt="p",
            model="nano-banana-pro",
            references=tuple(ReferenceImage(url=REF_A) for _ in range(9)),
        ),
        GenerationRequest(prompt="p", references=(ReferenceImage(data=b"\x89PNG"),)),
        GenerationRequest(prompt="x" * 20_001),
        GenerationRequest(prompt="p", model="dall-e"),
    ]
    for request in bad:
        with pytest.raises(RequestInvalidError):
            validate_request(NanoBananaApiProvider.capabilities, request)


async def test_provider_validation_error_becomes_rejection_with_reason(fake, provider) -> None:
    # passes local checks, but the provider wants http(s) URLs
    request = GenerationRequest(prompt="p", references=(ReferenceImage(url="ftp://x/y.png"),))
    with pytest.raises(RequestRejectedError) as info:
        await provider.submit(request)
    assert info.value.reason == "Parameter error: imageUrls must be an array of http(s) URLs"
    assert "imageUrls" in str(info.value)
    assert not info.value.content_policy
    assert len(fake.requests_to(GENERATE_2)) == 1  # not retried


# ---------------------------------------------------------------------------- faults


async def test_bad_key(any_fake) -> None:
    wrong = "sk-wrong-but-also-secret"
    prov = make_provider(any_fake, key=wrong)
    with pytest.raises(BadKeyError) as info:
        await prov.submit(GenerationRequest(prompt="p"))
    assert "API key" in str(info.value)
    assert wrong not in str(info.value) and wrong not in (info.value.detail or "")
    status = 401 if any_fake.http_status_mirrors_code else 200
    assert f"HTTP {status}" in (info.value.detail or "")
    with pytest.raises(BadKeyError):
        await prov.balance()
    await prov.aclose()


async def test_injected_bad_key_on_status(any_fake, any_provider) -> None:
    status = await any_provider.submit(GenerationRequest(prompt="p"))
    any_fake.inject(Fault.BAD_KEY, on=On.STATUS)
    with pytest.raises(BadKeyError) as info:
        await any_provider.fetch(status.task_id, model="nano-banana-2")
    assert_secret_free(info.value)


async def test_no_credits(any_fake, any_provider) -> None:
    any_fake.inject(Fault.NO_CREDITS, on=On.CREATE)
    with pytest.raises(InsufficientCreditsError) as info:
        await any_provider.submit(GenerationRequest(prompt="p"))
    assert "credits" in str(info.value)
    assert_secret_free(info.value)
    assert len(any_fake.requests_to(GENERATE_2)) == 1


async def test_running_out_of_real_credits(any_fake, any_provider) -> None:
    any_fake.credits = 3
    with pytest.raises(InsufficientCreditsError):
        await any_provider.submit(GenerationRequest(prompt="p"))


async def test_rate_limited_create_is_retried(any_fake, any_provider) -> None:
    any_fake.inject(Fault.RATE_LIMITED, on=On.CREATE)
    status = await any_provider.submit(GenerationRequest(prompt="p"))
    assert status.state is TaskState.QUEUED
    assert len(any_fake.requests_to(GENERATE_2)) == 2
    assert len(any_fake.tasks) == 1


async def test_rate_limited_until_gave_up(any_fake, any_provider) -> None:
    any_fake.retry_after = "7"
    any_fake.inject(Fault.RATE_LIMITED, on=On.CREATE, times=10)
    any_provider.settings = NanoBananaApiSettings.from_values(
        api_key=SecretStr(SECRET),
        base_url=any_fake.base_url,
        retry=RetryPolicy(attempts=4, initial_wait=0.01, max_wait=0.05, max_retry_after=5),
    )
    with pytest.raises(RateLimitedError) as info:
        await any_provider.submit(GenerationRequest(prompt="p"))
    assert info.value.retry_after == pytest.approx(7)
    assert "rate limiting" in str(info.value)
    assert len(any_fake.requests_to(GENERATE_2)) == 1  # Retry-After too long to wait here


async def test_maintenance_on_create_is_retried(any_fake, any_provider) -> None:
    any_fake.inject(Fault.UNAVAILABLE, on=On.CREATE, times=2)
    status = await any_provider.submit(GenerationRequest(prompt="p"))
    assert status.task_id
    assert len(any_fake.requests_to(GENERATE_2)) == 3


async def test_503_on_create_is_retried(any_fake, any_provider) -> None:
    any_fake.unavailable_code = 503
    any_fake.inject(Fault.UNAVAILABLE, on=On.CREATE)
    await any_provider.submit(GenerationRequest(prompt="p"))
    assert len(any_fake.requests_to(GENERATE_2)) == 2


async def test_maintenance_that_lasts(any_fake, any_provider) -> None:
    any_fake.inject(Fault.UNAVAILABLE, on=On.CREATE, times=10)
    with pytest.raises(ProviderUnavailableError) as info:
        await any_provider.submit(GenerationRequest(prompt="p"))
    assert info.value.not_processed
    assert "maintenance" in str(info.value)
    assert len(any_fake.requests_to(GENERATE_2)) == 4


async def test_code_500_in_http_200_on_create_is_not_repeated(any_fake, any_provider) -> None:
    any_fake.inject(Fault.CODE_IN_200, on=On.CREATE)
    with pytest.raises(ProviderUnavailableError) as info:
        await any_provider.submit(GenerationRequest(prompt="p"))
    assert not info.value.not_processed
    assert "code 500" in str(info.value)
    assert "Server internal error" in (info.value.detail or "")
    assert "HTTP 200" in (info.value.detail or "")
    assert len(any_fake.requests_to(GENERATE_2)) == 1


async def test_code_500_in_http_200_on_status_is_retried(any_fake, any_provider) -> None:
    any_fake.inject(Fault.CODE_IN_200, on=On.STATUS, times=2)
    status = await run_to_completion(any_provider, GenerationRequest(prompt="p"), interval=0.02)
    assert status.state is TaskState.SUCCEEDED


async def test_html_502(any_fake, any_provider) -> None:
    any_fake.inject(Fault.HTML_502, on=On.STATUS)
    status = await run_to_completion(any_provider, GenerationRequest(prompt="p"), interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    any_fake.inject(Fault.HTML_502, on=On.CREATE)
    with pytest.raises(ProviderUnavailableError) as info:
        await any_provider.submit(GenerationRequest(prompt="p"))
    assert "502" in str(info.value)
    assert "Bad Gateway" in (info.value.detail or "")
    assert len(any_fake.requests_to(GENERATE_2)) == 2  # one per submit: never repeated


async def test_slow_create_is_not_repeated(fake) -> None:
    fake.slow_seconds = 0.6
    fake.inject(Fault.SLOW, on=On.CREATE)
    prov = make_provider(fake, timeout=0.3)
    with pytest.raises(SubmitOutcomeUnknownError) as info:
        await prov.submit(GenerationRequest(prompt="p"))
    assert_secret_free(info.value)
    await fake.idle()  # the fake still acts on it, as the real service would
    assert len(fake.requests_to(GENERATE_2)) == 1
    assert len(fake.tasks) == 1
    await prov.aclose()


async def test_dropped_create_is_not_repeated(fake, provider) -> None:
    fake.inject(Fault.DROP, on=On.CREATE)
    with pytest.raises(SubmitOutcomeUnknownError):
        await provider.submit(GenerationRequest(prompt="p"))
    assert len(fake.requests_to(GENERATE_2)) == 1


async def test_slow_status_is_retried(fake) -> None:
    fake.slow_seconds = 0.6
    prov = make_provider(fake, timeout=0.3)
    status = await prov.submit(GenerationRequest(prompt="p"))
    fake.inject(Fault.SLOW, on=On.STATUS)
    read = await prov.fetch(status.task_id, model="nano-banana-2")
    assert read.task_id == status.task_id
    assert len(fake.requests_to(RECORD_INFO)) == 2
    await prov.aclose()


async def test_unknown_task(any_fake, any_provider) -> None:
    with pytest.raises(TaskNotFoundError) as info:
        await any_provider.fetch("0" * 32, model="nano-banana-2")
    assert "Task not found" in (info.value.detail or "")
    assert len(any_fake.requests_to(RECORD_INFO)) == 1


async def test_key_never_in_errors(any_fake, any_provider) -> None:
    faults = [Fault.BAD_KEY, Fault.NO_CREDITS, Fault.CODE_IN_200, Fault.HTML_502, Fault.DROP]
    for fault in faults:
        any_fake.inject(fault, on=On.CREATE)
        with pytest.raises(ProviderError) as info:
            await any_provider.submit(GenerationRequest(prompt="p"))
        assert_secret_free(info.value)
    with pytest.raises(ProviderError) as info:
        await any_provider.fetch("nope", model="nano-banana-2")
    assert_secret_free(info.value)


# ---------------------------------------------------------------------------- task outcomes


async def test_generate_failed_with_content_reason(fake, provider) -> None:
    fake.next_outcome(Outcome(success=False, reason="nsfw blocked", content_policy=True))
    status = await run_to_completion(provider, GenerationRequest(prompt="p"), interval=0.02)
    assert status.state is TaskState.FAILED
    assert status.reason == "nsfw blocked"
    assert status.content_policy


async def test_generate_failed_technical_reason(fake, provider) -> None:
    fake.next_outcome(Outcome(success=False, reason="Internal error, please try again later"))
    status = await run_to_completion(provider, GenerationRequest(prompt="p"), interval=0.02)
    assert status.state is TaskState.FAILED
    assert status.reason == "Internal error, please try again later"
    assert not status.content_policy


async def test_create_task_failed_flag_2(fake, provider) -> None:
    fake.failure_success_flag = 2
    fake.blank_nulls = True
    fake.next_outcome(Outcome(success=False, reason="Upstream task creation failed"))
    status = await run_to_completion(
        provider, GenerationRequest(prompt="p", model="nano-banana-pro"), interval=0.02
    )
    assert status.state is TaskState.FAILED
    assert status.reason == "Upstream task creation failed"


async def test_failure_without_message_gets_a_reason(fake, provider) -> None:
    fake.failure_success_flag = 2
    fake.next_outcome(Outcome(success=False, reason=""))
    status = await run_to_completion(provider, GenerationRequest(prompt="p"), interval=0.02)
    assert status.state is TaskState.FAILED
    assert status.reason  # never empty


async def test_running_then_succeeded(fake, provider) -> None:
    fake.steps_to_finish = 50
    status = await provider.submit(GenerationRequest(prompt="p"))
    read = await provider.fetch(status.task_id, model="nano-banana-2")
    assert read.state is TaskState.RUNNING and read.images == ()


# ---------------------------------------------------------------------------- callbacks


async def test_generate_2_callback(fake, provider, sink) -> None:
    status = await provider.submit(GenerationRequest(prompt="p"), callback_url=sink.url)
    (body,) = await sink.wait()
    payload = json.loads(body)
    assert payload["code"] == 200 and payload["data"]["successFlag"] == 1
    parsed = provider.parse_callback({"content-type": "application/json"}, body)
    assert parsed.task_id == status.task_id
    assert parsed.state is TaskState.SUCCEEDED
    assert parsed.images[0].url == payload["data"]["response"]["resultImageUrl"]
    assert parsed == await provider.fetch(status.task_id, model="nano-banana-2")


async def test_pro_callback_failure(fake, provider, sink) -> None:
    fake.next_outcome(
        Outcome(success=False, reason="Sensitive content detected", content_policy=True)
    )
    await provider.submit(
        GenerationRequest(prompt="p", model="nano-banana-pro"), callback_url=sink.url
    )
    (body,) = await sink.wait()
    parsed = provider.parse_callback({}, body)
    assert parsed.state is TaskState.FAILED
    assert parsed.reason == "Sensitive content detected"
    assert parsed.content_policy


async def test_v1_callback_success_with_several_images(fake, provider, sink) -> None:
    status = await provider.submit(
        GenerationRequest(prompt="p", model="nano-banana", count=2), callback_url=sink.url
    )
    (body,) = await sink.wait()
    payload = json.loads(body)
    assert payload["code"] == 200 and "info" in payload["data"]
    parsed = provider.parse_callback({}, body)
    assert parsed.task_id == status.task_id
    assert parsed.state is TaskState.SUCCEEDED and len(parsed.images) == 2


async def test_v1_callback_content_policy(fake, provider, sink) -> None:
    fake.next_outcome(
        Outcome(
            success=False,
            reason="Your prompt has been flagged for violating content policy",
            content_policy=True,
        )
    )
    await provider.submit(GenerationRequest(prompt="p", model="nano-banana"), callback_url=sink.url)
    (body,) = await sink.wait()
    assert json.loads(body)["code"] == 400
    parsed = provider.parse_callback({}, body)
    assert parsed.state is TaskState.FAILED and parsed.content_policy
    assert parsed.reason == "Your prompt has been flagged for violating content policy"


async def test_v1_callback_generation_failed(fake, provider, sink) -> None:
    fake.next_outcome(Outcome(success=False, reason="Image generation task failed"))
    await provider.submit(GenerationRequest(prompt="p", model="nano-banana"), callback_url=sink.url)
    (body,) = await sink.wait()
    assert json.loads(body)["code"] == 501
    parsed = provider.parse_callback({}, body)
    assert parsed.state is TaskState.FAILED and not parsed.content_policy
    assert parsed.reason == "Image generation task failed"


async def test_callback_retried_three_times_on_errors(fake, provider, sink) -> None:
    sink.status = 500
    await provider.submit(GenerationRequest(prompt="p"), callback_url=sink.url)
    await sink.wait(3)
    await fake.idle()  # no fourth attempt is coming
    assert len(sink.bodies) == 3
    assert [answer for _, _, answer in fake.callbacks_sent] == [500, 500, 500]


async def test_placeholder_callback_is_never_delivered(fake, provider) -> None:
    status = await run_to_completion(provider, GenerationRequest(prompt="p"), interval=0.02)
    await fake.idle()
    assert fake.callbacks_sent == []
    assert fake.callbacks_skipped[0][0] == PLACEHOLDER_CALLBACK_URL
    assert status.state is TaskState.SUCCEEDED


@functools.cache
def parser() -> NanoBananaApiProvider:
    """One provider for the payload-only tests (parse_callback makes no HTTP call)."""
    return NanoBananaApiProvider(NanoBananaApiSettings.from_values(api_key=SecretStr("k")))


def parse(body: Any) -> TaskStatus:
    return parser().parse_callback({}, json.dumps(body).encode())


def test_doc_example_callbacks() -> None:
    v1 = parse(
        {
            "msg": "Image generated successfully.",
            "code": 200,
            "data": {
                "taskId": "9e4286b7b27960dfeb8e1d279b50b28d",
                "info": {
                    "resultImageUrl": "https://tempfile.aiquickdraw.com/r/9e42_1756467493.jpg"
                },
            },
        }
    )
    assert v1.state is TaskState.SUCCEEDED
    assert v1.images[0].url == "https://tempfile.aiquickdraw.com/r/9e42_1756467493.jpg"
    internal = parse(
        {
            "code": 500,
            "msg": "Internal error, please try again later",
            "data": {"taskId": "task12345", "info": {"resultImageUrl": ""}},
        }
    )
    assert internal.state is TaskState.FAILED and not internal.content_policy
    nb2 = parse(
        {
            "code": 200,
            "msg": "success",
            "data": {
                "taskId": "31ce2c17b257492959d62279e6d01a54",
                "paramJson": "{...}",
                "completeTime": "2026-02-27 24:00:00",
                "response": {
                    "originImageUrl": None,
                    "resultImageUrl": "https://tempfile.aiquickdraw.com/gemini-preview/x.jpeg",
                },
                "successFlag": 1,
                "errorCode": None,
                "errorMessage": None,
                "operationType": "nano-banana-2_1k",
                "createTime": "2026-02-27 24:00:00",
            },
        }
    )
    assert nb2.task_id == "31ce2c17b257492959d62279e6d01a54"
    assert nb2.images[0].url == "https://tempfile.aiquickdraw.com/gemini-preview/x.jpeg"


def test_record_shape_callback_with_code_400_is_content_policy() -> None:
    data = {"taskId": "t", "successFlag": 3, "errorCode": 400, "errorMessage": "Task failed"}
    blocked = parse({"code": 400, "msg": "Task failed", "data": data})
    assert blocked.state is TaskState.FAILED and blocked.content_policy
    plain = parse({"code": 200, "msg": "success", "data": data})
    assert plain.state is TaskState.FAILED and not plain.content_policy
    assert plain.reason == "Task failed"


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"resultImageUrl": ["https://a/1.jpg", "https://a/2.jpg"]}, 2),
        ({"resultImageUrl": "", "resultUrls": ["https://a/1.jpg"]}, 1),
        ({"resultImageUrl": '["https://a/1.jpg", "https://a/2.jpg"]'}, 2),
        ({"resultImageUrl": None, "originImageUrl": "https://bfl.com/o.jpg"}, 1),
    ],
)
def test_result_url_variants(response, expected) -> None:
    status = parse({"code": 200, "data": {"taskId": "t", "successFlag": "1", "response": response}})
    assert status.state is TaskState.SUCCEEDED and len(status.images) == expected


def test_record_shape_states() -> None:
    def flag(value: Any) -> TaskStatus:
        return parse({"code": 200, "msg": "success", "data": {"taskId": "t", "successFlag": value}})

    assert flag(None).state is TaskState.QUEUED
    assert flag("").state is TaskState.QUEUED
    assert flag(0).state is TaskState.RUNNING
    assert flag(3).state is TaskState.FAILED
    with pytest.raises(CallbackRejectedError):
        flag(9)
    with pytest.raises(CallbackRejectedError):
        flag(1)  # success without an image


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"code": 200, "msg": "ok"}',
        b'{"code": 200, "data": {"info": {"resultImageUrl": "https://a/1.jpg"}}}',
        b'{"code": 200, "data": {"taskId": "t", "info": {"resultImageUrl": ""}}}',
        b'{"data": {"taskId": "t", "info": {}}}',
    ],
)
def test_bad_callbacks_are_rejected(raw: bytes) -> None:
    with pytest.raises(CallbackRejectedError):
        parser().parse_callback({}, raw)


# ---------------------------------------------------------------------------- credits


async def test_balance(fake, provider) -> None:
    assert await provider.balance() == 1000.0
    await provider.submit(GenerationRequest(prompt="p", resolution="2K"))
    assert await provider.balance() == 1000.0 - 12
    fake.credits = 12.5
    assert await provider.balance() == 12.5
    recorded = fake.requests_to(CREDIT)[-1]
    assert recorded.method == "GET" and recorded.headers["Authorization"] == f"Bearer {SECRET}"


async def test_balance_retried_after_a_glitch(any_fake, any_provider) -> None:
    any_fake.inject(Fault.CODE_IN_200, on=On.STATUS)
    assert await any_provider.balance() == 1000.0
    assert len(any_fake.requests_to(CREDIT)) == 2


# ---------------------------------------------------------------------------- the fake itself


async def test_fake_contract_details(fake) -> None:
    auth = {"Authorization": f"Bearer {SECRET}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=auth) as client:
        wrong_param = await client.get(RECORD_INFO, params={"task_id": "x"})
        assert wrong_param.status_code == 200
        assert wrong_param.json() == {
            "code": 500,
            "msg": "Server exception, please check the parameters and try again",
            "data": None,
        }
        missing = await client.get("/api/v1/nanobanana/task/abc")
        assert missing.status_code == 404 and missing.json()["error"] == "Not Found"
        pro = await client.post(GENERATE_PRO, json={"prompt": "p", "callBackUrl": "https://a/b"})
        assert pro.json()["message"] == "success" and "msg" not in pro.json()
        no_cb = await client.post(GENERATE_PRO, json={"prompt": "p"})
        assert no_cb.json() == {"code": 400, "message": "Parameter error: callBackUrl is required"}
        fixed = await client.post(
            GENERATE_V1,
            json={"prompt": "p", "type": "TEXTTOIMAGE", "callBackUrl": "https://a/b"},
        )
        assert fixed.json()["code"] == 400 and "TEXTTOIAMGE" in fixed.json()["msg"]
        too_many = await client.post(
            GENERATE_V1,
            json={
                "prompt": "p",
                "type": "TEXTTOIAMGE",
                "numImages": 5,
                "callBackUrl": "https://a/b",
            },
        )
        assert "numImages" in too_many.json()["msg"]
        refs = await client.post(GENERATE_2, json={"prompt": "p", "imageUrls": [REF_A] * 15})
        assert refs.json()["code"] == 400
        v1_no_cb = await client.post(GENERATE_V1, json={"prompt": "p", "type": "TEXTTOIAMGE"})
        assert "callBackUrl" in v1_no_cb.json()["msg"]
    fake.http_status_mirrors_code = True
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        unauthorized = await client.get(CREDIT)
        assert unauthorized.status_code == 401
        assert unauthorized.json() == {"code": 401, "msg": "Unauthorized"}


# ---------------------------------------------------------------------------- odd payloads


def scripted(handler: Callable[[httpx.Request], httpx.Response]) -> NanoBananaApiProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return NanoBananaApiProvider(
        NanoBananaApiSettings.from_values(
            api_key=SecretStr(SECRET), retry=RetryPolicy(initial_wait=0.01, max_wait=0.05)
        ),
        client=client,
    )


@pytest.mark.parametrize(
    ("code", "error", "text"),
    [
        (422, RequestRejectedError, "Validation error: prompt too long"),
        (505, RequestRejectedError, "The feature is disabled"),
        (501, RequestRejectedError, "Image generation task failed"),
        (400, RequestRejectedError, "Parameter error"),
        (402, InsufficientCreditsError, "Credits insufficient"),
        (401, BadKeyError, "Unauthorized"),
        (500, ProviderUnavailableError, "Server internal error"),
        (999, ProtocolError, "??"),
    ],
)
async def test_envelope_codes_on_create(code, error, text) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"code": code, "message": text, "data": None})

    prov = scripted(handler)
    with pytest.raises(error) as info:
        await prov.submit(GenerationRequest(prompt="p"))
    assert calls == 1
    assert text in (info.value.detail or "")
    if isinstance(info.value, RequestRejectedError):
        assert info.value.reason == text


async def test_pro_message_key_and_string_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"code": "200", "message": "success", "data": {"taskId": "t1"}}
        )

    status = await scripted(handler).submit(GenerationRequest(prompt="p", model="nano-banana-pro"))
    assert status.task_id == "t1"


async def test_unexpected_payloads_are_protocol_errors() -> None:
    answers = iter(
        [
            httpx.Response(200, text="<html>hello</html>"),
            httpx.Response(200, json={"code": 200, "msg": "success", "data": {}}),
            httpx.Response(200, json={"code": 200, "msg": "success", "data": None}),
            httpx.Response(200, json={"code": 200, "msg": "success", "data": {"successFlag": 7}}),
            httpx.Response(200, json={"code": 200, "msg": "success", "data": {"x": 1}}),
        ]
    )
    prov = scripted(lambda request: next(answers))
    with pytest.raises(ProtocolError):
        await prov.submit(GenerationRequest(prompt="p"))
    with pytest.raises(ProtocolError):
        await prov.submit(GenerationRequest(prompt="p"))
    with pytest.raises(ProtocolError):
        await prov.fetch("t", model="nano-banana-2")
    with pytest.raises(ProtocolError):
        await prov.fetch("t", model="nano-banana-2")
    with pytest.raises(ProtocolError):
        await prov.balance()


async def test_plain_http_statuses_without_envelope() -> None:
    answers = iter(
        [
            httpx.Response(401, text="Unauthorized"),
            httpx.Response(429, headers={"Retry-After": "0"}, text="slow down"),
            httpx.Response(200, json={"code": 200, "msg": "success", "data": {"taskId": "t2"}}),
        ]
    )
    prov = scripted(lambda request: next(answers))
    with pytest.raises(BadKeyError):
        await prov.submit(GenerationRequest(prompt="p"))
    status = await prov.submit(GenerationRequest(prompt="p"))  # 429, then retried
    assert status.task_id == "t2"


async def test_status_code_404_means_unknown_task_and_time_strings_are_ignored() -> None:
    answers = iter(
        [
            httpx.Response(200, json={"code": 404, "msg": "Task not found"}),
            httpx.Response(
                200,
                json={
                    "code": 200,
                    "msg": "success",
                    "data": {
                        "taskId": "t",
                        "successFlag": 0,
                        "createTime": 1767225600000,
                        "completeTime": "2026-02-27 24:00:00",
                    },
                },
            ),
        ]
    )
    prov = scripted(lambda request: next(answers))
    with pytest.raises(TaskNotFoundError):
        await prov.fetch("t", model="nano-banana")
    assert (await prov.fetch("t", model="nano-banana")).state is TaskState.RUNNING
