"""MagnificProvider against the loopback FakeMagnific: mapping, progression, faults, webhooks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from PIL import Image
from pydantic import SecretStr

from providers.base import GenerationRequest, Mode, ReferenceImage, TaskState, TaskStatus
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
from providers.magnific import MagnificProvider, MagnificSettings
from providers.magnific_signature import verify_webhook_signature
from providers.polling import run_to_completion
from providers.validation import validate_request
from tests.fakes._base import Fault, On, Outcome, provider_settings
from tests.fakes.magnific import FakeMagnific, MagnificTask, sign

API_KEY = "mk-SECRET-0123456789abcdef"
PRO = "nano-banana-pro"
FLASH = "nano-banana-pro-flash"
CREATE_PATH = "/v1/ai/text-to-image/"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMagnific]:
    async with FakeMagnific(api_key=API_KEY) as server:
        server.retry_after = "0"
        yield server


def make_provider(fake: FakeMagnific, **config: Any) -> MagnificProvider:
    return MagnificProvider(provider_settings(MagnificProvider, fake, **config))


@pytest.fixture
async def provider(fake: FakeMagnific) -> AsyncIterator[MagnificProvider]:
    prov = make_provider(fake)
    yield prov
    await prov.aclose()


def creates(fake: FakeMagnific) -> list[dict[str, object]]:
    return [r.json for r in fake.requests if r.method == "POST"]


async def download(url: str) -> Image.Image:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    response.raise_for_status()
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def assert_key_safe(error: ProviderError) -> None:
    assert API_KEY not in str(error)
    assert API_KEY not in (error.detail or "")


# --------------------------------------------------------------------------- end to end


async def test_pro_default_end_to_end(fake: FakeMagnific, provider: MagnificProvider) -> None:
    status = await run_to_completion(provider, GenerationRequest(prompt="a red fox"), interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    assert len(status.images) == 1 and status.images[0].url
    image = await download(status.images[0].url)
    assert image.size == (2048, 2048)  # Pro defaults: 1:1 at 2K
    [body] = creates(fake)
    assert body == {"prompt": "a red fox", "aspect_ratio": "1:1", "resolution": "2K"}
    reads = fake.requests_to(f"{CREATE_PATH}{PRO}/{status.task_id}", "GET")
    assert reads and all(r.query == {} for r in reads)


async def test_flash_end_to_end_with_aspect(fake: FakeMagnific, provider: MagnificProvider) -> None:
    request = GenerationRequest(prompt="a city at dusk", model=FLASH, aspect_ratio="16:9")
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    image = await download(status.images[0].url or "")
    assert image.size == (1360, 768)  # 16:9 at Flash's default 1K
    assert image.format == "JPEG"
    [body] = creates(fake)
    assert body == {
        "prompt": "a city at dusk",
        "aspect_ratio": "16:9",
        "resolution": "1K",
        "use_google_search_tool": False,
    }
    assert fake.requests_to(f"{CREATE_PATH}{FLASH}/{status.task_id}", "GET")


async def test_auth_header_and_no_bearer(fake: FakeMagnific, provider: MagnificProvider) -> None:
    await provider.submit(GenerationRequest(prompt="hello"))
    headers = {k.lower(): v for k, v in fake.requests[0].headers.items()}
    assert headers["x-magnific-api-key"] == API_KEY
    assert "authorization" not in headers
    assert fake.requests[0].path == f"{CREATE_PATH}{PRO}"


# --------------------------------------------------------------------------- field mapping


async def test_every_option_mapped(fake: FakeMagnific, provider: MagnificProvider) -> None:
    request = GenerationRequest(
        prompt="combine these",
        model=FLASH,
        mode=Mode.EDIT,
        references=(
            ReferenceImage(
                url="https://img.example/a.jpg", mime_type="image/jpeg", caption="style"
            ),
            ReferenceImage(url="https://img.example/b.webp", mime_type="image/webp"),
        ),
        aspect_ratio="21:9",
        resolution="4K",
        grounding=True,
    )
    status = await provider.submit(request, callback_url="https://bot.example/cb/42")
    assert status.state is TaskState.QUEUED
    [body] = creates(fake)
    assert body == {
        "prompt": "combine these",
        "webhook_url": "https://bot.example/cb/42",
        "reference_images": [
            {"image": "https://img.example/a.jpg", "text": "style", "mime_type": "image/jpeg"},
            {"image": "https://img.example/b.webp", "mime_type": "image/webp"},
        ],
        "aspect_ratio": "21:9",
        "resolution": "4K",
        "use_google_search_tool": True,
    }


async def test_pro_never_sends_grounding_field(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    await provider.submit(GenerationRequest(prompt="x" * 3000, resolution="1K", aspect_ratio="4:5"))
    [body] = creates(fake)
    assert "use_google_search_tool" not in body
    assert body["resolution"] == "1K" and body["aspect_ratio"] == "4:5"


async def test_fourteen_references_accepted(fake: FakeMagnific, provider: MagnificProvider) -> None:
    refs = tuple(ReferenceImage(url=f"https://img.example/{i}.png") for i in range(14))
    await provider.submit(GenerationRequest(prompt="many", references=refs))
    [body] = creates(fake)
    assert isinstance(body["reference_images"], list) and len(body["reference_images"]) == 14


@pytest.mark.parametrize(
    "request_",
    [
        GenerationRequest(prompt="grounded", model=PRO, grounding=True),
        GenerationRequest(prompt="x"),
        GenerationRequest(prompt="x" * 3001),
        GenerationRequest(prompt="odd", resolution="high"),
        GenerationRequest(prompt="odd", aspect_ratio="2:1"),
        GenerationRequest(prompt="two", count=2),
        GenerationRequest(prompt="refs", references=(ReferenceImage(data=b"png"),)),
        GenerationRequest(
            prompt="refs",
            references=tuple(ReferenceImage(url=f"https://e.x/{i}.png") for i in range(15)),
        ),
        GenerationRequest(prompt="fmt", output_format="png"),
        GenerationRequest(prompt="which", model="nano-banana-2"),
    ],
)
def test_invalid_requests_are_refused_at_admission(request_: GenerationRequest) -> None:
    # the engine validates before anything is spent; the provider trusts what it is given
    with pytest.raises(RequestInvalidError):
        validate_request(MagnificProvider.capabilities, request_)


def test_capabilities() -> None:
    caps = MagnificProvider.capabilities
    assert caps.model_names == (PRO, FLASH)
    pro, flash = caps.model(PRO), caps.model(FLASH)
    assert (pro.default_resolution, flash.default_resolution) == ("2K", "1K")
    assert (pro.grounding, flash.grounding) == (False, True)
    assert pro.resolutions == ("1K", "2K", "4K") and len(pro.aspect_ratios) == 10
    assert (pro.max_references, pro.max_images, pro.max_prompt_length) == (14, 1, 3000)
    assert not caps.accepts_reference_bytes and caps.accepts_reference_urls
    assert caps.signed_callbacks
    assert caps.callbacks_on_every_change  # "sent to webhook_url on each status change"
    assert flash.typical_seconds < pro.typical_seconds


# --------------------------------------------------------------------------- statuses


async def test_create_may_answer_in_progress(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    fake.create_status = "IN_PROGRESS"
    status = await provider.submit(GenerationRequest(prompt="hello"))
    assert status.state is TaskState.RUNNING
    final = await run_to_completion(provider, GenerationRequest(prompt="again"), interval=0.02)
    assert final.state is TaskState.SUCCEEDED


async def test_progression_queued_running_succeeded(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    fake.step_seconds = 0.1
    seen: list[TaskState] = []
    await run_to_completion(
        provider,
        GenerationRequest(prompt="steps"),
        interval=0.03,
        on_status=lambda s, _t: seen.append(s.state),
    )
    assert seen[0] is TaskState.QUEUED
    assert TaskState.RUNNING in seen
    assert seen[-1] is TaskState.SUCCEEDED and seen.count(TaskState.SUCCEEDED) == 1


@pytest.mark.parametrize(
    ("reason", "expected", "content_policy"),
    [
        ("The model could not render this prompt", "The model could not render this prompt", False),
        (None, "generation failed", False),
        ("Prompt blocked by safety filters", "Prompt blocked by safety filters", True),
    ],
)
async def test_failed_task(
    fake: FakeMagnific,
    provider: MagnificProvider,
    reason: str | None,
    expected: str,
    content_policy: bool,
) -> None:
    fake.next_outcome(Outcome(success=False, reason=reason))
    status = await run_to_completion(provider, GenerationRequest(prompt="fail"), interval=0.02)
    assert status.state is TaskState.FAILED
    assert status.reason == expected
    assert status.content_policy is content_policy
    assert status.images == ()


async def test_completed_without_images_is_a_failure(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    fake.next_outcome(Outcome(images=0))
    status = await run_to_completion(provider, GenerationRequest(prompt="empty"), interval=0.02)
    assert status.state is TaskState.FAILED
    assert status.reason == "completed without any image"


async def test_unknown_status_is_protocol_error(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    fake.step_seconds = 30  # keep the background progression from overwriting the status
    created = await provider.submit(GenerationRequest(prompt="odd"))
    task = fake.tasks[created.task_id]
    assert isinstance(task, MagnificTask)
    task.status = "PAUSED"
    with pytest.raises(ProtocolError):
        await provider.fetch(created.task_id, model=PRO)


async def test_unknown_task_and_wrong_model(fake: FakeMagnific, provider: MagnificProvider) -> None:
    with pytest.raises(TaskNotFoundError):
        await provider.fetch("00000000-0000-0000-0000-000000000000", model=PRO)
    created = await provider.submit(GenerationRequest(prompt="pro task"))
    with pytest.raises(TaskNotFoundError):
        await provider.fetch(created.task_id, model=FLASH)  # tasks live under their model
    with pytest.raises(RequestInvalidError):
        await provider.fetch(created.task_id, model="flux")


# --------------------------------------------------------------------------- faults


async def test_bad_key(fake: FakeMagnific) -> None:
    provider = make_provider(fake, api_key=SecretStr("mk-wrong-key"))
    with pytest.raises(BadKeyError) as caught:
        await provider.submit(GenerationRequest(prompt="hello"))
    await provider.aclose()
    assert "API key" in str(caught.value) and "Invalid API key" in (caught.value.detail or "")
    assert "mk-wrong-key" not in str(caught.value) + (caught.value.detail or "")
    assert len(creates(fake)) == 1


@pytest.mark.parametrize(
    ("fault", "error_type", "words"),
    [
        (Fault.BAD_KEY, BadKeyError, "API key"),
        (Fault.NO_CREDITS, InsufficientCreditsError, "credits"),
    ],
)
async def test_fatal_create_faults(
    fake: FakeMagnific,
    provider: MagnificProvider,
    fault: Fault,
    error_type: type[ProviderError],
    words: str,
) -> None:
    fake.inject(fault, on=On.CREATE)
    with pytest.raises(error_type) as caught:
        await provider.submit(GenerationRequest(prompt="hello"))
    assert words in str(caught.value)
    assert_key_safe(caught.value)
    assert len(creates(fake)) == 1


@pytest.mark.parametrize("fault", [Fault.RATE_LIMITED, Fault.UNAVAILABLE, Fault.CODE_IN_200])
async def test_create_retried_when_not_processed(
    fake: FakeMagnific, provider: MagnificProvider, fault: Fault
) -> None:
    fake.inject(fault, on=On.CREATE, times=2)
    status = await run_to_completion(provider, GenerationRequest(prompt="retry"), interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    assert len(creates(fake)) == 3
    assert len(fake.tasks) == 1


async def test_persistent_rate_limit(fake: FakeMagnific, provider: MagnificProvider) -> None:
    fake.inject(Fault.RATE_LIMITED, on=On.CREATE, times=4)
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(GenerationRequest(prompt="busy"))
    assert "rate limiting" in str(caught.value)
    assert caught.value.retry_after == 0
    assert len(creates(fake)) == 4  # RetryPolicy.attempts
    assert_key_safe(caught.value)


async def test_persistent_unavailable(fake: FakeMagnific, provider: MagnificProvider) -> None:
    fake.inject(Fault.UNAVAILABLE, on=On.CREATE, times=4)
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.submit(GenerationRequest(prompt="down"))
    assert "unavailable" in str(caught.value) and "503" in str(caught.value)
    assert_key_safe(caught.value)


async def test_html_502_on_create_is_not_repeated(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    fake.inject(Fault.HTML_502, on=On.CREATE)
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.submit(GenerationRequest(prompt="gateway"))
    assert "502" in str(caught.value)
    assert "502 Bad Gateway" in (caught.value.detail or "")
    assert "<html" not in (caught.value.detail or "")
    assert len(creates(fake)) == 1


async def test_dropped_create_is_outcome_unknown(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    fake.inject(Fault.DROP, on=On.CREATE)
    with pytest.raises(SubmitOutcomeUnknownError):
        await provider.submit(GenerationRequest(prompt="drop"))
    assert len(creates(fake)) == 1


async def test_slow_create_is_not_repeated(fake: FakeMagnific) -> None:
    fake.slow_seconds = 1
    fake.inject(Fault.SLOW, on=On.CREATE)
    provider = make_provider(fake, timeout_seconds=0.3)
    with pytest.raises(SubmitOutcomeUnknownError) as caught:  # it gave up waiting for the answer
        await provider.submit(GenerationRequest(prompt="slow"))
    await provider.aclose()
    assert "may still run" in str(caught.value)
    await fake.idle()  # the fake goes on to act on it, as Magnific would
    assert len(creates(fake)) == 1


@pytest.mark.parametrize(
    "fault", [Fault.HTML_502, Fault.UNAVAILABLE, Fault.RATE_LIMITED, Fault.DROP, Fault.SLOW]
)
async def test_status_reads_retried(fake: FakeMagnific, fault: Fault) -> None:
    fake.slow_seconds = 0.5
    provider = make_provider(fake, timeout_seconds=0.2)
    created = await provider.submit(GenerationRequest(prompt="read"))
    await fake.idle()  # the task has finished at the provider
    fake.inject(fault, on=On.STATUS, times=2)
    status = await provider.fetch(created.task_id, model=PRO)
    await provider.aclose()
    assert status.state is TaskState.SUCCEEDED
    assert len(fake.requests_to(created.task_id, "GET")) == 3


async def test_status_read_gives_up(fake: FakeMagnific, provider: MagnificProvider) -> None:
    created = await provider.submit(GenerationRequest(prompt="read"))
    fake.inject(Fault.HTML_502, on=On.STATUS, times=4)
    with pytest.raises(ProviderUnavailableError):
        await provider.fetch(created.task_id, model=PRO)


async def test_status_read_bad_key(fake: FakeMagnific, provider: MagnificProvider) -> None:
    created = await provider.submit(GenerationRequest(prompt="read"))
    fake.inject(Fault.BAD_KEY, on=On.STATUS)
    with pytest.raises(BadKeyError) as caught:
        await provider.fetch(created.task_id, model=PRO)
    assert_key_safe(caught.value)


async def test_validation_400_reasons(fake: FakeMagnific, provider: MagnificProvider) -> None:
    # GIF is not among Magnific's reference formats; only the API itself catches that
    request = GenerationRequest(
        prompt="gif ref",
        references=(ReferenceImage(url="https://img.example/a.gif", mime_type="image/gif"),),
    )
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(request)
    error = caught.value
    assert "reference_images.0.mime_type" in (error.reason or "")
    assert "didn't validate" in (error.reason or "")
    assert str(error).startswith("magnific rejected the request")
    assert not error.content_policy
    assert_key_safe(error)
    assert len(creates(fake)) == 1


def test_error_mapping_of_documented_bodies() -> None:
    provider = MagnificProvider(MagnificSettings.from_values(api_key=SecretStr(API_KEY)))

    def error_for(status: int, body: object, content_type: str = "application/json") -> Exception:
        response = httpx.Response(
            status,
            content=json.dumps(body).encode(),
            headers={"Content-Type": content_type},
            request=httpx.Request("POST", "https://api.magnific.com/x"),
        )
        try:
            provider._data(response)
        except ProviderError as exc:
            return exc
        raise AssertionError("no error raised")

    plain = error_for(400, {"message": "Parameter 'prompt' is not valid"})
    assert isinstance(plain, RequestRejectedError)
    assert plain.reason == "Parameter 'prompt' is not valid"
    nested = error_for(
        400,
        {"problem": {"message": "bad", "invalid_params": [{"name": "page", "reason": "> 0"}]}},
        "application/problem+json",
    )
    assert isinstance(nested, RequestRejectedError) and nested.reason == "bad; page: > 0"
    policy = error_for(400, {"message": "The prompt violates our content policy"})
    assert isinstance(policy, RequestRejectedError) and policy.content_policy
    missing = error_for(401, {"message": "Missing API key"})
    assert isinstance(missing, BadKeyError) and "Missing API key" in (missing.detail or "")
    echoed = error_for(500, {"message": f"Internal Server Error for key {API_KEY}"})
    assert isinstance(echoed, ProviderUnavailableError)
    assert_key_safe(echoed)
    # the create endpoint's response example is the bare task object: read, not refused
    without_a_task: list[object] = [{"status": "CREATED", "generated": []}, {"data": None}, []]
    for body in without_a_task:
        assert isinstance(error_for(200, body), ProtocolError)


async def test_api_key_never_in_errors(fake: FakeMagnific, provider: MagnificProvider) -> None:
    errors: list[ProviderError] = []
    for fault in Fault:
        if fault is Fault.SLOW:
            continue
        fake.inject(fault, on=On.CREATE, times=4)
        try:
            await provider.submit(GenerationRequest(prompt="leak?"))
        except ProviderError as exc:
            errors.append(exc)
        while fake.take_fault(On.CREATE):  # clear leftovers
            pass
    try:
        await provider.fetch("missing", model=PRO)
    except ProviderError as exc:
        errors.append(exc)
    assert len(errors) >= 6
    for error in errors:
        assert_key_safe(error)


# --------------------------------------------------------------------------- webhooks

SECRET = "magnific-webhook-secret"


def signed_headers(
    secret: str | bytes, body: bytes, *, timestamp: int | None = None, webhook_id: str = "msg_1"
) -> dict[str, str]:
    key = secret.encode() if isinstance(secret, str) else secret
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(key, f"{webhook_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


COMPLETED_BODY = json.dumps(
    {"task_id": "t-1", "status": "COMPLETED", "generated": ["https://cdn.example/r_0.jpeg?x=1"]}
).encode()


@pytest.fixture
async def signed_provider(fake: FakeMagnific) -> AsyncIterator[MagnificProvider]:
    prov = make_provider(fake, webhook_secret=SecretStr(SECRET))
    yield prov
    await prov.aclose()


def test_known_vector() -> None:
    """The Standard Webhooks (Svix) published test vector, with its whsec_ secret."""
    headers = {
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "Webhook-Timestamp": "1614265330",
        "Webhook-Signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    body = b'{"test": 2432232314}'
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    verify_webhook_signature(secret, headers, body, now=1614265330 + 10)
    with pytest.raises(CallbackRejectedError):
        verify_webhook_signature(secret, headers, body + b" ", now=1614265330)
    with pytest.raises(CallbackRejectedError):  # the same delivery, ten minutes later
        verify_webhook_signature(secret, headers, body, now=1614265330 + 600)


def test_fake_signature_matches_provider_scheme() -> None:
    assert (
        sign(SECRET, "msg_1", "1700000000", b"{}")
        == signed_headers(SECRET, b"{}", timestamp=1700000000)["webhook-signature"]
    )


def test_signed_callback_accepted(signed_provider: MagnificProvider) -> None:
    status = signed_provider.parse_callback(signed_headers(SECRET, COMPLETED_BODY), COMPLETED_BODY)
    assert status.state is TaskState.SUCCEEDED
    assert [i.url for i in status.images] == ["https://cdn.example/r_0.jpeg?x=1"]


def test_any_v1_entry_may_match(signed_provider: MagnificProvider) -> None:
    headers = signed_headers(SECRET, COMPLETED_BODY)
    good = headers["webhook-signature"]
    headers["webhook-signature"] = f"v1,AAAAbogus= v2,{good[3:]} {good}"
    assert signed_provider.parse_callback(headers, COMPLETED_BODY).state is TaskState.SUCCEEDED
    headers["webhook-signature"] = f"v1,AAAAbogus= v2,{good[3:]}"  # right value, wrong version
    with pytest.raises(CallbackRejectedError):
        signed_provider.parse_callback(headers, COMPLETED_BODY)


def test_tampered_body_rejected(signed_provider: MagnificProvider) -> None:
    headers = signed_headers(SECRET, COMPLETED_BODY)
    tampered = COMPLETED_BODY.replace(b"r_0", b"evil")
    with pytest.raises(CallbackRejectedError):
        signed_provider.parse_callback(headers, tampered)


def test_wrong_secret_rejected(signed_provider: MagnificProvider) -> None:
    with pytest.raises(CallbackRejectedError):
        signed_provider.parse_callback(
            signed_headers("someone-else", COMPLETED_BODY), COMPLETED_BODY
        )


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_or_future_timestamp_rejected(signed_provider: MagnificProvider, offset: int) -> None:
    headers = signed_headers(SECRET, COMPLETED_BODY, timestamp=int(time.time()) + offset)
    with pytest.raises(CallbackRejectedError):
        signed_provider.parse_callback(headers, COMPLETED_BODY)


def test_recent_timestamp_accepted(signed_provider: MagnificProvider) -> None:
    headers = signed_headers(SECRET, COMPLETED_BODY, timestamp=int(time.time()) - 250)
    assert signed_provider.parse_callback(headers, COMPLETED_BODY).state is TaskState.SUCCEEDED


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_signature_header_rejected(signed_provider: MagnificProvider, drop: str) -> None:
    headers = signed_headers(SECRET, COMPLETED_BODY)
    del headers[drop]
    with pytest.raises(CallbackRejectedError):
        signed_provider.parse_callback(headers, COMPLETED_BODY)


def test_bad_timestamp_rejected(signed_provider: MagnificProvider) -> None:
    headers = signed_headers(SECRET, COMPLETED_BODY)
    headers["webhook-timestamp"] = "yesterday"
    with pytest.raises(CallbackRejectedError):
        signed_provider.parse_callback(headers, COMPLETED_BODY)


def test_whsec_secret_forms(fake: FakeMagnific) -> None:
    key_bytes = b"\x01\x02binary-key\xff"
    whsec = "whsec_" + base64.b64encode(key_bytes).decode()
    provider = make_provider(fake, webhook_secret=SecretStr(whsec))
    # signed with the decoded key (Standard Webhooks reading) ...
    decoded = provider.parse_callback(signed_headers(key_bytes, COMPLETED_BODY), COMPLETED_BODY)
    # ... or with the secret's own bytes (the docs' reading): both verify
    raw = provider.parse_callback(signed_headers(whsec, COMPLETED_BODY), COMPLETED_BODY)
    assert decoded.state is raw.state is TaskState.SUCCEEDED
    with pytest.raises(CallbackRejectedError):
        provider.parse_callback(signed_headers(b"other", COMPLETED_BODY), COMPLETED_BODY)


def test_unsigned_callback_without_secret(provider: MagnificProvider) -> None:
    status = provider.parse_callback({}, COMPLETED_BODY)
    assert status == TaskStatus(
        task_id="t-1",
        state=TaskState.SUCCEEDED,
        images=(status.images[0],),
    )
    # a wrapped body is accepted too (receivers parse defensively)
    wrapped = json.dumps({"data": {"task_id": "t-2", "status": "IN_PROGRESS"}}).encode()
    assert provider.parse_callback({}, wrapped).state is TaskState.RUNNING
    failed = json.dumps({"task_id": "t-3", "status": "FAILED", "generated": []}).encode()
    assert provider.parse_callback({}, failed).reason == "generation failed"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_unparseable_callback_rejected(provider: MagnificProvider, body: bytes) -> None:
    with pytest.raises(CallbackRejectedError):
        provider.parse_callback({}, body)


def test_callback_with_unknown_status(provider: MagnificProvider) -> None:
    with pytest.raises(ProtocolError):
        provider.parse_callback({}, b'{"task_id": "t", "status": "DONE"}')


async def test_unsigned_when_secret_set_rejected(signed_provider: MagnificProvider) -> None:
    with pytest.raises(CallbackRejectedError):
        signed_provider.parse_callback({}, COMPLETED_BODY)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A tiny webhook receiver: records every delivery, answers 200."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks/{job}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/hooks/job-1", received
    await runner.cleanup()


async def wait_for_terminal(
    fake: FakeMagnific,
    provider: MagnificProvider,
    received: list[tuple[dict[str, str], bytes]],
) -> list[TaskStatus]:
    await fake.idle()  # the task has ended and every delivery the fake makes is made
    statuses = [provider.parse_callback(h, b) for h, b in received]
    assert any(s.state.terminal for s in statuses), f"no terminal callback; got {len(received)}"
    return statuses


async def test_signed_callbacks_over_a_whole_task(
    fake: FakeMagnific,
    signed_provider: MagnificProvider,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    fake.webhook_secret = SECRET
    created = await signed_provider.submit(GenerationRequest(prompt="hook"), callback_url=url)
    statuses = await wait_for_terminal(fake, signed_provider, received)
    assert {s.task_id for s in statuses} == {created.task_id}
    assert [s.state for s in statuses] == [TaskState.RUNNING, TaskState.SUCCEEDED]
    terminal = [s for s in statuses if s.state.terminal]
    assert len(terminal) == 1
    task = fake.tasks[created.task_id]
    assert [i.url for i in terminal[0].images] == task.image_urls
    image = await download(terminal[0].images[0].url or "")
    assert image.size == (2048, 2048)
    # bodies are unwrapped task objects, as documented
    assert all("data" not in json.loads(body) for _, body in received)
    # and polling agrees with the callbacks
    polled = await signed_provider.fetch(created.task_id, model=PRO)
    assert polled.images == terminal[0].images


async def test_callbacks_when_created_in_progress_and_failed(
    fake: FakeMagnific,
    provider: MagnificProvider,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    fake.create_status = "IN_PROGRESS"
    fake.next_outcome(Outcome(success=False, reason="Generation failed: internal error"))
    await provider.submit(GenerationRequest(prompt="hook", model=FLASH), callback_url=url)
    statuses = await wait_for_terminal(fake, provider, received)
    # no change from IN_PROGRESS until the end, so one delivery; unsigned, no secret set
    assert [s.state for s in statuses] == [TaskState.FAILED]
    assert statuses[0].reason == "Generation failed: internal error"
    assert "webhook-signature" not in {k.lower() for k in received[0][0]}


async def test_tampered_delivery_from_fake_rejected(
    fake: FakeMagnific,
    signed_provider: MagnificProvider,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = receiver
    fake.webhook_secret = "not-the-configured-secret"
    await signed_provider.submit(GenerationRequest(prompt="hook"), callback_url=url)
    for _ in range(200):
        if len(received) >= 2:
            break
        await asyncio.sleep(0.01)
    assert received
    for headers, body in received:
        with pytest.raises(CallbackRejectedError):
            signed_provider.parse_callback(headers, body)


# --------------------------------------------------------------------------- the fake itself


async def test_fake_enforces_contract(fake: FakeMagnific) -> None:
    url = f"{fake.base_url}{CREATE_PATH}"
    key = {"x-magnific-api-key": API_KEY}
    async with httpx.AsyncClient() as client:
        missing = await client.post(url + PRO, json={"prompt": "hi"})
        assert (missing.status_code, missing.json()) == (401, {"message": "Missing API key"})
        bearer = await client.post(
            url + PRO, json={"prompt": "hi"}, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert bearer.status_code == 401
        legacy = await client.post(
            url + PRO, json={"prompt": "hi"}, headers={"x-freepik-api-key": API_KEY}
        )
        assert legacy.status_code == 200
        data = legacy.json()["data"]
        assert data["status"] == "CREATED" and data["generated"] == [] and data["error"] is None
        for body in (
            {"prompt": "hi", "use_google_search_tool": False},  # flash-only field on Pro
            {"prompt": "hi", "resolution": "high"},
            {"prompt": "hi", "aspect_ratio": "2:1"},
            {"prompt": "h"},
            {"prompt": "hi", "reference_images": [{"image": "https://e.x/a.png"}] * 15},
        ):
            rejected = await client.post(url + PRO, json=body, headers=key)
            assert rejected.status_code == 400, body
            assert rejected.json()["invalid_params"]
        flash = await client.post(
            url + FLASH, json={"prompt": "hi", "use_google_search_tool": True}, headers=key
        )
        assert flash.status_code == 200
        unknown = await client.get(url + PRO + "/nope", headers=key)
        assert unknown.status_code == 404
