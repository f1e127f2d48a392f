"""What moderation needs from storage: each server's policy, the audit log and usage figures.
The storage package implements it (:class:`bot.storage.guilds.SqlGuilds`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from bot.jobs.models import Job
from bot.moderation.audit import AuditEvent, DailyCredits, UserCredits
from bot.moderation.policy import GuildPolicy

#: a settings change: the new policy from the current one (raises ValueError to refuse)
Change = Callable[[GuildPolicy], GuildPolicy]


class GuildStore(Protocol):
    """Per-server settings, audit log and usage."""

    async def policy(self, guild_id: str) -> GuildPolicy:
        """The server's policy (the defaults when it never set anything)."""

    async def change(self, guild_id: str, change: Change, event: AuditEvent) -> GuildPolicy:
        """Apply ``change`` to the server's policy and record ``event``, in one transaction;
        returns the new policy. A ``ValueError`` from ``change`` changes nothing."""

    async def record(self, event: AuditEvent) -> int:
        """Add an audit entry; its id."""

    async def events(self, guild_id: str, limit: int = 50) -> list[AuditEvent]:
        """The server's latest audit entries, newest first."""

    async def daily_credits(self, guild_id: str, since_day: str) -> list[DailyCredits]:
        """Credits spent in the server per UTC day from ``since_day`` on (days with none are
        left out)."""

    async def top_users(self, guild_id: str, since_day: str, limit: int = 10) -> list[UserCredits]:
        """The members who spent the most since ``since_day``."""

    async def recent_jobs(self, guild_id: str, user_id: str | None, limit: int = 10) -> list[Job]:
        """The latest jobs in the server (of one member when ``user_id`` is set), newest
        first, without images."""
