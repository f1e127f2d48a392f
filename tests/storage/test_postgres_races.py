"""Many processes on one PostgreSQL: several stores (each its own pool, as separate processes
would have) race the same compare-and-set transition, one user's active limit, one user's
allowance and one server's budget. Exactly one transition wins; no limit is ever passed."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import pytest

from bot.jobs.models import Origin
from bot.jobs.ports import UserLimitError
from bot.jobs.quota import BudgetExceededError, QuotaExceededError, ServerBudget
from bot.jobs.states import JobStatus
from bot.storage.postgres.store import PostgresStore
from tests.pg import pg_schema
from tests.storage.test_store_contract import NOW, new_job

STORES = 4
LIMIT_S = 30.0


@pytest.fixture
async def stores() -> AsyncIterator[list[PostgresStore]]:
    async with pg_schema() as url:
        opened = [await PostgresStore.open(url) for _ in range(STORES)]
        try:
            yield opened
        finally:
            for store in opened:
                await store.close()


async def race(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run every call at once, bounded in time; results and exceptions."""
    gate = asyncio.Event()

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        await gate.wait()
        return await call()

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    await asyncio.sleep(0)
    gate.set()
    return list(await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), LIMIT_S))


def ok(results: list[Any]) -> list[Any]:
    unexpected = [r for r in results if isinstance(r, BaseException) and not _refusal(r)]
    assert not unexpected, unexpected
    return [r for r in results if not isinstance(r, BaseException)]


def _refusal(exc: BaseException) -> bool:
    return isinstance(exc, UserLimitError | QuotaExceededError | BudgetExceededError)


async def test_exactly_one_of_many_racing_transitions_wins(stores) -> None:
    for round_ in range(5):
        job = await stores[0].jobs.admit(new_job(f"u{round_}"), active_limit=9, allowance=None)
        moved = await race(
            [
                partial(s.jobs.transition, job.id, JobStatus.SUBMITTING, now=NOW)
                for s in stores
                for _ in range(5)
            ]
        )
        assert sum(m is not None for m in ok(moved)) == 1
        events = await stores[0].jobs.events(job.id)
        assert [to for _, to in events] == ["queued", "submitting"]


async def test_delivery_racing_failure_settles_the_credits_once(stores) -> None:
    job = await stores[0].jobs.admit(new_job("u1", cost=3), active_limit=9, allowance=10)
    await stores[1].jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW)
    await stores[2].jobs.transition(job.id, JobStatus.SUCCEEDED, now=NOW)
    endings = [JobStatus.DELIVERED, JobStatus.FAILED] * 4
    moved = ok(
        await race(
            [
                partial(s.jobs.transition, job.id, to, now=NOW + 1)
                for s, to in zip(stores * 2, endings, strict=True)
            ]
        )
    )
    winners = [m for m in moved if m is not None]
    assert len(winners) == 1
    snapshot = await stores[3].quota.snapshot("u1", NOW, 10)
    spent = 3 if winners[0].status is JobStatus.DELIVERED else 0
    assert (snapshot.reserved, snapshot.spent) == (0, spent)


async def test_racing_admissions_never_pass_a_users_active_limit(stores) -> None:
    results = await race(
        [
            partial(s.jobs.admit, new_job("u1"), active_limit=3, allowance=None)
            for s in stores
            for _ in range(6)
        ]
    )
    assert len(ok(results)) == 3
    assert len(await stores[0].jobs.with_status(list(JobStatus))) == 3


async def test_racing_admissions_never_pass_a_users_allowance(stores) -> None:
    results = await race(
        [
            partial(s.jobs.admit, new_job("u1"), active_limit=1000, allowance=5)
            for s in stores
            for _ in range(10)
        ]
    )
    assert len(ok(results)) == 5
    assert (await stores[0].quota.snapshot("u1", NOW, 5)).remaining == 0


async def test_racing_admissions_never_pass_a_servers_budget(stores) -> None:
    budget = ServerBudget(daily=7)

    def in_guild(i: int) -> Any:
        job = new_job(f"u{i}")
        origin = Origin(user_id=f"u{i}", guild_id="g1", channel_id="c1", upload_limit=1024)
        return dataclasses.replace(job, origin=origin)

    results = await race(
        [
            partial(
                stores[i % STORES].jobs.admit,
                in_guild(i),
                active_limit=3,
                allowance=100,
                budget=budget,
            )
            for i in range(24)
        ]
    )
    assert len(ok(results)) == 7
    snapshot = await stores[0].quota.budget("g1", NOW, budget)
    assert (snapshot.day_used, snapshot.month_used) == (7, 7)
