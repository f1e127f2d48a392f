"""Behind a shared REST proxy (``DISCORD_API_BASE`` pointing at it), discord.py's own rate
limiting still works on what the proxy relays: it paces itself by the ``X-RateLimit-*``
headers, and waits out and retries Discord's 429s (they carry ``Via``). A 429 the proxy makes
itself, without ``Via``, is not retried: discord.py takes it for a Cloudflare ban."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import discord.http
import pytest

from tests.discord.test_fake_discord import Env, mini_env
from tests.fakes.discord import RateLimit
from tests.fakes.rest_proxy import RestProxy


@pytest.fixture
async def env(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Env]:
    async with mini_env(caplog) as started:
        yield started


@pytest.fixture
async def proxy(env: Env) -> AsyncIterator[RestProxy]:
    """From here on, every REST request of the bot goes through the proxy."""
    async with RestProxy(env.fake.base_url) as started:
        saved = discord.http.Route.BASE
        discord.http.Route.BASE = started.api_base
        try:
            yield started
        finally:
            discord.http.Route.BASE = saved


def channel_of(env: Env, channel_id: str) -> discord.TextChannel:
    channel = env.bot.get_channel(int(channel_id))
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_the_bot_paces_itself_by_the_headers_the_proxy_passes_on(
    env: Env, proxy: RestProxy
) -> None:
    fake = env.fake
    fake.rate_limits.channel_messages = RateLimit(2, 0.3)
    channel = channel_of(env, fake.channel.id)
    await asyncio.gather(*(channel.send(f"n{i}") for i in range(5)))
    assert sorted(m.content for m in fake.messages()) == [f"n{i}" for i in range(5)]
    posts = [r for r in proxy.relayed if r[0] == "POST"]
    assert [status for *_, status in posts] == [200] * 5  # Reset-After waited out: no 429


async def test_discords_429_through_the_proxy_is_waited_out_and_retried(
    env: Env, proxy: RestProxy
) -> None:
    fake = env.fake
    channels = [fake.add_channel(fake.guild, f"c{i}") for i in range(6)]
    await fake.wait_for(lambda: all(env.bot.get_channel(int(c.id)) for c in channels))
    fake.rate_limits.global_limit = RateLimit(3, 0.4)
    await asyncio.gather(*(channel_of(env, c.id).send("hi") for c in channels))
    assert all(len(fake.messages(c)) == 1 for c in channels)
    assert any(status == 429 for *_, status in proxy.relayed)  # met, relayed, retried


async def test_a_429_the_proxy_makes_itself_is_not_retried(env: Env, proxy: RestProxy) -> None:
    proxy.refuse_next()
    with pytest.raises(discord.HTTPException) as refused:
        await channel_of(env, env.fake.channel.id).send("once")
    assert refused.value.status == 429
    assert env.fake.messages() == []
    await channel_of(env, env.fake.channel.id).send("again")  # the next one goes through
    assert [m.content for m in env.fake.messages()] == ["again"]
