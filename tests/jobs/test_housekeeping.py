"""The engine's housekeeping: a delivered job's reference images go once their retention is
over, without a restart (the store's own tests prove never before)."""

from __future__ import annotations

import io

from PIL import Image

from bot.jobs.config import EngineConfig
from bot.jobs.states import JobStatus
from bot.storage.store import SqliteStore
from providers.base import Mode, ReferenceImage
from providers.local import LocalProvider, LocalSettings
from tests.jobs.harness import ManualClock, make_harness, spec, until


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "orange").save(out, "PNG")
    return out.getvalue()


async def test_references_are_deleted_after_their_retention_by_the_running_engine(tmp_path):
    clock = ManualClock()
    config = EngineConfig(
        poll_interval=0.05, idle_tick=0.05, reference_retention=3600.0, housekeeping_interval=60.0
    )
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, config=config, clock=clock
    )
    try:
        ref = ReferenceImage(data=_png(), mime_type="image/png")
        job = await h.engine.accept(spec(mode=Mode.EDIT, references=(ref,)))
        done = await h.engine.wait(job.id, 20)
        assert done.status is JobStatus.DELIVERED
        assert isinstance(h.store, SqliteStore)
        blobs = h.store.files.root
        assert len(list(blobs.glob("*/ref-*"))) == 1  # kept: a re-roll sends it again

        clock.advance(3700)  # past the retention: the next run deletes the file, marks the job

        async def purged():
            stored = await h.engine.get_job(job.id, images=False)
            return stored if stored and stored.references_purged_at else None

        stored = await until(purged, what="the references purged")
        assert stored.references_purged_at is not None
        assert list(blobs.glob("*/ref-*")) == []
        full = await h.engine.get_job(job.id, images=True)
        assert full is not None and [r.data for r in full.request.references] == [None]
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (1, 0)  # the ledger is untouched
    finally:
        await h.close()
