"""Google Gemini API adapter against its loopback fake (and a few hand-made payloads)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from providers.base import Completion, GenerationRequest, Mode, ReferenceImage, TaskState
from providers.errors import (
    BadKeyError,
    InsufficientCreditsError,
    ProtocolError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestInvalidError,
    RequestRejectedError,
    SubmitOutcomeUnknownError,
)
from providers.gemini import GeminiProvider, GeminiSettings
from providers.local import render_image
from providers.polling import run_to_completion
from providers.settings import RetryPolicy
from providers.validation import validate_request
from tests.fakes._base import Fault, On, Outcome, provider_settings
from tests.fakes.gemini import FakeGemini

PRO = "/v1beta/models/gemini-3-pro-image-preview:generateContent"
NB2 = "/v1beta/models/gemini-3.1-flash-image-preview:generateContent"
NB = "/v1beta/models/gemini-2.5-flash-image:generateContent"


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    server = FakeGemini()
    server.retry_after = "0"
    async with server:
        yield server


def make_provider(fake: FakeGemini, **config: Any) -> GeminiProvider:
    return GeminiProvider(provider_settings(GeminiProvider, fake, **config))


@pytest.fixture
async def provider(fake: FakeGemini) -> AsyncIterator[GeminiProvider]:
    prov = make_provider(fake)
    yield prov
    await prov.aclose()


def decode(data: bytes | None) -> Image.Image:
    assert data is not None
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png(size: tuple[int, int] = (48, 64)) -> bytes:
    return render_image("ref", size)


def mock_provider(payload: Any, status: int = 200, headers: dict[str, str] | None = None):
    """A provider whose HTTP answers are one fixed payload (for shapes the fake never sends)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=payload, headers=headers)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    provider = GeminiProvider(
        GeminiSettings.from_values(
            api_key=SecretStr("AIza-mock-key-123"),
            base_url="https://gemini.test",
            retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.02),
        ),
        client=client,
    )
    return provider, client, seen


# ---------------------------------------------------------------------- capabilities


def test_capabilities() -> None:
    caps = GeminiProvider.capabilities
    assert caps.completion is Completion.SYNCHRONOUS
    assert caps.model_names == ("nano-banana-pro", "nano-banana-2", "nano-banana")
    assert caps.accepts_reference_bytes and not caps.accepts_reference_urls
    for name in ("nano-banana-pro", "nano-banana-2"):
        model = caps.model(name)
        assert len(model.aspect_ratios) == 10
        assert model.resolutions == ("1K", "2K", "4K")
        assert model.max_references == 14
        assert model.grounding
        assert model.max_images == 1
    flash = caps.model("nano-banana")
    assert flash.resolutions == ("1K",)
    assert flash.max_references == 3
    assert not flash.grounding
    assert GeminiProvider.read_timeout == 300.0
    with pytest.raises(RequestInvalidError, match="URL"):
        validate_request(
            caps,
            GenerationRequest(prompt="x", references=(ReferenceImage(url="https://x.test/a.png"),)),
        )
    with pytest.raises(RequestInvalidError, match="grounding"):
        validate_request(caps, GenerationRequest(prompt="x", model="nano-banana", grounding=True))


# ---------------------------------------------------------------------- end to end


@pytest.mark.parametrize(
    ("model", "path", "aspect", "ratio"),
    [
        ("nano-banana-pro", PRO, "16:9", 16 / 9),
        ("nano-banana-2", NB2, "4:5", 4 / 5),
        ("nano-banana", NB, "21:9", 21 / 9),
    ],
)
async def test_every_model_end_to_end(
    fake: FakeGemini,
    provider: GeminiProvider,
    model: str,
    path: str,
    aspect: str,
    ratio: float,
):
    request = GenerationRequest(prompt="a lighthouse", model=model, aspect_ratio=aspect)
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    (result,) = status.images
    assert result.mime_type == "image/png"
    image = decode(result.data)
    assert image.width / image.height == pytest.approx(ratio, rel=0.03)
    assert len(fake.requests_to(path, "POST")) == 1


async def test_field_mapping_pro(fake: FakeGemini, provider: GeminiProvider):
    await provider.submit(
        GenerationRequest(prompt="a map", aspect_ratio="3:2", resolution="2K", grounding=True)
    )
    (sent,) = fake.requests_to(PRO, "POST")
    assert sent.headers["x-goog-api-key"] == fake.api_key
    assert "key" not in sent.query
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "a map"}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "3:2", "imageSize": "2K"},
        },
        "tools": [{"google_search": {}}],
    }


async def test_defaults(fake: FakeGemini, provider: GeminiProvider):
    status = await provider.submit(GenerationRequest(prompt="defaults"))
    sent = fake.requests_to(PRO, "POST")[-1]
    assert sent.json["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "1K"}
    assert "tools" not in sent.json
    assert decode(status.images[0].data).size == (1024, 1024)


async def test_nano_banana_2_and_4k(fake: FakeGemini, provider: GeminiProvider):
    await provider.submit(
        GenerationRequest(prompt="p", model="nano-banana-2", aspect_ratio="1:1", resolution="4K")
    )
    sent = fake.requests_to(NB2, "POST")[-1]
    assert sent.json["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "4K"}


async def test_nano_banana_omits_image_size(fake: FakeGemini, provider: GeminiProvider):
    await provider.submit(GenerationRequest(prompt="p", model="nano-banana", resolution="1K"))
    sent = fake.requests_to(NB, "POST")[-1]
    assert sent.json["generationConfig"]["imageConfig"] == {"aspectRatio": "1:1"}


async def test_references_are_inline_bytes_before_prompt(
    fake: FakeGemini, provider: GeminiProvider
):
    first, second = png((48, 64)), render_image("b", (40, 40), image_format="JPEG")
    refs = (
        ReferenceImage(data=first, mime_type="image/png", caption="the cat"),
        ReferenceImage(data=second, mime_type="image/jpeg"),
    )
    request = GenerationRequest(prompt="put the cat on the sofa", mode=Mode.EDIT, references=refs)
    status = await provider.submit(request)
    sent = fake.requests_to(PRO, "POST")[-1]
    assert sent.json["contents"][0]["parts"] == [
        {"text": "the cat"},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(first).decode()}},
        {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(second).decode()}},
        {"text": "put the cat on the sofa"},
    ]
    # An edit without an explicit aspect ratio leaves it to the model (it keeps the input's).
    assert "aspectRatio" not in sent.json["generationConfig"]["imageConfig"]
    image = decode(status.images[0].data)
    assert image.width / image.height == pytest.approx(3 / 4, rel=0.03)


async def test_fake_enforces_contract(fake: FakeGemini):
    """The fake refuses what Google refuses, so mapping mistakes would show up."""
    headers = {"x-goog-api-key": fake.api_key}

    def body(image_config: dict[str, str], parts: list[Any] | None = None) -> dict[str, Any]:
        return {
            "contents": [{"role": "user", "parts": parts or [{"text": "p"}]}],
            "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": image_config},
        }

    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as client:
        lower = await client.post(PRO, json=body({"imageSize": "2k"}))
        assert lower.status_code == 400
        assert lower.json()["error"]["status"] == "INVALID_ARGUMENT"
        size_on_flash = await client.post(NB, json=body({"imageSize": "1K"}))
        assert size_on_flash.status_code == 400
        bad_aspect = await client.post(PRO, json=body({"aspectRatio": "7:3"}))
        assert bad_aspect.status_code == 400
        not_image = [{"inlineData": {"mimeType": "image/png", "data": "aGVsbG8="}}, {"text": "p"}]
        garbage = await client.post(PRO, json=body({}, not_image))
        assert garbage.status_code == 400
        unknown = await client.post("/v1beta/models/gemini-9:generateContent", json=body({}))
        assert unknown.status_code == 404
        nokey = await client.post(PRO, json=body({}), headers={"x-goog-api-key": ""})
        assert nokey.status_code == 403


# ---------------------------------------------------------------------- blocks


async def test_image_safety_is_content_policy(fake: FakeGemini, provider: GeminiProvider):
    fake.next_outcome(Outcome(success=False, content_policy=True, reason="IMAGE_SAFETY"))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="bad"))
    assert caught.value.content_policy
    assert caught.value.reason is not None
    assert caught.value.reason.startswith("IMAGE_SAFETY")
    assert "IMAGE_SAFETY" in str(caught.value)
    assert len(fake.requests_to(PRO)) == 1


async def test_finish_message_is_part_of_reason(fake: FakeGemini, provider: GeminiProvider):
    message = "Unable to show the generated image: it violated the Prohibited Use policy."
    fake.next_outcome(Outcome(success=False, content_policy=True, reason=message))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="bad"))
    assert caught.value.content_policy
    assert caught.value.reason == f"IMAGE_SAFETY: {message}"


async def test_no_image_is_not_content_policy(fake: FakeGemini, provider: GeminiProvider):
    fake.next_outcome(Outcome(success=False, reason="NO_IMAGE"))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="odd"))
    assert not caught.value.content_policy
    assert caught.value.reason is not None
    assert caught.value.reason.startswith("NO_IMAGE: I can't create that image")


async def test_prompt_block_reason(fake: FakeGemini, provider: GeminiProvider):
    fake.prompt_block_reason = "SAFETY"
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="bad"))
    assert caught.value.content_policy
    assert caught.value.reason == "SAFETY"
    # one shot: the next request succeeds
    status = await provider.submit(GenerationRequest(prompt="fine"))
    assert status.state is TaskState.SUCCEEDED


async def test_text_only_answer_is_never_an_empty_success(
    fake: FakeGemini, provider: GeminiProvider
):
    fake.next_outcome(Outcome(images=0))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="p"))
    assert not caught.value.content_policy
    assert caught.value.reason == "NO_IMAGE: Here is the image you asked for."


async def test_no_candidates_no_block_is_protocol_error():
    provider, client, seen = mock_provider({"usageMetadata": {"promptTokenCount": 3}})
    async with client:
        with pytest.raises(ProtocolError):
            await provider.submit(GenerationRequest(prompt="p"))
    assert len(seen) == 1


async def test_snake_case_and_thought_parts():
    final, thought = png((32, 32)), png((16, 16))
    payload = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "thought": True,
                            "inline_data": {
                                "mime_type": "image/png",
                                "data": base64.b64encode(thought).decode(),
                            },
                        },
                        {
                            "inline_data": {
                                "mime_type": "image/webp",
                                "data": base64.urlsafe_b64encode(final).decode().rstrip("="),
                            }
                        },
                    ]
                },
                "finish_reason": "STOP",
            }
        ],
        "responseId": "resp-1",
    }
    provider, client, seen = mock_provider(payload)
    async with client:
        status = await provider.submit(GenerationRequest(prompt="p"))
    assert status.task_id == "resp-1"
    assert [(i.data, i.mime_type) for i in status.images] == [(final, "image/webp")]
    assert seen[0].headers["x-goog-api-key"] == "AIza-mock-key-123"
    assert "key=" not in str(seen[0].url)
    assert json.loads(seen[0].content)["contents"][0]["parts"] == [{"text": "p"}]


async def test_safety_finish_without_content():
    payload = {"candidates": [{"finishReason": "PROHIBITED_CONTENT", "index": 0}]}
    provider, client, _ = mock_provider(payload)
    async with client:
        with pytest.raises(RequestRejectedError) as caught:
            await provider.submit(GenerationRequest(prompt="p"))
    assert caught.value.content_policy
    assert caught.value.reason == "PROHIBITED_CONTENT"


# ---------------------------------------------------------------------- faults


async def test_bad_key_fault(fake: FakeGemini, provider: GeminiProvider):
    fake.inject(Fault.BAD_KEY, on=On.CREATE)
    with pytest.raises(BadKeyError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert "gemini" in str(caught.value)
    assert "API key" in str(caught.value)
    assert "API_KEY_INVALID" not in str(caught.value)
    assert len(fake.requests_to(PRO)) == 1


async def test_wrong_key_is_bad_key(fake: FakeGemini):
    provider = GeminiProvider(
        GeminiSettings.from_values(api_key=SecretStr("AIza-wrong"), base_url=fake.base_url)
    )
    try:
        with pytest.raises(BadKeyError):
            await provider.submit(GenerationRequest(prompt="x"))
    finally:
        await provider.aclose()


async def test_no_billing_quota_is_insufficient_credits(fake: FakeGemini, provider: GeminiProvider):
    fake.inject(Fault.NO_CREDITS, on=On.CREATE)
    with pytest.raises(InsufficientCreditsError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert "quota" in str(caught.value)
    assert "RESOURCE_EXHAUSTED" in (caught.value.detail or "")
    assert len(fake.requests_to(PRO)) == 1  # not retried: waiting will not help


@pytest.mark.parametrize("fault", [Fault.RATE_LIMITED, Fault.UNAVAILABLE, Fault.CODE_IN_200])
async def test_retried_faults_then_success(
    fake: FakeGemini, provider: GeminiProvider, fault: Fault
):
    fake.inject(fault, on=On.CREATE)
    status = await provider.submit(GenerationRequest(prompt="x"))
    assert status.state is TaskState.SUCCEEDED
    assert len(fake.requests_to(PRO)) == 2


async def test_rate_limited_until_attempts_run_out(fake: FakeGemini, provider: GeminiProvider):
    fake.inject(Fault.RATE_LIMITED, on=On.CREATE, times=10)
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert caught.value.retry_after == 0.0
    assert len(fake.requests_to(PRO)) == provider.settings.retry.attempts


async def test_retry_delay_from_envelope_without_header():
    payload = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "120s"},
            ],
        }
    }
    provider, client, seen = mock_provider(payload, status=429)
    async with client:
        with pytest.raises(RateLimitedError) as caught:
            await provider.submit(GenerationRequest(prompt="x"))
    assert caught.value.retry_after == 120.0
    assert len(seen) == 1  # longer than the policy's max_retry_after: not waited out here


@pytest.mark.parametrize(
    ("status", "payload", "error"),
    [
        (
            400,
            {"error": {"code": 400, "message": "Request contains an invalid argument.",
                       "status": "INVALID_ARGUMENT"}},
            RequestRejectedError,
        ),
        (
            400,
            {"error": {"code": 400, "status": "FAILED_PRECONDITION",
                       "message": "Gemini API free tier is not available in your country. "
                       "Please enable billing on your project in Google AI Studio."}},
            InsufficientCreditsError,
        ),
        (
            403,
            {"error": {"code": 403, "status": "PERMISSION_DENIED",
                       "message": "Method doesn't allow unregistered callers."}},
            BadKeyError,
        ),
        (
            403,
            {"error": {"code": 403, "status": "PERMISSION_DENIED",
                       "message": "This API method requires billing to be enabled.",
                       "details": [{"reason": "BILLING_DISABLED"}]}},
            InsufficientCreditsError,
        ),
        (
            500,
            {"error": {"code": 500, "status": "INTERNAL",
                       "message": "An internal error has occurred."}},
            ProviderUnavailableError,
        ),
    ],
)  # fmt: skip
async def test_envelope_mapping(status: int, payload: Any, error: type[ProviderError]):
    provider, client, seen = mock_provider(payload, status=status)
    async with client:
        with pytest.raises(error) as caught:
            await provider.submit(GenerationRequest(prompt="x"))
    assert type(caught.value) is error
    assert payload["error"]["message"] in (caught.value.detail or "")
    assert len(seen) == 1
    if isinstance(caught.value, RequestRejectedError):
        assert caught.value.reason == payload["error"]["message"]
        assert not caught.value.content_policy


async def test_html_502_is_unavailable_and_not_repeated(fake: FakeGemini, provider: GeminiProvider):
    fake.inject(Fault.HTML_502, on=On.CREATE)
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert not isinstance(caught.value, SubmitOutcomeUnknownError)
    assert "502" in str(caught.value)
    assert len(fake.requests_to(PRO)) == 1


@pytest.mark.parametrize("fault", [Fault.SLOW, Fault.DROP])
async def test_timeout_or_drop_is_outcome_unknown_and_not_repeated(fake: FakeGemini, fault: Fault):
    fake.slow_seconds = 1
    provider = make_provider(fake, timeout_seconds=0.3)
    fake.inject(fault, on=On.CREATE)
    try:
        with pytest.raises(SubmitOutcomeUnknownError):
            await provider.submit(GenerationRequest(prompt="x"))
    finally:
        await provider.aclose()
    assert len(fake.requests_to(PRO)) == 1


async def test_key_never_in_errors(fake: FakeGemini, provider: GeminiProvider):
    errors: list[ProviderError] = []
    for fault in (Fault.BAD_KEY, Fault.NO_CREDITS, Fault.HTML_502, Fault.DROP):
        fake.inject(fault, on=On.CREATE)
        with pytest.raises(ProviderError) as caught:
            await provider.submit(GenerationRequest(prompt="x"))
        errors.append(caught.value)
    fake.next_outcome(Outcome(success=False, content_policy=True))
    with pytest.raises(ProviderError) as blocked:
        await provider.submit(GenerationRequest(prompt="x"))
    errors.append(blocked.value)
    for err in errors:
        for text in (str(err), err.detail or "", getattr(err, "reason", None) or ""):
            assert fake.api_key not in text


async def test_echoed_key_is_scrubbed():
    payload = {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                         "message": "Bad field near AIza-mock-key-123"}}  # fmt: skip
    provider, client, _ = mock_provider(payload, status=400)
    async with client:
        with pytest.raises(RequestRejectedError) as caught:
            await provider.submit(GenerationRequest(prompt="x"))
    for text in (str(caught.value), caught.value.detail or "", caught.value.reason or ""):
        assert "AIza-mock-key-123" not in text
