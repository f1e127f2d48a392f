"""Leases: any process finishes any job.

Several processes may share one store (PostgreSQL). Each engine is a *worker* with a random id
(host, process and a random part, for the operator's eye); its heartbeat, every
``heartbeat_seconds``, says it is alive (:meth:`~bot.jobs.ports.LeaseStore.beat`). Work is
claimed in the store, never only in memory:

* a queued job is moved to ``submitting`` by one worker, within its provider's concurrency,
  counted in the same serialised step (:meth:`~bot.jobs.ports.LeaseStore.claim_submit`);
* due polls and deliveries are claimed by pushing their due time ``lease_seconds`` ahead
  (:meth:`~bot.jobs.ports.LeaseStore.claim_polls`); a poll then sets its own next time, a
  delivery in progress is renewed at every heartbeat, and a crashed claimer's jobs simply come
  due again when the lease passes — takeover needs no code of its own;
* a submitting job whose worker is not seen for ``lease_seconds`` is failed with a refund by
  whoever notices first, at every heartbeat (:mod:`bot.jobs.recovery`): the request may or may
  not have been sent, and is never sent again.

A worker that stops is forgotten at once (its submits are then another's to fail); one that
dies is forgotten when its lease passes. With a store no other process uses (SQLite) the same
claims only keep this engine from starting work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Mapping

from bot.jobs.budget import StatusBudget
from bot.jobs.context import EngineContext
from bot.jobs.ports import StoreUnavailableError
from bot.jobs.recovery import recover

log = logging.getLogger(__name__)


def new_worker_id() -> str:
    """A worker id no other process has: host, process id and a random part."""
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


class Heartbeat:
    """The worker's heartbeat: alive, deliveries in progress renewed, dead workers' submits
    failed (with a shared store)."""

    def __init__(self, ctx: EngineContext, budgets: Mapping[str, StatusBudget]) -> None:
        """``budgets``: the providers' status-read budgets, shared out among the live
        processes at every heartbeat."""
        self.ctx = ctx
        self.budgets = budgets
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Say the worker is alive, then keep saying it in the background."""
        await self.ctx.store.leases.beat(self.ctx.worker, self.ctx.clock())
        self._task = asyncio.get_running_loop().create_task(self._run(), name="heartbeat")

    async def beat(self) -> None:
        """One heartbeat."""
        ctx = self.ctx
        leases = ctx.store.leases
        now = ctx.clock()
        await leases.beat(ctx.worker, now)
        if leases.shared:  # the providers' read budgets are shared by every live process
            processes = await leases.live(now - ctx.config.lease_seconds)
            for budget in self.budgets.values():
                budget.share(processes)
        await leases.renew(ctx.worker, ctx.tasks.running("deliver"), ctx.lease_until())
        if await recover(ctx, starting=False):
            ctx.wake()  # their places at the provider are free

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.config.heartbeat_seconds)
            try:
                await self.beat()
            except StoreUnavailableError as exc:
                self.ctx.guard.failed(exc)
            except Exception:
                log.exception("heartbeat failed")

    async def stop(self, *, release: bool) -> None:
        """Stop beating; ``release``: forget the worker in the store too (a graceful stop;
        a dying process cannot)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if release:
            with contextlib.suppress(StoreUnavailableError):
                await self.ctx.store.leases.release(self.ctx.worker)
