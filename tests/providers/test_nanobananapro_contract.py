"""nano-banana-pro.net against a fake that follows its document, not our client: sizes the
document shows (2k/4k, none by default), a plan's refusal of 4K, the 500's own reason, and one
uploaded file at most (several references travel as URLs)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from providers.base import GenerationRequest, ReferenceImage
from providers.errors import (
    BadKeyError,
    InsufficientCreditsError,
    ProviderUnavailableError,
    RequestInvalidError,
    RequestRejectedError,
    SubmitOutcomeUnknownError,
)
from providers.local import render_image
from providers.nanobananapro import NanoBananaProProvider
from providers.validation import validate_request
from tests.fakes._base import Fault, On, Outcome, provider_settings
from tests.fakes.nanobananapro import FakeNanoBananaPro

GENERATE = "/api/ai/nano-banana/generate"
CAPS = NanoBananaProProvider.capabilities


@pytest.fixture
async def fake() -> AsyncIterator[FakeNanoBananaPro]:
    server = FakeNanoBananaPro()
    async with server:
        yield server


@pytest.fixture
async def provider(fake: FakeNanoBananaPro) -> AsyncIterator[NanoBananaProProvider]:
    prov = NanoBananaProProvider(provider_settings(NanoBananaProProvider, fake))
    yield prov
    await prov.aclose()


def upload(name: str = "ref") -> ReferenceImage:
    return ReferenceImage(data=render_image(name, (40, 30)), mime_type="image/png")


# ---------------------------------------------------------------------- size


async def test_size_is_sent_only_when_chosen(fake, provider) -> None:
    await provider.submit(GenerationRequest(prompt="no size"))
    await provider.submit(GenerationRequest(prompt="2k", resolution="2K"))
    await provider.submit(GenerationRequest(prompt="4k", resolution="4K"))
    sizes = [r.json.get("size", "absent") for r in fake.requests_to(GENERATE, "POST")]
    assert sizes == ["absent", "2k", "4k"]


def test_1k_is_refused_before_anything_is_spent() -> None:
    with pytest.raises(RequestInvalidError, match=r"1K is not supported .* choose one of: 2K, 4K"):
        validate_request(CAPS, GenerationRequest(prompt="x", resolution="1K"))


async def test_fake_refuses_sizes_the_document_does_not_show(fake) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as client:
        for size in ("1k", "2K", "8k"):
            answer = await client.post(GENERATE, json={"prompt": "p", "size": size})
            assert answer.status_code == 400, size
            assert answer.json() == {"error": f"Invalid size '{size}'. Must be one of: 2k, 4k"}


# ---------------------------------------------------------------------- plan refusal


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (403, "4K generation requires a paid plan"),  # undocumented status, no plan in words
        (400, "4K is not available on your current plan"),
        (402, "Upgrade your subscription to generate in 4K"),
    ],
)
async def test_a_plan_refusing_4k_reads_as_a_plan_refusal(fake, provider, status, text) -> None:
    fake.allow_4k = False
    fake.plan_refusal_status, fake.plan_refusal_text = status, text
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="x", resolution="4K"))
    message = str(caught.value)
    assert message.startswith("nanobananapro refused this for the account's plan: ")
    assert text in message
    assert "choose 2K" in message
    assert caught.value.reason == text
    assert not caught.value.content_policy
    assert len(fake.requests_to(GENERATE)) == 1


async def test_credits_and_key_refusals_are_not_taken_for_a_plan(fake, provider) -> None:
    fake.inject(Fault.NO_CREDITS, on=On.CREATE)
    with pytest.raises(InsufficientCreditsError):
        await provider.submit(GenerationRequest(prompt="x", resolution="4K"))
    fake.inject(Fault.BAD_KEY, on=On.CREATE)
    with pytest.raises(BadKeyError):
        await provider.submit(GenerationRequest(prompt="x"))


# ---------------------------------------------------------------------- 500 reason


async def test_generation_failed_shows_the_providers_reason(fake, provider) -> None:
    reason = "Generation failed: the model returned no image"
    fake.next_outcome(Outcome(success=False, reason=reason))
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert not isinstance(caught.value, SubmitOutcomeUnknownError)
    assert str(caught.value) == f"nanobananapro failed to generate the image: {reason} (HTTP 500)"
    assert caught.value.reason == reason
    assert len(fake.requests_to(GENERATE)) == 1  # possibly billed: never repeated


async def test_a_500_naming_a_content_block_is_a_content_refusal(fake, provider) -> None:
    reason = "Generation failed: image flagged by safety filter"
    fake.next_outcome(Outcome(success=False, reason=reason))
    with pytest.raises(RequestRejectedError) as caught:
        await provider.submit(GenerationRequest(prompt="x"))
    assert caught.value.content_policy
    assert reason in str(caught.value)


# ---------------------------------------------------------------------- references


async def test_a_reference_with_a_url_goes_by_url(fake, provider) -> None:
    both = ReferenceImage(url="https://example.com/a.png", data=upload().data)
    other = ReferenceImage(url="https://example.com/b.png")
    await provider.submit(GenerationRequest(prompt="mix", references=(both, other)))
    sent = fake.requests[-1]
    assert sent.form is None
    assert sent.json == {"prompt": "mix", "image": ["https://example.com/a.png", other.url]}


@pytest.mark.parametrize(
    "refs",
    [
        (upload("one"), upload("two")),
        (upload("one"), ReferenceImage(url="https://example.com/b.png")),
    ],
    ids=["two uploads", "upload beside a URL"],
)
async def test_an_upload_goes_alone(fake, provider, refs) -> None:
    request = GenerationRequest(prompt="combine", references=refs)
    with pytest.raises(RequestInvalidError) as caught:
        validate_request(CAPS, request)
    assert "only on its own" in str(caught.value)
    assert "https:// URLs (up to 8)" in str(caught.value)
    with pytest.raises(RequestInvalidError):
        await provider.submit(request)  # even unvalidated, never sent in an undocumented shape
    assert fake.requests_to(GENERATE) == []


def test_several_url_references_are_still_allowed() -> None:
    refs = tuple(ReferenceImage(url=f"https://example.com/{n}.png") for n in range(8))
    validate_request(CAPS, GenerationRequest(prompt="x", references=refs))


async def test_fake_refuses_multipart_shapes_the_document_does_not_show(fake) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    png = upload().data
    assert png is not None
    async with httpx.AsyncClient(base_url=fake.base_url, headers=headers) as client:
        two_files = await client.post(
            GENERATE,
            data={"prompt": "p"},
            files=[("image", ("a.png", png, "image/png")), ("image", ("b.png", png, "image/png"))],
        )
        assert two_files.status_code == 400
        assert two_files.json()["error"] == "Parameter 'image' given 2 times"
        url_field = await client.post(
            GENERATE,
            data={"prompt": "p", "image": "https://example.com/a.png"},
            files=[("other", ("a.png", png, "image/png"))],
        )
        assert url_field.status_code == 400
        unknown = await client.post(GENERATE, json={"prompt": "p", "images": ["https://x.y/z"]})
        assert unknown.json() == {"error": "Unknown parameter 'images'"}
        one_file = await client.post(
            GENERATE,
            data={"prompt": "p", "size": "2k"},
            files=[("image", ("a.png", png, "image/png"))],
        )
        assert one_file.status_code == 200, one_file.text
