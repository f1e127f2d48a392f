"""The fake Discord judges time by its injectable clock: deadlines, token lifetime, ids."""

import asyncio
import contextlib

import discord
import pytest

from tests.discord.test_fake_discord import Env, MiniBot
from tests.fakes.discord import FakeDiscord, ManualClock, point_discord_py_at


@pytest.fixture
async def menv():
    clock = ManualClock(start=1_800_000_000.0)
    async with FakeDiscord(clock=clock) as fake:
        restore = point_discord_py_at(fake)
        bot = MiniBot(int(fake.guild.id))
        runner = asyncio.create_task(bot.start(fake.token))
        await asyncio.wait_for(bot.wait_until_ready(), 5)
        try:
            yield Env(fake, bot), clock
        finally:
            await bot.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner, 5)
            restore()


async def test_late_ack_by_clock(menv):
    env, clock = menv
    fake = env.fake
    fake.enforce_ack_deadline = False  # this test studies lateness: record it, do not refuse
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold")
    interaction = await env.captured()
    assert fake.late_interactions() == []
    clock.advance(3.5)
    assert fake.late_interactions() == [ix]
    await interaction.response.defer()
    cb = await ix.wait_callback()
    assert cb.late and cb.elapsed == 3.5 and ix.late


async def test_enforced_deadline_by_clock(menv):
    env, clock = menv
    fake = env.fake
    assert fake.enforce_ack_deadline is True  # on by default, in every test
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold")
    interaction = await env.captured()
    clock.advance(3.01)
    with pytest.raises(discord.NotFound) as caught:
        await interaction.response.defer()
    assert caught.value.code == 10062
    assert fake.late_interactions() == [ix] and not ix.acknowledged
    with pytest.raises(discord.NotFound):  # the token died with the deadline
        await interaction.followup.send("too late")


async def test_in_time_by_clock(menv):
    env, clock = menv
    fake = env.fake
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold")
    interaction = await env.captured()
    clock.advance(2.99)
    await interaction.response.defer()
    assert (await ix.wait_callback()).elapsed == pytest.approx(2.99)


async def test_token_lifetime_by_clock(menv):
    env, clock = menv
    fake = env.fake
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    await interaction.followup.send("in time")
    clock.advance(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("too late")
    assert caught.value.status == 401 and caught.value.code == 50027
    msg = ix.original
    assert msg is not None and msg.timestamp.startswith("2027-01-15")
    later = fake.add_message(fake.channel, fake.owner, "hi")
    assert discord.utils.snowflake_time(int(later.id)).timestamp() == pytest.approx(
        1_800_000_000.0 + 901, abs=1
    )
    url = fake.add_cdn_file("a.png", b"x")
    assert f"is={int(clock.time()):x}" in url
