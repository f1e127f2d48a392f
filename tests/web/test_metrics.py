"""Every metric family on the status listener's /metrics, each moving when its event happens."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.jobs.metrics import Metrics
from bot.jobs.models import Job, Receipt
from bot.jobs.ports import DeliveryError
from bot.jobs.quota import QuotaExceededError
from bot.jobs.states import JobStatus
from bot.media.sniff import ImageFile
from providers.local import LocalProvider, LocalSettings
from providers.magnific import MagnificProvider
from tests.discord.bot_harness import running_bot, settings_for
from tests.fakes._base import Fault, On, provider_settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import CountingNotifier, ManualClock, make_harness, spec, until

FAMILIES = (
    "bananabot_jobs",
    "bananabot_queue_length",
    "bananabot_credits_today",
    "bananabot_provider_request_seconds",
    "bananabot_provider_errors",
    "bananabot_completions",
    "bananabot_quota_refusals",
    "bananabot_delivery_attempts",
    "bananabot_interaction_ack_seconds",
)


async def scrape(port: int | None) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


class FlakyNotifier(CountingNotifier):
    """Fails each job's first delivery attempt (a retryable failure)."""

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        if attempt == 1:
            raise DeliveryError("the channel was busy")
        return await super().deliver(job, images, attempt)


def test_each_metrics_object_has_its_own_registry():
    one, two = Metrics(), Metrics()
    one.quota_refused("quota")
    assert value(one.exposition().decode(), "bananabot_quota_refusals_total", reason="quota") == 1
    assert value(two.exposition().decode(), "bananabot_quota_refusals_total", reason="quota") == 0


async def test_jobs_queue_credits_completions_deliveries_and_refusals(tmp_path):
    clock = ManualClock()
    h = await make_harness(
        tmp_path,
        {"local": LocalProvider(LocalSettings.from_values())},
        allowance=3,
        receiver=True,
        start=False,
        clock=clock,
    )
    h.delivery = FlakyNotifier(tmp_path / "out")
    try:
        text = await scrape(h.status_port)
        assert set(FAMILIES) <= families(text)
        assert value(text, "bananabot_queue_length", provider="local") == 0
        job = await h.engine.accept(spec(resolution="2K"))  # 2 of 3 credits
        text = await scrape(h.status_port)
        assert value(text, "bananabot_queue_length", provider="local") == 1
        assert value(text, "bananabot_jobs", provider="local", status="queued") == 1
        assert value(text, "bananabot_credits_today", kind="reserved") == 2
        with pytest.raises(QuotaExceededError):
            await h.engine.accept(spec(resolution="2K"))
        text = await scrape(h.status_port)
        assert value(text, "bananabot_quota_refusals_total", reason="quota") == 1

        await h.start()

        async def retried() -> bool:
            got = await scrape(h.status_port)
            return value(got, "bananabot_delivery_attempts_total", outcome="retried") == 1

        await until(retried, what="a retried delivery")
        clock.advance(10)  # past the retry's backoff
        done = await h.engine.wait(job.id, 10)
        assert done.status is JobStatus.DELIVERED
        text = await scrape(h.status_port)
        assert value(text, "bananabot_delivery_attempts_total", outcome="delivered") == 1
        assert value(text, "bananabot_jobs", provider="local", status="delivered") == 1
        assert value(text, "bananabot_queue_length", provider="local") == 0
        assert value(text, "bananabot_credits_today", kind="spent") == 2
        assert (
            value(
                text,
                "bananabot_completions_total",
                provider="local",
                via="synchronous",
                state="succeeded",
            )
            == 1
        )
        submit = {"provider": "local", "model": "local", "operation": "submit"}
        assert value(text, "bananabot_provider_request_seconds_count", **submit) == 1
        assert value(text, "bananabot_provider_request_seconds_bucket", le="+Inf", **submit) == 1
    finally:
        await h.close()


async def test_completions_by_callback_and_by_poll_and_provider_errors(tmp_path):
    async with FakeMagnific(webhook_secret="whsec-metrics") as magnific:
        provider = MagnificProvider(
            provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr("whsec-metrics"))
        )
        slow_polls = EngineConfig(poll_floor=30, poll_cap=30, idle_tick=0.2, callback_grace=100)
        h = await make_harness(tmp_path, {"magnific": provider}, receiver=True, config=slow_polls)
        try:
            job = await h.engine.accept(spec(provider="magnific"))
            assert (await h.engine.wait(job.id, 10)).status is JobStatus.DELIVERED
            magnific.inject(Fault.BAD_KEY, on=On.CREATE)
            refused = await h.engine.accept(spec(provider="magnific"))
            assert (await h.engine.wait(refused.id, 10)).status is JobStatus.FAILED
            text = await scrape(h.status_port)
        finally:
            await h.close()
    done = {"provider": "magnific", "state": "succeeded"}
    assert value(text, "bananabot_completions_total", via="callback", **done) == 1
    assert value(text, "bananabot_completions_total", via="poll", **done) == 0
    error = {"provider": "magnific", "operation": "submit", "kind": "bad_key"}
    assert value(text, "bananabot_provider_errors_total", error="BadKeyError", **error) == 1
    fetches = {"provider": "magnific", "model": "nano-banana-pro", "operation": "fetch"}
    assert value(text, "bananabot_provider_request_seconds_count", **fetches) >= 1

    async with FakeMagnific() as magnific:
        provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
        # FAST polls every 0.05 s; the fake sends no callback to the URL it is given
        h = await make_harness(tmp_path / "polls", {"magnific": provider}, receiver=True)
        try:
            magnific.send_callbacks = False
            # every attempt of one status read (the provider retries it) answers 503
            magnific.inject(Fault.UNAVAILABLE, on=On.STATUS, times=provider.settings.retry.attempts)
            job = await h.engine.accept(spec(provider="magnific"))
            assert (await h.engine.wait(job.id, 10)).status is JobStatus.DELIVERED
            text = await scrape(h.status_port)
        finally:
            await h.close()
    assert value(text, "bananabot_completions_total", via="poll", **done) == 1
    assert value(text, "bananabot_completions_total", via="callback", **done) == 0
    unavailable = {"provider": "magnific", "operation": "fetch", "kind": "unavailable"}
    assert (
        value(
            text, "bananabot_provider_errors_total", error="ProviderUnavailableError", **unavailable
        )
        == 1
    )


async def test_the_running_bot_measures_acknowledgements(tmp_path):
    async with FakeDiscord() as fake, running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        before = value(
            await scrape(runtime.metrics_port), "bananabot_interaction_ack_seconds_count"
        )
        ix = await fake.slash(fake.add_user("ada"), fake.channel, "quota")
        await ix.wait_callback()

        async def counted() -> str | None:
            text = await scrape(runtime.metrics_port)
            count = value(text, "bananabot_interaction_ack_seconds_count")
            return text if count == before + 1 else None

        text = await until(counted, what="an acknowledgement measured")
    assert set(FAMILIES) <= families(text)
    assert 0 < value(text, "bananabot_interaction_ack_seconds_sum") < 3
    assert value(text, "bananabot_interaction_ack_seconds_bucket", le="3.0") == before + 1
    assert "bananabot_event_loop_lag_seconds_max" in families(text)
