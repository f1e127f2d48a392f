"""Housekeeping: now and then, the store deletes what is no longer needed.

A delivered job's reference images are kept ``reference_retention`` seconds after it ended, for
re-rolls (a re-roll after that is refused with the reason, see ``references_purged_at``); then
they are deleted, and the database file gives back the space. It runs in the background at
most every ``housekeeping_interval`` seconds, never on the engine loop itself.
"""

from __future__ import annotations

import logging

from bot.jobs.context import EngineContext
from bot.jobs.ports import StoreUnavailableError

log = logging.getLogger(__name__)

#: batches of purged jobs per run at most (the next run goes on)
MAX_BATCHES = 20
BATCH = 500


class Housekeeping:
    """Starts a housekeeping run whenever one is due."""

    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._next_at: float | None = None  # the first run comes at the first look

    def run_if_due(self) -> None:
        """Start a run in the background when the last one was long enough ago."""
        now = self.ctx.clock()
        if self._next_at is not None and now < self._next_at:
            return
        self._next_at = now + self.ctx.config.housekeeping_interval
        self.ctx.tasks.spawn("housekeeping", "store", self.run())

    async def run(self) -> None:
        """Delete references past their retention, then compact the store."""
        ctx = self.ctx
        retention = ctx.store.retention
        try:
            for _ in range(MAX_BATCHES):
                now = ctx.clock()
                purged = await retention.purge_references(
                    now - ctx.config.reference_retention, now, BATCH
                )
                if purged < BATCH:
                    break
            await retention.compact()
        except StoreUnavailableError as exc:  # the guard says so, once
            ctx.guard.failed(exc)
        except Exception as exc:  # the next run tries again; jobs never wait for this
            log.warning("housekeeping failed, tried again later: %s", exc)
