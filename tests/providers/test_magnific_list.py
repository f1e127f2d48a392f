"""MagnificProvider.list_tasks against FakeMagnific's task list (and a few hand-made answers):
states, newest first, paging, "no list" answers, refusals, and the fake's own strictness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from providers.base import GenerationRequest, ListedTask, TaskState
from providers.errors import (
    BadKeyError,
    ListingUnavailableError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestInvalidError,
)
from providers.magnific import MagnificProvider, MagnificSettings
from tests.fakes._base import FAST_RETRY, Fault, On, Outcome, Recorded, provider_settings
from tests.fakes.magnific import FakeMagnific, MagnificTask

API_KEY = "mk-SECRET-0123456789abcdef"
PRO = "nano-banana-pro"
FLASH = "nano-banana-pro-flash"
LIST_PATH = f"/v1/ai/text-to-image/{PRO}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeMagnific]:
    async with FakeMagnific(api_key=API_KEY) as server:
        server.retry_after = "0"
        yield server


@pytest.fixture
async def provider(fake: FakeMagnific) -> AsyncIterator[MagnificProvider]:
    prov = MagnificProvider(provider_settings(MagnificProvider, fake))
    yield prov
    await prov.aclose()


def lists(fake: FakeMagnific) -> list[str]:
    """The pages the fake was asked for, one per list read."""
    return [r.query.get("page", "") for r in reads(fake)]


def reads(fake: FakeMagnific) -> list[Recorded]:
    """The list reads the fake received (creates go to the same path, by POST)."""
    return [r for r in fake.requests if r.path == LIST_PATH and r.method == "GET"]


def add_tasks(fake: FakeMagnific, count: int, *, model: str = PRO) -> list[str]:
    """``count`` tasks put straight into the fake (no progression), oldest first."""
    ids = []
    for index in range(count):
        task = MagnificTask(
            task_id=f"task-{model}-{index:03d}", model=model, params={}, outcome=Outcome()
        )
        fake.tasks[task.task_id] = task
        ids.append(task.task_id)
    return ids


def assert_key_safe(error: ProviderError) -> None:
    assert API_KEY not in str(error)
    assert API_KEY not in (error.detail or "")


def mocked(answer: httpx.Response) -> MagnificProvider:
    """A provider whose every request gets ``answer`` (a copy), for answers no fake gives."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    settings = MagnificSettings.from_values(api_key=SecretStr(API_KEY), retry=FAST_RETRY)
    return MagnificProvider(
        settings, client=httpx.AsyncClient(transport=httpx.MockTransport(handler))
    )


# --------------------------------------------------------------------------- the list


def test_capabilities_say_it_lists() -> None:
    assert MagnificProvider.capabilities.lists_tasks


async def test_states_newest_first_and_paged(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    fake.next_outcome(Outcome(success=False, reason="nope"))
    failed = await provider.submit(GenerationRequest(prompt="first"))
    done = await provider.submit(GenerationRequest(prompt="second"))
    await fake.idle()  # both have ended at the provider
    fake.step_seconds = 30  # the next ones stay as created
    queued = await provider.submit(GenerationRequest(prompt="third"))
    fake.create_status = "IN_PROGRESS"
    running = await provider.submit(GenerationRequest(prompt="fourth"))
    await provider.submit(GenerationRequest(prompt="on flash", model=FLASH))  # another list

    everything = await provider.list_tasks(PRO, page=1, per_page=10)
    assert everything == [
        ListedTask(running.task_id, TaskState.RUNNING),
        ListedTask(queued.task_id, TaskState.QUEUED),
        ListedTask(done.task_id, TaskState.SUCCEEDED),
        ListedTask(failed.task_id, TaskState.FAILED),
    ]
    assert await provider.list_tasks(PRO, page=1, per_page=2) == everything[:2]
    assert await provider.list_tasks(PRO, page=2, per_page=2) == everything[2:]
    assert await provider.list_tasks(PRO, page=3, per_page=2) == []
    [flash] = await provider.list_tasks(FLASH, page=1, per_page=10)
    assert flash.state is TaskState.RUNNING

    first = reads(fake)[0]
    assert first.query == {"page": "1", "per_page": "10"}
    assert first.headers["x-magnific-api-key"] == API_KEY
    assert "Authorization" not in first.headers


async def test_empty_list(fake: FakeMagnific, provider: MagnificProvider) -> None:
    assert await provider.list_tasks(PRO, page=1, per_page=5) == []


async def test_unknown_model_and_bad_paging_send_nothing(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    with pytest.raises(RequestInvalidError):
        await provider.list_tasks("flux", page=1, per_page=5)
    for page, per_page in ((0, 5), (1, 0), (-1, 5)):
        with pytest.raises(ValueError, match="start at 1"):
            await provider.list_tasks(PRO, page=page, per_page=per_page)
    assert fake.requests == []


async def test_unknown_status_and_unreadable_items_skipped(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    odd, kept = add_tasks(fake, 2)
    task = fake.tasks[odd]
    assert isinstance(task, MagnificTask)
    task.status = "PAUSED"
    assert await provider.list_tasks(PRO, page=1, per_page=5) == [
        ListedTask(kept, TaskState.QUEUED)
    ]

    items: list[Any] = [
        {"status": "COMPLETED"},
        {"task_id": "", "status": "COMPLETED"},
        {"task_id": 7, "status": "COMPLETED"},
        {"task_id": "lower", "status": "completed"},
        {"task_id": "none", "status": None},
        "t-1",
        None,
        {"task_id": "good", "status": "COMPLETED", "generated": ["https://x.example/a.jpg"]},
    ]
    answer = httpx.Response(200, json={"data": items})
    mock = mocked(answer)
    async with mock.client:
        listed = await mock.list_tasks(PRO, page=1, per_page=20)
    assert listed == [ListedTask("good", TaskState.SUCCEEDED)]


# --------------------------------------------------------------------------- no list


async def test_not_offered_is_404(fake: FakeMagnific, provider: MagnificProvider) -> None:
    fake.lists_tasks = False
    with pytest.raises(ListingUnavailableError) as caught:
        await provider.list_tasks(PRO, page=1, per_page=5)
    assert "does not list" in str(caught.value)
    assert caught.value.detail == 'HTTP 404: {"message": "Not Found"}'
    assert lists(fake) == ["1"]  # never retried


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(405, json={"message": "Method Not Allowed"}),
        httpx.Response(404, text=f"<html><title>no list for {API_KEY}</title></html>"),
        httpx.Response(200, json={"data": {"task_id": "t-1", "status": "COMPLETED"}}),
        httpx.Response(200, json={"data": None}),
        httpx.Response(200, json={"tasks": []}),
        httpx.Response(200, json=[{"task_id": "t-1", "status": "COMPLETED"}]),
        httpx.Response(200, text=f"<html><title>Login {API_KEY}</title></html>"),
        httpx.Response(204),
    ],
    ids=["405", "404-html", "data-object", "data-null", "no-data", "bare-list", "html", "204"],
)
async def test_not_offered_or_not_as_documented(answer: httpx.Response) -> None:
    provider = mocked(answer)
    async with provider.client:
        with pytest.raises(ListingUnavailableError) as caught:
            await provider.list_tasks(PRO, page=1, per_page=5)
    assert_key_safe(caught.value)


# --------------------------------------------------------------------------- refusals


async def test_bad_key(fake: FakeMagnific) -> None:
    provider = MagnificProvider(
        provider_settings(MagnificProvider, fake, api_key=SecretStr("mk-wrong-key-000"))
    )
    async with provider.client:
        with pytest.raises(BadKeyError) as caught:
            await provider.list_tasks(PRO, page=1, per_page=5)
    assert "mk-wrong-key-000" not in f"{caught.value} {caught.value.detail}"


async def test_injected_bad_key(fake: FakeMagnific, provider: MagnificProvider) -> None:
    fake.inject(Fault.BAD_KEY, on=On.LIST)
    with pytest.raises(BadKeyError) as caught:
        await provider.list_tasks(PRO, page=1, per_page=5)
    assert_key_safe(caught.value)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.RATE_LIMITED, RateLimitedError),
        (Fault.UNAVAILABLE, ProviderUnavailableError),
        (Fault.HTML_502, ProviderUnavailableError),
    ],
)
async def test_transient_faults_retried_then_raised(
    fake: FakeMagnific, provider: MagnificProvider, fault: Fault, error: type[ProviderError]
) -> None:
    [task_id] = add_tasks(fake, 1)
    fake.inject(fault, on=On.LIST)
    assert await provider.list_tasks(PRO, page=1, per_page=5) == [
        ListedTask(task_id, TaskState.QUEUED)
    ]
    assert len(lists(fake)) == 2

    fake.inject(fault, on=On.LIST, times=4)  # RetryPolicy.attempts
    with pytest.raises(error) as caught:
        await provider.list_tasks(PRO, page=1, per_page=5)
    assert len(lists(fake)) == 6
    assert_key_safe(caught.value)


async def test_list_faults_and_status_faults_are_apart(
    fake: FakeMagnific, provider: MagnificProvider
) -> None:
    [task_id] = add_tasks(fake, 1)
    fake.inject(Fault.BAD_KEY, on=On.STATUS)
    assert len(await provider.list_tasks(PRO, page=1, per_page=5)) == 1
    with pytest.raises(BadKeyError):
        await provider.fetch(task_id, model=PRO)  # the status fault was still queued
    fake.inject(Fault.BAD_KEY, on=On.LIST)
    status = await provider.fetch(task_id, model=PRO)
    assert status.state is TaskState.QUEUED
    with pytest.raises(BadKeyError):
        await provider.list_tasks(PRO, page=1, per_page=5)


async def test_a_list_refusing_its_parameters_is_not_used_and_hides_the_key() -> None:
    """A 400 to the documented ``page``/``per_page``: the list does not work as documented."""
    body = {
        "message": "Your request parameters didn't validate.",
        "invalid_params": [{"name": "per_page", "reason": f"too many for {API_KEY}"}],
    }
    provider = mocked(httpx.Response(400, json=body))
    async with provider.client:
        with pytest.raises(ListingUnavailableError) as caught:
            await provider.list_tasks(PRO, page=1, per_page=5)
    assert caught.value.detail is not None and "per_page" in caught.value.detail
    assert_key_safe(caught.value)


# --------------------------------------------------------------------------- the fake itself


async def test_fake_list_is_strict(fake: FakeMagnific) -> None:
    url = f"{fake.base_url}{LIST_PATH}"
    key = {"x-magnific-api-key": API_KEY}
    async with httpx.AsyncClient() as client:
        missing = await client.get(url)
        assert (missing.status_code, missing.json()) == (401, {"message": "Missing API key"})
        unknown = await client.get(f"{fake.base_url}/v1/ai/text-to-image/flux", headers=key)
        assert unknown.status_code == 404
        for query, problems in (
            ({"page": "0"}, [("page", "Parameter 'page' must be greater than 0")]),
            ({"per_page": "-3"}, [("per_page", "Parameter 'per_page' must be greater than 0")]),
            ({"per_page": "abc"}, [("per_page", "Parameter 'per_page' is not valid")]),
            ({"page": "1.5"}, [("page", "Parameter 'page' is not valid")]),
            ({"page": ""}, [("page", "Parameter 'page' is not valid")]),
            ({"limit": "5"}, [("limit", "Parameter 'limit' is not valid")]),
        ):
            rejected = await client.get(url, params=query, headers=key)
            assert rejected.status_code == 400, query
            assert rejected.headers["Content-Type"] == "application/problem+json"
            body = rejected.json()
            assert body["message"] == "Your request parameters didn't validate."
            assert [(p["name"], p["reason"]) for p in body["invalid_params"]] == problems
        twice = await client.get(url + "?page=1&page=2", headers=key)
        assert twice.status_code == 400
        fine = await client.get(url, params={"page": "1", "per_page": "3"}, headers=key)
        assert (fine.status_code, fine.json()) == (200, {"data": []})


async def test_fake_defaults_and_clamp(fake: FakeMagnific) -> None:
    ids = add_tasks(fake, 130)
    add_tasks(fake, 3, model=FLASH)
    task = fake.tasks[ids[-1]]
    assert isinstance(task, MagnificTask)
    task.status = "COMPLETED"
    task.image_urls = ["https://x.example/a.jpg"]
    url = f"{fake.base_url}{LIST_PATH}"
    key = {"x-magnific-api-key": API_KEY}
    async with httpx.AsyncClient() as client:
        default = (await client.get(url, headers=key)).json()["data"]
        assert [item["task_id"] for item in default] == ids[::-1][:20]  # assumed default 20
        assert default[0] == {"task_id": ids[-1], "status": "COMPLETED"}  # no results listed
        clamped = (await client.get(url, params={"per_page": "500"}, headers=key)).json()
        assert len(clamped["data"]) == 100  # assumed maximum
        rest = await client.get(url, params={"per_page": "500", "page": "2"}, headers=key)
        assert [item["task_id"] for item in rest.json()["data"]] == ids[::-1][100:]
