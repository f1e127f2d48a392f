"""The job engine end to end: real SQLite, real providers against loopback fakes."""

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.jobs.models import FailureKind
from bot.jobs.ports import UserLimitError
from bot.jobs.quota import QuotaExceededError
from bot.jobs.states import JobStatus
from providers.errors import RequestInvalidError
from providers.local import LocalProvider, LocalSettings
from providers.magnific import MagnificProvider
from providers.nanobananapro import NanoBananaProProvider
from tests.fakes._base import Fault, On, Outcome, provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.fakes.nanobananapro import FakeNanoBananaPro
from tests.jobs.harness import ManualClock, make_harness, spec, stored, until


@pytest.fixture
async def magnific():
    async with FakeMagnific() as fake:
        yield fake


async def settle(harness, job_id, seconds=10.0):
    return await harness.engine.wait(job_id, seconds)


async def test_local_job_is_delivered_and_charged_once(tmp_path):
    h = await make_harness(tmp_path, {"local": LocalProvider(LocalSettings.from_values())})
    try:
        job = await h.engine.accept(spec(resolution="2K", count=2))
        assert job.cost == 4
        done = await settle(h, job.id)
        assert done.status is JobStatus.DELIVERED
        assert done.delivered_via == "file"
        assert len(h.delivery.saved[job.id]) == 2
        assert h.delivery.deliveries[job.id] == 1
        assert len(done.results) == 2
        assert all(r.data is None for r in done.results)  # delivered bytes are not kept
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved, quota.remaining) == (4, 0, 96)
        assert [to for _, to in await h.store.jobs.events(job.id)] == [
            "queued",
            "submitting",
            "succeeded",
            "delivered",
        ]
    finally:
        await h.close()


async def test_polling_path(tmp_path, magnific):
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(tmp_path, {"magnific": provider})
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        done = await settle(h, job.id)
        assert done.status is JobStatus.DELIVERED, done.failure_reason
        assert done.task_id in magnific.tasks
        assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 1
        assert "webhook_url" not in magnific.requests_to("/nano-banana-pro", "POST")[0].json
        assert h.delivery.deliveries[job.id] == 1
    finally:
        await h.close()


async def test_webhook_path_delivers_once(tmp_path, magnific):
    magnific.webhook_secret = "whsec-test"
    provider = MagnificProvider(
        provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr("whsec-test"))
    )
    slow_polls = EngineConfig(poll_floor=30.0, poll_cap=30.0, idle_tick=0.2, callback_grace=100)
    h = await make_harness(tmp_path, {"magnific": provider}, receiver=True, config=slow_polls)
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        done = await settle(h, job.id)
        assert done.status is JobStatus.DELIVERED, done.failure_reason
        sent = [url for url, _, status in magnific.callbacks_sent if status == 200]
        assert sent and all(job.callback_token in url for url in sent)
        create = magnific.requests_to("/nano-banana-pro", "POST")[0].json
        assert create["webhook_url"] == h.callback_url(job)
        assert h.delivery.deliveries[job.id] == 1
        # without callbacks this job would still be waiting for its first poll (30 s)
        assert done.delivered_at - done.created_at < 10
    finally:
        await h.close()


async def test_missing_callback_falls_back_to_polling(tmp_path, magnific):
    magnific.send_callbacks = False
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    config = EngineConfig(poll_floor=0.05, poll_cap=0.1, idle_tick=0.2, callback_grace=0.0)
    h = await make_harness(tmp_path, {"magnific": provider}, receiver=True, config=config)
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        done = await settle(h, job.id)
        assert done.status is JobStatus.DELIVERED
        assert "webhook_url" in magnific.requests_to("/nano-banana-pro", "POST")[0].json
        assert magnific.callbacks_sent == []
    finally:
        await h.close()


async def test_duplicate_and_early_callbacks_deliver_once(tmp_path, magnific):
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(
        tmp_path,
        {"magnific": provider},
        receiver=True,
        config=EngineConfig(poll_floor=30, poll_cap=30, idle_tick=0.2),
    )
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        # early: a callback before the create response is stored is only a hint
        async with httpx.AsyncClient() as client:
            early = await client.post(
                h.callback_url(job),
                content=b'{"task_id": "x", "status": "COMPLETED", "generated": ["https://x/1.png"]}',
            )
            assert early.status_code == 200
            done = await settle(h, job.id)
            assert done.status is JobStatus.DELIVERED
            # duplicates and late ones after delivery change nothing
            for _ in range(3):
                late = await client.post(
                    h.callback_url(job),
                    content=(
                        b'{"task_id": "%s", "status": "COMPLETED", "generated": []}'
                        % done.task_id.encode()
                    ),
                )
                assert late.status_code == 200
        await h.engine.stop(grace=1.0)  # any stray delivery would have happened by now
        assert h.delivery.deliveries[job.id] == 1
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (2, 0)
    finally:
        await h.close()


async def test_concurrent_apply_is_harmless(tmp_path, magnific):
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(
        tmp_path,
        {"magnific": provider},
        config=EngineConfig(poll_floor=30, poll_cap=30, idle_tick=0.2),
    )
    try:
        accepted = await h.engine.accept(spec(provider="magnific"))

        async def completed_at_provider():
            job = await stored(h, accepted.id)
            done = job.task_id and magnific.tasks[job.task_id].status == "COMPLETED"
            return job if done else None

        job = await until(completed_at_provider, what="the task to complete")
        assert job.task_id is not None
        status = await provider.fetch(job.task_id, model=job.model)
        await asyncio.gather(*(h.engine.apply(job.id, status) for _ in range(20)))
        done = await settle(h, job.id)
        assert done.status is JobStatus.DELIVERED
        assert h.delivery.deliveries[job.id] == 1
        assert [to for _, to in await h.store.jobs.events(job.id)].count("succeeded") == 1
    finally:
        await h.close()


async def test_provider_failure_refunds_with_reason(tmp_path, magnific):
    magnific.next_outcome(
        Outcome(success=False, reason="Content blocked by safety filter", content_policy=True)
    )
    h = await make_harness(
        tmp_path, {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))}
    )
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        done = await settle(h, job.id)
        assert done.status is JobStatus.FAILED
        assert done.failure_kind is FailureKind.REJECTED
        assert "safety filter" in done.failure_reason
        assert h.delivery.failures[job.id][0] is FailureKind.REJECTED
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (0, 0)
    finally:
        await h.close()


async def test_submit_errors_refund(tmp_path, magnific):
    magnific.inject(Fault.BAD_KEY, on=On.CREATE)
    magnific.inject(Fault.NO_CREDITS, on=On.CREATE)
    h = await make_harness(
        tmp_path, {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))}
    )
    try:
        first = await h.engine.accept(spec(provider="magnific"))
        assert (await settle(h, first.id)).failure_kind is FailureKind.BAD_KEY
        second = await h.engine.accept(spec(provider="magnific"))
        assert (await settle(h, second.id)).failure_kind is FailureKind.NO_CREDITS
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (0, 0)
    finally:
        await h.close()


async def test_unknown_submit_outcome_is_not_resent(tmp_path):
    async with FakeNanoBananaPro() as fake:
        fake.inject(Fault.SLOW, on=On.CREATE)
        fake.slow_seconds = 1.0
        provider = NanoBananaProProvider(
            provider_settings(NanoBananaProProvider, fake, timeout_seconds=0.3)
        )
        h = await make_harness(tmp_path, {"nanobananapro": provider})
        try:
            job = await h.engine.accept(spec(provider="nanobananapro"))
            done = await settle(h, job.id)
            assert done.status is JobStatus.FAILED
            assert done.failure_kind is FailureKind.UNKNOWN_OUTCOME
            assert "not sent again" in done.failure_reason
            assert len(fake.requests) == 1
            assert (await h.engine.quota("u1")).reserved == 0
        finally:
            await h.close()


async def test_deadline_times_out_and_refunds(tmp_path, magnific):
    magnific.steps_to_finish = 1000
    clock = ManualClock()
    config = EngineConfig(poll_interval=0.05, idle_tick=0.1, deadline_seconds=60)
    h = await make_harness(
        tmp_path,
        {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))},
        config=config,
        clock=clock,
    )
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        await until(_has_task(h, job.id), what="the provider task")
        clock.advance(61)  # the deadline passes while the provider is still working
        done = await settle(h, job.id)
        assert done.status is JobStatus.TIMED_OUT
        assert h.delivery.failures[job.id][0] is FailureKind.TIMED_OUT
        quota = await h.engine.quota("u1")
        assert (quota.spent, quota.reserved) == (0, 0)
    finally:
        await h.close()


async def test_hundred_simultaneous_reservations_admit_exactly_five(tmp_path):
    config = EngineConfig(per_user_active_limit=1000, idle_tick=0.2)
    h = await make_harness(
        tmp_path,
        {"local": LocalProvider(LocalSettings.from_values())},
        allowance=5,
        config=config,
        start=False,
    )
    try:
        results = await asyncio.gather(
            *(h.engine.accept(spec(prompt=f"fox {i}")) for i in range(100)),
            return_exceptions=True,
        )
        admitted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, QuotaExceededError)]
        assert len(admitted) == 5
        assert len(refused) == 95
        quota = await h.engine.quota("u1")
        assert (quota.reserved, quota.remaining) == (5, 0)
        assert refused[0].snapshot.remaining == 0
    finally:
        await h.close()


async def test_invalid_requests_reserve_nothing(tmp_path):
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, start=False
    )
    try:
        with pytest.raises(RequestInvalidError, match="choose one of"):
            await h.engine.accept(spec(aspect_ratio="7:3"))
        assert (await h.engine.quota("u1")).reserved == 0
    finally:
        await h.close()


async def test_per_user_limit_and_provider_concurrency_with_queue_positions(tmp_path, magnific):
    magnific.steps_to_finish = 6
    config = EngineConfig(
        poll_interval=0.05,
        idle_tick=0.1,
        per_user_active_limit=2,
        provider_concurrency={"magnific": 1},
        position_interval=0.0,  # every move shows
    )
    h = await make_harness(
        tmp_path,
        {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))},
        config=config,
    )
    try:
        a = await h.engine.accept(spec(provider="magnific", user="alice"))
        b = await h.engine.accept(spec(provider="magnific", user="alice"))
        with pytest.raises(UserLimitError):
            await h.engine.accept(spec(provider="magnific", user="alice"))
        c = await h.engine.accept(spec(provider="magnific", user="bob"))
        for job in (a, b, c):
            assert (await settle(h, job.id)).status is JobStatus.DELIVERED
        positions = [
            p.position
            for jid, p in h.delivery.progress_log
            if jid == c.id and p.position is not None
        ]
        assert positions and positions[0] == 2 and positions[-1] == 1
        rows = await h.store.db.fetchall(
            "SELECT job_id, at, to_status FROM job_events "
            "WHERE to_status IN ('submitting', 'succeeded') ORDER BY at"
        )
        at_provider, most = 0, 0
        for row in rows:  # the provider never works on two jobs at once
            at_provider += 1 if row["to_status"] == "submitting" else -1
            most = max(most, at_provider)
        assert most == 1
    finally:
        await h.close()


async def test_restart_resumes_pending_jobs(tmp_path, magnific):
    magnific.steps_to_finish = 5
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
    h = await make_harness(tmp_path, {"magnific": provider})
    jobs = [
        await h.engine.accept(spec(prompt=f"fox {i}", provider="magnific", user=f"u{i}"))
        for i in range(3)
    ]
    for job in jobs:
        await until(_has_task(h, job.id), what="a provider task")
    await h.engine.abort()  # "crash": the loop and every in-flight task die mid-step
    h2 = await make_harness(
        tmp_path, {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))}
    )
    try:
        for job in jobs:
            assert (await settle(h2, job.id)).status is JobStatus.DELIVERED
            assert h.delivery.deliveries[job.id] + h2.delivery.deliveries[job.id] == 1
        assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 3
    finally:
        await h2.close()
        await h.close()  # the crashed harness's provider, client and store


async def test_job_in_submitting_at_restart_fails_and_refunds(tmp_path):
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, start=False
    )
    job = await h.engine.accept(spec())
    await h.store.jobs.transition(job.id, JobStatus.SUBMITTING, now=job.created_at)
    await h.start()
    try:
        done = await settle(h, job.id)
        assert done.status is JobStatus.FAILED
        assert done.failure_kind is FailureKind.UNKNOWN_OUTCOME
        assert (await h.engine.quota("u1")).reserved == 0
    finally:
        await h.close()


async def test_cancel_only_before_submission(tmp_path, magnific):
    magnific.steps_to_finish = 1000
    config = EngineConfig(poll_interval=0.05, idle_tick=0.1, provider_concurrency={"magnific": 1})
    h = await make_harness(
        tmp_path,
        {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))},
        config=config,
    )
    try:
        running = await h.engine.accept(spec(provider="magnific", user="a"))
        waiting = await h.engine.accept(spec(provider="magnific", user="b"))
        await until(_has_task(h, running.id), what="a provider task")
        assert not await h.engine.cancel(running.id)  # already at the provider
        assert await h.engine.cancel(waiting.id)
        assert not await h.engine.cancel(waiting.id)  # once
        assert (await stored(h, waiting.id)).status is JobStatus.CANCELLED
        assert (await h.engine.quota("b")).reserved == 0
        assert (await stored(h, running.id)).status in (JobStatus.SUBMITTED, JobStatus.RUNNING)
    finally:
        await h.close()


async def test_crash_between_delivering_and_recording_is_not_delivered_twice(tmp_path):
    h = await make_harness(tmp_path, {"local": LocalProvider(LocalSettings.from_values())})
    job = await h.engine.accept(spec(count=2))
    assert (await settle(h, job.id)).status is JobStatus.DELIVERED
    await h.close()
    # as if the process died after writing the files but before recording the delivery
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, start=False
    )
    await h.store.db.execute(
        "UPDATE jobs SET status = 'succeeded', next_delivery_at = 0 WHERE id = ?", (job.id,)
    )
    await h.store.db.execute(
        "DELETE FROM quota_ledger WHERE job_id = ? AND entry = 'commit'", (job.id,)
    )
    await h.store.db.execute("UPDATE quota_usage SET reserved = reserved + 2, spent = spent - 2")
    await h.start()
    try:
        done = await settle(h, job.id)
        assert done.status is JobStatus.DELIVERED
        assert done.delivery_attempts == 2
        assert h.delivery.deliveries[job.id] == 0  # found the earlier files instead
        assert len(h.delivery.saved[job.id]) == 2
        quota = await h.engine.quota("u1")
        assert (quota.reserved, quota.spent) == (0, 2)
    finally:
        await h.close()


def _has_task(h, job_id):
    async def check():
        job = await stored(h, job_id)
        return job if job.task_id else None

    return check


async def test_a_result_at_a_refused_address_fails_at_once_and_is_not_downloaded_again(
    tmp_path, magnific
):
    """The SSRF guard's refusal is permanent: one delivery attempt, then a refund."""
    h = await make_harness(
        tmp_path,
        {"magnific": MagnificProvider(provider_settings(MagnificProvider, magnific))},
        allow_private=False,  # the fake's result URLs are on loopback
    )
    try:
        job = await h.engine.accept(spec(provider="magnific"))
        done = await settle(h, job.id)
        assert done.status is JobStatus.FAILED
        assert done.failure_kind is FailureKind.UNDELIVERABLE
        assert "private address" in (done.failure_reason or "")
        assert done.delivery_attempts == 1
        assert (await h.engine.quota("u1")).reserved == 0
    finally:
        await h.close()
