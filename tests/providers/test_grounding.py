"""Grounding sources: Magnific Flash and Gemini parse the grounding metadata their fakes send
(in Google's shape) into ``TaskStatus.sources``; unusable entries are skipped, never fatal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from providers.base import GenerationRequest, Source, TaskState
from providers.gemini import GeminiProvider
from providers.grounding import MAX_SOURCES, gemini_sources, magnific_sources, sources_in
from providers.magnific import MagnificProvider
from providers.polling import run_to_completion
from tests.fakes._base import provider_settings
from tests.fakes.gemini import FakeGemini
from tests.fakes.grounding import REDIRECT
from tests.fakes.magnific import FakeMagnific, MagnificTask

GROUNDED = GenerationRequest(
    prompt="the Eiffel Tower at today's weather", model="nano-banana-pro-flash", grounding=True
)


@pytest.fixture
async def magnific() -> AsyncIterator[tuple[FakeMagnific, MagnificProvider]]:
    async with FakeMagnific() as fake:
        provider = MagnificProvider(provider_settings(MagnificProvider, fake))
        yield fake, provider
        await provider.aclose()


@pytest.fixture
async def gemini() -> AsyncIterator[tuple[FakeGemini, GeminiProvider]]:
    fake = FakeGemini()
    async with fake:
        provider = GeminiProvider(provider_settings(GeminiProvider, fake))
        yield fake, provider
        await provider.aclose()


async def test_magnific_flash_grounded_task_names_its_sources(
    magnific: tuple[FakeMagnific, MagnificProvider],
) -> None:
    fake, provider = magnific
    status = await run_to_completion(provider, GROUNDED, interval=0.02)
    assert status.state is TaskState.SUCCEEDED
    assert fake.requests[0].json["use_google_search_tool"] is True
    assert [s.title for s in status.sources] == ["wikipedia.org", "nasa.gov", "example.com"]
    assert all(s.url.startswith(REDIRECT) for s in status.sources)


async def test_magnific_ungrounded_task_has_no_sources(
    magnific: tuple[FakeMagnific, MagnificProvider],
) -> None:
    _, provider = magnific
    plain = GROUNDED.model_copy(update={"grounding": False})
    status = await run_to_completion(provider, plain, interval=0.02)
    assert status.state is TaskState.SUCCEEDED and status.sources == ()


async def test_magnific_callback_carries_sources(
    magnific: tuple[FakeMagnific, MagnificProvider],
) -> None:
    fake, provider = magnific
    fake.grounding_chunks = [{"web": {"uri": "https://example.org/a", "title": "Example"}}]
    await run_to_completion(provider, GROUNDED, interval=0.02)
    (task,) = fake.tasks.values()
    assert isinstance(task, MagnificTask)
    body = FakeMagnific.task_json(task)  # what the webhook POSTs: no "data" wrapper
    status = provider.parse_callback({}, json.dumps(body).encode())
    assert status.sources == (Source(url="https://example.org/a", title="Example"),)


async def test_gemini_grounded_answer_names_its_sources(
    gemini: tuple[FakeGemini, GeminiProvider],
) -> None:
    fake, provider = gemini
    request = GROUNDED.model_copy(update={"model": "nano-banana-pro"})
    status = await provider.submit(request)
    assert fake.requests[0].json["tools"] == [{"google_search": {}}]
    assert status.state is TaskState.SUCCEEDED and status.images
    assert [s.title for s in status.sources] == ["wikipedia.org", "nasa.gov", "example.com"]


async def test_gemini_ungrounded_answer_has_no_sources(
    gemini: tuple[FakeGemini, GeminiProvider],
) -> None:
    _, provider = gemini
    status = await provider.submit(GenerationRequest(prompt="a fox", model="nano-banana-pro"))
    assert status.sources == ()


async def test_unusable_chunks_are_skipped_not_fatal(
    gemini: tuple[FakeGemini, GeminiProvider],
) -> None:
    fake, provider = gemini
    fake.grounding_chunks = [
        {"web": {"uri": "javascript:alert(1)", "title": "evil"}},
        {"web": {"uri": "https://ok.example/page", "title": "  spaced\n title  "}},
        {"web": {"uri": "https://ok.example/page", "title": "duplicate"}},
        {"web": {"title": "no uri"}},
        {"retrievedContext": {"uri": "http://docs.example/x"}},
        {"web": {"uri": "https://has space.example/"}},
        {"web": "not an object"},
        {"maps": {"uri": "https://maps.example/"}},
    ]
    request = GROUNDED.model_copy(update={"model": "nano-banana-pro"})
    status = await provider.submit(request)
    assert status.state is TaskState.SUCCEEDED
    assert status.sources == (
        Source(url="https://ok.example/page", title="spaced title"),
        Source(url="http://docs.example/x", title=None),
    )


def test_shapes_and_limits() -> None:
    chunk = {"web": {"uri": "https://a.example/", "title": "A"}}
    assert gemini_sources({"grounding_metadata": {"grounding_chunks": [chunk]}}) == (
        Source(url="https://a.example/", title="A"),
    )
    assert magnific_sources({"groundingMetadata": {"groundingChunks": [chunk]}})[0].title == "A"
    assert magnific_sources({"sources": [{"url": "https://b.example/", "title": "B"}]}) == (
        Source(url="https://b.example/", title="B"),
    )
    assert magnific_sources({"grounding_metadata": None}) == ()
    assert sources_in({"groundingChunks": "nonsense"}) == ()
    many = [{"web": {"uri": f"https://e.example/{i}"}} for i in range(50)]
    assert len(sources_in({"groundingChunks": many})) == MAX_SOURCES
