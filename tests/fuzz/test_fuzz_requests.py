"""Option values and prompts a member might send: refused with a short reason, or valid; the
bot's texts stay inside Discord's limits whatever the prompt."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.discord.texts import failure_text, result_embed, result_text
from bot.jobs.models import FailureKind, Job, Origin
from bot.jobs.quota import QuotaSnapshot
from bot.jobs.states import JobStatus
from providers.base import GenerationRequest, Mode
from providers.catalog import Catalog
from providers.errors import ProviderError, RequestInvalidError
from providers.local import LocalProvider
from providers.registry import PROVIDERS
from providers.validation import validate_request
from tests.fuzz.strategies import HOSTILE_TEXT

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    name=st.sampled_from(sorted(PROVIDERS)),
    prompt=HOSTILE_TEXT,
    model=st.one_of(st.none(), HOSTILE_TEXT),
    aspect=st.one_of(st.none(), HOSTILE_TEXT, st.sampled_from(["1:1", "16:9", "auto"])),
    resolution=st.one_of(st.none(), HOSTILE_TEXT, st.sampled_from(["1K", "2K", "4K"])),
    grounding=st.booleans(),
    count=st.integers(1, 6),
    edit=st.booleans(),
)
def test_validation_refuses_briefly_or_accepts(
    name, prompt, model, aspect, resolution, grounding, count, edit
):
    request = GenerationRequest(
        prompt=prompt,
        model=model,
        aspect_ratio=aspect,
        resolution=resolution,
        grounding=grounding,
        count=count,
        mode=Mode.EDIT if edit else Mode.GENERATE,
    )
    try:
        model_caps = validate_request(PROVIDERS[name].capabilities, request)
    except RequestInvalidError as exc:
        assert len(str(exc)) <= 400
        return
    assert model_caps.name in PROVIDERS[name].capabilities.model_names


@FUZZ
@given(choice=st.one_of(st.none(), HOSTILE_TEXT))
def test_the_catalog_resolves_or_refuses(choice):
    catalog = Catalog({"local": LocalProvider(LocalProvider.settings_type.from_values())}, None)
    try:
        provider, model = catalog.resolve(choice)
    except ProviderError:
        return
    assert provider.name == "local" and model.name == "local"
    assert catalog.aspect_ratios(choice)


@FUZZ
@given(prompt=HOSTILE_TEXT, reason=HOSTILE_TEXT, kind=st.sampled_from(list(FailureKind)))
def test_texts_stay_inside_discords_limits(prompt, reason, kind):
    now = time.time()
    job = Job(
        id="0123456789ab",
        status=JobStatus.DELIVERED,
        kind="imagine",
        origin=Origin(user_id="42"),
        provider="local",
        model="local",
        request=GenerationRequest(prompt=prompt or "x"),
        callback_token="t",
        cost=1,
        created_at=now - 5,
        updated_at=now,
        deadline_at=now + 900,
    )
    quota = QuotaSnapshot(user_id="42", day="2026-12-02", allowance=20, reserved=0, spent=1)
    assert len(result_text(job, quota, now)) <= 2000
    embed = result_embed(job, quota, now)
    assert len(embed) <= 6000 and len(embed.description or "") <= 4096
    assert len(failure_text(job, kind, reason, refunded=True)) <= 2000
