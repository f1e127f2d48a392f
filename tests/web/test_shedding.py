"""The callback receiver sheds abuse: deadlines per connection, a cap on connections, a request
rate per source, the whole body read before it is checked, and few log lines for refusals.
The real receiver over real sockets on loopback, with the fake Magnific signing callbacks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.jobs.models import Job, Stage
from bot.web.app import ReceiverLimits
from bot.web.connections import ServerLimits
from bot.web.limits import RateLimiter, source_of
from bot.web.rejections import RejectionLog
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific, sign
from tests.jobs.harness import Harness, make_harness, spec, stored, until

SECRET = "s3cret"
QUICK = ServerLimits(header_timeout=0.5, body_timeout=0.5, lingering_time=0.2)
SLOW_POLLS = EngineConfig(poll_floor=30, poll_cap=30, idle_tick=0.2)


@pytest.fixture
async def magnific():
    async with FakeMagnific(webhook_secret=SECRET) as fake:
        fake.steps_to_finish = 1000  # stays in progress
        fake.send_callbacks = False  # only the tests send callbacks
        yield fake


async def magnific_harness(tmp_path, fake, limits: ReceiverLimits | None = None) -> Harness:
    provider = MagnificProvider(
        provider_settings(MagnificProvider, fake, webhook_secret=SecretStr(SECRET))
    )
    return await make_harness(
        tmp_path,
        {"magnific": provider},
        receiver=True,
        config=SLOW_POLLS,
        receiver_limits=limits,
    )


async def tracked_job(h: Harness) -> Job:
    """A Magnific job the provider has accepted (its task in progress)."""
    accepted = await h.engine.accept(spec(provider="magnific"))

    async def with_task() -> Job | None:
        job = await stored(h, accepted.id)
        return job if job.task_id else None

    return await until(with_task, what="a provider task")


def signed(
    job: Job, webhook_id: str = "msg_1", status: str = "COMPLETED"
) -> tuple[bytes, dict[str, str]]:
    """A genuine Magnific callback for ``job``: body and headers (by default, the one saying
    the task finished; the engine confirms it with a status read)."""
    generated = ["https://cdn.example/never-fetched.png"] if status == "COMPLETED" else []
    body = json.dumps({"task_id": job.task_id, "status": status, "generated": generated}).encode()
    ts = str(int(time.time()))
    return body, {
        "webhook-id": webhook_id,
        "webhook-timestamp": ts,
        "webhook-signature": sign(SECRET, webhook_id, ts, body),
    }


def status_checks(fake: FakeMagnific, job: Job) -> Callable[[], int]:
    """How many status reads of the job's task the fake has answered, when called."""
    task = job.task_id
    assert task is not None
    return lambda: len(fake.requests_to(task, "GET"))


def request_head(path: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def until_closed(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sends before it closes the connection; fails if it is still open after
    ``seconds``."""
    received = b""
    try:
        async with asyncio.timeout(seconds):
            while chunk := await reader.read(65536):
                received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"still open after {seconds} s (received {received[:80]!r})") from None
    return received


async def test_idle_slow_header_and_missing_body_connections_are_closed(tmp_path, magnific):
    h = await magnific_harness(tmp_path, magnific, ReceiverLimits(server=QUICK))
    try:
        job = await tracked_job(h)
        path = f"/callbacks/{job.id}/{job.callback_token}"
        idle = await asyncio.open_connection("127.0.0.1", h.port)
        trickle = await asyncio.open_connection("127.0.0.1", h.port)
        no_body = await asyncio.open_connection("127.0.0.1", h.port)
        no_body[1].write(request_head(path, {}, 100))  # announces 100 bytes, sends none

        async def trickle_head() -> None:  # one byte every 50 ms: a 10 s head in all
            for byte in request_head(path, {}, 2):
                trickle[1].write(bytes([byte]))
                await asyncio.sleep(0.05)

        writer = asyncio.create_task(trickle_head())
        started = time.monotonic()
        try:
            results = await asyncio.gather(
                until_closed(idle[0], 3), until_closed(trickle[0], 3), until_closed(no_body[0], 3)
            )
        finally:
            writer.cancel()
            for _, w in (idle, trickle, no_body):
                w.close()
        assert time.monotonic() - started < 3
        assert results[0] == b"" and results[1] == b""
        assert results[2].startswith(b"HTTP/1.1 408")
        # nothing changed for the job
        assert not (await stored(h, job.id)).callback_hinted
    finally:
        await h.close()


async def test_a_signed_callback_sent_in_two_writes_is_accepted(tmp_path, magnific):
    h = await magnific_harness(tmp_path, magnific)
    try:
        job = await tracked_job(h)
        body, headers = signed(job)
        reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
        try:
            path = f"/callbacks/{job.id}/{job.callback_token}"
            writer.write(request_head(path, headers, len(body)) + body[:20])
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(body[20:])
            async with asyncio.timeout(5):
                status_line = await reader.readline()
        finally:
            writer.close()
        assert status_line.startswith(b"HTTP/1.1 200"), status_line
        assert (await stored(h, job.id)).callback_hinted
    finally:
        await h.close()


async def test_connections_over_the_cap_push_out_the_quietest(tmp_path, magnific):
    limits = ReceiverLimits(server=ServerLimits(max_connections=20, header_timeout=30))
    h = await magnific_harness(tmp_path, magnific, limits)
    try:
        job = await tracked_job(h)
        assert h.runner is not None
        gate = next(iter(h.runner.sites)).gate  # type: ignore[attr-defined]
        idle = [await asyncio.open_connection("127.0.0.1", h.port) for _ in range(60)]
        try:
            await until(lambda: _true(gate.accepted >= 60), timeout=5, what="60 accepted")
            assert gate.open <= 20
            assert gate.evicted >= 40
            # a genuine callback still gets through, at once
            body, headers = signed(job)
            async with httpx.AsyncClient() as client:
                answer = await client.post(h.callback_url(job), content=body, headers=headers)
            assert answer.status_code == 200
            assert gate.open <= 20
        finally:
            for _, writer in idle:
                writer.close()
    finally:
        await h.close()


async def _true(value: bool) -> bool:
    return value


async def test_a_source_over_its_rate_gets_429_with_retry_after(tmp_path, magnific):
    h = await magnific_harness(tmp_path, magnific, ReceiverLimits(rate=2, burst=10))
    try:
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{h.port}/callbacks/nosuchjob/token"
            answers = [await client.post(url, content=b"{}") for _ in range(30)]
        codes = [a.status_code for a in answers]
        assert codes[:10] == [404] * 10
        assert set(codes[10:]) == {429}, codes
        assert all(int(a.headers["Retry-After"]) >= 1 for a in answers[10:])
    finally:
        await h.close()


def test_the_rate_limiter_refills_and_stays_bounded():
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=2, clock=lambda: now[0], max_sources=100)
    assert [limiter.allow("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.allow("a") == pytest.approx(0.1)
    now[0] += 0.1
    assert limiter.allow("a") == 0.0
    for i in range(1000):
        limiter.allow(f"10.0.{i // 250}.{i % 250}")
    assert len(limiter) <= 100
    assert source_of("2001:db8::1") == source_of("2001:db8::ffff") == "2001:db8::/64"
    assert source_of("::ffff:10.0.0.1") == "10.0.0.1"


async def test_a_flood_of_refused_requests_logs_a_few_lines(tmp_path, magnific, caplog):
    h = await magnific_harness(tmp_path, magnific, ReceiverLimits(rate=10_000, burst=10_000))
    try:
        job = await tracked_job(h)
        body, headers = signed(job)
        base = f"http://127.0.0.1:{h.port}/callbacks"
        forged = {**headers, "webhook-signature": "v1,AAAA"}
        cases = [
            (f"{base}/{job.id}/wrong-token", body, headers),  # wrong token
            (h.callback_url(job), body, forged),  # bad signature
            (h.callback_url(job), b"x" * 300_000, headers),  # too large
            (f"{base}/nosuchjob/token", body, headers),  # unknown job
        ]
        caplog.set_level(logging.DEBUG)
        async with httpx.AsyncClient() as client:
            for i in range(500):
                url, payload, sent = cases[i % len(cases)]
                answer = await client.post(url, content=payload, headers=sent)
                assert answer.status_code in (401, 404, 413)
        lines = [r for r in caplog.records if r.name.startswith("bot.web")]
        assert 4 <= len(lines) <= 8, [r.getMessage() for r in lines]
        text = "\n".join(r.getMessage() for r in lines)
        assert "with a wrong token refused" in text and "bad signature" in text
        assert "body too large" in text and "unknown job" in text
        assert "more refused as bad token" not in text  # 125 each, all within the interval
        assert job.callback_token not in text
    finally:
        await h.close()


def test_the_rejection_log_counts_what_it_left_out(caplog):
    now = [0.0]
    logger = logging.getLogger("tests.rejections")
    rejections = RejectionLog(logger, interval=10, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, logger="tests.rejections")
    for _ in range(100):
        rejections.note("bad token", "refused %s", "j1")
    rejections.note("other", "other %s", "j2")
    now[0] += 10
    rejections.note("bad token", "refused %s", "j3")
    assert [r.getMessage() for r in caplog.records] == [
        "refused j1",
        "other j2",
        "refused j3 (99 more refused as bad token were not logged since the last such line)",
    ]


async def test_repeated_callbacks_cause_at_most_one_status_check_per_window(tmp_path, magnific):
    provider = MagnificProvider(
        provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr(SECRET))
    )
    window = 0.5
    h = await make_harness(
        tmp_path,
        {"magnific": provider},
        receiver=True,
        config=dataclasses.replace(SLOW_POLLS, callback_coalesce_seconds=window),
    )
    try:
        job = await tracked_job(h)
        checks = status_checks(magnific, job)
        before = checks()
        async with httpx.AsyncClient() as client:
            # the same signed delivery 50 times (a provider retrying, or a replay)
            body, headers = signed(job, "msg_same")
            for _ in range(50):
                answer = await client.post(h.callback_url(job), content=body, headers=headers)
                assert answer.status_code == 200
            await asyncio.sleep(2 * window)
            assert checks() - before == 1
            # 50 different genuine deliveries at once: one check now, one when the window ends
            before = checks()
            for i in range(50):
                body, headers = signed(job, f"msg_{i}")
                answer = await client.post(h.callback_url(job), content=body, headers=headers)
                assert answer.status_code == 200
            await asyncio.sleep(3 * window)
            assert 1 <= checks() - before <= 2
            # a callback inside a window is not lost: the task finishes, the job is delivered
            magnific.steps_to_finish = 0
            await asyncio.sleep(0.2)
            for i in range(2):
                body, headers = signed(job, f"msg_done_{i}")
                await client.post(h.callback_url(job), content=body, headers=headers)
            done = await h.engine.wait(job.id, 5 * window)
        assert done.status.value == "delivered"
    finally:
        await h.close()


async def test_a_callback_saying_the_task_runs_costs_no_status_check(tmp_path, magnific):
    # Magnific calls back on every change: "queued" and "started" bring nothing a read would
    # add, and a burst of them must not spend the budget's reserve for finished tasks (with
    # 48 tasks finishing together that held the last result up by 7 s)
    h = await magnific_harness(tmp_path, magnific)
    try:
        job = await tracked_job(h)
        checks = status_checks(magnific, job)
        before = checks()
        async with httpx.AsyncClient() as client:
            for i, status in enumerate(["CREATED", "IN_PROGRESS"] * 5):
                body, headers = signed(job, f"msg_run_{i}", status)
                answer = await client.post(h.callback_url(job), content=body, headers=headers)
                assert answer.status_code == 200
            await asyncio.sleep(0.3)
            assert checks() == before
            assert not (await stored(h, job.id)).callback_hinted
            # "started" is shown to the requester all the same
            stages = [p.stage for job_id, p in h.delivery.progress_log if job_id == job.id]
            assert Stage.GENERATING in stages
            # the one saying it finished is read at once
            body, headers = signed(job, "msg_done")
            answer = await client.post(h.callback_url(job), content=body, headers=headers)
            assert answer.status_code == 200
            await until(lambda: _true(checks() == before + 1), what="the status check")
        assert (await stored(h, job.id)).callback_hinted
    finally:
        await h.close()
