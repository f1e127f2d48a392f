"""Hostile or unlucky input through the real bot: every notice reaches its member, cut to
Discord's limits; images that could hurt are refused cleanly."""

from __future__ import annotations

import time

import pytest

from tests.discord.bot_harness import (
    imagine,
    job_id_of,
    keys_for,
    png,
    result_of,
    running_bot,
    settings_for,
    status_text,
)
from tests.fakes._base import Outcome
from tests.fakes.discord import FakeDiscord
from tests.fakes.magnific import FakeMagnific
from tests.media.test_fit import bomb_png
from tests.storage.faults import StoreFault, failing


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        yield server


@pytest.mark.parametrize("option", ["aspect", "model"])
async def test_an_over_long_option_gets_a_refusal_within_discords_limit(fake, tmp_path, option):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("ann")
        ix = await imagine(fake, user, **{option: "9" * 4000})
        text = await status_text(fake, ix, "❌")
        assert len(text) <= 2000
        assert (await runtime.engine.quota(user.id)).reserved == 0


async def test_a_decompression_bomb_reference_is_refused_cleanly(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("bea")
        ix = await fake.slash(
            user,
            fake.channel,
            "imagine",
            {"prompt": "like this"},
            attachments={"reference": ("huge.png", bomb_png(), "image/png")},
        )
        text = await status_text(fake, ix, "❌")
        assert "too large" in text and "Something went wrong" not in text
        assert (await runtime.engine.quota(user.id)).reserved == 0


async def test_a_failure_after_the_token_expired_is_told_by_dm(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.steps_to_finish = 6
        magnific.next_outcome(Outcome(success=False, reason="Image flagged by safety system"))
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings):
            user = fake.add_user("cal")
            ix = await imagine(fake, user, model="magnific:nano-banana-pro")
            await status_text(fake, ix, "Generating")
            fake.expire_token(ix)  # the status edit will fail with 50027
            dm = await fake.wait_for(lambda: next(iter(fake.dms(user)), None), what="a DM")
            assert "flagged by safety system" in dm.content and "refunded" in dm.content


@pytest.mark.parametrize("button", ["reroll", "4k"])
async def test_a_rerun_after_the_references_were_deleted_is_refused_with_the_reason(
    fake, tmp_path, button
):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("cid")
        ix = await fake.slash(
            user,
            fake.channel,
            "imagine",
            {"prompt": "like this"},
            attachments={"reference": ("ref.png", png(), "image/png")},
        )
        result = await result_of(fake, ix)
        job_id = job_id_of(result)
        await runtime.engine.wait(job_id, 5)
        now = time.time()  # the retention is over
        assert await runtime.store.retention.purge_references(now + 1, now) == 1
        before = await runtime.engine.quota(user.id)
        click = await fake.click(user, result, f"bb:{button}:{job_id}")
        text = await status_text(fake, click, "❌")
        assert "no longer kept" in text and "Nothing was charged" in text
        after = await runtime.engine.quota(user.id)
        assert (after.spent, after.reserved) == (before.spent, before.reserved)


async def test_a_request_while_the_database_refuses_writes_is_told_plainly(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("dee")
        async with failing(runtime.store, StoreFault.READ_ONLY):
            ix = await imagine(fake, user)
            text = await status_text(fake, ix, "❌")
        assert "database is unavailable" in text and "Something went wrong" not in text
        assert (await runtime.engine.quota(user.id)).reserved == 0
        await result_of(fake, await imagine(fake, user))  # and it works once the store does
