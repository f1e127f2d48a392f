"""Every job ends within its deadline, whatever a peer does: answers that trickle in a byte
at a time, providers that answer late, downloads that never finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.jobs.config import EngineConfig
from bot.jobs.models import FailureKind
from bot.jobs.states import JobStatus
from providers.base import GenerationRequest
from providers.errors import ProviderUnavailableError, SubmitOutcomeUnknownError
from providers.gemini import GeminiProvider
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import make_harness, spec


@pytest.fixture
async def trickle() -> AsyncIterator[str]:
    """A server that answers every request with a byte every 0.1 s, for ever."""

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(600):  # bounded: at most a minute
            await response.write(b" ")
            await asyncio.sleep(0.1)
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", drip)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_a_provider_answer_that_trickles_in_is_cut_off_by_its_total_time(trickle):
    fake = FakeMagnific()
    fake.port = int(trickle.rsplit(":", 1)[1])  # provider_settings reads the fake's URL
    provider = MagnificProvider(provider_settings(MagnificProvider, fake, timeout_seconds=0.5))
    try:
        started = time.monotonic()
        with pytest.raises(SubmitOutcomeUnknownError):  # never resent: it may have billed
            await provider.submit(GenerationRequest(prompt="a fox"))
        assert time.monotonic() - started < 2.0
        with pytest.raises(ProviderUnavailableError):
            await provider.fetch("task", model="nano-banana-pro")
    finally:
        await provider.aclose()


async def test_a_provider_answering_after_the_deadline_is_never_charged(tmp_path):
    gemini = FakeGemini()
    gemini.delay_seconds = 1.5
    async with gemini:
        provider = GeminiProvider(provider_settings(GeminiProvider, gemini))
        h = await make_harness(
            tmp_path,
            {"gemini": provider},
            config=EngineConfig(deadline_seconds=0.5, idle_tick=0.1, poll_interval=0.05),
        )
        try:
            job = await h.engine.accept(spec(provider="gemini"))
            done = await h.engine.wait(job.id, 5)
            assert done.status is JobStatus.TIMED_OUT
            assert done.failure_kind is FailureKind.TIMED_OUT
            await gemini.idle()  # the late answer has come and gone
            assert h.delivery.deliveries[job.id] == 0
            stored = await h.store.jobs.get(job.id, images=False)
            assert stored is not None and stored.status is JobStatus.TIMED_OUT
            quota = await h.engine.quota("u1")
            assert (quota.reserved, quota.spent) == (0, 0)
        finally:
            await h.close()


async def test_a_result_download_that_never_finishes_ends_with_the_deadline(tmp_path, trickle):
    async with FakeMagnific() as magnific:

        def results(*_: object, **__: object) -> list[str]:
            return [f"{trickle}/slow.png"]

        magnific.make_result_files = results  # type: ignore[method-assign]
        h = await make_harness(
            tmp_path,
            {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))},
            config=EngineConfig(deadline_seconds=1.5, idle_tick=0.1, poll_interval=0.05),
        )
        try:
            job = await h.engine.accept(spec(provider="magnific"))
            done = await h.engine.wait(job.id, 10)
            assert done.status is JobStatus.TIMED_OUT
            assert done.completed_at is not None and done.completed_at - done.created_at < 3
            assert (await h.engine.quota("u1")).reserved == 0
        finally:
            await h.close()
