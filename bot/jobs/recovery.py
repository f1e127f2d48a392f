"""Recovery: what a (re)starting engine does with the jobs a previous process left behind.

Every state change was persisted before its side effect, so resuming is reading the store: a
job caught mid-submit may or may not have reached the provider and is never resent (it could
bill twice: it fails with a refund); tracked jobs are polled at once; succeeded jobs are
delivered (after looking for a delivery the previous process made but did not record).
"""

from __future__ import annotations

from bot.jobs.context import EngineContext
from bot.jobs.models import FailureKind
from bot.jobs.states import JobStatus

RESUME_LIMIT = 10_000


async def recover(ctx: EngineContext) -> None:
    """Resume every unfinished job (see the module docstring)."""
    now = ctx.clock()
    jobs = ctx.store.jobs
    for job in await jobs.with_status([JobStatus.SUBMITTING], limit=RESUME_LIMIT):
        await ctx.fail(
            job,
            FailureKind.UNKNOWN_OUTCOME,
            "the bot restarted while sending this request; it was not sent again, "
            "to avoid paying twice",
        )
    await jobs.resume(now)  # every tracked job due for a poll, every succeeded one to deliver
