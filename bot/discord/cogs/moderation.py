"""Moderators' and admins' views: ``/jobs [user] [job]`` (Manage Messages) lists a member's
recent jobs or shows one, with links; ``/usage [days]`` (Manage Server) shows credits per day
and the top users, as an embed and a chart rendered off the event loop."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.services import Services, services_of
from bot.discord.texts import COLOR, NO_MENTIONS, result_url, truncate
from bot.jobs.models import Job
from bot.media.chart import DailyUsage, UsageReport, UserUsage, render_usage_chart_async

NOT_MODERATOR = "❌ This needs the Manage Messages permission."
NOT_ADMIN = "❌ This needs the Manage Server permission."
MAX_LISTED = 10


def _link(job: Job) -> str:
    url = result_url(job)
    return f"[result]({url})" if url else job.status.value


def _job_line(job: Job) -> str:
    when = discord.utils.format_dt(datetime.fromtimestamp(job.created_at, UTC), "R")
    prompt = truncate(job.request.prompt.replace("\n", " "), 60)
    shown = discord.utils.escape_markdown(prompt)
    return f"`{job.id}` {when} · {job.cost} cr · {_link(job)} · {shown}"


def _job_embed(job: Job) -> discord.Embed:
    embed = discord.Embed(
        title=f"Job {job.id}", description=truncate(job.request.prompt, 1000), color=COLOR
    )
    embed.add_field(name="Requested by", value=f"<@{job.origin.user_id}>", inline=True)
    if job.origin.channel_id:
        embed.add_field(name="Channel", value=f"<#{job.origin.channel_id}>", inline=True)
    embed.add_field(name="Model", value=f"{job.provider} · {job.model}", inline=True)
    embed.add_field(name="Status", value=job.status.value, inline=True)
    embed.add_field(name="Credits", value=str(job.cost), inline=True)
    embed.add_field(name="Result", value=_link(job), inline=True)
    if job.failure_reason:
        embed.add_field(name="Reason", value=truncate(job.failure_reason, 300), inline=False)
    return embed


class Moderation(commands.Cog):
    """``/jobs`` and ``/usage``."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @app_commands.command(name="jobs", description="A member's recent images, or one job")
    @app_commands.describe(user="Whose jobs (leave out: everyone's)", job="One job's id")
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.guild_only()
    async def jobs(
        self,
        interaction: discord.Interaction,
        user: discord.User | None = None,
        job: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        """List recent jobs in this server, or show one."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.guild_id is None or not interaction.permissions.manage_messages:
            await interaction.edit_original_response(content=NOT_MODERATOR)
            return
        guild_id = str(interaction.guild_id)
        if job is not None:
            found = await self.services.engine.get_job(job.strip())
            if found is None or found.origin.guild_id != guild_id:
                await interaction.edit_original_response(content="❌ No such job in this server.")
                return
            await interaction.edit_original_response(
                embed=_job_embed(found), allowed_mentions=NO_MENTIONS
            )
            return
        listed = await self.services.guilds.recent_jobs(
            guild_id, str(user.id) if user else None, MAX_LISTED
        )
        whose = f"<@{user.id}>'s" if user else "This server's"
        lines = [_job_line(j) for j in listed] or ["No jobs yet."]
        embed = discord.Embed(
            title="Recent jobs",
            description=truncate(f"{whose} latest:\n" + "\n".join(lines), 4000),
            color=COLOR,
        )
        await interaction.edit_original_response(embed=embed, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="usage", description="Credits per day and top users, as a chart")
    @app_commands.describe(days="How many days back (default 30)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    async def usage(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 90] = 30
    ) -> None:
        """Credits per day and the top users over the period."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            await interaction.edit_original_response(content=NOT_ADMIN)
            return
        guild_id = str(interaction.guild_id)
        today = datetime.now(UTC).date()
        since = today - timedelta(days=days - 1)
        daily = await self.services.guilds.daily_credits(guild_id, since.isoformat())
        top = await self.services.guilds.top_users(guild_id, since.isoformat())
        report = UsageReport(
            title=f"Credits spent, last {days} day(s)",
            first_day=since,
            last_day=today,
            daily=tuple(
                DailyUsage(day=date.fromisoformat(d.day), spent=d.credits, jobs=d.jobs)
                for d in daily
            ),
            top_users=tuple(
                UserUsage(label=self._name(interaction, u.user_id), spent=u.credits) for u in top
            ),
        )
        chart = await render_usage_chart_async(report)
        total = sum(d.credits for d in daily)
        embed = discord.Embed(
            title=f"Usage, last {days} day(s)",
            description=f"{total} credit(s) spent in {sum(d.jobs for d in daily)} job(s).",
            color=COLOR,
        )
        embed.add_field(
            name="Top users",
            value="\n".join(f"<@{u.user_id}>: {u.credits}" for u in top) or "nobody yet",
            inline=False,
        )
        embed.set_image(url="attachment://usage.png")
        await interaction.edit_original_response(
            embed=embed,
            attachments=[discord.File(io.BytesIO(chart), filename="usage.png")],
            allowed_mentions=NO_MENTIONS,
        )

    @staticmethod
    def _name(interaction: discord.Interaction, user_id: str) -> str:
        guild = interaction.guild
        member = guild.get_member(int(user_id)) if guild is not None else None
        return member.display_name if member is not None else f"user {user_id}"


async def setup(bot: commands.Bot) -> None:
    """Extension entry point."""
    await bot.add_cog(Moderation(services_of(bot)))
