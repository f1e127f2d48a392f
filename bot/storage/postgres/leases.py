"""Workers and claims in PostgreSQL: the portable SQL of :mod:`bot.storage.leases` with row
locks skipped by other claimers (``FOR UPDATE SKIP LOCKED``), a provider's jobs counted under
an advisory lock (:meth:`~bot.storage.postgres.db.PgTransaction.lock`), and wake-ups by
``LISTEN/NOTIFY`` on one channel per schema (``bananabot_<schema>``): a notification is sent
when a transaction that made work due commits (a worker's goodbye here; admissions and hints
through :meth:`PgLeases.nudge`), and every engine listens on a connection of its own, opened
again when it is lost (meanwhile the engine still looks every ``idle_tick``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg

from bot.jobs.ports import StoreUnavailableError, Unlisten, Wake
from bot.storage.leases import SqlLeases
from bot.storage.postgres.db import PgDatabase
from bot.storage.sql import Transaction

log = logging.getLogger(__name__)

#: seconds between attempts to open the listening connection again
RELISTEN_AFTER = 2.0


class PgLeases(SqlLeases):
    """Claims that skip what another process holds, and wake-ups between processes."""

    LOCK_ROWS = " FOR UPDATE SKIP LOCKED"

    def __init__(self, db: PgDatabase) -> None:
        super().__init__(db)
        self.pg = db
        self._channel: str | None = None
        self._turns: dict[str, asyncio.Lock] = {}

    @property
    def shared(self) -> bool:
        """Yes: any number of processes may use one PostgreSQL database."""
        return True

    def turn(self, provider: str) -> AbstractAsyncContextManager[object]:
        """This process's claims of ``provider``'s jobs one at a time: they take turns under
        its advisory lock anyway, and one waiting here holds no pooled connection (32 waiting
        there held the pool's 10, and every other transaction waited for one)."""
        return self._turns.setdefault(provider, asyncio.Lock())

    async def channel(self) -> str:
        """The notification channel of this schema."""
        if self._channel is None:
            row = await self.db.fetchone("SELECT current_schema()")
            self._channel = f"bananabot_{row[0] if row else 'public'}"[:63]
        return self._channel

    async def notify(self, tx: Transaction) -> None:
        """Wake the other processes when ``tx`` commits."""
        await tx.execute("SELECT pg_notify(?, '')", (await self.channel(),))

    async def nudge(self) -> None:
        """Wake the other processes now."""
        await self.db.fetchone("SELECT pg_notify(?, '')", (await self.channel(),))

    async def listen(self, wake: Wake) -> Unlisten:
        """Call ``wake`` on every notification of the channel, from a connection of its own."""
        channel = await self.channel()
        stopped = asyncio.Event()
        listening = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self._listen(channel, wake, stopped, listening), name="store-listen"
        )
        with contextlib.suppress(TimeoutError):  # a first try; it goes on trying regardless
            await asyncio.wait_for(listening.wait(), 10.0)

        async def unlisten() -> None:
            stopped.set()
            await asyncio.gather(task, return_exceptions=True)

        return unlisten

    async def _listen(
        self, channel: str, wake: Wake, stopped: asyncio.Event, listening: asyncio.Event
    ) -> None:
        def heard(*_: Any) -> None:
            wake()

        while not stopped.is_set():
            try:
                async with self.pg.dedicated() as conn:
                    lost = asyncio.Event()
                    conn.add_termination_listener(functools.partial(_set, lost))
                    await conn.add_listener(channel, heard)
                    listening.set()
                    wake()  # anything made due while not listening
                    await _first(stopped, lost)
            except (
                StoreUnavailableError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                OSError,
            ) as exc:
                log.info("listening for other processes failed, trying again: %s", exc)
            except Exception:  # never the end of listening
                log.exception("listening for other processes failed, trying again")
            listening.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), RELISTEN_AFTER)


async def _first(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


def _set(event: asyncio.Event, *_: object) -> None:
    event.set()
