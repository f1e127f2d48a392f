"""Who may start a job where, decided before any credit is reserved.

:func:`check_access` applies a server's policy to one request: bans, allowed channels (a thread
follows its parent), the required role, whether /edit is allowed, the highest resolution,
grounding, and blocked terms, in that order. A refusal says why and what to do, privately,
and never names the blocked term it matched (the audit log records it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.moderation.policy import GuildPolicy


class RefusalReason(StrEnum):
    """Why a request was refused (the audit log's ``detail.reason``)."""

    BANNED = "banned"
    CHANNEL = "channel"
    ROLE = "role"
    EDIT = "edit"
    RESOLUTION = "resolution"
    GROUNDING = "grounding"
    BLOCKED_TERM = "blocked_term"


@dataclass(frozen=True)
class Requester:
    """Who asks, and where."""

    user_id: str
    channel_id: str | None
    #: the parent channel when ``channel_id`` is a thread
    parent_id: str | None = None
    role_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Asked:
    """What is asked for, as far as a server's policy cares."""

    prompt: str
    edit: bool = False
    resolution: str | None = None
    grounding: bool = False


@dataclass(frozen=True)
class Refusal:
    """A request the policy does not allow: ``message`` for the member, ``term`` (for the
    audit log only) when a blocked term matched."""

    reason: RefusalReason
    message: str
    term: str | None = None


#: finds the first blocked term in a prompt (the term as written), or None
TermFinder = Callable[[str], str | None]


def check_access(
    policy: GuildPolicy, requester: Requester, asked: Asked, find_term: TermFinder
) -> Refusal | None:
    """The first rule ``asked`` breaks for ``requester``, or None when it may go ahead."""
    ban = policy.bans.get(requester.user_id)
    if ban is not None:
        why = f" ({ban.reason})" if ban.reason else ""
        return Refusal(
            RefusalReason.BANNED,
            f"❌ You can't use the bot in this server{why}. Ask a server admin if this is a "
            "mistake.",
        )
    if not policy.channel_allowed(requester.channel_id, requester.parent_id):
        channels = ", ".join(f"<#{c}>" for c in policy.allowed_channels[:10])
        return Refusal(
            RefusalReason.CHANNEL,
            f"❌ The bot isn't used in this channel here. Try {channels}.",
        )
    if policy.required_role is not None and policy.required_role not in requester.role_ids:
        return Refusal(
            RefusalReason.ROLE,
            f"❌ You need the <@&{policy.required_role}> role to use the bot in this server.",
        )
    if asked.edit and not policy.edit_allowed:
        return Refusal(RefusalReason.EDIT, "❌ Editing images is turned off in this server.")
    if not policy.resolution_allowed(asked.resolution):
        return Refusal(
            RefusalReason.RESOLUTION,
            f"❌ This server allows resolutions up to {policy.max_resolution}; choose "
            f"{policy.max_resolution} or lower.",
        )
    if asked.grounding and not policy.grounding_allowed:
        return Refusal(
            RefusalReason.GROUNDING,
            "❌ Google-search grounding is turned off in this server; run it without `grounding`.",
        )
    term = find_term(asked.prompt)
    if term is not None:
        return Refusal(
            RefusalReason.BLOCKED_TERM,
            "❌ Your prompt contains a term this server does not allow. Nothing was charged.",
            term=term,
        )
    return None
