"""Moderated servers in the store: the server budget in the one ledger (never overspent, even
by many requests at once), each server's policy, the audit log, usage figures."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.jobs.models import Origin
from bot.jobs.quota import BudgetExceededError, ServerBudget, utc_day
from bot.jobs.states import JobStatus
from bot.moderation.audit import AuditEvent, AuditKind
from bot.moderation.policy import GuildPolicy
from bot.storage.db import Database
from bot.storage.migrate import migrate, migration_files
from bot.storage.store import SqliteStore
from tests.storage.test_store_contract import NOW, new_job

GUILD = "g1"


def in_guild(user: str, *, cost: int = 1, guild: str = GUILD, at: float = NOW):
    job = new_job(user, cost=cost, at=at)
    return dataclasses.replace(
        job, origin=Origin(user_id=user, guild_id=guild, channel_id="c1", upload_limit=1024)
    )


async def admit(store, job, budget):
    return await store.jobs.admit(job, active_limit=10, allowance=100, budget=budget)


async def test_twenty_concurrent_requests_never_overspend_the_daily_budget(store):
    budget = ServerBudget(daily=7)
    results = await asyncio.gather(
        *(admit(store, in_guild(f"u{i}"), budget) for i in range(20)), return_exceptions=True
    )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BudgetExceededError)]
    assert (len(admitted), len(refused)) == (7, 13)
    assert refused[0].period == "day" and refused[0].snapshot.remaining("day") == 0
    snapshot = await store.quota.budget(GUILD, NOW, budget)
    assert (snapshot.day_used, snapshot.month_used) == (7, 7)


async def test_refunds_give_budget_back_and_commits_keep_it(store):
    budget = ServerBudget(daily=3)
    first = await admit(store, in_guild("a", cost=2), budget)
    with pytest.raises(BudgetExceededError):
        await admit(store, in_guild("b", cost=2), budget)
    await store.jobs.transition(first.id, JobStatus.FAILED, now=NOW + 1)  # refunded
    second = await admit(store, in_guild("b", cost=2), budget)
    await store.jobs.transition(second.id, JobStatus.SUBMITTING, now=NOW + 1)
    await store.jobs.transition(second.id, JobStatus.SUCCEEDED, now=NOW + 2)
    await store.jobs.transition(second.id, JobStatus.DELIVERED, now=NOW + 3)  # committed
    snapshot = await store.quota.budget(GUILD, NOW, budget)
    assert (snapshot.day_used, snapshot.month_used, snapshot.remaining("day")) == (2, 2, 1)
    # the user's own ledger moved with it
    assert (await store.quota.snapshot("b", NOW, 100)).spent == 2


async def test_the_monthly_budget_spans_days_and_resets_with_the_month(store):
    budget = ServerBudget(monthly=2)
    day = 86_400.0
    await admit(store, in_guild("a", at=NOW), budget)
    await admit(store, in_guild("b", at=NOW + day), budget)
    with pytest.raises(BudgetExceededError) as refused:
        await admit(store, in_guild("c", at=NOW + 2 * day), budget)
    assert refused.value.period == "month"
    assert refused.value.snapshot.resets_at("month").day == 1
    await admit(store, in_guild("c", at=NOW + 40 * day), budget)  # another month


async def test_usage_counts_before_a_budget_is_set_and_other_servers_apart(store):
    await admit(store, in_guild("a", cost=4), None)
    await admit(store, in_guild("a", cost=4, guild="g2"), None)
    with pytest.raises(BudgetExceededError):
        await admit(store, in_guild("b", cost=2), ServerBudget(daily=5))
    await admit(store, in_guild("b", cost=1), ServerBudget(daily=5))


async def test_a_job_outside_any_server_is_not_counted(store):
    await store.jobs.admit(new_job("a", cost=3), active_limit=10, allowance=100)
    snapshot = await store.quota.budget(GUILD, NOW, ServerBudget(daily=1))
    assert snapshot.day_used == 0


async def test_policy_changes_are_atomic_with_their_audit_entry(store):
    assert await store.guilds.policy(GUILD) == GuildPolicy()
    event = AuditEvent(GUILD, AuditKind.SETTINGS, NOW, actor_id="admin", detail={"set": "x"})
    changed = await store.guilds.change(
        GUILD, lambda p: p.model_copy(update={"budget_daily": 5}), event
    )
    assert changed.budget_daily == 5
    assert (await store.guilds.policy(GUILD)).budget_daily == 5
    assert await store.guilds.policy("other") == GuildPolicy()

    def refuse(policy: GuildPolicy) -> GuildPolicy:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store.guilds.change(GUILD, refuse, event)
    entries = await store.guilds.events(GUILD)
    assert [(e.kind, e.actor_id, e.detail) for e in entries] == [
        (AuditKind.SETTINGS, "admin", {"set": "x"})
    ]


async def test_usage_per_day_and_top_users_come_from_commits(store):
    for user, cost in (("a", 1), ("b", 3), ("a", 2)):
        job = await admit(store, in_guild(user, cost=cost), None)
        await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW)
        await store.jobs.transition(job.id, JobStatus.SUCCEEDED, now=NOW)
        await store.jobs.transition(job.id, JobStatus.DELIVERED, now=NOW)
    failed = await admit(store, in_guild("c", cost=4), None)
    await store.jobs.transition(failed.id, JobStatus.FAILED, now=NOW)
    daily = await store.guilds.daily_credits(GUILD, utc_day(NOW - 86_400))
    assert [(d.day, d.credits, d.jobs) for d in daily] == [(utc_day(NOW), 6, 3)]
    top = await store.guilds.top_users(GUILD, utc_day(NOW))
    assert [(u.user_id, u.credits, u.jobs) for u in top] == [("a", 3, 2), ("b", 3, 1)]
    jobs = await store.guilds.recent_jobs(GUILD, "a")
    assert len(jobs) == 2 and all(j.origin.user_id == "a" for j in jobs)
    assert len(await store.guilds.recent_jobs(GUILD, None)) == 4


async def test_an_older_database_learns_what_servers_already_used(tmp_path):
    path = tmp_path / "old.db"
    db = await Database.open(path)
    try:
        for version, _, sql in migration_files()[:5]:
            await db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    finally:
        await db.close()
    db = await Database.open(path)
    try:
        day = utc_day(NOW)
        for job_id, entry_rows in (
            ("j1", ("reserve",)),
            ("j2", ("reserve", "commit")),
            ("j3", ("reserve", "refund")),
        ):
            await db.execute(
                "INSERT INTO jobs (id, status, user_id, guild_id, provider, model, request_json, "
                "callback_token, cost, deadline_at, created_at, updated_at) VALUES "
                "(?, 'queued', 'u', ?, 'local', 'm', '{}', 't', 2, 0, 0, 0)",
                (job_id, GUILD),
            )
            for entry in entry_rows:
                await db.execute(
                    "INSERT INTO quota_ledger (job_id, user_id, day, entry, credits, at) "
                    "VALUES (?, 'u', ?, ?, 2, 0)",
                    (job_id, day, entry),
                )
        await migrate(db)
    finally:
        await db.close()
    store = await SqliteStore.open(path)
    try:
        snapshot = await store.quota.budget(GUILD, NOW, None)
        assert (snapshot.day_used, snapshot.month_used) == (4, 4)  # j1 reserved, j2 spent
    finally:
        await store.close()
