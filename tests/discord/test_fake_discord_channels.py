"""Channel kinds as Discord has them: public and private threads (archived, locked), forum
channels and their posts, voice channels' text chat and categories - the interactions that come
from each, and what Discord answers the bot there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from tests.discord.test_fake_discord import Env, mini_env
from tests.fakes.discord import ChannelType, CommandUnavailable, FakeChannel, Perm


@pytest.fixture
async def env(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Env]:
    async with mini_env(caplog) as started:
        yield started


async def thread_seen(env: Env, thread: FakeChannel) -> discord.Thread:
    """The thread once discord.py has it (THREAD_CREATE)."""
    guild = env.bot.get_guild(int(env.fake.guild.id))
    assert guild is not None
    return await env.fake.wait_for(lambda: guild.get_thread(int(thread.id)), what="the thread")


async def refused(coro) -> discord.HTTPException:
    with pytest.raises(discord.HTTPException) as caught:
        await coro
    return caught.value


async def test_a_public_thread(env: Env) -> None:
    fake, bot = env.fake, env.bot
    thread = fake.add_thread(fake.channel, "ideas")
    seen = await thread_seen(env, thread)
    ix = await fake.slash(fake.add_user("alice"), thread, "hold")
    assert ix.payload["channel"]["type"] == ChannelType.PUBLIC_THREAD
    assert ix.payload["channel"]["parent_id"] == fake.channel.id
    interaction = await env.captured()
    assert isinstance(interaction.channel, discord.Thread)
    assert interaction.channel_id == int(thread.id)
    await interaction.response.send_message("answered in the thread")
    assert (await ix.wait_original()).channel_id == thread.id
    await seen.send("posted in the thread")

    # Send Messages does nothing in a thread; Send Messages in Threads does
    fake.set_overwrite(fake.channel, fake.bot_user, deny=Perm.SEND_MESSAGES_IN_THREADS)
    parent = bot.get_channel(int(fake.channel.id))
    assert isinstance(parent, discord.TextChannel)
    await fake.wait_for(lambda: not seen.permissions_for(parent.guild.me).send_messages_in_threads)
    error = await refused(seen.send("no"))
    assert (error.status, error.code) == (403, 50013)
    await parent.send("the channel itself is fine")


async def test_a_private_thread_is_invisible_unless_the_bot_is_in_it(env: Env) -> None:
    fake, bot = env.fake, env.bot
    alice = fake.add_user("alice")
    secret = fake.add_thread(fake.channel, "secret", private=True, owner=alice)
    error = await refused(bot.get_partial_messageable(int(secret.id)).send("hi"))
    assert (error.status, error.code) == (403, 50001)
    ix = await fake.slash(alice, secret, "hold")
    assert int(ix.payload["app_permissions"]) == 0
    await env.captured()

    joined = fake.add_thread(fake.channel, "with bot", private=True, members=[fake.bot_user])
    seen = await thread_seen(env, joined)
    assert seen.type is discord.ChannelType.private_thread
    await seen.send("the bot is a member")


async def test_an_archived_thread_wakes_up_on_a_post_and_refuses_edits(env: Env) -> None:
    fake = env.fake
    thread = fake.add_thread(fake.channel, "old", archived=True)
    seen = await thread_seen(env, thread)
    with pytest.raises(CommandUnavailable):
        await fake.slash(fake.add_user("alice"), thread, "hold")
    message = await seen.send("back to life")
    assert not thread.archived
    await fake.wait_for(lambda: not seen.archived, what="THREAD_UPDATE")
    fake.set_thread(thread, archived=True)
    error = await refused(message.edit(content="edited"))
    assert (error.status, error.code) == (400, 50083)


async def test_a_locked_thread_refuses_posts_with_a_400(env: Env) -> None:
    fake = env.fake
    thread = fake.add_thread(fake.channel, "closed")
    seen = await thread_seen(env, thread)
    ix = await fake.slash(fake.add_user("alice"), thread, "hold")
    interaction = await env.captured()
    fake.set_thread(thread, locked=True)
    error = await refused(interaction.response.send_message("public answer"))
    assert (error.status, error.code) == (400, 160005)  # not a 403
    await interaction.response.send_message("only you can see this", ephemeral=True)
    assert (await ix.wait_original()).ephemeral
    error = await refused(seen.send("post"))
    assert (error.status, error.code) == (400, 160005)

    fake.set_thread(thread, archived=True)
    error = await refused(seen.send("post"))
    assert (error.status, error.code) == (400, 50083)  # locked: no post can unarchive it

    fake.set_thread(thread, archived=False)
    moderator = fake.add_role(fake.guild, "thread mods", Perm.MANAGE_THREADS)
    fake.member(fake.bot_user).roles.append(moderator.id)
    await seen.send("Manage Threads may")


async def test_forum_channels_take_posts_not_messages(env: Env) -> None:
    fake, bot = env.fake, env.bot
    forum = fake.add_channel(fake.guild, "gallery", type=ChannelType.GUILD_FORUM)
    await fake.wait_for(lambda: bot.get_channel(int(forum.id)), what="CHANNEL_CREATE")
    assert isinstance(bot.get_channel(int(forum.id)), discord.ForumChannel)
    error = await refused(bot.get_partial_messageable(int(forum.id)).send("hi"))
    assert (error.status, error.code) == (400, 40058)
    with pytest.raises(CommandUnavailable):
        await fake.slash(fake.add_user("alice"), forum, "hold")

    post = fake.add_thread(forum, "my cat")
    await thread_seen(env, post)
    ix = await fake.slash(fake.add_user("bob"), post, "hold", {"defer": True})
    interaction = await env.captured()
    assert isinstance(interaction.channel, discord.Thread)
    assert interaction.channel.parent_id == int(forum.id)
    await interaction.followup.send("in the post")
    assert (await ix.wait_original()).channel_id == post.id


async def test_a_voice_channels_text_chat(env: Env) -> None:
    fake, bot = env.fake, env.bot
    voice = fake.add_channel(fake.guild, "Lounge", type=ChannelType.GUILD_VOICE)
    await fake.wait_for(lambda: bot.get_channel(int(voice.id)), what="CHANNEL_CREATE")
    ix = await fake.slash(fake.add_user("alice"), voice, "hold")
    interaction = await env.captured()
    assert isinstance(interaction.channel, discord.VoiceChannel)
    await interaction.response.send_message("in the voice chat")
    assert (await ix.wait_original()).channel_id == voice.id
    channel = bot.get_channel(int(voice.id))
    assert isinstance(channel, discord.VoiceChannel)
    await channel.send("the bot too")
    fake.set_overwrite(voice, fake.bot_user, deny=Perm.CONNECT)
    await fake.wait_for(lambda: not channel.permissions_for(channel.guild.me).connect)
    error = await refused(channel.fetch_message(int(fake.messages(voice)[-1].id)))
    assert (error.status, error.code) == (403, 50013)  # reading needs Connect here


async def test_a_category_is_no_text_channel(env: Env) -> None:
    fake, bot = env.fake, env.bot
    category = fake.add_channel(fake.guild, "Text Channels", type=ChannelType.GUILD_CATEGORY)
    error = await refused(bot.get_partial_messageable(int(category.id)).send("hi"))
    assert (error.status, error.code) == (400, 50008)
    with pytest.raises(CommandUnavailable):
        await fake.slash(fake.add_user("alice"), category, "hold")
