"""``/settings show``: every setting of a server in one embed."""

from __future__ import annotations

import discord

from bot.discord.texts import COLOR, truncate
from bot.moderation.policy import GuildPolicy

FIELD_LIMIT = 1024


def _listed(items: list[str], empty: str) -> str:
    return truncate(", ".join(items), FIELD_LIMIT) if items else empty


def settings_embed(policy: GuildPolicy, default_allowance: int | None) -> discord.Embed:
    """One embed showing every setting (mentions render as names; nobody is pinged)."""
    embed = discord.Embed(title="Image bot settings", color=COLOR)
    embed.add_field(
        name="Channels",
        value=_listed([f"<#{c}>" for c in policy.allowed_channels], "everywhere"),
        inline=False,
    )
    embed.add_field(
        name="Required role",
        value=f"<@&{policy.required_role}>" if policy.required_role else "none",
        inline=True,
    )
    default = "unlimited" if default_allowance is None else f"{default_allowance}"
    quotas = [f"<@&{role}>: {credits}" for role, credits in sorted(policy.role_quotas.items())]
    embed.add_field(
        name="Daily credits",
        value=truncate(
            f"default: {default}" + ("; " + ", ".join(quotas) if quotas else ""), FIELD_LIMIT
        ),
        inline=True,
    )
    embed.add_field(
        name="Server budget",
        value=(
            f"daily: {policy.budget_daily or 'unlimited'}, "
            f"monthly: {policy.budget_monthly or 'unlimited'}"
        ),
        inline=True,
    )
    embed.add_field(
        name=f"Blocked terms ({len(policy.blocked_terms)})",
        value=_listed([f"`{t}`" for t in policy.blocked_terms], "none"),
        inline=False,
    )
    embed.add_field(
        name=f"Banned ({len(policy.bans)})",
        value=_listed([f"<@{user}>" for user in policy.bans], "nobody"),
        inline=False,
    )
    embed.add_field(
        name="Audit log",
        value=f"<#{policy.audit_channel}>" if policy.audit_channel else "not posted",
        inline=True,
    )
    embed.add_field(
        name="Defaults",
        value=", ".join(
            f"{name}: {value}"
            for name, value in (
                ("model", policy.default_model),
                ("aspect", policy.default_aspect),
                ("resolution", policy.default_resolution),
                ("format", policy.default_format),
            )
            if value
        )
        or "each model's own",
        inline=True,
    )
    embed.add_field(
        name="Limits",
        value=(
            f"resolution up to {policy.max_resolution or 'any'}; grounding "
            f"{'allowed' if policy.grounding_allowed else 'off'}; /edit "
            f"{'allowed' if policy.edit_allowed else 'off'}"
        ),
        inline=True,
    )
    return embed
