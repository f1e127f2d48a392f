"""A failing store slows the engine down and never makes it spin: real engine, real SQLite
file made full or read-only (tests/storage/faults.py), loopback fake providers.

While the store fails: no new provider work (no status reads, no creates), one log line when it
starts failing and one when it works again (no tracebacks), /healthz 503 and
``bananabot_store_healthy`` 0. What a provider answered meanwhile is kept and written as soon as
the store takes it, without a restart; afterwards every job settles and the ledger is exact.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

import httpx
import pytest

from bot.jobs.config import EngineConfig
from bot.jobs.models import FailureKind, Job, Receipt
from bot.jobs.ports import StoreUnavailableError
from bot.jobs.states import FINAL, JobStatus
from bot.media.sniff import ImageFile
from bot.web.app import start_status
from bot.web.sockets import listen
from providers.magnific import MagnificProvider
from tests.fakes._base import Fault, On, provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import CountingNotifier, Harness, make_harness, spec, stored, until
from tests.storage.faults import StoreFault, apply, read_only, restore

FAULTS = EngineConfig(
    poll_interval=0.05,
    idle_tick=0.2,
    deadline_seconds=60.0,
    store_retry_initial=0.1,
    store_retry_cap=0.4,
)


@pytest.fixture
async def magnific():
    async with FakeMagnific() as fake:
        # long signed result URLs, as presigned storage URLs are: each is a row larger than a
        # page, so a full database can never take a job's results
        fake.url_padding = 6000
        yield fake


def status_reads(fake: FakeMagnific) -> int:
    return len([r for r in fake.requests if r.method == "GET" and "/files/" not in r.path])


def creates(fake: FakeMagnific) -> int:
    return len(fake.requests_to("/nano-banana-pro", "POST"))


async def all_final(h: Harness, jobs: list[Job], timeout: float = 10.0) -> list[Job]:
    async def check() -> list[Job] | None:
        now = [await stored(h, job.id) for job in jobs]
        return now if all(j.status in FINAL for j in now) else None

    return await until(check, timeout=timeout, what="every job to settle")


def condition(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """``check`` as :func:`until` takes it."""

    async def checked() -> bool:
        return check()

    return checked


def store_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The lines at WARNING or above the bot wrote (asyncio's own reports of tasks an earlier
    test left behind, collected by the garbage collector meanwhile, are not the bot's)."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "asyncio"]


def sample(h: Harness, name: str) -> float | None:
    for line in h.engine.meters.exposition().decode().splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.parametrize("fault", [StoreFault.READ_ONLY, StoreFault.DISK_FULL])
async def test_a_failing_store_stops_provider_work_says_so_once_and_everything_settles(
    tmp_path, magnific, caplog, fault
):
    magnific.step_seconds = 0.1
    magnific.steps_to_finish = 4  # each task finishes 0.4 s after its create: inside the fault
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(tmp_path, {"magnific": provider}, config=FAULTS)
    status = listen("127.0.0.1", 0)
    h.status = await start_status(h.engine, h.engine.meters, status)
    h.status_port = int(status.getsockname()[1])
    try:
        jobs = [await h.engine.accept(spec(provider="magnific", user=f"u{i}")) for i in range(4)]

        async def tracked() -> bool:
            return all([(await stored(h, job.id)).task_id for job in jobs])

        await until(tracked, what="every job at the provider")
        caplog.clear()
        caplog.set_level(logging.INFO)
        await apply(h.store, fault)
        await until(condition(lambda: not h.engine.guard.healthy), what="the engine to notice")
        reads_at_fault = status_reads(magnific)
        try:  # a full database may still take a new job (it fits), but it is not started
            jobs.append(await h.engine.accept(spec(provider="magnific", user="late")))
        except StoreUnavailableError:
            assert fault is StoreFault.READ_ONLY
        await asyncio.sleep(1.0)  # every task finishes meanwhile; the store still fails
        during = status_reads(magnific) - reads_at_fault
        assert during <= 4, f"{during} status reads while the store failed"
        assert creates(magnific) == 4
        assert not await h.engine.health()
        async with httpx.AsyncClient() as client:
            answer = await client.get(f"http://127.0.0.1:{h.status_port}/healthz")
        assert answer.status_code == 503
        assert sample(h, "bananabot_store_healthy") == 0
        code = "SQLITE_READONLY" if fault is StoreFault.READ_ONLY else "SQLITE_FULL"
        assert (sample(h, f'bananabot_store_failures_total{{error="{code}"}}') or 0) >= 1

        await restore(h.store)
        done = await all_final(h, jobs)
        assert [j.status for j in done] == [JobStatus.DELIVERED] * len(jobs)
        assert all(h.delivery.deliveries[job.id] == 1 for job in jobs)
        assert creates(magnific) == len(jobs)
        totals = await h.store.quota.totals()
        assert (totals.reserved, totals.spent) == (0, sum(job.cost for job in jobs))
        assert await h.engine.health()
        assert sample(h, "bananabot_store_healthy") == 1
        lines = [r.getMessage() for r in store_lines(caplog)]
        assert len(lines) == 2, lines
        assert lines[0].startswith("the store is failing")
        assert lines[1].startswith("the store takes writes again")
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    finally:
        await h.close()


async def test_the_task_id_refused_as_the_provider_accepts_is_kept_and_written_later(
    tmp_path, magnific
):
    magnific.slow_seconds = 0.4
    magnific.inject(Fault.SLOW, on=On.CREATE)  # the create is answered 0.4 s after it arrives
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(tmp_path, {"magnific": provider}, config=FAULTS)
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        await until(condition(lambda: creates(magnific) == 1), what="the create request")
        await read_only(h.store)
        await until(condition(lambda: h.engine.guard.kept == 1), what="the answer to be kept")
        assert magnific.tasks  # the provider accepted it
        assert (await stored(h, job.id)).status is JobStatus.SUBMITTING
        await asyncio.sleep(0.5)
        assert (await stored(h, job.id)).status is JobStatus.SUBMITTING
        await restore(h.store)
        done = await h.engine.wait(job.id, 10.0)
        assert done.status is JobStatus.DELIVERED, done.failure_reason
        assert done.task_id in magnific.tasks
        assert creates(magnific) == 1
        totals = await h.store.quota.totals()
        assert (totals.reserved, totals.spent) == (0, job.cost)
    finally:
        await h.close()


async def test_a_kept_answer_lost_with_the_process_is_refunded_by_the_restart(tmp_path, magnific):
    magnific.slow_seconds = 0.3
    magnific.inject(Fault.SLOW, on=On.CREATE)
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(tmp_path, {"magnific": provider}, config=FAULTS)
    job = await h.engine.accept(spec(provider="magnific"))
    await until(condition(lambda: creates(magnific) == 1), what="the create request")
    await read_only(h.store)
    await until(condition(lambda: h.engine.guard.kept == 1), what="the answer to be kept")
    await h.engine.abort()  # the process dies with the answer in memory
    await h.close()  # (the database is still read-only: nothing more is written)

    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    again = await make_harness(tmp_path, {"magnific": provider}, config=FAULTS)
    try:
        done = await again.engine.wait(job.id, 5.0)
        assert (done.status, done.failure_kind) == (JobStatus.FAILED, FailureKind.UNKNOWN_OUTCOME)
        totals = await again.store.quota.totals()
        assert (totals.reserved, totals.spent) == (0, 0)
        assert creates(magnific) == 1  # never sent again
    finally:
        await again.close()


async def test_a_stopping_engine_writes_the_answers_it_kept(tmp_path, magnific):
    magnific.slow_seconds = 0.3
    magnific.inject(Fault.SLOW, on=On.CREATE)
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    slow_retry = dataclasses.replace(FAULTS, store_retry_initial=60.0, store_retry_cap=60.0)
    h = await make_harness(tmp_path, {"magnific": provider}, config=slow_retry)
    job = await h.engine.accept(spec(provider="magnific"))
    await until(condition(lambda: creates(magnific) == 1), what="the create request")
    await read_only(h.store)
    await until(condition(lambda: h.engine.guard.kept == 1), what="the answer to be kept")
    await restore(h.store)  # the next try would be a minute away: only the stop writes it
    await h.close()

    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    again = await make_harness(tmp_path, {"magnific": provider}, config=FAULTS)
    try:
        done = await again.engine.wait(job.id, 10.0)
        assert done.status is JobStatus.DELIVERED, done.failure_reason
        assert creates(magnific) == 1
        totals = await again.store.quota.totals()
        assert (totals.reserved, totals.spent) == (0, job.cost)
    finally:
        await again.close()


class HeldNotifier(CountingNotifier):
    """Delivers files, but each delivery waits until the test lets it finish."""

    def __init__(self, out_dir) -> None:
        super().__init__(out_dir)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        self.entered.set()
        await asyncio.wait_for(self.release.wait(), 10.0)
        return await super().deliver(job, images, attempt)


async def test_a_delivery_receipt_refused_by_the_store_is_kept_not_delivered_again(
    tmp_path, magnific
):
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(tmp_path, {"magnific": provider}, config=FAULTS, start=False)
    h.delivery = HeldNotifier(tmp_path / "out")
    await h.start()
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        await asyncio.wait_for(h.delivery.entered.wait(), 10.0)
        await read_only(h.store)
        h.delivery.release.set()  # the images are posted; recording it fails
        await until(condition(lambda: h.engine.guard.kept == 1), what="the receipt to be kept")
        assert (await stored(h, job.id)).status is JobStatus.SUCCEEDED
        await asyncio.sleep(0.3)
        await restore(h.store)
        done = await h.engine.wait(job.id, 10.0)
        assert done.status is JobStatus.DELIVERED
        assert h.delivery.deliveries[job.id] == 1
        assert done.delivery_attempts == 1  # written from memory, not found by a second try
        totals = await h.store.quota.totals()
        assert (totals.reserved, totals.spent) == (0, job.cost)
    finally:
        await h.close()
