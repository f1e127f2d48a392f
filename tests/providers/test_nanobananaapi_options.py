"""nanobananaapi.ai's optional fields against its loopback fake: ``outputFormat`` (generate-2)
and ``watermark`` (v1) go on the wire only when chosen, and the fake refuses fields its
document does not show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from providers.base import GenerationRequest, ReferenceImage, TaskState
from providers.errors import RequestInvalidError
from providers.nanobananaapi import (
    PLACEHOLDER_CALLBACK_URL,
    NanoBananaApiProvider,
    NanoBananaApiSettings,
)
from providers.polling import run_to_completion
from providers.validation import validate_request
from tests.fakes._base import provider_settings
from tests.fakes.nanobananaapi import GENERATE_2, GENERATE_PRO, GENERATE_V1, FakeNanoBananaApi

SECRET = "nba-test-key-0c4f1e"


@pytest.fixture
async def fake() -> AsyncIterator[FakeNanoBananaApi]:
    async with FakeNanoBananaApi(api_key=SECRET) as server:
        server.steps_to_finish = 1
        yield server


def make_provider(fake: FakeNanoBananaApi, **overrides: Any) -> NanoBananaApiProvider:
    settings = provider_settings(NanoBananaApiProvider, fake, **overrides)
    return NanoBananaApiProvider(settings)


@pytest.fixture
async def provider(fake: FakeNanoBananaApi) -> AsyncIterator[NanoBananaApiProvider]:
    prov = make_provider(fake)
    yield prov
    await prov.aclose()


def created(fake: FakeNanoBananaApi, path: str) -> list[dict[str, Any]]:
    return [r.json for r in fake.requests if r.path == path and r.method == "POST"]


# ---------------------------------------------------------------------------- output format


async def test_output_format_is_sent_only_when_chosen(fake, provider) -> None:
    await provider.submit(GenerationRequest(prompt="default"))
    await provider.submit(GenerationRequest(prompt="png", output_format="png"))
    await provider.submit(GenerationRequest(prompt="jpg", output_format="jpg"))
    default, png, jpg = created(fake, GENERATE_2)
    assert "outputFormat" not in default  # the documented default (jpg) applies
    assert png["outputFormat"] == "png"
    assert jpg["outputFormat"] == "jpg"


@pytest.mark.parametrize(("chosen", "expected"), [(None, "JPEG"), ("png", "PNG"), ("jpg", "JPEG")])
async def test_output_format_decides_the_result_type(fake, provider, chosen, expected) -> None:
    request = GenerationRequest(prompt="a lighthouse", output_format=chosen)
    status = await run_to_completion(provider, request, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    assert status.images[0].url is not None
    async with httpx.AsyncClient() as client:
        data = (await client.get(status.images[0].url)).content
    assert data.startswith(b"\x89PNG") == (expected == "PNG")
    assert data.startswith(b"\xff\xd8") == (expected == "JPEG")


@pytest.mark.parametrize("model", ["nano-banana-pro", "nano-banana"])
def test_output_format_is_refused_where_undocumented(model: str) -> None:
    caps = NanoBananaApiProvider.capabilities
    assert caps.model(model).output_formats == ()
    with pytest.raises(RequestInvalidError, match="Output format png is not supported"):
        validate_request(caps, GenerationRequest(prompt="x", model=model, output_format="png"))


def test_output_format_outside_the_documented_values_is_refused() -> None:
    caps = NanoBananaApiProvider.capabilities
    with pytest.raises(RequestInvalidError, match="choose one of: png, jpg"):
        validate_request(caps, GenerationRequest(prompt="x", output_format="webp"))


# ---------------------------------------------------------------------------- v1 watermark


async def test_v1_watermark_is_sent_only_when_set(fake) -> None:
    plain = make_provider(fake)
    marked = make_provider(fake, watermark="© Banana Club")
    try:
        await plain.submit(GenerationRequest(prompt="plain", model="nano-banana"))
        await marked.submit(GenerationRequest(prompt="marked", model="nano-banana"))
        await marked.submit(GenerationRequest(prompt="nb2"))  # generate-2 has no watermark
    finally:
        await plain.aclose()
        await marked.aclose()
    without, with_mark = created(fake, GENERATE_V1)
    assert "watermark" not in without
    assert with_mark == {
        "prompt": "marked",
        "type": "TEXTTOIAMGE",
        "numImages": 1,
        "callBackUrl": PLACEHOLDER_CALLBACK_URL,
        "watermark": "© Banana Club",
    }
    (nb2,) = created(fake, GENERATE_2)
    assert "watermark" not in nb2


def test_watermark_setting_reads_its_environment_variable(monkeypatch) -> None:
    monkeypatch.setenv("NANOBANANAAPI_WATERMARK", "made with bananabot")
    monkeypatch.setenv("NANOBANANAAPI_API_KEY", "k")
    settings = NanoBananaApiSettings(_env_file=None)
    assert settings.watermark == "made with bananabot"
    assert NanoBananaApiSettings.env_name("watermark") == "NANOBANANAAPI_WATERMARK"
    monkeypatch.setenv("NANOBANANAAPI_WATERMARK", "")
    assert NanoBananaApiSettings(_env_file=None).watermark is None  # empty = unset


async def test_v1_edit_sends_image_size_only_with_a_chosen_aspect(fake, provider) -> None:
    ref = ReferenceImage(url="https://example.com/in.png")
    await provider.submit(GenerationRequest(prompt="e", model="nano-banana", references=(ref,)))
    await provider.submit(
        GenerationRequest(prompt="e", model="nano-banana", references=(ref,), aspect_ratio="4:5")
    )
    free, chosen = created(fake, GENERATE_V1)
    assert "image_size" not in free  # the edited image keeps the provider's own choice
    assert chosen["image_size"] == "4:5"


# ---------------------------------------------------------------------------- strict fake


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (GENERATE_2, {"prompt": "p", "watermark": "w"}, "watermark"),
        (
            GENERATE_PRO,
            {"prompt": "p", "outputFormat": "png", "callBackUrl": "https://a.b/c"},
            "outputFormat",
        ),
        (
            GENERATE_PRO,
            {"prompt": "p", "googleSearch": True, "callBackUrl": "https://a.b/c"},
            "googleSearch",
        ),
        (
            GENERATE_V1,
            {
                "prompt": "p",
                "type": "TEXTTOIAMGE",
                "callBackUrl": "https://a.b/c",
                "aspectRatio": "1:1",
            },
            "aspectRatio",
        ),
    ],
)
async def test_fake_refuses_fields_the_document_does_not_show(fake, path, body, field) -> None:
    auth = {"Authorization": f"Bearer {SECRET}"}
    async with httpx.AsyncClient(base_url=fake.base_url, headers=auth) as client:
        answer = (await client.post(path, json=body)).json()
    assert answer["code"] == 400
    assert field in answer["msg" if path != GENERATE_PRO else "message"]
