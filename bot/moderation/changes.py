"""Every ``/settings`` change as a pure function of the current policy: validated here, so
the same rules hold whatever edge asks (a ``ValueError`` says what is wrong, in words for the
admin). Each returns the change and a one-line description for the reply and the audit log.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.moderation.policy import RESOLUTION_ORDER, Ban, GuildPolicy
from bot.moderation.ports import Change

MAX_CHANNELS = 50
MAX_TERMS = 200
MAX_ROLE_QUOTAS = 50
MAX_BANS = 5000
MAX_CREDITS = 1_000_000
FILE_FORMATS = ("png", "jpg")

#: checks a term as the matcher would compile it (raises ValueError with the reason)
TermCheck = Callable[[str], None]


def _update(**fields: object) -> Change:
    return lambda policy: policy.model_copy(update=fields)


def allow_channel(channel_id: str) -> tuple[Change, str]:
    """Allow the bot in one more channel (the first one restricts it to the listed ones)."""

    def change(policy: GuildPolicy) -> GuildPolicy:
        if channel_id in policy.allowed_channels:
            return policy
        if len(policy.allowed_channels) >= MAX_CHANNELS:
            raise ValueError(f"at most {MAX_CHANNELS} channels can be listed")
        return policy.model_copy(
            update={"allowed_channels": (*policy.allowed_channels, channel_id)}
        )

    return change, f"allowed in <#{channel_id}>"


def disallow_channel(channel_id: str) -> tuple[Change, str]:
    """Take a channel off the list (an empty list: everywhere)."""

    def change(policy: GuildPolicy) -> GuildPolicy:
        if channel_id not in policy.allowed_channels:
            raise ValueError(f"<#{channel_id}> is not on the list of allowed channels")
        kept = tuple(c for c in policy.allowed_channels if c != channel_id)
        return policy.model_copy(update={"allowed_channels": kept})

    return change, f"no longer allowed in <#{channel_id}>"


def block_term(term: str, check: TermCheck) -> tuple[Change, str]:
    """Block a term (``/…/``: a regular expression); ``check`` refuses one that won't work."""
    term = term.strip()
    check(term)

    def change(policy: GuildPolicy) -> GuildPolicy:
        if term in policy.blocked_terms:
            return policy
        if len(policy.blocked_terms) >= MAX_TERMS:
            raise ValueError(f"at most {MAX_TERMS} terms can be blocked")
        return policy.model_copy(update={"blocked_terms": (*policy.blocked_terms, term)})

    return change, f"blocked a term ({len(term)} characters)"


def unblock_term(term: str) -> tuple[Change, str]:
    """Unblock a term, written exactly as it was blocked."""
    term = term.strip()

    def change(policy: GuildPolicy) -> GuildPolicy:
        if term not in policy.blocked_terms:
            raise ValueError("that term is not blocked (write it exactly as it was blocked)")
        kept = tuple(t for t in policy.blocked_terms if t != term)
        return policy.model_copy(update={"blocked_terms": kept})

    return change, "unblocked a term"


def require_role(role_id: str | None) -> tuple[Change, str]:
    """Require a role to use the bot (None: anyone may)."""
    what = f"requires the <@&{role_id}> role" if role_id else "no role required"
    return _update(required_role=role_id), what


def role_quota(role_id: str, credits: int | None) -> tuple[Change, str]:
    """Daily credits for members with the role (None: the role's own quota is removed)."""
    if credits is not None and not 0 <= credits <= MAX_CREDITS:
        raise ValueError(f"credits must be between 0 and {MAX_CREDITS:,}")

    def change(policy: GuildPolicy) -> GuildPolicy:
        quotas = dict(policy.role_quotas)
        if credits is None:
            quotas.pop(role_id, None)
        elif role_id not in quotas and len(quotas) >= MAX_ROLE_QUOTAS:
            raise ValueError(f"at most {MAX_ROLE_QUOTAS} roles can have their own quota")
        else:
            quotas[role_id] = credits
        return policy.model_copy(update={"role_quotas": quotas})

    what = (
        f"<@&{role_id}>: the default quota"
        if credits is None
        else f"<@&{role_id}>: {credits} credit(s) a day"
    )
    return change, what


def ban(user_id: str, reason: str | None, by: str, at: float) -> tuple[Change, str]:
    """Ban a member from using the bot here."""
    reason = reason.strip()[:200] if reason else None

    def change(policy: GuildPolicy) -> GuildPolicy:
        if user_id not in policy.bans and len(policy.bans) >= MAX_BANS:
            raise ValueError(f"at most {MAX_BANS:,} members can be banned")
        bans = {**policy.bans, user_id: Ban(reason=reason, by=by, at=at)}
        return policy.model_copy(update={"bans": bans})

    return change, f"banned <@{user_id}>" + (f" ({reason})" if reason else "")


def unban(user_id: str) -> tuple[Change, str]:
    """Lift a ban."""

    def change(policy: GuildPolicy) -> GuildPolicy:
        if user_id not in policy.bans:
            raise ValueError(f"<@{user_id}> is not banned")
        return policy.model_copy(
            update={"bans": {u: b for u, b in policy.bans.items() if u != user_id}}
        )

    return change, f"unbanned <@{user_id}>"


def budget(daily: int | None, monthly: int | None) -> tuple[Change, str]:
    """The server's credits per UTC day and month (0 or None: unlimited)."""
    for value in (daily, monthly):
        if value is not None and not 0 <= value <= MAX_CREDITS:
            raise ValueError(f"a budget must be between 0 and {MAX_CREDITS:,} credits")
    day, month = daily or None, monthly or None
    shown = f"daily {day or 'unlimited'}, monthly {month or 'unlimited'}"
    return _update(budget_daily=day, budget_monthly=month), f"server budget: {shown}"


def audit_log(channel_id: str | None) -> tuple[Change, str]:
    """Where the audit log is posted (None: the database only)."""
    what = f"audit log posted in <#{channel_id}>" if channel_id else "audit log not posted"
    return _update(audit_channel=channel_id), what


def defaults(
    model: str | None,
    aspect: str | None,
    resolution: str | None,
    file_format: str | None = None,
) -> tuple[Change, str]:
    """The model, aspect, resolution and file format used when a member chooses none (all
    None: cleared; a format applies only to models that offer a choice). The caller checks
    the model and aspect against what is configured."""
    if resolution is not None and resolution not in RESOLUTION_ORDER:
        raise ValueError(f"resolution must be one of {', '.join(RESOLUTION_ORDER)}")
    if file_format is not None and file_format not in FILE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(FILE_FORMATS)}")
    given = (("model", model), ("aspect", aspect), ("resolution", resolution))
    shown = ", ".join(
        f"{name} {value}" for name, value in (*given, ("format", file_format)) if value
    )
    change = _update(
        default_model=model,
        default_aspect=aspect,
        default_resolution=resolution,
        default_format=file_format,
    )
    return change, f"defaults: {shown or 'none (each model’s own)'}"


def limits(
    max_resolution: str | None, grounding: bool | None, edit: bool | None
) -> tuple[Change, str]:
    """The highest resolution, whether grounding and /edit are allowed (all None: no
    limits)."""
    if max_resolution is not None and max_resolution not in RESOLUTION_ORDER:
        raise ValueError(f"max-resolution must be one of {', '.join(RESOLUTION_ORDER)}")
    everything = max_resolution is None and grounding is None and edit is None
    fields: dict[str, object] = {}
    if everything or max_resolution is not None:
        fields["max_resolution"] = max_resolution
    if everything or grounding is not None:
        fields["grounding_allowed"] = True if grounding is None else grounding
    if everything or edit is not None:
        fields["edit_allowed"] = True if edit is None else edit

    def change(policy: GuildPolicy) -> GuildPolicy:
        return policy.model_copy(update=fields)

    return change, "limits: " + ("none" if everything else _describe_limits(fields))


def _describe_limits(fields: dict[str, object]) -> str:
    words = []
    if "max_resolution" in fields:
        words.append(f"up to {fields['max_resolution'] or 'any'} resolution")
    if "grounding_allowed" in fields:
        words.append("grounding " + ("allowed" if fields["grounding_allowed"] else "off"))
    if "edit_allowed" in fields:
        words.append("/edit " + ("allowed" if fields["edit_allowed"] else "off"))
    return ", ".join(words)
