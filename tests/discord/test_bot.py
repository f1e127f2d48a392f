"""bananabot end to end: the real bot, a loopback fake Discord, loopback provider fakes."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.jobs.states import JobStatus
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
from tests.fakes.discord import FakeDiscord, Perm
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        yield server


async def test_commands_sync_once_and_imagine_delivers(fake, tmp_path):
    settings = settings_for(fake, tmp_path)
    async with running_bot(fake, settings):
        names = {c["name"] for c in fake.commands[None]}
        assert {"imagine", "edit", "quota", "Edit image"} <= names
        user = fake.add_user("alice")
        ix = await fake.slash(
            user, fake.channel, "imagine", {"prompt": "a red fox", "aspect": "16:9"}
        )
        callback = await ix.wait_callback()
        assert callback.type == 5
        assert (callback.data or {}).get("flags") == 64  # progress is private to the requester
        result = await result_of(fake, ix)
        assert not result.ephemeral
        with Image.open(io.BytesIO(result.attachments[0].data)) as image:
            assert abs(image.width / image.height - 16 / 9) < 0.01
        assert result.pinged == set()
        assert job_id_of(result)
        assert "Done" in await status_text(fake, ix, "Done")
        assert not fake.late_interactions()
    syncs = len(fake.command_syncs)
    async with running_bot(fake, settings):
        pass
    assert len(fake.command_syncs) == syncs  # unchanged commands are not synced again


async def test_edit_command_with_attachment(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("bob")
        ix = await fake.slash(
            user,
            fake.channel,
            "edit",
            {"prompt": "make it blue"},
            attachments={"image": ("cat.png", png(80, 40), "image/png")},
        )
        result = await result_of(fake, ix)
        job = await runtime.engine.get_job(job_id_of(result), images=True)
        assert job is not None and job.kind == "edit"
        assert job.request.mode.value == "edit"
        assert job.request.references[0].data == png(80, 40)


@pytest.mark.parametrize(
    ("attachment", "message"),
    [
        (("notes.png", b"hello, not an image", "image/png"), "not a usable image"),
        (("cut.png", png(300, 300)[:120], "image/png"), "not a usable image"),
    ],
)
async def test_bad_attachments_are_refused_privately_and_nothing_is_reserved(
    fake, tmp_path, attachment, message
):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("carol")
        ix = await fake.slash(
            user, fake.channel, "imagine", {"prompt": "x y"}, attachments={"reference": attachment}
        )
        text = await status_text(fake, ix, "❌")
        assert message in text
        assert ix.original is not None and ix.original.ephemeral
        quota = await runtime.engine.quota(user.id)
        assert (quota.reserved, quota.spent) == (0, 0)
        assert await runtime.store.jobs.with_status(list(JobStatus)) == []


async def test_unsupported_option_is_refused_with_what_is_allowed(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("dave")
        ix = await fake.slash(user, fake.channel, "imagine", {"prompt": "x y", "aspect": "7:3"})
        text = await status_text(fake, ix, "❌")
        assert "choose one of: 1:1" in text
        assert (await runtime.engine.quota(user.id)).reserved == 0


async def test_quota_refusal_and_quota_command(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path, quota_daily_credits=3)):
        user = fake.add_user("erin")
        ix = await fake.slash(
            user, fake.channel, "imagine", {"prompt": "a fox", "resolution": "4K"}
        )
        text = await status_text(fake, ix, "❌")
        assert "Not enough credits: this needs 4" in text
        assert "3 of 3 credit(s) left today" in text
        assert "Nothing was charged" in text
        ix = await fake.slash(user, fake.channel, "quota")
        callback = await ix.wait_callback()
        assert callback.type == 5  # acknowledged first, the store is read after
        assert "3 of 3 credit(s) left today" in await status_text(fake, ix, "left today")
        assert ix.original is not None and ix.original.ephemeral


async def test_prompt_mentions_ping_nobody(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        user = fake.add_user("frank")
        victim = fake.add_user("victim")
        prompt = f"@everyone @here <@{victim.id}> a fox"
        ix = await fake.slash(user, fake.channel, "imagine", {"prompt": prompt})
        result = await result_of(fake, ix)
        assert result.pinged == set()
        assert result.notified_users == set()
        assert any("@everyone" in str(embed) for embed in result.embeds)
        for message in fake.messages("*"):
            assert message.pinged == set(), message


async def test_large_4k_result_is_fitted_under_the_interaction_limit(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        user = fake.add_user("gina")
        limit = 60_000  # the offline 4K image is about 100 KB
        ix = await fake.slash(
            user,
            fake.channel,
            "imagine",
            {"prompt": "a detailed fox", "resolution": "4K"},
            attachment_size_limit=limit,
        )
        result = await result_of(fake, ix, timeout=30)
        data = result.attachments[0].data
        assert len(data) <= limit
        with Image.open(io.BytesIO(data)) as image:
            assert image.width >= 1024


async def test_expired_token_falls_back_to_a_channel_message(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.steps_to_finish = 8
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings):
            user = fake.add_user("hana")
            ix = await imagine(fake, user, model="magnific:nano-banana-pro")
            await status_text(fake, ix, "Generating")
            fake.expire_token(ix)
            result = await result_of(fake, ix)
            assert result.webhook_id is None  # the bot's own channel message
            assert result.notified_users == {user.id}  # the requester, and nobody else
            assert job_id_of(result)


async def test_no_channel_permission_and_expired_token_sends_a_dm(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.steps_to_finish = 8
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("ivan")
            ix = await imagine(fake, user, model="magnific:nano-banana-pro")
            await status_text(fake, ix, "Generating")
            fake.expire_token(ix)
            fake.deny_send(fake.channel)
            dm = await fake.wait_for(
                lambda: next(iter(fake.dms(user)), None), timeout=15, what="a DM"
            )
            assert dm.attachments
            job = await runtime.engine.wait(job_id_of(dm), 5)
            assert job.status is JobStatus.DELIVERED
            assert job.delivered_via == "dm"


async def test_provider_failure_reports_reason_and_refund(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.next_outcome(
            Outcome(success=False, reason="Image flagged by safety system", content_policy=True)
        )
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("judy")
            ix = await imagine(fake, user, model="magnific:nano-banana-pro")
            text = await status_text(fake, ix, "❌")
            assert "rejected the request: Image flagged by safety system" in text
            assert "refunded" in text
            quota = await runtime.engine.quota(user.id)
            assert (quota.reserved, quota.spent) == (0, 0)


@pytest.mark.parametrize("callbacks", [False, True], ids=["polling", "webhook"])
async def test_async_provider_polling_and_webhook_modes(fake, tmp_path, callbacks):
    async with FakeMagnific() as magnific:
        settings = settings_for(
            fake,
            tmp_path,
            **keys_for("magnific", magnific),
            poll_interval_seconds=None if callbacks else 0.05,
        )
        async with running_bot(fake, settings, callbacks=callbacks):
            user = fake.add_user("kim")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {
                    "prompt": "a fox",
                    "model": "magnific:nano-banana-pro-flash",
                    "grounding": True,
                    "aspect": "9:16",
                },
            )
            result = await result_of(fake, ix)
            create = magnific.requests_to("/nano-banana-pro-flash", "POST")[0].json
            assert create["use_google_search_tool"] is True
            assert ("webhook_url" in create) is callbacks
            if callbacks:
                assert any(status == 200 for _, _, status in magnific.callbacks_sent)
            assert result.attachments


async def test_buttons_reroll_4k_edit_and_delete(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        owner = fake.add_user("liz")
        other = fake.add_user("mo")
        stranger = fake.add_user("stranger")
        moderator = fake.add_user("mod", permissions=Perm.MANAGE_MESSAGES)
        ix = await fake.slash(owner, fake.channel, "imagine", {"prompt": "a fox"})
        result = await result_of(fake, ix)
        job_id = job_id_of(result)

        reroll = await fake.click(other, result, f"bb:reroll:{job_id}")
        rerolled = await result_of(fake, reroll)
        # the post comes before the delivery is recorded (and the credits committed)
        new_job = await runtime.engine.wait(job_id_of(rerolled), 5)
        assert new_job.origin.user_id == other.id  # charged to presser
        assert new_job.parent_job_id == job_id
        assert (await runtime.engine.quota(other.id)).spent == 1

        upscale = await fake.click(owner, result, f"bb:4k:{job_id}")
        upscaled = await result_of(fake, upscale, timeout=30)
        with Image.open(io.BytesIO(upscaled.attachments[0].data)) as image:
            assert image.width == 4096

        edit = await fake.click(owner, result, f"bb:edit:{job_id}")
        await edit.wait_modal()
        submitted = await fake.submit_modal(owner, edit, {"instruction": "add snow"})
        edited = await result_of(fake, submitted)
        edit_job = await runtime.engine.get_job(job_id_of(edited), images=True)
        assert edit_job is not None and edit_job.request.prompt == "add snow"
        assert edit_job.request.references[0].data == result.attachments[0].data

        refused = await fake.click(stranger, result, f"bb:delete:{job_id}")
        await status_text(fake, refused, "only the person who made this image")
        assert refused.original is not None and refused.original.ephemeral
        assert not fake.message(result.id).deleted

        await fake.click(moderator, rerolled, f"bb:delete:{job_id_of(rerolled)}")
        await fake.wait_for(lambda: fake.message(rerolled.id).deleted, what="moderator delete")
        await fake.click(owner, result, f"bb:delete:{job_id}")
        await fake.wait_for(lambda: fake.message(result.id).deleted, what="owner delete")


async def test_context_menu_edit_image(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("nina")
        photo = fake.add_message(
            fake.channel, user, "my photo", attachments=[("photo.jpg", png(50, 30), "image/jpeg")]
        )
        ix = await fake.context_menu_message(user, fake.channel, "Edit image", photo)
        await ix.wait_modal()
        submitted = await fake.submit_modal(user, ix, {"instruction": "make it a painting"})
        result = await result_of(fake, submitted)
        job = await runtime.engine.get_job(job_id_of(result))
        assert job is not None and job.origin.origin_message_id == photo.id
        no_image = fake.add_message(fake.channel, user, "just text")
        ix = await fake.context_menu_message(user, fake.channel, "Edit image", no_image)
        reply = await fake.wait_for(lambda: ix.original, what="refusal")
        assert reply.ephemeral and "no image" in reply.content


async def test_many_users_each_get_their_own_result(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        users = [fake.add_user(f"user{i}") for i in range(6)]
        interactions = [
            await fake.slash(u, fake.channel, "imagine", {"prompt": f"portrait of {u.username}"})
            for u in users
        ]
        for user, ix in zip(users, interactions, strict=True):
            result = await result_of(fake, ix)
            assert f"portrait of {user.username}" in str(result.embeds)
            assert f"<@{user.id}>" in str(result.embeds)
        results = [m for m in fake.messages() if m.attachments and not m.ephemeral]
        assert len(results) == len(users)


async def test_killed_while_pending_then_restarted_delivers_once_and_buttons_work(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.steps_to_finish = 10
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        user = fake.add_user("olga")
        async with running_bot(fake, settings) as runtime:
            ix = await imagine(fake, user, model="magnific:nano-banana-pro")
            await fake.wait_for(lambda: magnific.tasks, what="a provider task")
            await runtime.engine.abort()  # the process dies: nothing finishes gracefully
        assert not [m for m in fake.messages() if m.attachments]
        async with running_bot(fake, settings) as runtime:
            result = await result_of(fake, ix)
            job_id = job_id_of(result)
            job = await runtime.engine.wait(job_id, 5)
            assert job.status is JobStatus.DELIVERED
            reroll = await fake.click(user, result, f"bb:reroll:{job_id}")
            await result_of(fake, reroll)
            assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 2
        assert len([m for m in fake.messages() if m.attachments]) == 2


async def test_too_many_attachments_for_the_model(fake, tmp_path):
    async with FakeGemini() as gemini:
        settings = settings_for(fake, tmp_path, **keys_for("gemini", gemini))
        async with running_bot(fake, settings):
            user = fake.add_user("pat")
            files = {
                name: (f"{name}.png", png(), "image/png")
                for name in ("reference", "reference2", "reference3", "reference4")
            }
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "x y", "model": "gemini:nano-banana"},
                attachments=files,
            )
            text = await status_text(fake, ix, "❌")
            assert "4 images attached; gemini nano-banana accepts at most 3" in text
            assert gemini.requests == []


async def test_progress_is_shown_and_throttled(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.step_seconds = 0.5
        magnific.steps_to_finish = 7
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings):
            user = fake.add_user("quinn")
            ix = await imagine(fake, user, model="magnific:nano-banana-pro")
            await result_of(fake, ix)
            await status_text(fake, ix, "Done")
            original = ix.original
            assert original is not None
            texts = [str(edit.get("content", "")) for edit in original.edits]
            # the first status is the engine's, once the credits are reserved
            assert texts[0].startswith(("⏳ Queued", "🎨 Generating")), texts
            assert any("Generating" in t for t in texts)
            # ~3.5 s of polling every 50 ms is throttled to a handful of edits
            assert len(original.edits) <= 8, texts


async def test_references_go_as_urls_or_as_re_encoded_bytes(fake, tmp_path):
    from providers.local import render_image
    from tests.fakes.nanobananapro import FakeNanoBananaPro

    async with FakeMagnific() as magnific, FakeNanoBananaPro() as nbp:
        settings = settings_for(
            fake,
            tmp_path,
            **keys_for("magnific", magnific),
            **keys_for("nanobananapro", nbp),
        )
        async with running_bot(fake, settings):
            user = fake.add_user("rita")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "a fox like this", "model": "magnific:nano-banana-pro"},
                attachments={"reference": ("ref.png", png(), "image/png")},
            )
            await result_of(fake, ix)
            sent = magnific.requests_to("/nano-banana-pro", "POST")[0].json["reference_images"]
            assert sent[0]["image"].startswith(fake.base_url)  # the attachment's CDN URL
            assert sent[0]["mime_type"] == "image/png"

            big = render_image("noisy", (2000, 2000), noise=True)
            assert len(big) > 2_500_000
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "a fox like this", "model": "nanobananapro"},
                attachments={"reference": ("big.png", big, "image/png")},
            )
            await result_of(fake, ix)
            form = nbp.requests[-1].form
            assert form is not None
            _name, data, content_type = form["image"][0]
            assert len(data) <= 2_500_000
            assert content_type in ("image/jpeg", "image/webp", "image/png")


async def test_model_and_aspect_autocomplete_and_unknown_model(fake, tmp_path):
    async with FakeGemini() as gemini:
        settings = settings_for(fake, tmp_path, **keys_for("gemini", gemini))
        async with running_bot(fake, settings):
            user = fake.add_user("uma")
            ix = await fake.autocomplete(
                user, fake.channel, "imagine", {"prompt": "x", "model": "gem"}, focused="model"
            )
            callback = await ix.wait_callback()
            assert callback.type == 8
            values = [c["value"] for c in (callback.data or {})["choices"]]
            assert values == [
                "gemini:nano-banana-pro",
                "gemini:nano-banana-2",
                "gemini:nano-banana",
            ]
            ix = await fake.autocomplete(
                user,
                fake.channel,
                "imagine",
                {"prompt": "x", "model": "gemini:nano-banana", "aspect": ""},
                focused="aspect",
            )
            callback = await ix.wait_callback()
            aspects = [c["value"] for c in (callback.data or {})["choices"]]
            assert "16:9" in aspects and "auto" not in aspects
            ix = await fake.slash(
                user, fake.channel, "imagine", {"prompt": "x y", "model": "gemini:nano-banana-9"}
            )
            text = await status_text(fake, ix, "❌")
            assert "no model 'nano-banana-9'; choose one of: nano-banana-pro" in text


async def test_cancel_a_queued_job_refunds_it(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.steps_to_finish = 1000
        settings = settings_for(
            fake,
            tmp_path,
            **keys_for("magnific", magnific),
            provider_concurrency={"magnific": 1},
        )
        async with running_bot(fake, settings) as runtime:
            first_user, user = fake.add_user("vic"), fake.add_user("wes")
            await fake.slash(
                first_user,
                fake.channel,
                "imagine",
                {"prompt": "a fox", "model": "magnific:nano-banana-pro"},
            )
            await fake.wait_for(lambda: magnific.tasks, what="the first job at the provider")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "a cat", "model": "magnific:nano-banana-pro"},
            )
            await status_text(fake, ix, "position 1")
            status = ix.original
            assert status is not None
            cancel = next(
                c["custom_id"]
                for c in status.walk_components()
                if str(c.get("custom_id", "")).startswith("bb:cancel:")
            )
            stranger_click = await fake.click(first_user, status, cancel)
            (reply,) = await stranger_click.wait_followups(1)
            assert reply.ephemeral and "Only the requester" in reply.content
            await fake.click(user, status, cancel)
            await status_text(fake, ix, "Cancelled")
            assert (await runtime.engine.quota(user.id)).reserved == 0
            assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 1


async def test_unexpected_errors_are_reported_with_a_reference(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("xena")
        ix = await fake.slash(user, fake.channel, "imagine", {"prompt": "a fox"})
        result = await result_of(fake, ix)
        job_id = job_id_of(result)
        # the stored request is damaged (say, by a bad manual edit of the database)
        await runtime.store.db.execute("UPDATE jobs SET request_json = '{' WHERE id = ?", (job_id,))
        click = await fake.click(user, result, f"bb:reroll:{job_id}")
        await status_text(fake, click, "Something went wrong (ref ")
        assert click.original is not None and click.original.ephemeral


async def test_reroll_with_expired_reference_urls_asks_to_reattach(fake, tmp_path):
    async with FakeMagnific() as magnific:
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("yuri")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "like this", "model": "magnific:nano-banana-pro"},
                attachments={"reference": ("ref.png", png(), "image/png")},
            )
            result = await result_of(fake, ix)
            job_id = job_id_of(result)
            await runtime.engine.wait(job_id, 5)  # the delivery recorded, the credits committed
            # a day later Discord's signed attachment URL has expired (ex = hex Unix time)
            await runtime.store.db.execute(
                "UPDATE job_references SET url = substr(url, 1, instr(url, '?') - 1) "
                "|| '?ex=5f5e1000&is=0&hm=abc' "
                "WHERE job_id = ?",
                (job_id,),
            )
            click = await fake.click(user, result, f"bb:reroll:{job_id}")
            text = await status_text(fake, click, "❌")
            assert "expired" in text and "Nothing was charged" in text
            assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 1
            assert (await runtime.engine.quota(user.id)).reserved == 0


@pytest.mark.parametrize("where", ["followup", "dm"])
async def test_redelivery_after_a_crash_mid_delivery_does_not_post_twice(fake, tmp_path, where):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        user = fake.add_user("zoe")
        ix = await fake.slash(user, fake.channel, "imagine", {"prompt": "a fox"})
        if where == "dm":
            await ix.wait_callback()
            fake.expire_token(ix)
            fake.deny_send(fake.channel)
            result = await fake.wait_for(lambda: next(iter(fake.dms(user)), None), what="a DM")
        else:
            result = await result_of(fake, ix)
        job = await runtime.engine.wait(job_id_of(result), 5)
        assert job.status is JobStatus.DELIVERED
        # the process died after posting but before recording it: the row says "succeeded"
        await runtime.store.db.execute(
            "UPDATE jobs SET status = 'succeeded', next_delivery_at = 0 WHERE id = ?", (job.id,)
        )
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        again = await runtime.engine.wait(job.id, 10)
        assert again.status is JobStatus.DELIVERED
        assert again.delivery_attempts == 2
    posted = [m for m in fake.messages("*") if m.attachments and not m.deleted]
    assert len(posted) == 1
