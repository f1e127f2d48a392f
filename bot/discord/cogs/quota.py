"""``/quota [user]``: a member's allowance (their roles' highest, in a server that sets role
quotas), what is reserved and spent today, and the server's budget. Naming another member
needs Manage Messages (checked when invoked)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.services import Services, services_of
from bot.discord.texts import NO_MENTIONS, budget_status, quota_line
from bot.jobs.models import Limits

NOT_MODERATOR = "❌ Looking up another member's credits needs the Manage Messages permission."


class Quota(commands.Cog):
    """Credits."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="quota", description="Image credits for today")
    @app_commands.describe(user="Another member (moderators only)")
    async def quota(
        self, interaction: discord.Interaction, user: discord.User | None = None
    ) -> None:
        """Your (or, for moderators, a member's) credits for today."""
        await interaction.response.defer(ephemeral=True, thinking=True)  # before any store read
        member = user or interaction.user
        other = member.id != interaction.user.id
        if other and (interaction.guild_id is None or not interaction.permissions.manage_messages):
            await interaction.edit_original_response(content=NOT_MODERATOR)
            return
        engine = self.services.engine
        lines = []
        limits = None
        if interaction.guild_id is not None:
            policy = await self.services.guilds.policy(str(interaction.guild_id))
            roles = [str(r.id) for r in member.roles] if isinstance(member, discord.Member) else []
            limits = Limits(allowance=policy.allowance(roles, engine.config.allowance))
            budget = policy.budget()
            if budget is not None:
                status = budget_status(await engine.budget(str(interaction.guild_id), budget))
                if status:
                    lines.append(status)
        snapshot = await engine.quota(str(member.id), limits)
        head = f"<@{member.id}>: " if other else ""
        lines.insert(0, head + quota_line(snapshot))
        await interaction.edit_original_response(
            content="\n".join(lines), allowed_mentions=NO_MENTIONS
        )


async def setup(bot: commands.Bot) -> None:
    """Extension entry point."""
    await bot.add_cog(Quota(services_of(bot)))
