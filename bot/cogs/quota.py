"""``/quota``: the caller's allowance, reserved and spent credits, and the reset time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.messages import quota_line

if TYPE_CHECKING:
    from bot.client import BananaBot


class Quota(commands.Cog):
    """Credits."""

    def __init__(self, bot: BananaBot) -> None:
        self.bot = bot

    @app_commands.command(name="quota", description="Your image credits for today")
    async def quota(self, interaction: discord.Interaction) -> None:
        """Your image credits for today."""
        snapshot = await self.bot.engine.quota(str(interaction.user.id))
        await interaction.response.send_message(quota_line(snapshot), ephemeral=True)
