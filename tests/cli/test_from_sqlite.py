"""``migrate --from-sqlite PATH``: an SQLite database written by the real store moves whole
into PostgreSQL (jobs in every status with their images, the ledger, server settings, the
audit log, meta), verified by counts, or not at all. Real processes, each schema its own."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from pathlib import Path

from bot.jobs.models import Job, Origin
from bot.jobs.ports import JobFields
from bot.jobs.quota import BudgetSnapshot, QuotaSnapshot, ServerBudget
from bot.jobs.states import JobStatus
from bot.moderation.audit import AuditEvent, AuditKind
from bot.storage.migrate import migration_files
from bot.storage.postgres.store import PostgresStore
from bot.storage.store import SqliteStore
from providers.base import ReferenceImage, ResultImage
from tests.cli.test_cli import bot
from tests.pg import pg_schema
from tests.storage.test_store_contract import NOW, new_job

GUILD = "g1"
USERS = ("u1", "u2", "u3")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8

#: how each status is reached from queued
PATHS: dict[JobStatus, tuple[JobStatus, ...]] = {
    JobStatus.QUEUED: (),
    JobStatus.SUBMITTING: (JobStatus.SUBMITTING,),
    JobStatus.SUBMITTED: (JobStatus.SUBMITTING, JobStatus.SUBMITTED),
    JobStatus.RUNNING: (JobStatus.SUBMITTING, JobStatus.RUNNING),
    JobStatus.SUCCEEDED: (JobStatus.SUBMITTING, JobStatus.SUCCEEDED),
    JobStatus.DELIVERED: (JobStatus.SUBMITTING, JobStatus.SUCCEEDED, JobStatus.DELIVERED),
    JobStatus.FAILED: (JobStatus.SUBMITTING, JobStatus.FAILED),
    JobStatus.TIMED_OUT: (JobStatus.SUBMITTING, JobStatus.SUBMITTED, JobStatus.TIMED_OUT),
    JobStatus.CANCELLED: (JobStatus.CANCELLED,),
}


@dataclasses.dataclass
class Seen:
    """What the SQLite store reads back from the database it wrote."""

    jobs: dict[str, Job | None]
    quotas: list[QuotaSnapshot]
    budget: BudgetSnapshot
    audit: list[AuditEvent]


async def _read(store: SqliteStore | PostgresStore, job_ids: list[str]) -> Seen:
    return Seen(
        jobs={job_id: await store.jobs.get(job_id) for job_id in job_ids},
        quotas=[await store.quota.snapshot(user, NOW, 999) for user in USERS],
        budget=await store.quota.budget(GUILD, NOW, ServerBudget(daily=999, monthly=9999)),
        audit=await store.guilds.events(GUILD),
    )


async def _populate(path: Path) -> Seen:
    """A database with a job in every status for each user, images, a server's settings and
    audit log, and meta; as the SQLite store reads it back."""
    store = await SqliteStore.open(path)
    try:
        for n, user in enumerate(USERS):
            for steps in PATHS.values():
                refs = (
                    ReferenceImage(data=PNG + user.encode(), mime_type="image/png", caption="a"),
                    ReferenceImage(url="https://example.com/r.png"),
                )
                job = dataclasses.replace(
                    new_job(user, cost=1 + n, refs=refs),
                    origin=Origin(user_id=user, guild_id=GUILD, channel_id="c1", upload_limit=9),
                )
                await store.jobs.admit(
                    job, active_limit=99, allowance=999, budget=ServerBudget(daily=999)
                )
                for i, step in enumerate(steps, start=1):
                    results = (
                        [ResultImage(data=PNG, mime_type="image/png"), ResultImage(url="https://r")]
                        if step is JobStatus.SUCCEEDED
                        else []
                    )
                    extra: JobFields = (
                        {"task_id": f"t-{job.id}"} if step is JobStatus.SUBMITTED else {}
                    )
                    await store.jobs.transition(job.id, step, now=NOW + i, results=results, **extra)
        event = AuditEvent(GUILD, AuditKind.SETTINGS, NOW, actor_id="admin", detail={"k": 1})
        await store.guilds.change(GUILD, lambda p: p.model_copy(update={"budget_daily": 7}), event)
        await store.guilds.record(AuditEvent(GUILD, AuditKind.SETTINGS, NOW + 1, detail={}))
        await store.meta.set("commands_hash", "abc123")
        jobs = await store.jobs.with_status(list(JobStatus))
        return await _read(store, [job.id for job in jobs])
    finally:
        await store.close()


def _make_one_reference_inline(path: Path) -> str:
    """Put one reference's bytes back in its row, as before migration 0004; its job id."""
    conn = sqlite3.connect(path)
    try:
        job_id, name = conn.execute(
            "SELECT job_id, data_file FROM job_references WHERE data_file IS NOT NULL "
            "ORDER BY job_id LIMIT 1"
        ).fetchone()
        blob = path.with_name(path.name + ".blobs") / name
        conn.execute(
            "UPDATE job_references SET data = ?, data_file = NULL WHERE job_id = ? "
            "AND position = 0",
            (blob.read_bytes(), job_id),
        )
        conn.commit()
        blob.unlink()
    finally:
        conn.close()
    return str(job_id)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_everything_moves_and_reads_back_identical(tmp_path):
    path = tmp_path / "old.db"
    expected = await _populate(path)
    assert {job.status for job in expected.jobs.values() if job} == set(JobStatus)
    assert any(job and job.results for job in expected.jobs.values())  # result bytes, too
    inline_job = _make_one_reference_inline(path)
    before = _digest(path)
    async with pg_schema() as url:
        result = bot("migrate", "--from-sqlite", str(path), cwd=tmp_path, env={"DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        assert "every count agrees: committed" in result.stdout
        counts = {
            words[0]: words[1:]
            for words in map(str.split, result.stdout.splitlines())
            if len(words) == 3 and words[2].isdigit()
        }
        assert counts["jobs"] == ["27", "27"], result.stdout
        assert counts["audit_events"] == ["2", "2"]
        assert "DIFFERENT" not in result.stdout
        assert _digest(path) == before  # only read

        store = await PostgresStore.open(url)  # moves the inline bytes to blobs, as SQLite's
        try:
            seen = await _read(store, list(expected.jobs))
            assert seen == expected
            inline = seen.jobs[inline_job]
            assert inline is not None and inline.request.references[0].data is not None
            assert expected.quotas[2].reserved > 0 and expected.budget.day_used > 0
            assert (await store.guilds.policy(GUILD)).budget_daily == 7
            assert await store.meta.get("commands_hash") == "abc123"
            # the identity sequences moved past the copied ids
            new_id = await store.guilds.record(AuditEvent(GUILD, AuditKind.SETTINGS, NOW + 2))
            assert new_id > max(e.id or 0 for e in expected.audit)
            await store.jobs.admit(new_job("u9"), active_limit=9, allowance=9)
        finally:
            await store.close()


async def test_a_target_holding_jobs_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "old.db"
    store = await SqliteStore.open(path)
    await store.jobs.admit(new_job("u1"), active_limit=9, allowance=9)
    await store.close()
    async with pg_schema() as url:
        env = {"DATABASE_URL": url}
        assert bot("migrate", "--from-sqlite", str(path), cwd=tmp_path, env=env).returncode == 0
        again = bot("migrate", "--from-sqlite", str(path), cwd=tmp_path, env=env)
        assert again.returncode == 1
        assert "already holds 1 job(s)" in again.stderr
        assert "never" in again.stderr and len(again.stderr.strip().splitlines()) == 1


async def test_a_table_the_copier_cannot_place_stops_it_before_anything_is_written(tmp_path):
    path = tmp_path / "old.db"
    store = await SqliteStore.open(path)
    await store.jobs.admit(new_job("u1"), active_limit=9, allowance=9)
    await store.close()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT)")
    conn.close()
    async with pg_schema() as url:
        result = bot("migrate", "--from-sqlite", str(path), cwd=tmp_path, env={"DATABASE_URL": url})
        assert result.returncode == 1
        assert "widgets" in result.stderr and "no counterpart in PostgreSQL" in result.stderr
        store_pg = await PostgresStore.open(url)
        try:
            assert await store_pg.jobs.with_status(list(JobStatus)) == []
        finally:
            await store_pg.close()


async def test_a_row_postgresql_refuses_rolls_the_whole_copy_back(tmp_path):
    path = tmp_path / "old.db"
    store = await SqliteStore.open(path)
    for user in USERS:
        await store.jobs.admit(new_job(user), active_limit=9, allowance=9)
    await store.close()
    conn = sqlite3.connect(path)  # foreign keys are off here: an event of no job
    conn.execute("INSERT INTO job_events (job_id, at, to_status) VALUES ('gone', 1, 'queued')")
    conn.commit()
    conn.close()
    async with pg_schema() as url:
        result = bot("migrate", "--from-sqlite", str(path), cwd=tmp_path, env={"DATABASE_URL": url})
        assert result.returncode == 1
        assert "rolled back, nothing committed (ForeignKeyViolationError" in result.stderr
        store_pg = await PostgresStore.open(url)
        try:
            assert await store_pg.jobs.with_status(list(JobStatus)) == []
        finally:
            await store_pg.close()


async def test_a_file_behind_is_brought_up_to_date_first(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for version, _, sql in migration_files()[:5]:
        conn.executescript(f"{sql}\nPRAGMA user_version = {version};")
    conn.close()
    async with pg_schema() as url:
        result = bot("migrate", "--from-sqlite", str(path), cwd=tmp_path, env={"DATABASE_URL": url})
        assert result.returncode == 0, result.stderr
        assert f"{path}: applied 0006_servers.sql" in result.stdout


def test_what_cannot_be_copied_is_said_in_one_line(tmp_path):
    url = "postgresql://postgres:hunter2secret@127.0.0.1:1/none"
    missing = bot("migrate", "--from-sqlite", "nope.db", cwd=tmp_path, env={"DATABASE_URL": url})
    assert missing.returncode == 1
    assert missing.stderr == "error: --from-sqlite nope.db: no such file\n"

    (tmp_path / "notes.txt").write_text("not a database, just some words " * 40)
    wrong = bot("migrate", "--from-sqlite", "notes.txt", cwd=tmp_path, env={"DATABASE_URL": url})
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("error: --from-sqlite notes.txt is not an SQLite database")

    unset = bot("migrate", "--from-sqlite", "nope.db", cwd=tmp_path, env={"DATABASE_URL": ""})
    assert unset.returncode == 1
    assert unset.stderr.startswith("error: DATABASE_URL is not set")

    mysql = "mysql://u:hunter2secret@h/db"
    other = bot("migrate", "--from-sqlite", "x.db", cwd=tmp_path, env={"DATABASE_URL": mysql})
    assert other.returncode == 1 and "must be a postgresql://" in other.stderr
    assert "hunter2secret" not in missing.stderr + wrong.stderr + other.stderr
