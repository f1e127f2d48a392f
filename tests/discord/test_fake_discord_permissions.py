"""Permissions as Discord applies them: ``app_permissions`` follows the channel's overwrites;
channel posts need Send Messages (+ Attach Files, Send TTS, Read Message History for replies);
interaction responses need no Send Messages but do need Attach Files; embeds sent without Embed
Links vanish silently, and the fake keeps them in ``dropped_embeds``."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import discord
import pytest

from tests.discord.test_fake_discord import OUTPUT_PNG, Env, mini_env
from tests.fakes.discord import Perm


@pytest.fixture
async def env(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Env]:
    async with mini_env(caplog) as started:
        yield started


def png() -> discord.File:
    return discord.File(io.BytesIO(OUTPUT_PNG), "out.png")


async def deny(env: Env, permission: Perm) -> discord.TextChannel:
    """Deny the bot ``permission`` in the main channel; return it once discord.py knows."""
    fake = env.fake
    fake.set_overwrite(fake.channel, fake.bot_user, deny=permission)
    channel = env.bot.get_channel(int(fake.channel.id))
    assert isinstance(channel, discord.TextChannel)
    me = channel.guild.me
    await fake.wait_for(lambda: channel.overwrites_for(me).pair()[1].value == int(permission))
    return channel


async def test_app_permissions_follow_the_channel_overwrites(env: Env) -> None:
    fake = env.fake
    await fake.slash(fake.add_user("alice"), fake.channel, "hold")
    before = (await env.captured()).app_permissions
    assert before.attach_files and before.embed_links and before.send_messages
    await deny(env, Perm.ATTACH_FILES | Perm.EMBED_LINKS)
    await fake.slash(fake.add_user("bob"), fake.channel, "hold")
    after = (await env.captured()).app_permissions
    assert not after.attach_files and not after.embed_links and after.send_messages


async def test_follow_ups_need_attach_files_but_not_send_messages(env: Env) -> None:
    fake = env.fake
    await deny(env, Perm.ATTACH_FILES)
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    with pytest.raises(discord.Forbidden) as caught:
        await interaction.followup.send("here", file=png())
    assert caught.value.code == 50013
    await interaction.followup.send("text goes")
    assert (await ix.wait_original()).content == "text goes"

    fake.set_overwrite(fake.channel, fake.bot_user, deny=Perm.SEND_MESSAGES)
    ix = await fake.slash(fake.add_user("bob"), fake.channel, "hold")
    interaction = await env.captured()
    await interaction.response.send_message("a response needs no Send Messages")
    assert (await ix.wait_original()).content.startswith("a response")


async def test_embeds_without_embed_links_are_dropped_silently(env: Env) -> None:
    fake = env.fake
    channel = await deny(env, Perm.EMBED_LINKS)
    embed = discord.Embed(title="prompt: a cat", description="model, credits, requester")

    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    sent = await interaction.followup.send("result", embed=embed, wait=True)
    assert sent.embeds == []  # Discord answered without them, and said nothing
    original = await ix.wait_original()
    assert original.embeds == [] and original.dropped_embeds[0]["title"] == "prompt: a cat"

    posted = await channel.send("result", embed=embed)
    assert posted.embeds == [] and fake.message(posted.id).dropped_embeds
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(embed=embed)  # nothing left to send
    assert caught.value.code == 50006


async def test_channel_posts_check_each_permission_they_use(env: Env) -> None:
    fake = env.fake
    channel = await deny(env, Perm.ATTACH_FILES | Perm.SEND_TTS_MESSAGES)
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send(file=png())
    assert caught.value.code == 50013
    with pytest.raises(discord.Forbidden):
        await channel.send("read aloud", tts=True)
    first = await channel.send("first")

    fake.set_overwrite(fake.channel, fake.bot_user, deny=Perm.READ_MESSAGE_HISTORY)
    me = channel.guild.me
    await fake.wait_for(lambda: not channel.permissions_for(me).read_message_history)
    with pytest.raises(discord.HTTPException) as reply:
        await first.reply("a reply needs the history")
    assert reply.value.code == 160002
    with pytest.raises(discord.Forbidden):
        await channel.fetch_message(first.id)
    with pytest.raises(discord.Forbidden):
        [m async for m in channel.history(limit=5)]
    assert [m.content for m in fake.messages()] == ["first"]
