"""Wake-ups between processes on PostgreSQL (bot/storage/postgres/leases.py): a nudge or a
worker's goodbye in one pool wakes a listener in another, and a listener whose connection is
lost listens again."""

from __future__ import annotations

import asyncio

from bot.storage.postgres.store import PostgresStore
from tests.pg import pg_schema


async def _heard(woken: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(woken.wait(), 10.0)
    except TimeoutError:
        raise AssertionError(f"not woken by {what}") from None
    woken.clear()


async def test_a_nudge_or_a_goodbye_wakes_the_other_process_and_a_lost_listener_returns():
    async with pg_schema() as url:
        listener, other = await PostgresStore.open(url), await PostgresStore.open(url)
        woken = asyncio.Event()
        unlisten = await listener.leases.listen(woken.set)
        try:
            assert listener.leases.shared
            await _heard(woken, "listening (a first look)")
            await other.leases.nudge()
            await _heard(woken, "a nudge")
            await other.leases.beat("w", 1.0)
            await other.leases.release("w")
            await _heard(woken, "a goodbye")
            async with other.db.transaction() as tx:  # the listening connection dies
                ended = await tx.fetchall(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN %' AND query LIKE '%' || current_schema() || '%' "
                    "AND datname = current_database() AND pid <> pg_backend_pid()"
                )
            assert ended
            await _heard(woken, "listening again")
            await other.leases.nudge()
            await _heard(woken, "a nudge after listening again")
        finally:
            await unlisten()
            await listener.close()
            await other.close()
