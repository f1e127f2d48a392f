"""Upload limits as Discord applies them: the interaction's ``attachment_size_limit`` for
responses and follow-ups, the guild's boost tier for the bot's own posts, 10 MiB in DMs, and
25 MiB for a whole request - each answered 413 / 40005."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import discord
import pytest

from tests.discord.test_fake_discord import Env, mini_env

MIB = 1024 * 1024


@pytest.fixture
async def env(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Env]:
    async with mini_env(caplog) as started:
        yield started


def blob(size: int, name: str = "big.bin") -> discord.File:
    return discord.File(io.BytesIO(b"\0" * size), name)


async def expect_413(coro) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await coro
    assert (caught.value.status, caught.value.code) == (413, 40005)


async def test_the_bots_own_posts_follow_the_guild_boost_tier(env: Env) -> None:
    fake, bot = env.fake, env.bot
    boosted = fake.add_guild("Boosted", premium_tier=2)
    guild = await fake.wait_for(lambda: bot.get_guild(int(boosted.id)), what="GUILD_CREATE")
    assert (guild.premium_tier, guild.filesize_limit) == (2, 50 * MIB)
    boosted_channel = guild.text_channels[0]
    await boosted_channel.send(file=blob(11 * MIB))
    assert fake.messages(boosted_channel.id)[-1].attachments[0].size == 11 * MIB

    plain = bot.get_channel(int(fake.channel.id))
    assert isinstance(plain, discord.TextChannel) and plain.guild.filesize_limit == 10 * MIB
    await expect_413(plain.send(file=blob(10 * MIB + 1)))
    await plain.send(file=blob(10 * MIB))

    fake.set_premium_tier(fake.guild, 3)  # boosted while the bot runs: GUILD_UPDATE
    await fake.wait_for(lambda: plain.guild.filesize_limit == 100 * MIB, what="GUILD_UPDATE")
    await plain.send(file=blob(10 * MIB + 1))


async def test_the_interaction_limit_is_the_larger_of_the_users_and_the_guilds(env: Env) -> None:
    fake = env.fake
    nitro = fake.add_user("nitro")
    nitro.upload_limit = 500 * MIB
    ix = await fake.slash(nitro, fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    assert ix.attachment_size_limit == interaction.filesize_limit == 500 * MIB
    await interaction.followup.send(file=blob(12 * MIB))  # the Nitro user's response may
    assert (await ix.wait_original()).attachments[0].size == 12 * MIB
    channel = env.bot.get_channel(int(fake.channel.id))
    assert isinstance(channel, discord.TextChannel)
    await expect_413(channel.send(file=blob(12 * MIB)))  # the bot's own post may not

    fake.guild.premium_tier = 3
    await fake.slash(fake.add_user("plain"), fake.channel, "hold")
    assert (await env.captured()).filesize_limit == 100 * MIB


async def test_follow_ups_over_the_interaction_limit_are_413(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    await expect_413(interaction.followup.send(file=blob(10 * MIB + 1)))
    assert ix.original is not None and ix.original.loading


async def test_a_request_over_25_mib_is_refused_whatever_the_file_limit(env: Env) -> None:
    fake, bot = env.fake, env.bot
    boosted = fake.add_guild("Level 3", premium_tier=3)
    guild = await fake.wait_for(lambda: bot.get_guild(int(boosted.id)), what="GUILD_CREATE")
    channel = guild.text_channels[0]
    assert guild.filesize_limit == 100 * MIB
    await expect_413(channel.send(files=[blob(9 * MIB, f"part{i}.bin") for i in range(3)]))
    await expect_413(channel.send(file=blob(30 * MIB)))
    assert fake.messages(channel.id) == []
    await channel.send(file=blob(24 * MIB))
    assert fake.messages(channel.id)[0].attachments[0].size == 24 * MIB


async def test_the_bots_dms_allow_10_mib(env: Env) -> None:
    fake = env.fake
    alice = fake.add_user("alice")
    user = await env.bot.fetch_user(int(alice.id))
    await expect_413(user.send(file=blob(10 * MIB + 1)))
    await user.send(file=blob(10 * MIB))
    assert fake.dms(alice)[0].attachments[0].size == 10 * MIB
