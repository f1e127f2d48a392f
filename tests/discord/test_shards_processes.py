"""Two bot processes share the gateway shards (``SHARD_COUNT=2``, ``SHARD_IDS`` 0 and 1) over
one database: each identifies only its shard, a guild's interactions are answered by the
process running its shard, only the process running shard 0 syncs the commands, and a
result's buttons work in whichever process receives them.

Both "processes" are whole runtimes in this test process (discord.py's endpoints are
process-global, and so is the fake's port), each with its own store on the one SQLite file,
as two processes on one machine would have.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.runtime import Runtime
from tests.discord.bot_harness import job_id_of, result_of, running_bot, settings_for
from tests.discord.test_fake_discord_shards import guild_on
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeMember, FakeUser, shard_of


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(shard_count=2) as server:
        yield server


def record_interactions(runtime: Runtime) -> list[int]:
    """The ids of the interactions this process's bot receives, in order."""
    seen: list[int] = []

    async def on_interaction(interaction: discord.Interaction) -> None:
        seen.append(interaction.id)

    runtime.bot.add_listener(on_interaction, "on_interaction")
    return seen


@contextlib.asynccontextmanager
async def two_processes(
    fake: FakeDiscord, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Process A runs shard 0 of 2, process B shard 1, on one database file."""
    common: dict[str, Any] = {"shard_count": 2, "bananabot_db": tmp_path / "shared.db"}
    a_settings = settings_for(fake, tmp_path, shard_ids=[0], **common)
    b_settings = settings_for(fake, tmp_path, shard_ids=[1], **common)
    async with running_bot(fake, a_settings) as a, running_bot(fake, b_settings) as b:
        yield a, b


def member_of(fake: FakeDiscord, user: FakeUser, channel: FakeChannel) -> None:
    assert channel.guild_id is not None
    guild = fake.guilds[channel.guild_id]
    guild.members[user.id] = FakeMember(user, guild.id, roles=[], joined_at=fake.state.now_iso())


def text_channel_of(fake: FakeDiscord, guild_id: str) -> FakeChannel:
    return next(c for c in fake.guilds[guild_id].channels.values() if c.type == 0)


async def test_each_process_runs_its_shard_and_answers_its_guilds(fake, tmp_path):
    main = shard_of(fake.guild.id, 2)
    other = guild_on(fake, 1 - main, 2)
    channels = {main: fake.channel, 1 - main: text_channel_of(fake, other.id)}
    async with two_processes(fake, tmp_path) as (a, b):
        # each identified once, with its own shard, and got only its own guilds
        assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
        assert {str(g.id) for g in a.bot.guilds} == {channels[0].guild_id}
        assert {str(g.id) for g in b.bot.guilds} == {channels[1].guild_id}
        assert a.bot.shard_ids == [0] and b.bot.shard_ids == [1]
        # one process synced the commands; the other left it to shard 0's
        assert len(fake.command_syncs) == 1
        assert a.bot.synced and not b.bot.synced

        seen = {"a": record_interactions(a), "b": record_interactions(b)}
        user = fake.add_user("alice")  # a member of the main guild
        member_of(fake, user, channels[0])
        member_of(fake, user, channels[1])

        # /imagine in the guild of shard 1: answered by B alone
        on_one = await fake.slash(user, channels[1], "imagine", {"prompt": "a red fox"})
        result_one = await result_of(fake, on_one)
        assert seen == {"a": [], "b": [int(on_one.id)]}
        assert result_one.channel_id == channels[1].id

        # /imagine in the guild of shard 0: answered by A
        on_zero = await fake.slash(user, channels[0], "imagine", {"prompt": "a blue fox"})
        result_zero = await result_of(fake, on_zero)
        assert seen["a"] == [int(on_zero.id)] and len(seen["b"]) == 1
        job_id = job_id_of(result_zero)

        # its buttons, pressed where shard 1's process receives them (as after resharding):
        # B reads the job from the database, not from A's memory
        moved = fake.add_message(
            channels[1], fake.bot_user, result_zero.content, components=result_zero.components
        )
        presser = fake.add_user("bob", guild=channels[1].guild_id)
        reroll = await fake.click(presser, moved, f"bb:reroll:{job_id}")
        rerolled = await result_of(fake, reroll)
        assert int(reroll.id) in seen["b"] and int(reroll.id) not in seen["a"]
        child = await b.engine.get_job(job_id_of(rerolled))
        assert child is not None and child.parent_job_id == job_id
        assert child.origin.user_id == presser.id  # charged to whoever pressed

        # a DM reaches shard 0's process
        dm = await fake.slash(user, fake.dm_channel(user), "imagine", {"prompt": "a fox"})
        await result_of(fake, dm)
        assert int(dm.id) in seen["a"] and int(dm.id) not in seen["b"]
        assert not fake.late_interactions()


async def test_unset_one_process_runs_every_shard_discord_recommends(fake, tmp_path):
    """No SHARD_COUNT: discord.py asks ``/gateway/bot`` (2 here) and runs both shards."""
    other = guild_on(fake, 1 - shard_of(fake.guild.id, 2), 2)
    async with running_bot(fake, settings_for(fake, tmp_path)) as runtime:
        assert runtime.bot.shard_count == 2
        assert sorted(tuple(i["shard"]) for i in fake.identifies) == [(0, 2), (1, 2)]
        assert {str(g.id) for g in runtime.bot.guilds} == {fake.guild.id, other.id}
        assert len(fake.command_syncs) == 1


async def test_cancel_pressed_in_the_other_process_cancels_and_refunds(fake, tmp_path):
    """A queued job of process A cancelled from process B: the store decides, not memory."""
    main = shard_of(fake.guild.id, 2)
    other = guild_on(fake, 1 - main, 2)
    channels = {main: fake.channel, 1 - main: text_channel_of(fake, other.id)}
    common: dict[str, Any] = {
        "shard_count": 2,
        "bananabot_db": tmp_path / "shared.db",
        "provider_concurrency_default": 0,  # nothing starts: every job waits in the queue
    }
    a_settings = settings_for(fake, tmp_path, shard_ids=[0], **common)
    b_settings = settings_for(fake, tmp_path, shard_ids=[1], **common)
    async with running_bot(fake, a_settings) as a, running_bot(fake, b_settings) as b:
        user = fake.add_user("alice")
        member_of(fake, user, channels[0])
        member_of(fake, user, channels[1])
        ix = await fake.slash(user, channels[0], "imagine", {"prompt": "a fox"})
        status = await fake.wait_for(
            lambda: ix.original if ix.original and ix.original.components else None,
            what="the status line with Cancel",
        )
        cancel = next(
            str(c["custom_id"])
            for c in status.walk_components()
            if str(c.get("custom_id", "")).startswith("bb:cancel:")
        )
        job_id = cancel.rsplit(":", 1)[1]
        assert (await a.engine.quota(user.id)).reserved > 0
        moved = fake.add_message(channels[1], fake.bot_user, "queued", components=status.components)
        press = await fake.click(user, moved, cancel)
        await press.wait_callback()
        job = await b.engine.wait(job_id, 10)
        assert job.status.value == "cancelled"
        assert (await a.engine.quota(user.id)).reserved == 0  # refunded, as A sees it too
        cancelled = await a.engine.get_job(job_id)
        assert cancelled is not None and cancelled.status.value == "cancelled"
