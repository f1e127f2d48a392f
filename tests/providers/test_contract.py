"""Every registered provider through the same scenarios, against its loopback fake."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from PIL import Image

from providers.base import (
    Completion,
    GenerationRequest,
    Provider,
    ReferenceImage,
    ResultImage,
    TaskState,
    TaskStatus,
)
from providers.errors import (
    BadKeyError,
    InsufficientCreditsError,
    ProviderError,
    ProviderUnavailableError,
    SubmitOutcomeUnknownError,
    TaskNotFoundError,
)
from providers.local import render_image
from providers.polling import run_to_completion
from providers.registry import PROVIDERS
from tests.fakes._base import FakeServer, Fault, On, Outcome, provider_settings
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific
from tests.fakes.nanobananaapi import FakeNanoBananaApi
from tests.fakes.nanobananapro import FakeNanoBananaPro

FAKES: dict[str, Callable[[], FakeServer]] = {
    "magnific": FakeMagnific,
    "nanobananaapi": FakeNanoBananaApi,
    "nanobananapro": FakeNanoBananaPro,
    "gemini": FakeGemini,
}
MODELS = [(name, model) for name in FAKES for model in PROVIDERS[name].capabilities.model_names]


def test_every_registered_provider_has_a_fake_or_is_offline():
    assert set(PROVIDERS) == set(FAKES) | {"local"}


@dataclass
class Setup:
    fake: FakeServer
    provider: Provider


@pytest.fixture(params=sorted(FAKES))
async def setup(request) -> AsyncIterator[Setup]:
    fake = FAKES[request.param]()
    fake.retry_after = "0"
    async with fake:
        cls = PROVIDERS[request.param]
        provider = cls(provider_settings(cls, fake, timeout_seconds=0.5))
        fake.slow_seconds = 1.5
        yield Setup(fake, provider)
        await provider.aclose()


async def image_bytes(result: ResultImage) -> bytes:
    if result.data is not None:
        return result.data
    assert result.url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(result.url)
        response.raise_for_status()
        return response.content


async def complete(provider: Provider, request: GenerationRequest) -> TaskStatus:
    return await run_to_completion(provider, request, interval=0.02, deadline_seconds=15)


def reference_for(provider: Provider, fake: FakeServer) -> ReferenceImage:
    data = render_image("ref", (64, 64))
    if provider.capabilities.accepts_reference_urls:
        fake.files["ref.png"] = (data, "image/png")
        return ReferenceImage(url=f"{fake.base_url}/files/ref.png", mime_type="image/png")
    return ReferenceImage(data=data, mime_type="image/png")


@pytest.mark.parametrize(("name", "model"), MODELS)
async def test_text_to_image_and_references_for_every_model(name, model):
    fake = FAKES[name]()
    async with fake:
        provider = PROVIDERS[name](provider_settings(PROVIDERS[name], fake))
        try:
            caps = provider.capabilities.model(model)
            aspect = "16:9" if "16:9" in caps.aspect_ratios else caps.aspect_ratios[0]
            status = await complete(
                provider,
                GenerationRequest(prompt="a red fox in the snow", model=model, aspect_ratio=aspect),
            )
            assert status.state is TaskState.SUCCEEDED
            assert status.images
            with Image.open(io.BytesIO(await image_bytes(status.images[0]))) as image:
                w, h = (int(x) for x in aspect.split(":"))
                assert abs(image.width / image.height - w / h) < 0.05
            if caps.max_references:
                ref = reference_for(provider, fake)
                status = await complete(
                    provider,
                    GenerationRequest(
                        prompt="the same fox, as a watercolour", model=model, references=(ref,)
                    ),
                )
                assert status.state is TaskState.SUCCEEDED
        finally:
            await provider.aclose()


REQUEST = GenerationRequest(prompt="a red fox")


async def test_bad_key(setup):
    setup.fake.inject(Fault.BAD_KEY, on=On.CREATE)
    with pytest.raises(BadKeyError) as err:
        await complete(setup.provider, REQUEST)
    assert setup.fake.api_key not in f"{err.value} {err.value.detail}"


async def test_no_credits(setup):
    setup.fake.inject(Fault.NO_CREDITS, on=On.CREATE)
    with pytest.raises(InsufficientCreditsError):
        await complete(setup.provider, REQUEST)


async def test_rate_limited_create_is_retried(setup):
    setup.fake.inject(Fault.RATE_LIMITED, on=On.CREATE)
    status = await complete(setup.provider, REQUEST)
    assert status.state is TaskState.SUCCEEDED


async def test_html_502(setup):
    synchronous = setup.provider.capabilities.completion is Completion.SYNCHRONOUS
    if synchronous:
        setup.fake.inject(Fault.HTML_502, on=On.CREATE)
        with pytest.raises(ProviderUnavailableError) as err:
            await complete(setup.provider, REQUEST)
        assert "<html" not in str(err.value).lower()
        assert len(setup.fake.requests) == 1  # a create is not blindly repeated
    else:
        setup.fake.inject(Fault.HTML_502, on=On.STATUS)
        setup.fake.inject(Fault.RATE_LIMITED, on=On.STATUS)
        status = await complete(setup.provider, REQUEST)
        assert status.state is TaskState.SUCCEEDED


async def test_failure_carries_the_provider_reason(setup):
    setup.fake.next_outcome(
        Outcome(success=False, reason="Sensitive content detected", content_policy=True)
    )
    try:
        status = await complete(setup.provider, REQUEST)
    except ProviderError as exc:
        text = f"{exc} {exc.detail} {getattr(exc, 'reason', '')}"
        assert "Sensitive content detected" in text or "SAFETY" in text.upper()
    else:
        assert status.state is TaskState.FAILED
        assert status.reason and "Sensitive content detected" in status.reason
        assert status.content_policy


async def test_unknown_task(setup):
    if setup.provider.capabilities.completion is Completion.SYNCHRONOUS:
        pytest.skip("synchronous providers have no task status")
    model = setup.provider.capabilities.default_model
    with pytest.raises(TaskNotFoundError):
        await setup.provider.fetch("00000000-0000-0000-0000-000000000000", model=model)


async def test_slow_create_is_never_repeated(setup):
    setup.fake.inject(Fault.SLOW, on=On.CREATE)
    with pytest.raises(SubmitOutcomeUnknownError):
        await complete(setup.provider, REQUEST)
    creates = [r for r in setup.fake.requests if r.method == "POST"]
    assert len(creates) == 1


async def test_key_check_never_generates_and_tells_a_good_key_from_a_bad_one(setup: Setup):
    """``verify_key``: one harmless request; a refused key raises, a good one is verified
    where the provider has a way (else "unverifiable": never a false "ready")."""
    check = await setup.provider.verify_key()
    unverifiable = {"nanobananapro"}  # no status, credit or account endpoint is documented
    assert check.verified is (setup.provider.name not in unverifiable)
    if setup.provider.name not in unverifiable:
        setup.fake.api_key = "rotated-key"
        with pytest.raises(BadKeyError):
            await setup.provider.verify_key()
    assert [r for r in setup.fake.requests if r.method == "POST"] == []
