"""The callback receiver, and /healthz and /metrics on their own listener, served by the real
engine on loopback."""

import time

import httpx
import pytest
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from providers.local import LocalProvider, LocalSettings
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific, sign
from tests.jobs.harness import make_harness, spec, stored, until


@pytest.fixture
async def magnific():
    async with FakeMagnific() as fake:
        yield fake


async def settle(harness, job_id, seconds=10.0):
    return await harness.engine.wait(job_id, seconds)


async def test_forged_and_malformed_callbacks_change_nothing(tmp_path, magnific):
    magnific.steps_to_finish = 1000  # stays in progress
    provider = MagnificProvider(
        provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr("s3cret"))
    )
    h = await make_harness(
        tmp_path,
        {"magnific": provider},
        receiver=True,
        config=EngineConfig(poll_floor=30, poll_cap=30, idle_tick=0.2),
    )
    try:
        accepted = await h.engine.accept(spec(provider="magnific"))

        async def with_task():
            job = await stored(h, accepted.id)
            return job if job.task_id else None

        job = await until(with_task, what="a provider task")
        before = (job.status, job.next_poll_at, job.callback_hinted)
        assert job.task_id is not None
        body = b'{"task_id": "%s", "status": "COMPLETED", "generated": ["http://evil/x.png"]}' % (
            job.task_id.encode()
        )
        base = f"http://127.0.0.1:{h.port}/callbacks"
        async with httpx.AsyncClient() as client:
            cases = [
                (f"{base}/nosuchjob/{job.callback_token}", body, {}, 404),
                (f"{base}/{job.id}/wrong-token", body, {}, 401),
                (h.callback_url(job), body, {}, 401),  # unsigned
                (
                    h.callback_url(job),
                    body,
                    {"webhook-id": "m1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
                    401,
                ),
                (h.callback_url(job), b"x" * 300_000, {}, 413),
            ]
            for url, payload, headers, expected in cases:
                response = await client.post(url, content=payload, headers=headers)
                assert response.status_code == expected, (url, response.text)
            # a correctly signed but malformed body is refused too
            garbage = b"not json"
            headers = {
                "webhook-id": "m2",
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": sign("s3cret", "m2", "", b""),
            }
            ts = headers["webhook-timestamp"]
            headers["webhook-signature"] = sign("s3cret", "m2", ts, garbage)
            response = await client.post(h.callback_url(job), content=garbage, headers=headers)
            assert response.status_code == 400
        after = await stored(h, job.id)
        assert (after.status, after.next_poll_at, after.callback_hinted) == before
        assert after.results == ()
    finally:
        await h.close()


async def test_healthz_and_metrics(tmp_path):
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, receiver=True
    )
    try:
        job = await h.engine.accept(spec(resolution="2K"))
        await settle(h, job.id)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{h.status_port}/healthz")
            assert response.json() == {"ok": True}
            metrics = (await client.get(f"http://127.0.0.1:{h.status_port}/metrics")).text
            for path in ("/healthz", "/metrics"):  # not on the callback receiver
                response = await client.get(f"http://127.0.0.1:{h.port}{path}")
                assert response.status_code == 404
        assert 'bananabot_jobs{provider="local",status="delivered"} 1' in metrics
        assert 'bananabot_credits_today{kind="spent"} 2' in metrics
    finally:
        await h.close()


async def test_the_receiver_answers_checks_probe_and_nothing_else_there(tmp_path):
    h = await make_harness(
        tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, receiver=True
    )
    try:
        base = f"http://127.0.0.1:{h.port}/callbacks/_probe"
        async with httpx.AsyncClient() as client:
            echoed = await client.get(f"{base}/0123456789abcdef")
            assert echoed.json() == {"bananabot": "callbacks", "nonce": "0123456789abcdef"}
            assert (await client.get(f"{base}/<script>")).status_code == 404
    finally:
        await h.close()
