"""nano-banana-pro.net adapter against its loopback fake."""

from __future__ import annotations

import io
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
from providers.local import render_image
from providers.nanobananapro import NanoBananaProProvider, NanoBananaProSettings
from providers.polling import run_to_completion
from providers.validation import validate_request
from tests.fakes._base import Fault, On, Outcome, provider_settings
from tests.fakes.nanobananapro import FakeNanoBananaPro

GENERATE = "/api/ai/nano-banana/generate"


@pytest.fixture
async def fake() -> AsyncIterator[FakeNanoBananaPro]:
    server = FakeNanoBananaPro()
    server.retry_after = "0"
    async with server:
        yield server


def make_provider(fake: FakeNanoBananaPro, **config: Any) -> NanoBananaProProvider:
    return NanoBananaProProvider(provider_settings(NanoBananaProProvider, fake, **config))


@pytest.fixture
async def provider(fake: FakeNanoBananaPro) -> AsyncIterator[NanoBananaProProvider]:
    prov = make_provider(fake)
    yield prov
    await prov.aclose()


async def download(url: str) -> Image.Image:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    return render_image("ref", size)


# ---------------------------------------------------------------------- capabilities


def test_capabilities() -> None:
    caps = NanoBananaProProvider.capabilities
    assert caps.completion is Completion.SYNCHRONOUS
    assert caps.model_names == ("nano-banana-pro",)
    model = caps.model(None)
    assert model.aspect_ratios == ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")
    assert model.resolutions == ("2K", "4K")  # the only sizes the document shows
    assert model.default_resolution is None
    assert model.max_references == 8
    assert caps.max_references_with_upload == 1
    assert caps.accepts_reference_bytes and caps.accepts_reference_urls
    assert caps.max_reference_bytes == 2_500_000
    assert NanoBananaProProvider.read_timeout == 300.0
    with pytest.raises(RequestInvalidError, match="4:5"):
        validate_request(caps, GenerationRequest(prompt="x", aspect_ratio="4:5"))


# ---------------------------------------------------------------------- end to end


async def test_text_to_image_end_to_end(fake: FakeNanoBananaPro, provider: NanoBananaProProvider):
    request = GenerationRequest(prompt="a koi pond", aspect_ratio="16:9", resolution="2K")
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    assert len(status.images) == 1
    assert status.images[0].url is not None
    image = await download(status.images[0].url)
    assert image.width / image.height == pytest.approx(16 / 9, rel=0.02)
    assert len(fake.requests_to(GENERATE)) == 1


async def test_json_field_mapping(fake: FakeNanoBananaPro, provider: NanoBananaProProvider):
    await provider.submit(
        GenerationRequest(prompt="a garden", aspect_ratio="21:9", resolution="2K")
    )
    (sent,) = fake.requests_to(GENERATE, "POST")
    assert sent.headers["Authorization"] == f"Bearer {fake.api_key}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json == {"prompt": "a garden", "size": "2k", "aspectRatio": "21:9"}


async def test_4k_is_lowercase_on_the_wire(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    await provider.submit(GenerationRequest(prompt="p", aspect_ratio="1:1", resolution="4K"))
    assert fake.requests[-1].json["size"] == "4k"


async def test_a_default_request_sends_no_size(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    status = await provider.submit(GenerationRequest(prompt="defaults"))
    assert fake.requests[-1].json == {"prompt": "defaults", "aspectRatio": "1:1"}
    assert status.images[0].url is not None
    image = await download(status.images[0].url)
    assert image.size == (1024, 1024)


async def test_one_url_reference_is_a_string(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    ref = ReferenceImage(url="https://example.com/photo.jpg")
    await provider.submit(GenerationRequest(prompt="watercolor", mode=Mode.EDIT, references=(ref,)))
    # No aspect chosen with a reference: omitted, like the docs' image-to-image example.
    assert fake.requests[-1].json == {
        "prompt": "watercolor",
        "image": "https://example.com/photo.jpg",
    }


async def test_several_url_references_are_an_array(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    urls = ["https://example.com/a.jpg", "https://example.com/b.jpg", "https://example.com/c.png"]
    refs = tuple(ReferenceImage(url=u) for u in urls)
    await provider.submit(
        GenerationRequest(prompt="combine", references=refs, aspect_ratio="21:9", resolution="4K")
    )
    assert fake.requests[-1].json == {
        "prompt": "combine",
        "size": "4k",
        "aspectRatio": "21:9",
        "image": urls,
    }


async def test_one_byte_reference_goes_multipart(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    first = png((64, 48))
    ref = ReferenceImage(data=first, mime_type="image/png")
    request = GenerationRequest(
        prompt="vintage", mode=Mode.EDIT, references=(ref,), resolution="2K"
    )
    status = await run_to_completion(provider, request, interval=0.02)
    sent = fake.requests[-1]
    assert sent.headers["Content-Type"].startswith("multipart/form-data")
    assert sent.json is None
    assert sent.form == {
        "prompt": ["vintage"],
        "size": ["2k"],
        "image": [("reference.png", first, "image/png")],
    }
    # The fake follows the upload's shape when no aspect ratio is given (4:3 here).
    assert status.images[0].url is not None
    image = await download(status.images[0].url)
    assert image.width / image.height == pytest.approx(4 / 3, rel=0.02)


async def test_multipart_with_aspect(fake: FakeNanoBananaPro, provider: NanoBananaProProvider):
    ref = ReferenceImage(data=png(), mime_type="image/png")
    await provider.submit(GenerationRequest(prompt="p", references=(ref,), aspect_ratio="9:16"))
    form = fake.requests[-1].form
    assert form is not None
    assert form["aspectRatio"] == ["9:16"]
    assert form["image"] == [("reference.png", ref.data, "image/png")]


# ---------------------------------------------------------------------- rejections


async def test_content_policy_rejection_carries_reason(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    reason = "Prompt violates our content policy: explicit content"
    fake.next_outcome(Outcome(success=False, reason=reason, content_policy=True))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="bad"))
    assert caught.value.content_policy
    assert caught.value.reason == reason
    assert reason in str(caught.value)
    assert len(fake.requests_to(GENERATE)) == 1


async def test_default_content_block_is_recognised(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    fake.next_outcome(Outcome(success=False, content_policy=True))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="bad"))
    assert caught.value.content_policy


async def test_generation_failed_is_unavailable_and_not_repeated(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    fake.next_outcome(Outcome(success=False, reason="Generation failed"))
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert not isinstance(caught.value, SubmitOutcomeUnknownError)
    assert "Generation failed" in (caught.value.detail or "")
    assert len(fake.requests_to(GENERATE)) == 1


async def test_validation_400_is_not_content_policy(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    fake.max_references = 2  # a stricter plan than our capabilities assume
    refs = tuple(ReferenceImage(url=f"https://example.com/{n}.jpg") for n in range(3))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="x", references=refs))
    assert not caught.value.content_policy
    assert caught.value.reason is not None
    assert "Too many reference images" in caught.value.reason


async def test_plan_refusal_403(fake: FakeNanoBananaPro, provider: NanoBananaProProvider):
    fake.allow_4k = False
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="x", resolution="4K"))
    assert "plan" in str(caught.value)
    assert caught.value.reason == "4K generation requires a paid plan"


async def test_empty_images_is_protocol_error(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    fake.next_outcome(Outcome(images=0))
    with pytest.raises(ProtocolError):
        await provider.submit(GenerationRequest(prompt="x"))


async def test_fake_rejects_uppercase_size_and_oversized_upload(fake: FakeNanoBananaPro):
    """The fake enforces the documented contract (so mapping bugs would show)."""
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as client:
        upper = await client.post(GENERATE, json={"prompt": "p", "size": "4K"})
        assert upper.status_code == 400
        assert "size" in upper.json()["error"]
        missing = await client.post(GENERATE, json={"size": "1k"})
        assert missing.status_code == 400
        big = render_image("big", (1400, 1400), noise=True)
        assert len(big) > 2_500_000
        upload = await client.post(
            GENERATE, data={"prompt": "p"}, files=[("image", ("a.png", big, "image/png"))]
        )
        assert upload.status_code == 400
        assert "2.5MB" in upload.json()["error"]
        nokey = await client.post(
            GENERATE, json={"prompt": "p"}, headers={"Authorization": "Bearer sk-wrong"}
        )
        assert nokey.status_code == 401


# ---------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("fault", "error", "cause"),
    [
        (Fault.BAD_KEY, BadKeyError, "API key"),
        (Fault.NO_CREDITS, InsufficientCreditsError, "credits"),
    ],
)
async def test_fatal_faults(
    fake: FakeNanoBananaPro,
    provider: NanoBananaProProvider,
    fault: Fault,
    error: type[ProviderError],
    cause: str,
):
    fake.inject(fault, on=On.CREATE)
    with pytest.raises(error) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert "nanobananapro" in str(caught.value)
    assert cause in str(caught.value)
    assert len(fake.requests_to(GENERATE)) == 1


@pytest.mark.parametrize("fault", [Fault.RATE_LIMITED, Fault.UNAVAILABLE, Fault.CODE_IN_200])
async def test_retried_faults_then_success(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider, fault: Fault
):
    fake.inject(fault, on=On.CREATE)
    status = await provider.submit(GenerationRequest(prompt="x"))
    assert status.state is TaskState.SUCCEEDED
    assert len(fake.requests_to(GENERATE)) == 2


async def test_rate_limited_until_attempts_run_out(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    fake.inject(Fault.RATE_LIMITED, on=On.CREATE, times=10)
    with pytest.raises(RateLimitedError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert caught.value.retry_after == 0.0
    assert len(fake.requests_to(GENERATE)) == provider.settings.retry.attempts


async def test_html_502_is_unavailable_and_not_repeated(
    fake: FakeNanoBananaPro, provider: NanoBananaProProvider
):
    fake.inject(Fault.HTML_502, on=On.CREATE)
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert "502" in str(caught.value)
    assert "502 Bad Gateway" in (caught.value.detail or "")
    assert "<html" not in (caught.value.detail or "")
    assert len(fake.requests_to(GENERATE)) == 1


@pytest.mark.parametrize("fault", [Fault.SLOW, Fault.DROP])
async def test_timeout_or_drop_is_outcome_unknown_and_not_repeated(
    fake: FakeNanoBananaPro, fault: Fault
):
    fake.slow_seconds = 1
    provider = make_provider(fake, timeout_seconds=0.3)
    fake.inject(fault, on=On.CREATE)
    try:
        with pytest.raises(SubmitOutcomeUnknownError):
            await provider.submit(GenerationRequest(prompt="x"))
    finally:
        await provider.aclose()
    assert len(fake.requests_to(GENERATE)) == 1


async def test_timeout_comes_from_read_timeout(fake: FakeNanoBananaPro):
    provider = make_provider(fake)
    try:
        assert provider.timeout().read == 300.0
    finally:
        await provider.aclose()


async def test_key_never_in_errors(fake: FakeNanoBananaPro):
    """Even when the service echoes the key, it is scrubbed from every message and detail."""
    provider = make_provider(fake)
    errors: list[ProviderError] = []
    try:
        for fault in (Fault.BAD_KEY, Fault.NO_CREDITS, Fault.HTML_502):
            fake.inject(fault, on=On.CREATE)
            with pytest.raises(ProviderError) as caught:
                await provider.submit(GenerationRequest(prompt="x"))
            errors.append(caught.value)
        fake.next_outcome(
            Outcome(success=False, reason=f"bad key {fake.api_key} blocked", content_policy=True)
        )
        with pytest.raises(RequestRejectedError) as rejected:
            await provider.submit(GenerationRequest(prompt="x"))
        errors.append(rejected.value)
        assert "***" in (rejected.value.reason or "")
    finally:
        await provider.aclose()
    for err in errors:
        for text in (str(err), err.detail or "", getattr(err, "reason", None) or ""):
            assert fake.api_key not in text


async def test_wrong_key_is_bad_key(fake: FakeNanoBananaPro):
    provider = NanoBananaProProvider(
        NanoBananaProSettings.from_values(
            api_key=SecretStr("sk-not-the-key"), base_url=fake.base_url
        )
    )
    try:
        with pytest.raises(BadKeyError):
            await provider.submit(GenerationRequest(prompt="x"))
    finally:
        await provider.aclose()
