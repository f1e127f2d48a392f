"""What every SQL store is made of: the repositories both backends share (jobs, quota, meta,
servers) over one :class:`~bot.storage.sql.Database`, and the backend's own retention and
leases."""

from __future__ import annotations

from typing import Generic, TypeVar

from bot.storage.guilds import SqlGuilds
from bot.storage.images import JobImages
from bot.storage.jobs import SqlJobs
from bot.storage.meta import SqlMeta
from bot.storage.quota import SqlQuota
from bot.storage.sql import Database

RetentionT = TypeVar("RetentionT")
LeasesT = TypeVar("LeasesT")


class SqlStoreParts(Generic[RetentionT, LeasesT]):
    """The parts of a store (:class:`bot.jobs.ports.Store`) over ``db``."""

    def __init__(
        self, db: Database, images: JobImages, retention: RetentionT, leases: LeasesT
    ) -> None:
        self._database = db
        self._jobs = SqlJobs(db, images)
        self._guilds = SqlGuilds(db)
        self._quota = SqlQuota(db)
        self._meta = SqlMeta(db)
        self._retention = retention
        self._leases = leases

    @property
    def jobs(self) -> SqlJobs:
        """Jobs and the ledger effects of their status changes."""
        return self._jobs

    @property
    def quota(self) -> SqlQuota:
        """Quota reads."""
        return self._quota

    @property
    def meta(self) -> SqlMeta:
        """Key/value facts."""
        return self._meta

    @property
    def guilds(self) -> SqlGuilds:
        """Moderated servers: settings, audit log, usage."""
        return self._guilds

    @property
    def retention(self) -> RetentionT:
        """Deleting what is no longer needed (old references; the backend's compaction)."""
        return self._retention

    @property
    def leases(self) -> LeasesT:
        """Workers and their claims on jobs (and, where processes share the store, wake-ups
        between them)."""
        return self._leases

    async def ping(self) -> None:
        """One round trip to the database."""
        await self._database.fetchone("SELECT 1")
