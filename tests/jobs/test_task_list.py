"""A provider's task list tells many waiting jobs' states for one request (bot.jobs.task_list):
jobs it shows running are not read one by one, jobs it shows finished are read at once, and
a list the provider does not answer leaves every job to its own schedule."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.jobs.config import EngineConfig
from bot.jobs.states import JobStatus
from providers.magnific import MagnificProvider
from tests.fakes._base import FAST_RETRY, Fault, On, Recorded, provider_settings
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import Harness, make_harness, spec, until

LISTING = EngineConfig(
    allowance=None,
    per_user_active_limit=100,
    provider_concurrency={"magnific": 20},
    idle_tick=0.2,
    deadline_seconds=60.0,
    list_interval=0.2,
    status_budget=None,
)
LIST_PATH = "/v1/ai/text-to-image/nano-banana-pro"


def lists(fake: FakeMagnific) -> list[Recorded]:
    return [r for r in fake.requests if r.method == "GET" and r.path == LIST_PATH]


def reads(fake: FakeMagnific) -> list[Recorded]:
    return [r for r in fake.requests if r.method == "GET" and r.path.startswith(LIST_PATH + "/")]


def found_via(h: Harness, via: str) -> float:
    value = h.engine.meters.registry.get_sample_value(
        "bananabot_completions_total", {"provider": "magnific", "via": via, "state": "succeeded"}
    )
    return value or 0.0


async def start(tmp_path: Path, fake: FakeMagnific, config: EngineConfig = LISTING) -> Harness:
    """The engine on the fake, having learned that this model's tasks take 1–2 s (so a job
    may have finished from its first second on)."""
    provider = MagnificProvider(provider_settings(MagnificProvider, fake))
    h = await make_harness(tmp_path, {"magnific": provider}, config=config)
    model = provider.capabilities.model(None)
    times = h.engine._running().tracking.completions.of(
        "magnific", model.name, model.typical_seconds
    )
    times.extend([1.0 + (i % 10) / 10 for i in range(200)])
    return h


async def run_jobs(h: Harness, count: int) -> list[str]:
    jobs = [
        await h.engine.accept(spec(provider="magnific", user=f"u{i}", prompt=f"fox {i}"))
        for i in range(count)
    ]
    for job in jobs:
        done = await h.engine.wait(job.id, 30.0)
        assert done.status is JobStatus.DELIVERED, done.failure_reason
    return [job.id for job in jobs]


async def test_jobs_the_list_shows_running_are_not_read_one_by_one(tmp_path: Path) -> None:
    async with FakeMagnific() as fake:
        fake.step_seconds, fake.steps_to_finish = 0.25, 12  # 3 s: many turns of the list
        h = await start(tmp_path, fake)
        try:
            ids = await run_jobs(h, 6)
            for job_id in ids:  # the list showed each task running: so did the job
                assert ("submitted", "running") in await h.store.jobs.events(job_id)
            # each job read once, after the list showed it finished (the read has the results)
            assert len(reads(fake)) == 6
            assert found_via(h, "list") == 6
            assert len(lists(fake)) >= 5  # read every 0.2 s while the jobs ran
        finally:
            await h.close()


async def test_too_few_jobs_waiting_are_read_one_by_one(tmp_path: Path) -> None:
    async with FakeMagnific() as fake:
        fake.step_seconds, fake.steps_to_finish = 0.25, 6
        h = await start(tmp_path, fake)
        try:
            await run_jobs(h, 2)  # fewer than list_min_waiting (3)
            assert lists(fake) == []
            assert found_via(h, "poll") == 2
        finally:
            await h.close()


async def test_a_list_not_answered_leaves_each_job_to_its_schedule(tmp_path: Path) -> None:
    async with FakeMagnific() as fake:
        fake.lists_tasks = False  # 404, as a live list was seen to answer
        fake.step_seconds, fake.steps_to_finish = 0.25, 6
        h = await start(tmp_path, fake)
        try:
            await run_jobs(h, 4)
            assert len(lists(fake)) == 1  # asked once, then left alone for list_retry
            assert found_via(h, "poll") == 4
        finally:
            await h.close()


@pytest.mark.parametrize(
    ("asked", "held"),
    [(2, 100), (100, 2)],
    ids=["pages-of-two-asked", "provider-holds-two-a-page"],
)
async def test_a_list_longer_than_a_page_is_read_page_by_page(
    tmp_path: Path, asked: int, held: int
) -> None:
    """Whether the engine asks for small pages or the provider holds fewer than asked (its
    page size is not documented), a short page is not taken for the list's end."""
    config = dataclasses.replace(LISTING, list_page_size=asked)
    async with FakeMagnific() as fake:
        fake.max_per_page = held
        fake.step_seconds, fake.steps_to_finish = 0.25, 12
        h = await start(tmp_path, fake, config)
        try:
            await run_jobs(h, 5)
            assert found_via(h, "list") == 5
            pages = {r.query.get("page") for r in lists(fake)}
            assert {"1", "2", "3"} <= pages
            assert all(r.query.get("per_page") == str(asked) for r in lists(fake))
        finally:
            await h.close()


class PageBlindMagnific(FakeMagnific):
    """Answers every page of its list with the first one (a provider ignoring ``page``)."""

    async def _list(self, request: web.Request) -> web.StreamResponse:
        query: dict[str, Any] = dict(request.query)
        query.pop("page", None)
        return await super()._list(request.clone(rel_url=request.rel_url.with_query(query)))


async def test_a_list_that_ignores_its_page_is_not_read_for_ever(tmp_path: Path) -> None:
    config = dataclasses.replace(LISTING, list_page_size=2)
    async with PageBlindMagnific() as fake:
        fake.step_seconds, fake.steps_to_finish = 0.25, 8
        h = await start(tmp_path, fake, config)
        try:
            await run_jobs(h, 5)
            turns = len(lists(fake))
            # each turn stops at the first page seen twice: two pages a turn at most
            assert turns <= 2 * (2.5 / 0.2 + 5)
            # the jobs the list never shows (not on its first page) were read on their own
            assert found_via(h, "list") + found_via(h, "poll") == 5
        finally:
            await h.close()


async def test_list_pages_and_reads_stay_within_the_providers_budget(tmp_path: Path) -> None:
    """Each page is a request from the status budget, and the pages take at most their share
    of it (half): with 30 jobs waiting (7 pages of 5) and a turn every 0.2 s, the provider
    still gets no more than the budget allows."""
    config = dataclasses.replace(LISTING, status_budget=4.0, list_page_size=5)
    async with FakeMagnific() as fake:
        fake.step_seconds, fake.steps_to_finish = 0.5, 10**6  # running throughout
        h = await start(tmp_path, fake, config)
        try:
            for i in range(30):
                await h.engine.accept(spec(provider="magnific", user=f"u{i}", prompt=f"fox {i}"))
            await asyncio.sleep(1.5)  # every job may have finished by now: lists are read
            listed, read = len(lists(fake)), len(reads(fake))
            await asyncio.sleep(3.0)
            listed, read = len(lists(fake)) - listed, len(reads(fake)) - read
            # the pages: their half of the budget (2 a second, a page ahead at most); all the
            # requests: 4 a second, and at most a burst of 4 ahead
            assert 1 <= listed <= 2 * 3.0 + 1, listed
            assert listed + read <= 4 * 3.0 + 4, (listed, read)
        finally:
            await h.close()


async def test_jobs_left_when_the_list_stops_are_polled_at_once(tmp_path: Path) -> None:
    """Three tasks finish early and one late: once only one job waits, the list is no longer
    read, and that job is read on its own at once, not when the list would have read it."""
    config = dataclasses.replace(LISTING, list_interval=1.0)  # polls put off 3 s past a turn
    async with FakeMagnific() as fake:
        fake.durations.extend([1.2, 1.2, 1.2, 6.0])
        h = await start(tmp_path, fake, config)
        try:
            ids = [
                (await h.engine.accept(spec(provider="magnific", user=f"u{i}"))).id
                for i in range(4)
            ]
            for job_id in ids[:3]:
                done = await h.engine.wait(job_id, 10.0)
                assert done.status is JobStatus.DELIVERED
            assert found_via(h, "list") == 3
            late = await h.engine.get_job(ids[3])
            assert late is not None and late.task_id is not None
            before = len(reads(fake))

            async def read_alone() -> bool:
                return len(reads(fake)) > before

            # within a turn of the list and the loop's pass, not the 3 s it put the poll off
            await until(read_alone, timeout=2.0, what="the last job read on its own")
            done = await h.engine.wait(ids[3], 15.0)
            assert done.status is JobStatus.DELIVERED
        finally:
            await h.close()


async def test_a_list_failing_is_left_longer_each_time_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A list answering 503 again and again: its jobs are read on their own, the list is
    tried again less and less often (not every turn), and the log says so once."""
    async with FakeMagnific() as fake:
        fake.step_seconds, fake.steps_to_finish = 0.25, 16  # 4 s
        fake.inject(Fault.UNAVAILABLE, on=On.LIST, times=1000)
        h = await start(tmp_path, fake)
        try:
            with caplog.at_level(logging.INFO, logger="bot.jobs.task_list"):
                await run_jobs(h, 4)
            assert found_via(h, "poll") == 4 and found_via(h, "list") == 0
            # each try is one call (the provider client's own retries included): turns every
            # 0.2 s would make well over 15 of them in 4 s
            attempts = FAST_RETRY.attempts
            assert len(lists(fake)) <= 6 * attempts, len(lists(fake))
            said = [r for r in caplog.records if "not read" in r.getMessage()]
            assert len(said) == 1
        finally:
            await h.close()
