"""Moderated servers end to end through the fake Discord: admins change each setting with
``/settings`` and the next command obeys it; refusals are private, charge nothing and are
audited; the server budget holds under concurrent requests; settings survive a restart."""

from __future__ import annotations

import asyncio
import io
import time

import pytest
from PIL import Image

from bot.moderation.audit import AuditKind
from tests.discord.bot_harness import (
    imagine,
    job_id_of,
    result_of,
    running_bot,
    settings_for,
    status_text,
)
from tests.fakes.discord import FakeDiscord, Perm
from tests.fakes.discord.contexts import CommandUnavailable


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        yield server


async def settings(fake, admin, sub, options=None, expect="✅"):
    ix = await fake.slash(admin, fake.channel, f"settings {sub}", options or {})
    return await status_text(fake, ix, expect)


async def refused(fake, ix, contains):
    text = await status_text(fake, ix, "❌")
    assert contains in text, text
    assert ix.original is not None and ix.original.ephemeral
    return text


async def jobs_in(runtime, fake):
    return await runtime.store.guilds.recent_jobs(fake.guild.id, None, 100)


async def test_only_admins_change_settings_even_when_a_server_opens_the_command(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        member = fake.add_user("mallory")
        with pytest.raises(CommandUnavailable):  # Discord's client does not offer it
            await fake.slash(member, fake.channel, "settings budget", {"daily": 1})
        fake.command_overrides.add(("settings", member.id))  # a server opened it to her
        text = await settings(fake, member, "budget", {"daily": 1}, expect="❌")
        assert "Manage Server" in text
        assert (await runtime.store.guilds.policy(fake.guild.id)).budget_daily is None
        assert await runtime.store.guilds.events(fake.guild.id) == []


async def test_settings_show_changes_and_survive_a_restart(fake, tmp_path):
    bot_settings = settings_for(fake, tmp_path)
    admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
    role = fake.add_role(name="artists")
    async with running_bot(fake, bot_settings):
        await settings(fake, admin, "budget", {"daily": 30, "monthly": 300})
        await settings(fake, admin, "role-quota", {"role": role, "credits": 7})
        await settings(fake, admin, "limits", {"max-resolution": "2K", "grounding": False})
        await settings(fake, admin, "defaults", {"aspect": "16:9"})
        text = await settings(fake, admin, "block-term", {"term": "/(a+)+$/"})
        bad = await settings(fake, admin, "block-term", {"term": "/(unclosed/"}, expect="❌")
        assert "Nothing changed" in bad
    async with running_bot(fake, bot_settings) as runtime:  # a restart
        policy = await runtime.store.guilds.policy(fake.guild.id)
        assert (policy.budget_daily, policy.budget_monthly) == (30, 300)
        assert policy.role_quotas == {role.id: 7}
        assert (policy.max_resolution, policy.grounding_allowed) == ("2K", False)
        assert policy.default_aspect == "16:9" and policy.blocked_terms == ("/(a+)+$/",)
        ix = await fake.slash(admin, fake.channel, "settings show", {})
        await fake.wait_for(
            lambda: (ix.original is not None and ix.original.embeds) or None, what="the embed"
        )
        shown = str(ix.original.embeds[0])
        assert "300" in shown and "2K" in shown and "(a+)+$" in shown
        events = await runtime.store.guilds.events(fake.guild.id)
        assert [e.detail["setting"] for e in events if e.kind is AuditKind.SETTINGS][:1] == [
            "block-term"
        ]
        assert text.startswith("✅")


async def test_blocked_terms_and_their_evasions_are_refused_innocent_prompts_pass(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
        member = fake.add_user("bob")
        await settings(fake, admin, "block-term", {"term": "gore"})
        for prompt in ("GORE everywhere", "a g o r e scene", "lots of g\u200bore", "gоre"):
            ix = await imagine(fake, member, prompt=prompt)  # the last one has a Cyrillic о
            text = await refused(fake, ix, "term this server does not allow")
            assert "gore" not in text.lower()
        assert await jobs_in(runtime, fake) == []  # no job, so no provider call
        assert (await runtime.engine.quota(member.id)).reserved == 0
        entries = [
            e
            for e in await runtime.store.guilds.events(fake.guild.id)
            if e.kind is AuditKind.REFUSED
        ]
        assert len(entries) == 4 and all(e.detail["term"] == "gore" for e in entries)
        ok = await imagine(fake, member, prompt="a gorgeous gorilla by the gorge")
        await result_of(fake, ok)


async def test_a_catastrophic_pattern_does_not_stall_the_bot(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)):
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
        member = fake.add_user("bob")
        await settings(fake, admin, "block-term", {"term": "/(a+)+$/"})
        started = time.monotonic()
        ix = await imagine(fake, member, prompt="a" * 3000 + "!")  # backtracking's worst case
        await refused(fake, ix, "term this server does not allow")  # ("!" is punctuation)
        assert time.monotonic() - started < 10
        await result_of(fake, await imagine(fake, member, prompt="b" * 3000 + "!"))


async def test_channel_thread_role_and_ban_rules(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
        role = fake.add_role(name="members")
        member = fake.add_user("bob", roles=[role])
        outsider = fake.add_user("eve")
        art = fake.add_channel(name="art")
        thread = fake.add_thread(art, name="foxes")
        closed = fake.add_channel(name="closed")
        fake.deny_send(closed)  # the bot may not post there
        refusal = await settings(fake, admin, "allow-channel", {"channel": closed}, expect="❌")
        assert "Send Messages" in refusal and "Nothing changed" in refusal
        await settings(fake, admin, "allow-channel", {"channel": art})
        ix = await imagine(fake, member)  # in the main channel
        await refused(fake, ix, f"<#{art.id}>")
        in_thread = await fake.slash(member, thread, "imagine", {"prompt": "a fox"})
        await result_of(fake, in_thread)  # a thread follows its parent

        await settings(fake, admin, "require-role", {"role": role})
        ix = await fake.slash(outsider, art, "imagine", {"prompt": "a fox"})
        await refused(fake, ix, "role")
        await settings(fake, admin, "ban", {"user": member, "reason": "spam"})
        ix = await fake.slash(member, art, "imagine", {"prompt": "a fox"})
        await refused(fake, ix, "spam")
        await settings(fake, admin, "unban", {"user": member})
        ok = await fake.slash(member, art, "imagine", {"prompt": "a fox"})
        await result_of(fake, ok)
        reasons = [
            str(e.detail["reason"])
            for e in await runtime.store.guilds.events(fake.guild.id)
            if e.kind is AuditKind.REFUSED
        ]
        assert sorted(reasons) == ["banned", "channel", "role"]


async def test_limits_and_defaults_apply_to_the_next_command(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
        member = fake.add_user("bob")
        await settings(
            fake, admin, "limits", {"max-resolution": "1K", "grounding": False, "edit": False}
        )
        await refused(fake, await imagine(fake, member, resolution="4K"), "up to 1K")
        await refused(fake, await imagine(fake, member, grounding=True), "grounding")
        ix = await fake.slash(
            member,
            fake.channel,
            "edit",
            {"prompt": "snow"},
            attachments={"image": ("a.png", _png(), "image/png")},
        )
        await refused(fake, ix, "Editing images is turned off")
        await settings(fake, admin, "defaults", {"aspect": "16:9", "format": "jpg"})
        done = await result_of(fake, await imagine(fake, member))
        job = await runtime.engine.get_job(job_id_of(done))
        assert job is not None and job.request.aspect_ratio == "16:9"
        assert job.request.output_format == "jpg" and done.attachments[0].data[:2] == b"\xff\xd8"
        bad = await settings(fake, admin, "defaults", {"model": "nosuch"}, expect="❌")
        assert "Nothing changed" in bad


async def test_role_allowances_give_the_highest_that_applies(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path, quota_daily_credits=1)) as runtime:
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
        patrons = fake.add_role(name="patrons")
        member = fake.add_user("bob", roles=[patrons])
        other = fake.add_user("cat")
        await settings(fake, admin, "role-quota", {"role": patrons, "credits": 3})
        for _ in range(3):
            posted = await result_of(fake, await imagine(fake, member))
            await runtime.engine.wait(job_id_of(posted), 5)
            # the embed shows no "left today": the allowance depends on roles it cannot see
            assert "left today" not in str(posted.embeds)
        await refused(fake, await imagine(fake, member), "Not enough credits")
        await result_of(fake, await imagine(fake, other))  # the default: 1
        await refused(fake, await imagine(fake, other), "Not enough credits")
        quota = await fake.slash(member, fake.channel, "quota", {})
        assert "0 of 3" in await status_text(fake, quota, "of 3")


async def test_twenty_concurrent_requests_never_overspend_the_server_budget(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
        await settings(fake, admin, "budget", {"daily": 5})
        members = [fake.add_user(f"m{i}") for i in range(20)]
        interactions = await asyncio.gather(*(imagine(fake, m) for m in members))
        texts = await asyncio.gather(
            *(
                fake.wait_for(
                    lambda ix=ix: (
                        (ix.original and ("❌" in ix.original.content)) or ix.followup_ids or None
                    ),
                    timeout=30,
                    what="an answer",
                )
                for ix in interactions
            )
        )
        assert len(texts) == 20
        admitted = await jobs_in(runtime, fake)
        assert len(admitted) == 5
        budget_refusals = [
            ix for ix in interactions if ix.original and "budget is spent" in ix.original.content
        ]
        assert len(budget_refusals) == 15
        for job in admitted:
            await runtime.engine.wait(job.id, 10)
        snapshot = await runtime.engine.budget(
            fake.guild.id, (await runtime.store.guilds.policy(fake.guild.id)).budget()
        )
        assert snapshot.day_used == 5


async def test_audit_log_posts_every_job_and_deletion_pinging_nobody(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD)
        moderator = fake.add_user("mod", permissions=Perm.MANAGE_MESSAGES)
        member = fake.add_user("bob")
        stranger = fake.add_user("eve")
        log_channel = fake.add_channel(name="audit")
        await settings(fake, admin, "audit-log", {"channel": log_channel})
        ix = await imagine(fake, member, prompt="@everyone look <@123> a fox")
        result = await result_of(fake, ix)
        job_id = job_id_of(result)
        await runtime.engine.wait(job_id, 5)
        posted = await fake.wait_for(
            lambda: (
                [m for m in fake.messages(log_channel.id) if "delivered" in str(m.embeds)] or None
            ),
            what="the job's audit post",
        )
        assert posted[0].attachments  # the thumbnail
        refused_click = await fake.click(stranger, result, f"bb:delete:{job_id}")
        await status_text(fake, refused_click, "only the person who made this image")
        await fake.click(moderator, result, f"bb:delete:{job_id}")
        await fake.wait_for(lambda: fake.message(result.id).deleted, what="moderator delete")
        await fake.wait_for(
            lambda: (
                [m for m in fake.messages(log_channel.id) if "deleted" in str(m.embeds)] or None
            ),
            what="the deletion's audit post",
        )
        for message in fake.messages(log_channel.id):
            assert not message.mention_users and not message.mention_roles
            assert not message.mention_everyone
        kinds = [e.kind for e in await runtime.store.guilds.events(fake.guild.id)]
        assert AuditKind.DELETED in kinds and AuditKind.JOB in kinds


async def test_jobs_and_usage_for_moderators_and_admins(fake, tmp_path):
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        admin = fake.add_user("ada", permissions=Perm.MANAGE_GUILD | Perm.MANAGE_MESSAGES)
        member = fake.add_user("bob")
        result = await result_of(fake, await imagine(fake, member))
        await runtime.engine.wait(job_id_of(result), 5)
        listing = await fake.slash(admin, fake.channel, "jobs", {"user": member})
        await fake.wait_for(
            lambda: (listing.original and listing.original.embeds) or None, what="list"
        )
        assert job_id_of(result) in str(listing.original.embeds[0])
        usage = await fake.slash(admin, fake.channel, "usage", {"days": 7})
        await fake.wait_for(
            lambda: (usage.original and usage.original.attachments) or None, what="the chart"
        )
        with Image.open(io.BytesIO(usage.original.attachments[0].data)) as chart:
            assert chart.format == "PNG" and chart.width > 500
        with pytest.raises(CommandUnavailable):
            await fake.slash(member, fake.channel, "usage", {})


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(out, "PNG")
    return out.getvalue()
