"""The audit log's entries: every job, every refusal, every settings change and deletion, with
who did it, where, and the details a moderator needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AuditKind(StrEnum):
    """What an entry records."""

    JOB = "job"  # a job ended (delivered, failed, rejected by the provider, ...)
    REFUSED = "refused"  # a request the server's policy refused (ban, channel, role, term...)
    SETTINGS = "settings"  # an admin changed a setting
    DELETED = "deleted"  # a result was deleted (by its requester or a moderator)


@dataclass(frozen=True)
class AuditEvent:
    """One entry. ``detail`` holds plain values only (it is stored as JSON)."""

    guild_id: str
    kind: AuditKind
    at: float
    actor_id: str | None = None
    job_id: str | None = None
    channel_id: str | None = None
    detail: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class DailyCredits:
    """Credits spent in a server on one UTC day, and by how many jobs."""

    day: str
    credits: int
    jobs: int


@dataclass(frozen=True)
class UserCredits:
    """Credits one member spent in a server over a period."""

    user_id: str
    credits: int
    jobs: int
