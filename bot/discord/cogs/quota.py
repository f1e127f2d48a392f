"""``/quota``: the caller's allowance, reserved and spent credits, and the reset time."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.services import Services, services_of
from bot.discord.texts import quota_line


class Quota(commands.Cog):
    """Credits."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="quota", description="Your image credits for today")
    async def quota(self, interaction: discord.Interaction) -> None:
        """Your image credits for today."""
        await interaction.response.defer(ephemeral=True, thinking=True)  # before any store read
        snapshot = await self.services.engine.quota(str(interaction.user.id))
        await interaction.edit_original_response(content=quota_line(snapshot))


async def setup(bot: commands.Bot) -> None:
    """Extension entry point."""
    await bot.add_cog(Quota(services_of(bot)))
