"""Several images per request: ``/imagine count:N`` posts the N images together, charged per
image, with 4K, Vary and Edit buttons for each that keep working after a restart."""

from __future__ import annotations

import io

import pytest
from PIL import Image

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
from tests.fakes.discord import FakeDiscord
from tests.fakes.magnific import FakeMagnific
from tests.fakes.nanobananapro import FakeNanoBananaPro


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        yield server


def custom_ids(message) -> list[str]:
    return [str(c.get("custom_id", "")) for c in message.walk_components()]


async def test_count_posts_the_images_together_with_actions_for_each(fake, tmp_path):
    bot_settings = settings_for(fake, tmp_path)
    async with running_bot(fake, bot_settings) as runtime:
        user = fake.add_user("ana")
        result = await result_of(fake, await imagine(fake, user, count=3))
        job_id = job_id_of(result)
        assert len(result.attachments) == 3
        ids = custom_ids(result)
        for n in range(3):
            assert {f"bb:u:{job_id}:{n}", f"bb:v:{job_id}:{n}", f"bb:e:{job_id}:{n}"} <= set(ids)
        assert f"bb:u:{job_id}:3" not in ids
        await runtime.engine.wait(job_id, 5)
        assert (await runtime.engine.quota(user.id)).spent == 3  # 1 credit per 1K image

    async with running_bot(fake, bot_settings) as runtime:  # the buttons outlive a restart
        vary = await fake.click(user, result, f"bb:v:{job_id}:1")
        varied = await result_of(fake, vary)
        child = await runtime.engine.get_job(job_id_of(varied), images=True)
        assert child is not None and child.parent_job_id == job_id and child.kind == "vary"
        assert child.request.prompt == "a fox" and child.request.count == 1
        assert child.request.references[0].data == result.attachments[1].data

        upscale = await fake.click(user, result, f"bb:u:{job_id}:0")
        upscaled = await result_of(fake, upscale, timeout=30)
        with Image.open(io.BytesIO(upscaled.attachments[0].data)) as image:
            assert image.width == 4096

        edit = await fake.click(user, result, f"bb:e:{job_id}:2")
        await edit.wait_modal()
        submitted = await fake.submit_modal(user, edit, {"instruction": "add snow"})
        edited = await result_of(fake, submitted)
        edit_job = await runtime.engine.get_job(job_id_of(edited), images=True)
        assert edit_job is not None and edit_job.request.prompt == "add snow"
        assert edit_job.request.references[0].data == result.attachments[2].data


async def test_a_single_image_has_no_per_image_buttons(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        user = fake.add_user("ben")
        result = await result_of(fake, await imagine(fake, user))
        assert not [i for i in custom_ids(result) if i.startswith(("bb:u:", "bb:v:", "bb:e:"))]


async def test_count_on_a_one_image_model_posts_one_message_for_the_group(fake, tmp_path):
    async with FakeMagnific() as magnific:
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("cy")
            ix = await imagine(fake, user, model="magnific:nano-banana-pro", count=2)
            result = await result_of(fake, ix)
            job_id = job_id_of(result)
            assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 2
            members = await runtime.store.jobs.group(job_id)
            for member in members:
                await runtime.engine.wait(member.id, 10)
            assert len(result.attachments) == 2
            assert {f"bb:v:{job_id}:0", f"bb:v:{job_id}:1"} <= set(custom_ids(result))
            posts = [m for m in fake.messages("*") if m.attachments and not m.ephemeral]
            assert len(posts) == 1
            assert (await runtime.engine.quota(user.id)).spent == 2 * members[0].cost
            reroll = await fake.click(user, result, f"bb:reroll:{job_id}")
            rerolled = await result_of(fake, reroll)
            assert len(rerolled.attachments) == 2  # a re-roll makes the group again


async def test_several_attachments_go_by_link_to_a_provider_taking_one_upload(fake, tmp_path):
    async with FakeNanoBananaPro() as provider:
        settings = settings_for(fake, tmp_path, **keys_for("nanobananapro", provider))
        async with running_bot(fake, settings):
            user = fake.add_user("di")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "mix them", "model": "nanobananapro"},
                attachments={
                    "reference": ("a.png", png(color="red"), "image/png"),
                    "reference2": ("b.png", png(color="blue"), "image/png"),
                },
            )
            await result_of(fake, ix)
            (sent,) = provider.requests_to("generate", "POST")
            assert sent.json is not None and len(sent.json["image"]) == 2
            assert all(url.startswith("http") for url in sent.json["image"])


async def test_the_format_option_chooses_the_file_type_or_is_refused_plainly(fake, tmp_path):
    async with FakeMagnific() as magnific:
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("ed")
            result = await result_of(fake, await imagine(fake, user, format="jpg"))
            assert result.attachments[0].data[:3] == b"\xff\xd8\xff"  # a JPEG
            result = await result_of(fake, await imagine(fake, user, format="png"))
            assert result.attachments[0].data[:4] == b"\x89PNG"
            await runtime.engine.wait(job_id_of(result), 5)
            ix = await imagine(fake, user, model="magnific:nano-banana-pro", format="png")
            text = await status_text(fake, ix, "❌")
            assert "Output format" in text
            assert magnific.requests_to("/nano-banana-pro", "POST") == []
            assert (await runtime.engine.quota(user.id)).reserved == 0
