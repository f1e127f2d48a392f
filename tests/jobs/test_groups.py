"""Several images from a model that makes one per request: one job per image, submitted
together, posted together once all have ended, each image charged or refunded on its own."""

from __future__ import annotations

import pytest

from bot.jobs.config import EngineConfig
from bot.jobs.ports import UserLimitError
from bot.jobs.states import JobStatus
from providers.magnific import MagnificProvider
from providers.registry import PROVIDERS
from tests.fakes._base import Outcome, provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import make_harness, spec
from tests.providers.test_contract import FAKES, MODELS

FAST = EngineConfig(allowance=100, poll_interval=0.05, idle_tick=0.1, deadline_seconds=30.0)


@pytest.fixture
async def magnific():
    async with FakeMagnific() as fake:
        yield fake


async def _harness(tmp_path, magnific, **config):
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    return await make_harness(tmp_path, {"magnific": provider}, config=FAST, **config)


async def test_a_group_is_submitted_together_and_posted_once(tmp_path, magnific):
    h = await _harness(tmp_path, magnific)
    try:
        lead = await h.engine.accept(spec(provider="magnific", count=3))
        assert (lead.group_id, lead.group_index, lead.group_size) == (lead.id, 0, 3)
        members = await h.store.jobs.group(lead.id)
        assert len(members) == 3 and all(m.request.count == 1 for m in members)
        for member in members:
            assert (await h.engine.wait(member.id, 20)).status is JobStatus.DELIVERED
        assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 3
        assert sum(h.delivery.deliveries.values()) == 1  # one post ...
        assert len(h.delivery.saved[lead.id]) == 3  # ... with the three images
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (3 * lead.cost, 0)
    finally:
        await h.close()


async def test_a_failed_image_is_refunded_alone_and_the_rest_are_posted(tmp_path, magnific):
    magnific.next_outcome(Outcome())
    magnific.next_outcome(Outcome(success=False, reason="the image could not be made"))
    magnific.next_outcome(Outcome())
    h = await _harness(tmp_path, magnific)
    try:
        lead = await h.engine.accept(spec(provider="magnific", count=3))
        members = await h.store.jobs.group(lead.id)
        ended = [await h.engine.wait(m.id, 20) for m in members]
        assert sorted(j.status.value for j in ended) == ["delivered", "delivered", "failed"]
        assert sum(h.delivery.deliveries.values()) == 1
        posted = next(iter(h.delivery.saved.values()))
        assert len(posted) == 2
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (2 * lead.cost, 0)  # the failed one refunded
    finally:
        await h.close()


async def test_a_group_counts_once_against_the_active_limit_and_cancels_whole(tmp_path, magnific):
    config = EngineConfig(allowance=100, per_user_active_limit=1, idle_tick=0.1)
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(tmp_path, {"magnific": provider}, config=config, start=False)
    try:
        lead = await h.engine.accept(spec(provider="magnific", count=4))
        with pytest.raises(UserLimitError):
            await h.engine.accept(spec(provider="magnific"))
        assert await h.engine.cancel(lead.id)
        members = await h.store.jobs.group(lead.id)
        assert {m.status for m in members} == {JobStatus.CANCELLED}
        assert (await h.engine.quota("u1")).reserved == 0
    finally:
        await h.close()


@pytest.mark.parametrize(("name", "model"), MODELS)
async def test_two_images_on_every_model(tmp_path, name, model):
    fake = FAKES[name]()
    async with fake:
        provider = PROVIDERS[name](provider_settings(PROVIDERS[name], fake))
        h = await make_harness(tmp_path, {name: provider}, config=FAST)
        try:
            lead = await h.engine.accept(spec(provider=name, model=model, count=2))
            native = provider.capabilities.model(model).max_images >= 2
            members = await h.store.jobs.group(lead.id) if lead.group_id else [lead]
            assert len(members) == (1 if native else 2)
            for member in members:
                assert (await h.engine.wait(member.id, 20)).status is JobStatus.DELIVERED
            assert len(h.delivery.saved[lead.id]) == 2  # two images, one delivery
            assert sum(h.delivery.deliveries.values()) == 1
            creates = fake.requests_to("", "POST")
            assert len(creates) == (1 if native else 2)
            if native:  # nanobananaapi v1: one request for both
                assert creates[0].json is not None and creates[0].json["numImages"] == 2
        finally:
            await h.close()
