"""One server's settings, as its admins set them with ``/settings``, and what they mean for a
request: the requester's daily allowance, the server's budget, the defaults and limits.

Stored as one JSON document per server (``guild_settings``); every change is a pure function
of the current policy (see :mod:`bot.moderation.changes`), applied in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from bot.jobs.quota import ServerBudget

#: resolutions from smallest to largest (a limit allows its own and those before it)
RESOLUTION_ORDER = ("1K", "2K", "4K")


class Ban(BaseModel):
    """A member who may not use the bot in this server."""

    model_config = ConfigDict(frozen=True)

    reason: str | None = None
    by: str | None = None  # the admin's user id
    at: float = 0.0


class GuildPolicy(BaseModel):
    """Every setting of one server; the defaults are "no restriction"."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: channels the bot may be used in (a thread follows its parent); empty: everywhere
    allowed_channels: tuple[str, ...] = ()
    #: as the admins wrote them: plain terms, or ``/regular expressions/``
    blocked_terms: tuple[str, ...] = ()
    #: a role every requester must have; None: anyone
    required_role: str | None = None
    #: daily credits by role id (a member gets the highest that applies, else the default)
    role_quotas: dict[str, int] = Field(default_factory=dict)
    bans: dict[str, Ban] = Field(default_factory=dict)
    #: credits the whole server may use per UTC day / month; None: unlimited
    budget_daily: int | None = None
    budget_monthly: int | None = None
    #: where every job and moderation action is posted; None: the database only
    audit_channel: str | None = None
    default_model: str | None = None  # ``provider`` or ``provider:model``
    default_aspect: str | None = None
    default_resolution: str | None = None
    default_format: str | None = None  # ``png`` or ``jpg``, where the model offers a choice
    #: the highest resolution members may ask for; None: any
    max_resolution: str | None = None
    grounding_allowed: bool = True
    edit_allowed: bool = True

    def allowance(self, role_ids: Iterable[str], default: int | None) -> int | None:
        """The daily credits of a member with ``role_ids``: the highest role quota that
        applies, else ``default`` (None: unlimited)."""
        quotas = [self.role_quotas[role] for role in role_ids if role in self.role_quotas]
        if not quotas:
            return default
        return max(quotas)

    def budget(self) -> ServerBudget | None:
        """The server's budget, or None when it has none."""
        if self.budget_daily is None and self.budget_monthly is None:
            return None
        return ServerBudget(daily=self.budget_daily, monthly=self.budget_monthly)

    def resolution_allowed(self, resolution: str | None) -> bool:
        """True when ``resolution`` (None: the model's default) is within the limit."""
        if self.max_resolution is None or resolution is None:
            return True
        if resolution not in RESOLUTION_ORDER or self.max_resolution not in RESOLUTION_ORDER:
            return resolution == self.max_resolution
        return RESOLUTION_ORDER.index(resolution) <= RESOLUTION_ORDER.index(self.max_resolution)

    def channel_allowed(self, channel_id: str | None, parent_id: str | None) -> bool:
        """True when the bot may be used in the channel (or in the thread's parent)."""
        if not self.allowed_channels:
            return True
        return any(c in self.allowed_channels for c in (channel_id, parent_id) if c)
