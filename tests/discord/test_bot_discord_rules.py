"""The bot under Discord's rules: answered first, checked before charging, delivered where it
fits, references every provider takes, declared where it works, sharded with few intents."""

from __future__ import annotations

import io
import os

import discord
import pytest
from PIL import Image

from bot.jobs.states import JobStatus
from tests.discord.bot_harness import (
    imagine,
    job_id_of,
    keys_for,
    result_of,
    running_bot,
    settings_for,
    status_text,
)
from tests.fakes.discord import ChannelType, CommandUnavailable, FakeDiscord, Perm
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        server.enforce_ack_deadline = True
        yield server


def incompressible_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    noise = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    noise.save(out, "PNG", compress_level=0)
    return out.getvalue()


def gif(frames: int = 2) -> bytes:
    images = [Image.new("RGB", (40, 30), color) for color in ("red", "blue", "green")[:frames]]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


async def test_quota_and_the_edit_button_answer_before_reading_the_store(fake, tmp_path):
    """/quota defers first; the Edit button's modal opens without the job being read (even a
    job the store no longer has: that is only found out when the modal is submitted)."""
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("ada")
        result = await result_of(fake, await imagine(fake, user))
        job_id = job_id_of(result)
        quota = await fake.slash(user, fake.channel, "quota")
        assert (await quota.wait_callback()).type == 5
        await runtime.store.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        edit = await fake.click(user, result, f"bb:edit:{job_id}")
        await edit.wait_modal()
        submitted = await fake.submit_modal(user, edit, {"instruction": "add snow"})
        assert "no longer know" in await status_text(fake, submitted, "❌")
        assert not fake.late_interactions()


async def test_model_autocomplete_answers_when_the_default_provider_is_not_configured(
    fake, tmp_path
):
    settings = settings_for(fake, tmp_path, default_provider="magnific:nano-banana-pro")
    async with running_bot(fake, settings):
        user = fake.add_user("bo")
        ix = await fake.autocomplete(
            user, fake.channel, "imagine", {"prompt": "x", "model": ""}, focused="model"
        )
        callback = await ix.wait_callback()
        assert callback.type == 8
        assert [c["value"] for c in (callback.data or {})["choices"]] == ["local:local"]


async def test_the_status_says_nothing_before_credits_are_reserved(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path, quota_daily_credits=1)):
        user = fake.add_user("cy")
        ix = await imagine(fake, user, resolution="4K")
        text = await status_text(fake, ix, "❌")
        assert "Not enough credits" in text
        assert ix.original is not None
        assert not [e for e in ix.original.edits if "ccepted" in str(e.get("content", ""))]


async def test_a_lost_status_message_loses_no_job(fake, tmp_path):
    """The token dies right after the acknowledgement: no status line, the results still come."""
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("di")
        ix = await imagine(fake, user)
        await ix.wait_callback()
        fake.expire_token(ix)
        result = await result_of(fake, ix)
        assert result.webhook_id is None  # the bot's own channel message
        job = await runtime.engine.wait(job_id_of(result), 10)
        assert job.delivered_via == "channel"


async def test_missing_attach_files_is_refused_before_anything_is_charged(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        fake.set_overwrite(fake.channel, fake.bot_user, deny=Perm.ATTACH_FILES)
        user = fake.add_user("ed")
        ix = await imagine(fake, user)
        text = await status_text(fake, ix, "❌")
        assert "Attach Files" in text and "Nothing was charged" in text
        assert (await runtime.engine.quota(user.id)).reserved == 0
        assert await runtime.store.jobs.with_status(list(JobStatus)) == []


async def test_without_embed_links_the_result_says_it_in_plain_text(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        fake.set_overwrite(fake.channel, fake.bot_user, deny=Perm.EMBED_LINKS)

        def bot_knows() -> bool:  # the CHANNEL_UPDATE has reached the bot's cache
            channel = runtime.bot.get_channel(int(fake.channel.id))
            assert isinstance(channel, discord.TextChannel)
            return not channel.permissions_for(channel.guild.me).embed_links

        await fake.wait_for(bot_knows, what="the overwrite in the bot's cache")
        user = fake.add_user("flo")
        ix = await imagine(fake, user, prompt="a fox in @everyone's garden")
        result = await result_of(fake, ix)
        assert result.embeds == []
        assert "a fox in @everyone's garden" in result.content
        assert "local" in result.content and "credits" in result.content
        assert result.pinged == set()


async def test_gif_reference_is_refused_before_charging_for_a_url_only_provider(fake, tmp_path):
    async with FakeMagnific() as magnific:
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("gus")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "like this", "model": "magnific:nano-banana-pro"},
                attachments={"reference": ("dance.gif", gif(), "image/gif")},
            )
            text = await status_text(fake, ix, "❌")
            assert "animated GIF" in text and "PNG, JPEG, WebP" in text
            assert magnific.requests_to("/nano-banana-pro", "POST") == []
            assert (await runtime.engine.quota(user.id)).reserved == 0


async def test_gif_reference_becomes_a_still_png_for_a_provider_that_takes_bytes(fake, tmp_path):
    async with FakeGemini() as gemini:
        settings = settings_for(fake, tmp_path, **keys_for("gemini", gemini))
        async with running_bot(fake, settings):
            user = fake.add_user("hal")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "like this", "model": "gemini:nano-banana"},
                attachments={"reference": ("still.gif", gif(frames=1), "image/gif")},
            )
            await result_of(fake, ix)
            parts = gemini.requests[-1].json["contents"][0]["parts"]
            inline = next(p["inlineData"] for p in parts if "inlineData" in p)
            assert inline["mimeType"] == "image/png"


async def test_commands_declare_where_they_work_and_the_gateway_is_lean(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        for command in fake.commands[None]:
            assert command["integration_types"] == [0], command["name"]  # guild install
            assert sorted(command["contexts"]) == [0, 1], command["name"]  # servers, bot DMs
        identify = fake.identifies[-1]
        assert identify["intents"] == 1  # GUILDS only
        assert identify["shard"] == [0, 1]  # auto-sharded, as many as Discord recommends


async def test_works_in_a_dm_with_the_bot(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("ivy")
        ix = await fake.slash(user, fake.dm_channel(user), "imagine", {"prompt": "a fox"})
        result = await result_of(fake, ix)
        job = await runtime.engine.wait(job_id_of(result), 10)
        assert job.delivered_via == "followup"


async def test_a_locked_thread_is_refused_before_anything_is_charged(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        thread = fake.add_thread(locked=True)
        user = fake.add_user("jo")
        ix = await fake.slash(user, thread, "imagine", {"prompt": "a fox"})
        text = await status_text(fake, ix, "❌")
        assert "locked" in text and "Nothing was charged" in text
        assert (await runtime.engine.quota(user.id)).reserved == 0


async def test_a_thread_locked_while_generating_gets_the_images_by_dm_saying_why(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.steps_to_finish = 8
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            thread = fake.add_thread()
            user = fake.add_user("kai")
            ix = await fake.slash(
                user, thread, "imagine", {"prompt": "a fox", "model": "magnific:nano-banana-pro"}
            )
            await status_text(fake, ix, "Generating")
            fake.set_thread(thread, locked=True)
            fake.expire_token(ix)
            dm = await fake.wait_for(lambda: next(iter(fake.dms(user)), None), what="a DM")
            assert dm.attachments and "locked" in dm.content
            job = await runtime.engine.wait(job_id_of(dm), 10)
            assert job.delivered_via == "dm"
            assert (await runtime.engine.quota(user.id)).spent == job.cost


async def test_the_bots_own_post_fits_the_servers_limit_not_the_requesters(fake, tmp_path):
    """A Nitro requester's interaction allows 50 MiB; the server (no boosts) allows 10 MiB for
    the bot's own post, which is what carries the result once the token has expired."""
    big = incompressible_png(2100, 2100)
    assert len(big) > 12 * 1024 * 1024
    async with FakeMagnific() as magnific:
        magnific.steps_to_finish = 6

        def results(*_: object, **__: object) -> list[str]:  # the provider's 13 MB PNG
            magnific.files["big.png"] = (big, "image/png")
            return [f"{magnific.base_url}/files/big.png"]

        magnific.make_result_files = results  # type: ignore[method-assign]
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("lu")
            user.upload_limit = 50 * 1024 * 1024
            ix = await imagine(fake, user, model="magnific:nano-banana-pro", resolution="4K")
            await status_text(fake, ix, "Generating")
            fake.expire_token(ix)
            result = await result_of(fake, ix, timeout=60)
            assert result.webhook_id is None
            assert all(len(a.data) <= 10 * 1024 * 1024 for a in result.attachments)
            posts = fake.requests_to(f"/channels/{fake.channel.id}/messages", "POST")
            assert [p.status for p in posts] == [200]  # right the first time
            job = await runtime.engine.wait(job_id_of(result), 10)
            assert job.delivered_via == "channel"


async def test_request_too_large_is_fitted_smaller_and_sent_again(fake, tmp_path):
    """The server's real limit is below what the bot was told (a boost ran out, say): 40005
    makes the images smaller for the next try, never the same bytes again."""
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        fake.guild.attachment_size_limit = 20_000  # Discord's side only: the bot thinks 10 MiB
        user = fake.add_user("mo")
        ix = await imagine(fake, user, resolution="2K")
        await ix.wait_callback()
        fake.expire_token(ix)
        result = await result_of(fake, ix)
        assert all(len(a.data) <= 20_000 for a in result.attachments)
        posts = fake.requests_to(f"/channels/{fake.channel.id}/messages", "POST")
        assert posts[0].status == 413 and posts[-1].status == 200
        sizes = [p.size for p in posts]
        assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
        job = await runtime.engine.wait(job_id_of(result), 10)
        assert job.delivered_via == "channel" and job.delivery_attempts == 1


@pytest.mark.parametrize("kind", ["voice", "forum post"])
async def test_voice_text_chats_and_forum_posts_work(fake, tmp_path, kind):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        if kind == "voice":
            where = fake.add_channel(name="lounge", type=ChannelType.GUILD_VOICE)
        else:
            forum = fake.add_channel(name="gallery", type=ChannelType.GUILD_FORUM)
            where = fake.add_thread(forum, name="my post")
        user = fake.add_user("nia")
        result = await result_of(fake, await fake.slash(user, where, "imagine", {"prompt": "x y"}))
        assert result.channel_id == where.id


async def test_user_installed_contexts_are_not_offered(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        user, friend = fake.add_user("oz"), fake.add_user("pia")
        fake.install_for_user(user)
        with pytest.raises(CommandUnavailable):
            await fake.slash(user, fake.group_dm(user, friend), "imagine", {"prompt": "a fox"})
