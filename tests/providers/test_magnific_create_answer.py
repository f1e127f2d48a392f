"""Magnific's create answer in both documented shapes: wrapped in ``{"data": ...}`` (the curl
examples) and the bare task object of the endpoint's response example. A create the provider
accepted is read either way, so no billed task is dropped as a protocol error."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from providers.base import GenerationRequest, TaskState
from providers.magnific import MagnificProvider
from providers.polling import run_to_completion
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific

API_KEY = "mk-test-create-answer"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMagnific]:
    async with FakeMagnific(api_key=API_KEY) as server:
        yield server


@pytest.fixture
async def provider(fake: FakeMagnific) -> AsyncIterator[MagnificProvider]:
    prov = MagnificProvider(provider_settings(MagnificProvider, fake))
    yield prov
    await prov.aclose()


@pytest.mark.parametrize("wrapped", [True, False], ids=["data-wrapped", "bare"])
async def test_fake_answers_a_create_in_either_shape(fake: FakeMagnific, wrapped: bool) -> None:
    fake.create_wrapped = wrapped
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        answer = await client.post(
            "/v1/ai/text-to-image/nano-banana-pro",
            json={"prompt": "a koi"},
            headers={"x-magnific-api-key": API_KEY},
        )
    body = answer.json()
    task = body["data"] if wrapped else body
    assert ("data" in body) is wrapped
    assert task["status"] == "CREATED"
    assert task["generated"] == []
    assert isinstance(task["task_id"], str)


@pytest.mark.parametrize("wrapped", [True, False], ids=["data-wrapped", "bare"])
@pytest.mark.parametrize("model", ["nano-banana-pro", "nano-banana-pro-flash"])
async def test_create_is_read_in_either_shape(
    fake: FakeMagnific, provider: MagnificProvider, wrapped: bool, model: str
) -> None:
    fake.create_wrapped = wrapped
    status = await provider.submit(GenerationRequest(prompt="a koi", model=model))
    assert status.state is TaskState.QUEUED
    assert status.task_id in fake.tasks
    final = await run_to_completion(
        provider, GenerationRequest(prompt="again", model=model), interval=0.02
    )
    assert final.state is TaskState.SUCCEEDED
    assert final.images


async def test_status_reads_stay_wrapped(fake: FakeMagnific, provider: MagnificProvider) -> None:
    """Only the create answer's shape varies in the documents; GET is read as before."""
    fake.create_wrapped = False
    status = await provider.submit(GenerationRequest(prompt="a koi"))
    async with httpx.AsyncClient(base_url=fake.base_url) as client:
        answer = await client.get(
            f"/v1/ai/text-to-image/nano-banana-pro/{status.task_id}",
            headers={"x-magnific-api-key": API_KEY},
        )
    assert answer.json()["data"]["task_id"] == status.task_id
    fetched = await provider.fetch(status.task_id, model="nano-banana-pro")
    assert fetched.task_id == status.task_id
