"""The fake Discord rate-limits like Discord: bucket headers, 429s per route and globally,
interaction endpoints outside the global limit - and discord.py still gets through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.discord.test_fake_discord import Env, mini_env
from tests.fakes.discord import FakeDiscord, RateLimit


@pytest.fixture
async def env(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Env]:
    async with mini_env(caplog) as started:
        yield started


async def raw_post(fake: FakeDiscord, channel_id: str, count: int) -> list[aiohttp.ClientResponse]:
    """``count`` message posts with the bot token, straight over HTTP (no client pacing)."""
    url = f"{fake.api_base}/channels/{channel_id}/messages"
    headers = {"Authorization": f"Bot {fake.token}"}
    answers = []
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            async with session.post(url, json={"content": f"m{i}"}, headers=headers) as resp:
                await resp.read()
                answers.append(resp)
    return answers


def text_channel(env: Env, channel_id: str) -> discord.TextChannel:
    channel = env.bot.get_channel(int(channel_id))
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_every_answer_carries_the_bucket_headers(env: Env) -> None:
    await text_channel(env, env.fake.channel.id).send("hello")
    post = env.fake.requests_to(f"/channels/{env.fake.channel.id}/messages", "POST")[-1]
    assert post.status == 200
    headers = post.rate_limit
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("5", "4")
    assert 0 < float(headers["X-RateLimit-Reset-After"]) <= 5
    assert float(headers["X-RateLimit-Reset"]) > 1_700_000_000  # epoch seconds
    assert headers["X-RateLimit-Bucket"]


async def test_a_sixth_message_in_five_seconds_is_429_for_that_channel_only(env: Env) -> None:
    fake = env.fake
    answers = await raw_post(fake, fake.channel.id, 6)
    assert [a.status for a in answers] == [200] * 5 + [429]
    limited = answers[-1]
    assert limited.headers["Via"]  # discord.py retries a 429 only if Discord's proxy is named
    assert limited.headers["X-RateLimit-Scope"] == "user"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["Retry-After"]) >= 1
    body = await limited.json()
    assert body["message"] == "You are being rate limited."
    assert body["global"] is False and 0 < body["retry_after"] <= 5
    assert [m.content for m in fake.messages()] == [f"m{i}" for i in range(5)]
    # another channel is another top-level resource: its own bucket
    other = fake.add_channel(fake.guild, "other")
    assert [a.status for a in await raw_post(fake, other.id, 1)] == [200]
    assert fake.invalid_requests == 1


async def test_discord_py_paces_itself_by_the_headers(env: Env) -> None:
    fake = env.fake
    fake.rate_limits.channel_messages = RateLimit(2, 0.3)
    channel = text_channel(env, fake.channel.id)
    await asyncio.gather(*(channel.send(f"n{i}") for i in range(5)))
    assert sorted(m.content for m in fake.messages()) == [f"n{i}" for i in range(5)]
    posts = fake.requests_to(f"/channels/{fake.channel.id}/messages", "POST")
    assert [p.status for p in posts] == [200] * 5  # it waited out Reset-After: no 429 at all


async def test_global_limit_429_and_discord_py_waits_and_retries(env: Env) -> None:
    fake = env.fake
    channels = [fake.add_channel(fake.guild, f"c{i}") for i in range(6)]
    await fake.wait_for(lambda: all(env.bot.get_channel(int(c.id)) for c in channels))
    fake.rate_limits.global_limit = RateLimit(3, 0.4)
    await asyncio.gather(*(text_channel(env, c.id).send("hi") for c in channels))
    assert all(len(fake.messages(c)) == 1 for c in channels)
    limited = [r for r in fake.requests if r.status == 429]
    assert limited, "six requests against three a window must have met the global limit"
    assert {r.rate_limit["X-RateLimit-Scope"] for r in limited} == {"global"}
    assert {r.rate_limit["X-RateLimit-Global"] for r in limited} == {"true"}


async def test_interaction_endpoints_are_outside_the_global_limit(env: Env) -> None:
    fake = env.fake
    fake.rate_limits.global_limit = RateLimit(1, 60.0)  # login already used this window
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_base}/users/@me", headers=headers) as resp:
            body: Any = await resp.json()
            assert resp.status == 429 and resp.headers["X-RateLimit-Global"] == "true"
    assert body["global"] is True and body["retry_after"] > 1
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    for i in range(3):
        await interaction.followup.send(f"still answering {i}")
    await ix.wait_followups(2)
    assert [c.status for c in fake.callbacks] == [200]


async def test_follow_ups_have_their_own_bucket_per_token(env: Env) -> None:
    fake = env.fake
    fake.rate_limits.webhooks = RateLimit(2, 0.3)
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    for i in range(5):
        await interaction.followup.send(f"part {i}")
    followups = await ix.wait_followups(4)
    assert [m.content for m in followups] == [f"part {i}" for i in range(1, 5)]
    posts = fake.requests_to(f"/webhooks/{fake.application_id}/{ix.token}", "POST")
    assert {p.rate_limit["X-RateLimit-Limit"] for p in posts} == {"2"}
    assert all(p.status == 200 for p in posts)  # the webhook adapter slept on Remaining: 0


async def test_every_request_is_counted_per_route_template(env: Env) -> None:
    fake = env.fake
    other = fake.add_channel(fake.guild, "counted")
    before = fake.count("POST", "/channels/{id}/messages")
    await raw_post(fake, fake.channel.id, 6)  # the sixth is refused (429), and counted too
    await raw_post(fake, other.id, 2)
    bucket = "POST /channels/{id}/messages"
    assert fake.count("POST", "/channels/{id}/messages") == before + 8
    assert fake.route_counts[bucket] == before + 8
    assert fake.count("PATCH") == sum(
        n for route, n in fake.route_counts.items() if route.startswith("PATCH ")
    )
    fake.keep_requests = False  # counted, not kept
    kept = len(fake.requests)
    await raw_post(fake, other.id, 1)
    assert len(fake.requests) == kept
    assert fake.route_counts[bucket] == before + 9
