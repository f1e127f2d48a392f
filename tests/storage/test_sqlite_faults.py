"""A failing database raises StoreUnavailableError, changes nothing, and works again once
the fault is lifted: real SQLite failures (a full database, a read-only one), no mocks."""

from __future__ import annotations

import sqlite3

import pytest

from bot.jobs.ports import StoreUnavailableError
from bot.jobs.states import JobStatus
from bot.storage.store import SqliteStore
from providers.base import ReferenceImage
from tests.storage.faults import disk_full, read_only, restore
from tests.storage.test_sqlite_files import files_of
from tests.storage.test_store_contract import NOW, admit, new_job

REF = ReferenceImage(data=b"\x89PNG reference", mime_type="image/png")


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteStore.open(tmp_path / "store.db")
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_read_only_database_refuses_writes_as_unavailable_and_recovers(store):
    queued = await admit(store, new_job(cost=2))
    await read_only(store)
    with pytest.raises(StoreUnavailableError) as refused:
        await admit(store, new_job(refs=(REF,)))
    assert refused.value.code == "SQLITE_READONLY"
    assert isinstance(refused.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(StoreUnavailableError):
        await store.jobs.transition(queued.id, JobStatus.SUBMITTING, now=NOW + 1)
    with pytest.raises(StoreUnavailableError):
        await store.jobs.update(queued.id, when=[JobStatus.QUEUED], next_poll_at=NOW)
    with pytest.raises(StoreUnavailableError):
        await store.meta.set("k", "v")
    # reads still work, and nothing changed: no row, no credit, no image file left behind
    await store.ping()
    assert [(s, n) for _, s, n in await store.jobs.status_counts()] == [("queued", 1)]
    assert (await store.quota.snapshot("u1", NOW, 10)).reserved == 2
    assert files_of(store) == {}

    await restore(store)  # the writing connection is usable again, not stuck in a transaction
    moved = await store.jobs.transition(queued.id, JobStatus.SUBMITTING, now=NOW + 1)
    assert moved is not None and moved.status is JobStatus.SUBMITTING
    assert (await admit(store, new_job(refs=(REF,)))).status is JobStatus.QUEUED
    assert len(files_of(store)) == 1


async def test_a_full_database_refuses_what_needs_space_as_unavailable(store):
    await disk_full(store)
    admitted = 0
    with pytest.raises(StoreUnavailableError) as refused:
        for _ in range(200):  # the pages already there fill up within a few dozen jobs
            await admit(store, new_job(user=f"u{admitted}"), allowance=None)
            admitted += 1
    assert refused.value.code == "SQLITE_FULL"
    assert "full" in str(refused.value)
    # the refused admission left nothing: every admitted job has its one reserved credit
    assert (await store.quota.totals()).reserved == admitted
    assert sum(n for _, _, n in await store.jobs.status_counts()) == admitted
    await restore(store)
    await admit(store, new_job(user="after"))
    assert (await store.quota.totals()).reserved == admitted + 1


async def test_image_files_that_cannot_be_written_are_the_store_unavailable(store):
    store.files.root.mkdir(parents=True, exist_ok=True)
    store.files.root.rmdir()
    store.files.root.write_bytes(b"not a directory")  # a real OS error on every file write
    with pytest.raises(StoreUnavailableError) as refused:
        await admit(store, new_job(refs=(REF,)))
    assert isinstance(refused.value.__cause__, OSError)
    assert await store.jobs.status_counts() == []


async def test_a_mistake_in_a_query_is_not_mistaken_for_an_unavailable_store(store):
    with pytest.raises(sqlite3.OperationalError) as raised:
        await store.db.fetchall("SELECT nothing FROM nowhere")
    assert not isinstance(raised.value, StoreUnavailableError)
