"""The SQLite backend's own promises: reads never wait behind a write, image bytes are files
written before (and outside) the transaction naming them, removed once a job has ended, and
a crash between the two leaves nothing dangling."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.jobs.quota import QuotaExceededError
from bot.jobs.states import JobStatus
from bot.storage.blobs import BlobFiles
from bot.storage.db import Database
from bot.storage.migrate import migration_files
from bot.storage.store import SqliteStore
from providers.base import ReferenceImage, ResultImage
from tests.storage.test_store_contract import NOW, admit, new_job

ROOT = Path(__file__).resolve().parents[2]
BIG = os.urandom(3 * 1024 * 1024)


def files_of(store: SqliteStore) -> dict[str, bytes]:
    """Every finished file in the store's image directory, by name."""
    root = store.files.root
    if not root.exists():
        return {}
    return {
        f"{path.parent.name}/{path.name}": path.read_bytes()
        for path in root.glob("*/*")
        if not path.name.endswith(".tmp")
    }


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteStore.open(tmp_path / "bot.db")
    try:
        yield opened
    finally:
        await opened.close()


async def _succeed(store, job_id, results):
    await store.jobs.transition(job_id, JobStatus.SUBMITTING, now=NOW)
    return await store.jobs.transition(job_id, JobStatus.SUCCEEDED, now=NOW + 1, results=results)


async def test_reads_complete_while_a_write_transaction_is_held_open(store):
    job = await admit(store, new_job(refs=(ReferenceImage(data=b"ref", mime_type="image/png"),)))
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow_writer():
        async with store.db.transaction() as tx:
            await tx.execute("UPDATE jobs SET poll_count = 7 WHERE id = ?", (job.id,))
            inside.set()
            await release.wait()

    writer = asyncio.create_task(slow_writer())
    await inside.wait()
    # with one lock for reads and writes these would wait for the writer forever
    snapshot = await asyncio.wait_for(store.quota.snapshot("u1", NOW, 10), 10)
    seen = await asyncio.wait_for(store.jobs.get(job.id), 10)
    listed = await asyncio.wait_for(store.jobs.with_status([JobStatus.QUEUED]), 10)
    assert not writer.done()
    assert snapshot.reserved == 1 and [j.id for j in listed] == [job.id]
    assert seen is not None and seen.poll_count == 0  # the open transaction is not visible
    assert [r.data for r in seen.request.references] == [b"ref"]
    release.set()
    await writer
    after = await store.jobs.get(job.id, images=False)
    assert after is not None and after.poll_count == 7


async def test_reference_bytes_are_written_before_the_transaction_outside_the_lock(store):
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow_writer():
        async with store.db.transaction():
            inside.set()
            await release.wait()

    writer = asyncio.create_task(slow_writer())
    await inside.wait()
    ref = ReferenceImage(data=BIG, mime_type="image/png")
    admitting = asyncio.create_task(admit(store, new_job(refs=(ref,))))
    for _ in range(1000):  # the file is complete on disk while another writer holds the lock
        if files_of(store):
            break
        await asyncio.sleep(0.01)
    assert list(files_of(store).values()) == [BIG]
    assert not admitting.done()
    release.set()
    await writer
    job = await admitting
    stored = await store.jobs.get(job.id)
    assert stored is not None and stored.request.references[0].data == BIG


async def test_images_survive_a_reopen(tmp_path):
    store = await SqliteStore.open(tmp_path / "bot.db")
    refs = (ReferenceImage(data=BIG, mime_type="image/png", caption="a"), ReferenceImage(url="u"))
    job = await admit(store, new_job(refs=refs))
    await _succeed(store, job.id, (ResultImage(data=b"result", mime_type="image/png"),))
    await store.close()
    store = await SqliteStore.open(tmp_path / "bot.db")
    try:
        stored = await store.jobs.get(job.id)
        assert stored is not None
        assert [(r.data, r.url, r.caption) for r in stored.request.references] == [
            (BIG, None, "a"),
            (None, "u", None),
        ]
        assert [r.data for r in stored.results] == [b"result"]
    finally:
        await store.close()


async def test_result_files_go_when_the_job_is_delivered_and_references_stay(store):
    ref = ReferenceImage(data=b"ref", mime_type="image/png")
    job = await admit(store, new_job(refs=(ref,)))
    await _succeed(store, job.id, (ResultImage(data=b"r1"), ResultImage(data=b"r2")))
    assert sorted(files_of(store).values()) == [b"r1", b"r2", b"ref"]
    assert await store.jobs.transition(job.id, JobStatus.DELIVERED, now=NOW + 2) is not None
    assert list(files_of(store).values()) == [b"ref"]  # a re-roll sends the reference again
    stored = await store.jobs.get(job.id)
    assert stored is not None and [r.data for r in stored.results] == [None, None]
    assert stored.request.references[0].data == b"ref"
    assert stored.references_purged_at is None


@pytest.mark.parametrize("ending", [JobStatus.FAILED, JobStatus.TIMED_OUT])
async def test_every_file_goes_when_the_job_ends_undelivered(store, ending):
    ref = ReferenceImage(data=b"ref", mime_type="image/png")
    job = await admit(store, new_job(refs=(ref,)))
    await _succeed(store, job.id, (ResultImage(data=b"r1"),))
    assert await store.jobs.transition(job.id, ending, now=NOW + 2) is not None
    assert files_of(store) == {}  # nothing can re-roll a job that was never posted
    stored = await store.jobs.get(job.id)
    assert stored is not None and stored.references_purged_at == NOW + 2
    assert [r.data for r in stored.request.references] == [None]


async def test_a_refused_admission_leaves_no_files(store):
    ref = ReferenceImage(data=BIG, mime_type="image/png")
    with pytest.raises(QuotaExceededError):
        await admit(store, new_job(cost=5, refs=(ref,)), allowance=1)
    assert files_of(store) == {}


async def test_a_lost_race_removes_only_the_losers_files(store):
    job = await admit(store, new_job())
    await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW)
    moves = await asyncio.gather(
        *(
            store.jobs.transition(
                job.id, JobStatus.SUCCEEDED, now=NOW, results=(ResultImage(data=data),)
            )
            for data in (b"first", b"second")
        )
    )
    assert sum(move is not None for move in moves) == 1
    stored = await store.jobs.get(job.id)
    assert stored is not None and len(stored.results) == 1
    assert list(files_of(store).values()) == [stored.results[0].data]


async def test_files_no_row_names_are_removed_at_open(tmp_path):
    store = await SqliteStore.open(tmp_path / "bot.db")
    job = await admit(store, new_job(refs=(ReferenceImage(data=b"keep", mime_type="image/png"),)))
    root = store.files.root
    await store.close()
    strays = [
        BlobFiles.new_name("nosuchjob", "ref", 0),  # a job whose row never committed
        BlobFiles.new_name(job.id, "res", 0),  # a result whose transition never committed
    ]
    for name in strays:
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"orphan")
    (root / job.id / "ref-1-00.tmp").write_bytes(b"half written")
    store = await SqliteStore.open(tmp_path / "bot.db")
    try:
        assert list(files_of(store).values()) == [b"keep"]
        assert sorted(p.name for p in root.iterdir()) == [job.id]
        assert len(list((root / job.id).iterdir())) == 1
    finally:
        await store.close()


_CRASH = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    import bot.storage.admission
    from bot.storage.store import SqliteStore
    from providers.base import ReferenceImage
    from tests.storage.test_store_contract import admit, new_job

    async def die(*args, **kwargs):  # inside the admission transaction, before COMMIT
        os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        store = await SqliteStore.open(sys.argv[1])
        bot.storage.admission.record_event = die
        refs = (ReferenceImage(data=b"x" * 100_000, mime_type="image/png"),)
        await admit(store, new_job(refs=refs))

    asyncio.run(main())
    """
)


async def test_a_crash_between_the_file_and_its_row_leaves_no_dangling_reference(tmp_path):
    db = tmp_path / "bot.db"
    await (await SqliteStore.open(db)).close()
    crashed = subprocess.run(  # noqa: ASYNC221 - a child process that must die mid-commit
        [sys.executable, "-c", _CRASH, str(db)], cwd=ROOT, capture_output=True, timeout=60
    )
    assert crashed.returncode == -9, crashed.stderr.decode()
    root = BlobFiles.beside(db).root
    assert [p.name for p in root.glob("*/*")]  # the file was written, the row never committed
    store = await SqliteStore.open(db)
    try:
        assert await store.jobs.with_status(list(JobStatus)) == []
        assert files_of(store) == {}
        named = await store.db.fetchall("SELECT data_file FROM job_references")
        assert named == []
    finally:
        await store.close()


async def test_an_older_database_has_its_image_bytes_moved_to_files(tmp_path):
    path = tmp_path / "bot.db"
    db = await Database.open(path)
    for version, _, sql in migration_files()[:3]:
        await db.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
    for job_id, status in (("queued1", "queued"), ("done1", "delivered")):
        await db.execute(
            "INSERT INTO jobs (id, status, user_id, provider, model, request_json, "
            "callback_token, cost, deadline_at, created_at, updated_at) "
            "VALUES (?, ?, 'u1', 'local', 'local', '{\"prompt\": \"a fox\"}', 't', 1, 0, 0, 0)",
            (job_id, status),
        )
        await db.execute(
            "INSERT INTO job_references (job_id, position, data, mime_type) "
            "VALUES (?, 0, ?, 'image/png')",
            (job_id, b"ref-" + job_id.encode()),
        )
        await db.execute(
            "INSERT INTO job_results (job_id, position, data, mime_type) "
            "VALUES (?, 0, ?, 'image/png')",
            (job_id, b"res-" + job_id.encode()),
        )
    await db.close()
    store = await SqliteStore.open(path)
    try:
        queued = await store.jobs.get("queued1")
        done = await store.jobs.get("done1")
        assert queued is not None and done is not None
        assert queued.request.references[0].data == b"ref-queued1"
        assert queued.results[0].data == b"res-queued1"
        assert done.request.references[0].data == b"ref-done1"
        assert done.results[0].data is None  # an ended job's results are not kept
        left = await store.db.fetchall(
            "SELECT data FROM job_references WHERE data IS NOT NULL "
            "UNION ALL SELECT data FROM job_results WHERE data IS NOT NULL"
        )
        assert left == []
        assert sorted(files_of(store).values()) == [b"ref-done1", b"ref-queued1", b"res-queued1"]
    finally:
        await store.close()
