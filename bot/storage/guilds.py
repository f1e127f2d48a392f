"""Moderated servers (:class:`bot.moderation.ports.GuildStore`): each server's policy
as one validated JSON document, the audit log, and usage read from the quota ledger."""

from __future__ import annotations

import json
import logging

from bot.jobs.models import Job
from bot.moderation.audit import AuditEvent, AuditKind, DailyCredits, UserCredits
from bot.moderation.policy import GuildPolicy
from bot.moderation.ports import Change
from bot.storage.rows import job_from_row
from bot.storage.sql import Database, Transaction

log = logging.getLogger(__name__)


class SqlGuilds:
    """Per-server settings, audit log and usage."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def policy(self, guild_id: str) -> GuildPolicy:
        """The server's policy (the defaults when it never set anything)."""
        row = await self.db.lookup_one(
            "SELECT settings_json FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return _policy(guild_id, row[0] if row else None)

    async def change(self, guild_id: str, change: Change, event: AuditEvent) -> GuildPolicy:
        """Apply ``change`` and record ``event`` in one transaction; the new policy."""
        async with self.db.transaction() as tx:
            await tx.lock(f"guild:{guild_id}")  # read, change, write: one change at a time
            row = await tx.fetchone(
                "SELECT settings_json FROM guild_settings WHERE guild_id = ?", (guild_id,)
            )
            updated = change(_policy(guild_id, row[0] if row else None))
            await tx.execute(
                "INSERT INTO guild_settings (guild_id, settings_json, updated_at) "
                "VALUES (?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                "settings_json = excluded.settings_json, updated_at = excluded.updated_at",
                (guild_id, updated.model_dump_json(), event.at),
            )
            await _insert(tx, event)
        return updated

    async def record(self, event: AuditEvent) -> int:
        """Add an audit entry; its id."""
        return await self.db.run(lambda tx: _insert(tx, event))

    async def events(self, guild_id: str, limit: int = 50) -> list[AuditEvent]:
        """The server's latest audit entries, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM audit_events WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [
            AuditEvent(
                id=row["id"],
                guild_id=row["guild_id"],
                kind=AuditKind(row["kind"]),
                at=row["at"],
                actor_id=row["actor_id"],
                job_id=row["job_id"],
                channel_id=row["channel_id"],
                detail=json.loads(row["detail_json"]),
            )
            for row in rows
        ]

    async def daily_credits(self, guild_id: str, since_day: str) -> list[DailyCredits]:
        """Credits spent in the server per UTC day from ``since_day`` on."""
        rows = await self.db.fetchall(
            "SELECT day, SUM(credits), COUNT(*) FROM quota_ledger "
            "WHERE guild_id = ? AND entry = 'commit' AND day >= ? GROUP BY day ORDER BY day",
            (guild_id, since_day),
        )
        return [DailyCredits(day=row[0], credits=int(row[1]), jobs=int(row[2])) for row in rows]

    async def top_users(self, guild_id: str, since_day: str, limit: int = 10) -> list[UserCredits]:
        """The members who spent the most since ``since_day``."""
        rows = await self.db.fetchall(
            "SELECT user_id, SUM(credits) AS spent, COUNT(*) FROM quota_ledger "
            "WHERE guild_id = ? AND entry = 'commit' AND day >= ? "
            "GROUP BY user_id ORDER BY spent DESC, user_id LIMIT ?",
            (guild_id, since_day, limit),
        )
        return [UserCredits(user_id=row[0], credits=int(row[1]), jobs=int(row[2])) for row in rows]

    async def recent_jobs(self, guild_id: str, user_id: str | None, limit: int = 10) -> list[Job]:
        """The latest jobs in the server (of one member when ``user_id`` is set)."""
        if user_id is None:
            rows = await self.db.fetchall(
                "SELECT * FROM jobs WHERE guild_id = ? ORDER BY created_at DESC LIMIT ?",
                (guild_id, limit),
            )
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? "
                "ORDER BY created_at DESC LIMIT ?",
                (guild_id, user_id, limit),
            )
        return [job_from_row(row) for row in rows]


def _policy(guild_id: str, stored: str | None) -> GuildPolicy:
    if stored is None:
        return GuildPolicy()
    try:
        return GuildPolicy.model_validate_json(stored)
    except ValueError as exc:  # a damaged row must not lock a server out of its bot
        log.error("server %s: stored settings unreadable, using defaults: %s", guild_id, exc)
        return GuildPolicy()


async def _insert(tx: Transaction, event: AuditEvent) -> int:
    row = await tx.fetchone(
        "INSERT INTO audit_events (guild_id, at, actor_id, kind, job_id, channel_id, "
        "detail_json) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            event.guild_id,
            event.at,
            event.actor_id,
            event.kind.value,
            event.job_id,
            event.channel_id,
            json.dumps(event.detail),
        ),
    )
    assert row is not None
    return int(row[0])
