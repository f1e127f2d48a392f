"""Retention: a delivered job's reference images are kept for re-rolls only until their
retention is over, and the database file gives the space of deleted data back."""

from __future__ import annotations

import os

from bot.jobs.states import JobStatus
from bot.storage.store import SqliteStore
from providers.base import ReferenceImage, ResultImage
from tests.storage.test_sqlite_files import files_of
from tests.storage.test_store_contract import NOW, admit, new_job

REF = ReferenceImage(data=b"ref-bytes", mime_type="image/png")


async def _delivered(store, at: float, refs=(REF,)):
    job = await admit(store, new_job(refs=refs, at=at))
    await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=at)
    await store.jobs.transition(
        job.id, JobStatus.SUCCEEDED, now=at + 1, results=(ResultImage(data=b"res"),)
    )
    await store.jobs.transition(job.id, JobStatus.DELIVERED, now=at + 2)
    return job


async def test_references_are_purged_only_after_their_retention(store):
    old = await _delivered(store, NOW)
    recent = await _delivered(store, NOW + 1000)
    running = await admit(store, new_job(refs=(REF,), at=NOW))

    assert await store.retention.purge_references(NOW + 500, NOW + 2000) == 1

    purged = await store.jobs.get(old.id)
    assert purged is not None and purged.references_purged_at == NOW + 2000
    assert [r.data for r in purged.request.references] == [None]
    for kept in (recent.id, running.id):  # not ended long enough ago / not ended at all
        job = await store.jobs.get(kept)
        assert job is not None and job.references_purged_at is None
        assert [r.data for r in job.request.references] == [b"ref-bytes"]
    # a second sweep finds nothing more; the purged job is not marked again
    assert await store.retention.purge_references(NOW + 500, NOW + 3000) == 0
    again = await store.jobs.get(old.id, images=False)
    assert again is not None and again.references_purged_at == NOW + 2000


async def test_jobs_without_reference_bytes_are_never_marked(store):
    plain = await _delivered(store, NOW, refs=())
    assert await store.retention.purge_references(NOW + 10_000, NOW + 10_000) == 0
    job = await store.jobs.get(plain.id, images=False)
    assert job is not None and job.references_purged_at is None


async def test_purging_deletes_the_files_and_respects_the_batch_limit(tmp_path):
    store = await SqliteStore.open(tmp_path / "bot.db")
    try:
        jobs = [await _delivered(store, NOW + i) for i in range(5)]
        assert len(files_of(store)) == 5
        assert await store.retention.purge_references(NOW + 100, NOW + 100, limit=2) == 2
        assert len(files_of(store)) == 3
        assert await store.retention.purge_references(NOW + 100, NOW + 100) == 3
        assert files_of(store) == {}
        assert not any(store.files.root.iterdir())  # job directories go too
        stored = [await store.jobs.get(job.id, images=False) for job in jobs]
        assert all(job is not None and job.references_purged_at for job in stored)
    finally:
        await store.close()


async def test_compaction_gives_deleted_space_back_to_the_file_system(tmp_path):
    path = tmp_path / "bot.db"
    store = await SqliteStore.open(path)
    try:
        # rows of old versions kept bytes in the database; deleting them leaves free pages
        await store.db.execute("CREATE TABLE filler (data BLOB)")
        for _ in range(40):
            await store.db.execute("INSERT INTO filler VALUES (?)", (os.urandom(64 * 1024),))
        await store.db.checkpoint()
        await store.db.execute("DELETE FROM filler")
        await store.db.checkpoint()
        before = path.stat().st_size
        compaction = await store.retention.compact()
        assert compaction.rebuilt
        assert compaction.bytes_after < compaction.bytes_before // 4
        assert path.stat().st_size < before // 4
        assert (
            not (tmp_path / "bot.db-wal").exists() or (tmp_path / "bot.db-wal").stat().st_size == 0
        )
        # a store with little free space is left alone
        assert not (await store.retention.compact()).rebuilt
    finally:
        await store.close()
