"""Installation and interaction contexts as Discord has them: a command's ``contexts`` and
``integration_types`` are stored and obeyed; interactions carry ``context`` and
``authorizing_integration_owners``; user installs reach guilds without the bot, group DMs and DMs
between users, where Discord limits what the app may answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.discord.test_fake_discord import bot_running, discord_errors
from tests.fakes.discord import (
    DM_PERMISSIONS,
    PRIVATE_CHANNEL_APP_PERMISSIONS,
    USER_APP_GUILD_PERMISSIONS,
    CommandUnavailable,
    FakeDiscord,
    FakeUser,
    Perm,
)


class ContextBot(commands.Bot):
    """Global commands with different installation and interaction contexts."""

    def __init__(self, *, sync: bool = True) -> None:
        super().__init__(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1
        )
        self.sync_on_start = sync
        self.captured: asyncio.Queue[discord.Interaction] = asyncio.Queue()

    async def setup_hook(self) -> None:
        captured = self.captured

        @app_commands.command(name="anywhere", description="Every context, both installs")
        @app_commands.allowed_installs(guilds=True, users=True)
        @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
        async def anywhere(interaction: discord.Interaction) -> None:
            await captured.put(interaction)

        @app_commands.command(name="server", description="Servers only, server installs only")
        @app_commands.allowed_installs(guilds=True, users=False)
        @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
        async def server(interaction: discord.Interaction) -> None:
            await captured.put(interaction)

        @app_commands.command(name="legacy", description="Nothing declared")
        async def legacy(interaction: discord.Interaction) -> None:
            await captured.put(interaction)

        self.tree.add_command(anywhere)
        self.tree.add_command(server)
        self.tree.add_command(legacy)
        if self.sync_on_start:
            await self.tree.sync()


@dataclass
class Ctx:
    fake: FakeDiscord
    bot: ContextBot

    async def run(self, user: FakeUser, channel, name: str = "anywhere") -> discord.Interaction:
        await self.fake.slash(user, channel, name)
        return await asyncio.wait_for(self.bot.captured.get(), 5)


@pytest.fixture
async def ctx(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Ctx]:
    async with FakeDiscord() as fake:
        bot = ContextBot()
        async with bot_running(fake, bot):
            yield Ctx(fake, bot)
            assert discord_errors(caplog) == []


async def test_sync_stores_contexts_and_integration_types(ctx: Ctx) -> None:
    anywhere = ctx.fake.find_command("anywhere")
    assert anywhere is not None
    assert (anywhere["contexts"], anywhere["integration_types"]) == ([0, 1, 2], [0, 1])
    server = ctx.fake.find_command("server")
    assert server is not None
    assert (server["contexts"], server["integration_types"]) == ([0], [0])
    legacy = ctx.fake.find_command("legacy")
    assert legacy is not None and legacy["contexts"] is None


async def test_in_a_server_with_the_bot(ctx: Ctx) -> None:
    fake = ctx.fake
    alice = fake.add_user("alice")
    interaction = await ctx.run(alice, fake.channel)
    ix = fake.interactions[str(interaction.id)]
    assert ix.payload["context"] == 0
    assert ix.payload["authorizing_integration_owners"] == {"0": fake.guild.id}
    assert interaction.context.guild and interaction.is_guild_integration()
    fake.install_for_user(alice)  # both installations reach her now
    interaction = await ctx.run(alice, fake.channel)
    assert fake.interactions[str(interaction.id)].owners == {"0": fake.guild.id, "1": alice.id}
    await ctx.run(alice, fake.channel, "server")


async def test_in_the_bots_dm(ctx: Ctx) -> None:
    fake = ctx.fake
    alice = fake.add_user("alice")  # shares the main guild with the bot
    dm = fake.dm_channel(alice)
    interaction = await ctx.run(alice, dm)
    ix = fake.interactions[str(interaction.id)]
    assert (ix.payload["context"], ix.owners) == (1, {"0": "0"})
    assert "member" not in ix.payload and ix.payload["user"]["id"] == alice.id
    assert isinstance(interaction.channel, discord.DMChannel)
    assert interaction.app_permissions.value == DM_PERMISSIONS
    await interaction.response.send_message("hello in DM")
    assert (await ix.wait_original()).channel_id == dm.id
    await ctx.run(alice, dm, "legacy")  # no contexts declared: everywhere
    with pytest.raises(CommandUnavailable, match="DMs with the bot"):
        await fake.slash(alice, dm, "server")


async def test_a_user_install_in_a_server_without_the_bot(ctx: Ctx) -> None:
    fake = ctx.fake
    elsewhere = fake.add_guild("Elsewhere", with_bot=False)
    channel = next(iter(elsewhere.channels.values()))
    carol = fake.add_user("carol", guild=elsewhere)
    with pytest.raises(CommandUnavailable, match="no installation"):
        await fake.slash(carol, channel, "anywhere")
    fake.install_for_user(carol)
    interaction = await ctx.run(carol, channel)
    ix = fake.interactions[str(interaction.id)]
    assert (ix.payload["context"], ix.owners) == (0, {"1": carol.id})
    assert interaction.is_user_integration() and not interaction.is_guild_integration()
    assert interaction.app_permissions.value == USER_APP_GUILD_PERMISSIONS
    with pytest.raises(CommandUnavailable):
        await fake.slash(carol, channel, "server")  # a guild-install-only command

    # at most 5 follow-ups per interaction for an app not installed here
    await interaction.response.defer()
    for i in range(5):
        await interaction.followup.send(f"part {i}")
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("one too many")
    assert (caught.value.status, caught.value.code) == (400, 40094)


async def test_the_server_decides_public_answers_of_user_installed_apps(ctx: Ctx) -> None:
    fake = ctx.fake
    elsewhere = fake.add_guild("Strict", with_bot=False)
    channel = next(iter(elsewhere.channels.values()))
    dave = fake.add_user("dave", guild=elsewhere)
    fake.install_for_user(dave)
    fake.set_overwrite(channel, elsewhere.everyone, deny=Perm.USE_EXTERNAL_APPS)
    interaction = await ctx.run(dave, channel)
    await interaction.response.send_message("meant for everyone")
    ix = fake.interactions[str(interaction.id)]
    original = await ix.wait_original()
    assert original.ephemeral and ix.forced_ephemeral  # Discord made it ephemeral

    fake.set_overwrite(channel, elsewhere.everyone, deny=Perm.SEND_MESSAGES)
    interaction = await ctx.run(dave, channel)
    with pytest.raises(discord.Forbidden) as caught:
        await interaction.response.send_message("public")
    assert caught.value.code == 50013
    await interaction.response.send_message("private is allowed", ephemeral=True)


async def test_group_dms_and_dms_between_users(ctx: Ctx) -> None:
    fake, bot = ctx.fake, ctx.bot
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    group = fake.group_dm(alice, bob, name="friends")
    with pytest.raises(CommandUnavailable):
        await fake.slash(alice, group, "anywhere")  # only a user install reaches a group DM
    fake.install_for_user(alice)
    interaction = await ctx.run(alice, group)
    ix = fake.interactions[str(interaction.id)]
    assert (ix.payload["context"], ix.owners) == (2, {"1": alice.id})
    assert isinstance(interaction.channel, discord.GroupChannel)
    assert interaction.app_permissions.value == PRIVATE_CHANNEL_APP_PERMISSIONS
    await interaction.response.send_message("hi both")
    assert (await ix.wait_original()).channel_id == group.id
    with pytest.raises(discord.Forbidden) as caught:
        await bot.get_partial_messageable(int(group.id)).send("the bot is not in here")
    assert caught.value.code == 50001
    with pytest.raises(CommandUnavailable, match="group DMs"):
        await fake.slash(alice, group, "server")

    direct = fake.user_dm(alice, bob)
    interaction = await ctx.run(alice, direct, "legacy")
    assert fake.interactions[str(interaction.id)].payload["context"] == 2
    assert isinstance(interaction.channel, discord.DMChannel)


async def test_sync_refuses_install_types_the_app_does_not_support() -> None:
    async with FakeDiscord(integration_types=(0,)) as fake:
        bot = ContextBot(sync=False)
        async with bot_running(fake, bot):
            with pytest.raises(discord.HTTPException) as caught:
                await bot.tree.sync()
            assert caught.value.code == 50035 and "integration_types" in str(caught.value)
