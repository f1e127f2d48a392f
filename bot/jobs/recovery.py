"""Recovery: what becomes of the jobs a dead process left behind.

Every state change was persisted before its side effect, so taking over is reading the store: a
job caught mid-submit may or may not have reached the provider and is never resent (it could
bill twice: it fails with a refund); tracked jobs are polled at once; succeeded jobs are
delivered (after looking for a delivery the dead process made but did not record).

Which process is dead: with a store no other process uses (SQLite), at start, every earlier
one. With a shared store, a worker not seen for ``lease_seconds`` (see :mod:`bot.jobs.leases`):
its submits are failed by whichever live worker looks first, at its start and at every
heartbeat; its polls and deliveries come due again when their claims expire.
"""

from __future__ import annotations

import math

from bot.jobs.context import EngineContext
from bot.jobs.models import FailureKind

RESUME_LIMIT = 10_000


async def recover(ctx: EngineContext, *, starting: bool) -> int:
    """Fail the submits of dead workers; at start, also make their tracked and succeeded jobs
    due now. How many submits failed."""
    leases = ctx.store.leases
    if not starting and not leases.shared:
        return 0  # the only process is this one
    now = ctx.clock()
    live_since = now - ctx.config.lease_seconds if leases.shared else math.inf
    failed = 0
    for job in await leases.stranded(live_since, limit=RESUME_LIMIT):
        if job.claimed_by == ctx.worker:
            continue  # this process's own (its heartbeat came late): it records the answer
        failed += 1
        await ctx.fail(
            job,
            FailureKind.UNKNOWN_OUTCOME,
            "the bot restarted while sending this request; it was not sent again, "
            "to avoid paying twice",
        )
    if starting:  # every tracked job due for a poll, every succeeded one to deliver
        await leases.resume(now, live_since)
    return failed
