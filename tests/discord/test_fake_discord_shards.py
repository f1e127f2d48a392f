"""The fake Discord shards as Discord does: IDENTIFY must name a valid shard of enough shards
(4010, 4011), ``/gateway/bot`` recommends the count, and each guild's events reach only the
shard that owns it (DMs: shard 0). Spoken over a raw websocket, so every frame is seen."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord import FakeDiscord, FakeGuild, shard_of


def guild_on(fake: FakeDiscord, shard: int, count: int) -> FakeGuild:
    """A new guild whose id puts it on ``shard`` of ``count``."""
    base = int(fake.state.new_id())
    high = base >> 22
    guild_id = ((high - high % count + shard) << 22) | (base & 0x3FFFFF)
    guild = fake.add_guild(f"Guild on shard {shard}", guild_id=guild_id)
    assert shard_of(guild.id, count) == shard
    return guild


class RawShard:
    """One gateway connection, driven by hand."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def frame(self, timeout: float = 2.0) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return {"closed": self.ws.close_code}
        frame: dict[str, Any] = json.loads(msg.data)
        return frame

    async def identify(self, fake: FakeDiscord, shard: Any = None) -> None:
        data: dict[str, Any] = {"token": fake.token, "intents": 1, "properties": {}}
        if shard is not None:
            data["shard"] = shard
        await self.ws.send_str(json.dumps({"op": 2, "d": data}))

    async def dispatches(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` dispatches (op 0)."""
        return [await self.frame() for _ in range(count)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(shard_count=2) as started:
        yield started


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(fake: FakeDiscord, http: aiohttp.ClientSession) -> RawShard:
    shard = RawShard(await http.ws_connect(fake.gateway_url))
    hello = await shard.frame()
    assert hello["op"] == 10
    return shard


async def test_gateway_bot_recommends_the_configured_shard_count(
    fake: FakeDiscord, http: aiohttp.ClientSession
):
    headers = {"Authorization": f"Bot {fake.token}"}
    async with http.get(f"{fake.api_base}/gateway/bot", headers=headers) as response:
        body = await response.json()
    assert body["shards"] == 2
    assert body["session_start_limit"]["max_concurrency"] == 1


@pytest.mark.parametrize(
    ("shard", "code"),
    [
        (None, 4011),  # the bot needs two shards: one connection for all is refused
        ([0, 1], 4011),  # too few shards
        ([2, 2], 4010),  # no shard 2 of 2
        ([-1, 2], 4010),
        (["0", "2"], 4010),
        ([0], 4010),
    ],
)
async def test_identify_without_a_valid_shard_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, shard: Any, code: int
):
    raw = await connect(fake, http)
    await raw.identify(fake, shard)
    assert await raw.frame() == {"closed": code}
    assert fake.identifies == []


async def test_more_shards_than_needed_are_accepted(fake: FakeDiscord, http: aiohttp.ClientSession):
    raw = await connect(fake, http)
    await raw.identify(fake, [3, 4])
    ready = await raw.frame()
    assert ready["t"] == "READY"
    assert ready["d"]["shard"] == [3, 4]


async def test_each_shard_gets_its_own_guilds_and_their_events(
    fake: FakeDiscord, http: aiohttp.ClientSession
):
    fake.guilds.clear()  # only guilds placed on a known shard
    on_zero, on_one = guild_on(fake, 0, 2), guild_on(fake, 1, 2)
    shards = [await connect(fake, http), await connect(fake, http)]
    for number, raw in enumerate(shards):
        await raw.identify(fake, [number, 2])
    ready = [await raw.dispatches(2) for raw in shards]
    for number, (frame, guild) in enumerate(zip(ready, (on_zero, on_one), strict=True)):
        assert frame[0]["t"] == "READY"
        assert frame[0]["d"]["shard"] == [number, 2]
        assert [g["id"] for g in frame[0]["d"]["guilds"]] == [guild.id]
        assert frame[1]["t"] == "GUILD_CREATE"
        assert frame[1]["d"]["id"] == guild.id
    assert set(fake.sessions) == {0, 1}
    assert fake.sessions[0].session_id != fake.sessions[1].session_id

    await fake.dispatch("TEST_EVENT", {"guild_id": on_one.id, "n": 1})
    await fake.dispatch("TEST_EVENT", {"channel_id": "1", "n": 2})  # no guild: a DM
    await fake.dispatch("TEST_EVENT", {"guild_id": on_zero.id, "n": 3})
    one = await shards[1].frame()
    assert (one["d"]["n"], one["s"]) == (1, 3)  # its own sequence: READY, GUILD_CREATE, this
    zero = [await shards[0].frame(), await shards[0].frame()]
    assert [f["d"]["n"] for f in zero] == [2, 3]
    assert [f["s"] for f in zero] == [3, 4]
    with pytest.raises(TimeoutError):
        await shards[1].frame(timeout=0.2)  # nothing else reached shard 1


async def test_a_guild_of_a_shard_nobody_runs_cannot_be_dispatched_to(
    fake: FakeDiscord, http: aiohttp.ClientSession
):
    on_one = guild_on(fake, 1, 2)
    raw = await connect(fake, http)
    await raw.identify(fake, [0, 2])
    assert (await raw.frame())["t"] == "READY"
    with pytest.raises(RuntimeError, match="no gateway session for shard 1"):
        await fake.dispatch("TEST_EVENT", {"guild_id": on_one.id})


async def test_a_shard_resumes_its_own_session(fake: FakeDiscord, http: aiohttp.ClientSession):
    fake.guilds.clear()
    on_one = guild_on(fake, 1, 2)
    zero, one = await connect(fake, http), await connect(fake, http)
    await zero.identify(fake, [0, 2])
    await one.identify(fake, [1, 2])
    await zero.dispatches(1)
    ready = (await one.dispatches(2))[0]
    await fake.disconnect(shard=1)
    await fake.dispatch("TEST_EVENT", {"guild_id": on_one.id})  # kept for the RESUME
    again = await connect(fake, http)
    resume = {"token": fake.token, "session_id": ready["d"]["session_id"], "seq": 2}
    await again.ws.send_str(json.dumps({"op": 6, "d": resume}))
    replayed, resumed = await again.frame(), await again.frame()
    assert (replayed["t"], replayed["s"]) == ("TEST_EVENT", 3)
    assert resumed["t"] == "RESUMED"
    assert fake.sessions[1].connected and fake.sessions[0].connected
