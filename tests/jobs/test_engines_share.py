"""Any process finishes any job: two engines, each with its own PostgreSQL pool on one schema
(two processes, as far as the store can tell), against the fake Magnific. Every wait bounded."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Sequence

from pydantic import SecretStr

from bot.jobs.models import FailureKind, Job
from bot.jobs.states import FINAL, JobStatus
from bot.storage.postgres.store import PostgresStore
from bot.web.app import start_receiver
from bot.web.sockets import listen
from tests.fakes._base import Fault, On
from tests.jobs.harness import spec, until
from tests.jobs.processes import CONFIG, LEASE, deliveries, open_process, shared_schema


async def _final(store: PostgresStore, ids: Sequence[str], timeout: float) -> list[Job]:
    async def check() -> list[Job] | None:
        jobs = [await store.jobs.get(i, images=False) for i in ids]
        done = [j for j in jobs if j is not None and j.status in FINAL]
        return done if len(done) == len(ids) else None

    return await until(check, timeout=timeout, what="every job to end")


async def _ledger_exact(store: PostgresStore, users: Sequence[str], spent: int) -> None:
    now = time.time()
    snapshots = [await store.quota.snapshot(u, now, None) for u in users]
    assert sum(s.reserved for s in snapshots) == 0
    assert sum(s.spent for s in snapshots) == spent


async def test_a_crashed_process_jobs_are_taken_over_after_the_lease(tmp_path):
    async with shared_schema() as (url, fake):
        fake.step_seconds = 0.3  # tasks still running when A dies
        fake.slow_seconds = 3.0
        a = await open_process(url, fake, tmp_path / "out")
        b = await open_process(url, fake, tmp_path / "out")
        try:
            await a.engine.start(a.notifier)
            ids = []
            for n in range(4):
                ids.append((await a.engine.accept(spec(provider="magnific", user=f"u{n}"))).id)

            async def tracked() -> bool:
                jobs = [await a.store.jobs.get(i, images=False) for i in ids]
                return all(j is not None and j.status is JobStatus.SUBMITTED for j in jobs)

            await until(tracked, timeout=10.0, what="A's jobs at the provider")
            fake.inject(Fault.SLOW, on=On.CREATE)  # A dies while sending this one
            hung = (await a.engine.accept(spec(provider="magnific", user="hung"))).id
            await until(
                lambda: _status_is(a.store, hung, JobStatus.SUBMITTING), what="a submit in flight"
            )
            await a.close(crash=True)
            died = time.monotonic()
            await b.engine.start(b.notifier)  # A was seen less than a lease ago: not failed yet
            assert (await _job(b.store, hung)).status is JobStatus.SUBMITTING
            done = {j.id: j for j in await _final(b.store, [*ids, hung], timeout=20.0)}
            taken_over = time.monotonic() - died
            assert all(done[i].status is JobStatus.DELIVERED for i in ids)
            assert done[hung].status is JobStatus.FAILED
            assert done[hung].failure_kind is FailureKind.UNKNOWN_OUTCOME
            # A's last heartbeat came up to one period before it died
            assert LEASE - CONFIG.heartbeat_seconds - 0.05 <= taken_over < LEASE + 10.0
            assert deliveries([a, b]) == Counter(dict.fromkeys(ids, 1))
            posts = fake.requests_to("/nano-banana-pro", "POST")
            assert len(posts) in (4, 5)  # the hung one (if it left at all) never sent again
            spent = sum(done[i].cost for i in ids)
            await _ledger_exact(b.store, [*(f"u{n}" for n in range(4)), "hung"], spent=spent)
        finally:
            await b.close()
            await a.close()


async def test_two_processes_racing_deliver_fifty_jobs_once_within_concurrency(tmp_path):
    async with shared_schema() as (url, fake):
        config = dataclasses.replace(CONFIG, provider_concurrency={"magnific": 3})
        processes = [await open_process(url, fake, tmp_path / "out", config) for _ in range(2)]
        peak = 0
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                counts = await processes[0].store.jobs.at_provider_counts()
                peak = max(peak, counts.get("magnific", 0))
                await asyncio.sleep(0.005)

        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            for process in processes:
                await process.engine.start(process.notifier)
            ids = []
            for n in range(50):
                via = processes[n % 2].engine
                ids.append((await via.accept(spec(provider="magnific", user=f"u{n % 10}"))).id)
            done = await _final(processes[0].store, ids, timeout=60.0)
            assert all(j.status is JobStatus.DELIVERED for j in done)
            assert deliveries(processes) == Counter(dict.fromkeys(ids, 1))
            assert all(processes[n].notifier.deliveries for n in range(2))  # both did work
            assert len(fake.tasks) == 50  # no provider task created twice
            assert 0 < peak <= 3
            spent = sum(j.cost for j in done)
            await _ledger_exact(processes[0].store, [f"u{n}" for n in range(10)], spent=spent)
        finally:
            sampling = False
            await asyncio.wait_for(sampler, 5.0)
            for process in processes:
                await process.close()


async def test_a_callback_to_another_process_is_applied_once(tmp_path):
    async with shared_schema() as (url, fake):
        fake.webhook_secret = "whsec-test"
        sock = listen("127.0.0.1", 0)
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        # no poll for 30 s: only the callback, received by B, can finish A's job in time
        config = dataclasses.replace(
            CONFIG, poll_interval=None, poll_floor=30.0, poll_cap=30.0, callback_grace=100.0
        )
        config = dataclasses.replace(config, callback_base_url=base)
        secret = SecretStr("whsec-test")
        a = await open_process(url, fake, tmp_path / "out", config, webhook_secret=secret)
        b = await open_process(url, fake, tmp_path / "out", config, webhook_secret=secret)
        b.receiver = await start_receiver(b.engine, sock)
        try:
            await a.engine.start(a.notifier)
            await b.engine.start(b.notifier)
            job = await a.engine.accept(spec(provider="magnific"))
            (done,) = await _final(a.store, [job.id], timeout=10.0)
            assert done.status is JobStatus.DELIVERED
            assert [url for url, _, status in fake.callbacks_sent if status == 200]
            assert deliveries([a, b]) == Counter({job.id: 1})
            events = [to for _, to in await a.store.jobs.events(job.id)]
            assert events.count("succeeded") == 1 and events.count("delivered") == 1
        finally:
            await a.close()
            await b.close()


async def test_a_live_workers_submit_is_not_failed_by_a_starting_one(tmp_path):
    async with shared_schema() as (url, fake):
        fake.slow_seconds = 3.0  # three leases: B's heartbeats look at it again and again
        fake.inject(Fault.SLOW, on=On.CREATE)
        a = await open_process(url, fake, tmp_path / "out")
        b = await open_process(url, fake, tmp_path / "out")
        try:
            await a.engine.start(a.notifier)
            job = await a.engine.accept(spec(provider="magnific"))
            await until(
                lambda: _status_is(a.store, job.id, JobStatus.SUBMITTING), what="the submit"
            )
            await b.engine.start(b.notifier)
            (done,) = await _final(b.store, [job.id], timeout=20.0)
            assert done.status is JobStatus.DELIVERED, done.failure_reason
            assert deliveries([a, b]) == Counter({job.id: 1})
        finally:
            await b.close()
            await a.close()


async def _job(store: PostgresStore, job_id: str) -> Job:
    job = await store.jobs.get(job_id, images=False)
    assert job is not None
    return job


async def _status_is(store: PostgresStore, job_id: str, status: JobStatus) -> bool:
    return (await _job(store, job_id)).status is status


async def test_a_job_admitted_by_one_process_wakes_another_at_once(tmp_path):
    async with shared_schema() as (url, fake):
        sleepy = dataclasses.replace(CONFIG, idle_tick=30.0)  # B looks by itself twice a minute
        a = await open_process(url, fake, tmp_path / "out", sleepy)
        b = await open_process(url, fake, tmp_path / "out", sleepy)
        try:
            await b.engine.start(b.notifier)
            await asyncio.sleep(0.3)  # B idle, asleep until its tick
            job = await a.engine.accept(spec(provider="magnific"))  # A's engine never runs
            (done,) = await _final(b.store, [job.id], timeout=10.0)
            assert done.status is JobStatus.DELIVERED
            assert done.delivered_at is not None and done.delivered_at - done.created_at < 5.0
            assert b.notifier.deliveries[job.id] == 1
        finally:
            a.stopped = True  # never started
            await a.close()
            await b.close()


async def test_live_processes_share_a_provider_read_budget(tmp_path):
    async with shared_schema() as (url, fake):
        config = dataclasses.replace(CONFIG, poll_interval=None, status_budget=8.0)
        a = await open_process(url, fake, tmp_path / "out", config)
        b = await open_process(url, fake, tmp_path / "out", config)
        try:
            await a.engine.start(a.notifier)
            await b.engine.start(b.notifier)
            beat_a = a.engine._running().heartbeat
            await beat_a.beat()  # both are live now: each reads at half the budget
            assert beat_a.budgets["magnific"].rate == 4.0
            await b.close()  # a graceful stop forgets b at once
            await beat_a.beat()
            assert beat_a.budgets["magnific"].rate == 8.0
        finally:
            await a.close()
            await b.close()


async def test_processes_reading_the_task_list_deliver_each_job_once(tmp_path):
    """Both processes read the list (each within its part of the budget) and move the same
    jobs' polls: every job is still read, delivered and charged once."""
    config = dataclasses.replace(
        CONFIG,
        poll_interval=None,
        list_interval=0.2,
        provider_concurrency={"magnific": 12},
    )
    async with shared_schema() as (url, fake):
        fake.step_seconds, fake.steps_to_finish = 0.25, 10  # 2.5 s: several turns of the list
        processes = [await open_process(url, fake, tmp_path / "out", config) for _ in range(2)]
        try:
            for process in processes:
                await process.engine.start(process.notifier)
                model = process.provider.capabilities.model(None)
                times = process.engine._running().tracking.completions.of(
                    "magnific", model.name, model.typical_seconds
                )
                times.extend([1.0 + (i % 10) / 10 for i in range(200)])  # 1–2 s: may be done
            ids = []
            for n in range(12):
                via = processes[n % 2].engine
                ids.append((await via.accept(spec(provider="magnific", user=f"u{n}"))).id)
            done = await _final(processes[0].store, ids, timeout=60.0)
            assert all(j.status is JobStatus.DELIVERED for j in done)
            assert deliveries(processes) == Counter(dict.fromkeys(ids, 1))
            listed = [r for r in fake.requests if r.path == "/v1/ai/text-to-image/nano-banana-pro"]
            assert listed  # the list was read
            labels = {"provider": "magnific", "via": "list", "state": "succeeded"}
            found = [
                p.engine.meters.registry.get_sample_value("bananabot_completions_total", labels)
                for p in processes
            ]
            assert sum(n or 0 for n in found) >= 1  # and found finished tasks
            spent = sum(j.cost for j in done)
            await _ledger_exact(processes[0].store, [f"u{n}" for n in range(12)], spent=spent)
        finally:
            for process in processes:
                await process.close()
