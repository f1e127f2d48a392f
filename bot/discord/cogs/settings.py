"""``/settings``: a server's admins set who may use the bot, where, and how much.

Every subcommand needs Manage Server, declared as the command's default permission and checked
again when invoked (a server can override command permissions). Each is acknowledged first,
answered privately with the new value, and recorded in the audit log. API keys never pass
through Discord: they are the operator's settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.audit import audit_of
from bot.discord.services import Services, services_of
from bot.discord.settings_view import settings_embed
from bot.discord.texts import MESSAGE_LIMIT, NO_MENTIONS, truncate
from bot.moderation import changes
from bot.moderation.audit import AuditEvent, AuditKind
from bot.moderation.ports import Change
from bot.moderation.terms import parse_term
from providers.errors import ProviderError

RESOLUTIONS = [app_commands.Choice(name=r, value=r) for r in ("1K", "2K", "4K")]
FORMATS = [app_commands.Choice(name=f.upper(), value=f) for f in changes.FILE_FORMATS]
NOT_ADMIN = "❌ You need the Manage Server permission to change the bot's settings here."
#: what the bot needs in an audit-log channel
AUDIT_NEEDS = ("view_channel", "send_messages", "embed_links", "attach_files")
#: what the bot needs to post results in an allowed channel (a forum: in its posts)
POST_NEEDS = ("view_channel", "send_messages", "attach_files")
POST_IN_FORUM = ("view_channel", "send_messages_in_threads", "attach_files")


def _check_term(term: str) -> None:
    parse_term(term)  # raises ValueError (TermError) with the reason


class ServerSettings(commands.Cog):
    """``/settings`` and its subcommands."""

    settings = app_commands.Group(
        name="settings",
        description="The image bot's settings for this server (admins)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    def __init__(self, services: Services) -> None:
        self.services = services

    # ------------------------------------------------------------------ shared

    async def _admin(self, interaction: discord.Interaction) -> bool:
        """Acknowledge, then check Manage Server again (command permissions can be
        overridden per server)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            await self._reply(interaction, NOT_ADMIN)
            return False
        return True

    @staticmethod
    async def _reply(interaction: discord.Interaction, text: str) -> None:
        await interaction.edit_original_response(
            content=truncate(text, MESSAGE_LIMIT), allowed_mentions=NO_MENTIONS
        )

    async def _apply(
        self, interaction: discord.Interaction, setting: str, made: Callable[[], tuple[Change, str]]
    ) -> None:
        """Check, build and apply one change; reply with the new value; record it."""
        if not await self._admin(interaction):
            return
        try:
            change, what = made()
            event = AuditEvent(
                guild_id=str(interaction.guild_id),
                kind=AuditKind.SETTINGS,
                at=time.time(),
                actor_id=str(interaction.user.id),
                channel_id=str(interaction.channel_id) if interaction.channel_id else None,
                detail={"setting": setting, "value": what},
            )
            audit = audit_of(interaction.client)
            if audit is not None:
                event = audit.scrubbed(event)
            policy = await self.services.guilds.change(str(interaction.guild_id), change, event)
        except ValueError as exc:
            await self._reply(interaction, f"❌ {exc}. Nothing changed.")
            return
        await self._reply(interaction, f"✅ {what[:1].upper()}{what[1:]}.")
        if audit is not None:
            await audit.publish(event, policy)

    # ------------------------------------------------------------------ subcommands

    @settings.command(name="show", description="Every setting of the bot in this server")
    async def show(self, interaction: discord.Interaction) -> None:
        """One embed with every setting."""
        if not await self._admin(interaction):
            return
        policy = await self.services.guilds.policy(str(interaction.guild_id))
        await interaction.edit_original_response(
            embed=settings_embed(policy, self.services.engine.config.allowance),
            allowed_mentions=NO_MENTIONS,
        )

    @settings.command(name="allow-channel", description="Allow the bot in a channel")
    @app_commands.describe(channel="A channel the bot may be used in (its threads too)")
    async def allow_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel
    ) -> None:
        """The first allowed channel restricts the bot to the listed ones."""

        def made() -> tuple[Change, str]:
            forum = isinstance(channel, discord.ForumChannel)
            needs = POST_IN_FORUM if forum else POST_NEEDS
            missing = _missing_permissions(channel, needs)
            if missing:
                raise ValueError(
                    f"I can't post results in <#{channel.id}>: I need {', '.join(missing)} there"
                )
            return changes.allow_channel(str(channel.id))

        await self._apply(interaction, "allow-channel", made)

    @settings.command(name="disallow-channel", description="Take a channel off the list")
    @app_commands.describe(channel="A channel on the list (none left: everywhere)")
    async def disallow_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | discord.ForumChannel
    ) -> None:
        """Take a channel off the list."""
        await self._apply(
            interaction, "disallow-channel", lambda: changes.disallow_channel(str(channel.id))
        )

    @settings.command(name="block-term", description="Refuse prompts containing a term")
    @app_commands.describe(term="A word or phrase, or /a regular expression/")
    async def block_term(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 200]
    ) -> None:
        """Block a term (``/…/``: a regular expression)."""
        await self._apply(interaction, "block-term", lambda: changes.block_term(term, _check_term))

    @settings.command(name="unblock-term", description="Allow a blocked term again")
    @app_commands.describe(term="The term, exactly as it was blocked")
    async def unblock_term(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 200]
    ) -> None:
        """Unblock a term."""
        await self._apply(interaction, "unblock-term", lambda: changes.unblock_term(term))

    @settings.command(name="require-role", description="Only members with a role may use it")
    @app_commands.describe(role="The role required (leave out: anyone may)")
    async def require_role(
        self, interaction: discord.Interaction, role: discord.Role | None = None
    ) -> None:
        """Require a role (none: anyone)."""
        role_id = str(role.id) if role else None
        await self._apply(interaction, "require-role", lambda: changes.require_role(role_id))

    @settings.command(name="role-quota", description="Daily credits for members with a role")
    @app_commands.describe(
        role="The role", credits="Credits per UTC day (leave out: the default again)"
    )
    async def role_quota(
        self,
        interaction: discord.Interaction,
        role: discord.Role,
        credits: app_commands.Range[int, 0, 1_000_000] | None = None,
    ) -> None:
        """Daily credits for a role; a member gets the highest that applies."""
        await self._apply(
            interaction, "role-quota", lambda: changes.role_quota(str(role.id), credits)
        )

    @settings.command(name="ban", description="Stop a member from using the bot here")
    @app_commands.describe(user="The member", reason="Why (shown to them)")
    async def ban(
        self,
        interaction: discord.Interaction,
        user: discord.User,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        """Ban a member from the bot in this server."""
        by = str(interaction.user.id)
        await self._apply(
            interaction, "ban", lambda: changes.ban(str(user.id), reason, by, time.time())
        )

    @settings.command(name="unban", description="Let a banned member use the bot again")
    @app_commands.describe(user="The member")
    async def unban(self, interaction: discord.Interaction, user: discord.User) -> None:
        """Lift a ban."""
        await self._apply(interaction, "unban", lambda: changes.unban(str(user.id)))

    @settings.command(name="budget", description="Credits the whole server may use")
    @app_commands.describe(
        daily="Credits per UTC day for everyone together (0 or leave out: unlimited)",
        monthly="Credits per UTC month (0 or leave out: unlimited)",
    )
    async def budget(
        self,
        interaction: discord.Interaction,
        daily: app_commands.Range[int, 0, 1_000_000] | None = None,
        monthly: app_commands.Range[int, 0, 1_000_000] | None = None,
    ) -> None:
        """The server's budget per day and month."""
        await self._apply(interaction, "budget", lambda: changes.budget(daily, monthly))

    @settings.command(name="audit-log", description="Where every job and action is posted")
    @app_commands.describe(channel="The audit-log channel (leave out: not posted)")
    async def audit_log(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """Post the audit log in a channel (the bot must be able to post there)."""

        def made() -> tuple[Change, str]:
            if channel is not None:
                missing = _missing_permissions(channel, AUDIT_NEEDS)
                if missing:
                    raise ValueError(
                        f"I can't post in <#{channel.id}>: I need {', '.join(missing)} there"
                    )
            return changes.audit_log(str(channel.id) if channel else None)

        await self._apply(interaction, "audit-log", made)

    @settings.command(name="defaults", description="Model, aspect and resolution by default")
    @app_commands.describe(
        model="provider or provider:model (leave all out: each model's own defaults)",
        aspect="Aspect ratio, e.g. 16:9",
        resolution="1K, 2K or 4K",
        file_format="PNG or JPG, where the model offers a choice",
    )
    @app_commands.choices(resolution=RESOLUTIONS, file_format=FORMATS)
    @app_commands.rename(file_format="format")
    async def defaults(
        self,
        interaction: discord.Interaction,
        model: app_commands.Range[str, 1, 100] | None = None,
        aspect: app_commands.Range[str, 1, 20] | None = None,
        resolution: app_commands.Choice[str] | None = None,
        file_format: app_commands.Choice[str] | None = None,
    ) -> None:
        """What members get when they choose nothing."""
        catalog = self.services.intake.catalog

        def made() -> tuple[Change, str]:
            if model is not None or aspect is not None:
                try:
                    provider, chosen = catalog.resolve(model)
                except ProviderError as exc:
                    raise ValueError(str(exc).rstrip(".")) from exc
                aspects = catalog.aspect_ratios(model)
                if aspect is not None and aspect not in aspects:
                    raise ValueError(
                        f"{provider.name} {chosen.name} has no aspect {aspect}; it offers "
                        f"{', '.join(aspects)}"
                    )
            return changes.defaults(
                model,
                aspect,
                resolution.value if resolution else None,
                file_format.value if file_format else None,
            )

        await self._apply(interaction, "defaults", made)

    @settings.command(name="limits", description="Highest resolution, grounding, /edit")
    @app_commands.describe(
        max_resolution="The highest resolution members may ask for",
        grounding="Allow Google-search grounding",
        edit="Allow /edit and editing results",
    )
    @app_commands.rename(max_resolution="max-resolution")
    @app_commands.choices(max_resolution=RESOLUTIONS)
    async def limits(
        self,
        interaction: discord.Interaction,
        max_resolution: app_commands.Choice[str] | None = None,
        grounding: bool | None = None,
        edit: bool | None = None,
    ) -> None:
        """Limits on what members may ask for (leave all out: no limits)."""
        highest = max_resolution.value if max_resolution else None
        await self._apply(interaction, "limits", lambda: changes.limits(highest, grounding, edit))


def _missing_permissions(
    channel: discord.TextChannel | discord.ForumChannel, needs: tuple[str, ...]
) -> list[str]:
    """Which of ``needs`` the bot lacks in ``channel``."""
    perms = channel.permissions_for(channel.guild.me)
    return [name.replace("_", " ").title() for name in needs if not getattr(perms, name)]


async def setup(bot: commands.Bot) -> None:
    """Extension entry point."""
    await bot.add_cog(ServerSettings(services_of(bot)))
