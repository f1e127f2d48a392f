"""While the store refuses writes the listeners still answer plainly: a genuine callback gets
503 with Retry-After (the provider sends it again), /healthz 503, /metrics its figures."""

from __future__ import annotations

import httpx
import pytest

from bot.jobs.config import EngineConfig
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import make_harness, spec, stored, until
from tests.storage.faults import StoreFault, failing


@pytest.fixture
async def magnific():
    async with FakeMagnific() as fake:
        yield fake


async def test_listeners_answer_plainly_while_the_store_refuses_writes(tmp_path, magnific):
    magnific.steps_to_finish = 1000
    provider = MagnificProvider(provider_settings(MagnificProvider, magnific))
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
        body = (
            b'{"task_id": "%s", "status": "COMPLETED", "generated": ["https://cdn.example/x.png"]}'
            % (job.task_id.encode())
        )
        status = f"http://127.0.0.1:{h.status_port}"
        async with failing(h.store, StoreFault.READ_ONLY), httpx.AsyncClient() as client:
            answer = await client.post(h.callback_url(job), content=body)
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
            assert (await client.get(f"{status}/metrics")).status_code == 200
            assert (await client.get(f"{status}/healthz")).status_code == 503
    finally:
        await h.close()
