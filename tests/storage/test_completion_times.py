"""Completion times read back at start, with each job's kind (its resolution and reference
images), from either backend, and from jobs stored before the kind had columns."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bot.jobs.ports import CompletionTime, Store
from bot.jobs.states import JobStatus
from bot.storage.db import Database
from bot.storage.migrate import migration_files
from bot.storage.postgres import migrate as pg_migrate
from bot.storage.postgres.db import PgDatabase
from bot.storage.postgres.store import PostgresStore
from bot.storage.store import SqliteStore
from providers.base import GenerationRequest, ReferenceImage, ResultImage
from tests.pg import pg_schema
from tests.storage.test_store_contract import NOW, admit, new_job

#: a prompt that names a resolution itself: only the request's own field counts
TRICKY = 'draw "resolution":"2K" as text'


async def _complete(store: Store, job_id: str, seconds: float, *, at: float) -> None:
    await store.jobs.transition(job_id, JobStatus.SUBMITTING, now=at)
    await store.jobs.transition(
        job_id, JobStatus.SUBMITTED, now=at, submitted_at=at, task_id=job_id
    )
    done = await store.jobs.transition(
        job_id,
        JobStatus.SUCCEEDED,
        now=at + seconds,
        completed_at=at + seconds,
        results=(ResultImage(url="https://r/1"),),
    )
    assert done is not None


async def test_completion_times_carry_each_jobs_kind(store: Store) -> None:
    refs = tuple(ReferenceImage(url=f"https://x/{i}.png") for i in range(5))
    plain = new_job()
    big = new_job(refs=refs[:2])
    big = replace(
        big, request=big.request.model_copy(update={"resolution": "4K", "prompt": TRICKY})
    )
    many = new_job(refs=refs)
    many = replace(many, request=many.request.model_copy(update={"resolution": "2K"}))
    failed = new_job()
    for i, job in enumerate((plain, big, many, failed)):
        admitted = await admit(store, job)
        assert admitted.reference_count == len(job.request.references)
        if job is failed:
            await store.jobs.transition(job.id, JobStatus.FAILED, now=NOW)
        else:
            await _complete(store, job.id, 20.0 + 10 * i, at=NOW + i)
    listed = await store.jobs.with_status([JobStatus.SUCCEEDED])
    assert sorted(j.reference_count for j in listed) == [0, 2, 5]  # known without the images
    assert await store.jobs.completion_times() == [  # oldest completion first
        CompletionTime("magnific", "nano-banana-pro", 20.0, None, 0),
        CompletionTime("magnific", "nano-banana-pro", 30.0, "4K", 2),
        CompletionTime("magnific", "nano-banana-pro", 40.0, "2K", 5),
    ]
    assert len(await store.jobs.completion_times(limit=1)) == 1


def _old_request(resolution: str | None) -> str:
    request = GenerationRequest(prompt=TRICKY, model="m", resolution=resolution)
    return request.model_dump_json(exclude={"references"})


#: jobs stored before the kind columns: (id, resolution asked for, reference rows)
OLD_JOBS = (("old4k", "4K", 2), ("olddefault", None, 0), ("old2k", "2K", 4))


def _old_rows() -> list[tuple[str, str, float, float]]:
    """(id, stored request, submitted at, completed at): each took 30 s."""
    return [
        (job_id, _old_request(res), NOW + i, NOW + i + 30.0)
        for i, (job_id, res, _) in enumerate(OLD_JOBS)
    ]


_INSERT = (
    "INSERT INTO jobs (id, status, user_id, provider, model, request_json, callback_token, "
    "cost, deadline_at, created_at, updated_at, submitted_at, completed_at) "
    "VALUES (?, 'delivered', 'u1', 'p', 'm', ?, 't', 1, 0, 0, 0, ?, ?)"
)
_REFERENCE = (
    "INSERT INTO job_references (job_id, position, url, mime_type) "
    "VALUES (?, ?, 'https://x/y.png', 'image/png')"
)
EXPECTED = [
    CompletionTime("p", "m", 30.0, "4K", 2),
    CompletionTime("p", "m", 30.0, None, 0),
    CompletionTime("p", "m", 30.0, "2K", 4),
]


async def _store_old_jobs(db: Database | PgDatabase) -> None:
    """The jobs of :data:`OLD_JOBS` as a store before kinds kept them (one request unreadable)."""
    for row in _old_rows():
        await db.execute(_INSERT, row)
    for job_id, _, count in OLD_JOBS:
        for position in range(count):
            await db.execute(_REFERENCE, (job_id, position))
    await db.execute("UPDATE jobs SET request_json = 'not json' WHERE id = 'olddefault'")


async def test_sqlite_jobs_stored_before_kinds_get_theirs(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    db = await Database.open(path)
    for version, name, sql in migration_files():
        if name.startswith("0010_"):
            break
        await db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    await _store_old_jobs(db)
    await db.close()
    store = await SqliteStore.open(path)
    try:
        assert await store.jobs.completion_times() == EXPECTED
    finally:
        await store.close()


async def test_postgres_jobs_stored_before_kinds_get_theirs() -> None:
    async with pg_schema() as url:
        db = await PgDatabase.open(url)
        try:
            for version, name, sql in pg_migrate.migration_files():
                if name.startswith("0003_"):
                    break
                async with db.transaction() as tx:
                    await tx.script(sql)
                    if version == 1:
                        await tx.script(
                            "CREATE TABLE schema_version (id INTEGER PRIMARY KEY, "
                            "version INTEGER NOT NULL); "
                            "INSERT INTO schema_version (id, version) VALUES (1, 0)"
                        )
                    await tx.execute("UPDATE schema_version SET version = ?", (version,))
            await _store_old_jobs(db)
        finally:
            await db.close()
        store = await PostgresStore.open(url)
        try:
            assert await store.jobs.completion_times() == EXPECTED
        finally:
            await store.close()


def test_the_old_requests_name_their_resolution_compactly() -> None:
    # what both migrations rely on: the key and its value, unspaced; a prompt's quotes escaped
    text = _old_request("4K")
    assert '"resolution":"4K"' in text and json.loads(text)["prompt"] == TRICKY
    assert '"resolution":"2K"' not in text
