"""The storage contract: what the engine relies on from any backend (see bot/jobs/ports.py)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.jobs.models import FailureKind, NewJob, Origin, decode_sources, encode_sources
from bot.jobs.ports import Store, UserLimitError
from bot.jobs.quota import CreditTotals, QuotaExceededError, utc_day
from bot.jobs.states import FINAL, TRACKED, JobStatus
from providers.base import GenerationRequest, ReferenceImage, ResultImage, Source

NOW = 1_800_000_000.0
_ids = itertools.count()


def new_job(
    user: str = "u1",
    *,
    cost: int = 1,
    provider: str = "magnific",
    at: float = NOW,
    refs: tuple[ReferenceImage, ...] = (),
) -> NewJob:
    return NewJob(
        id=f"job{next(_ids):09d}",
        origin=Origin(user_id=user, channel_id="c1", status_message_id="m1", upload_limit=1024),
        provider=provider,
        model="nano-banana-pro",
        request=GenerationRequest(prompt="a fox", model="nano-banana-pro", references=refs),
        kind="imagine",
        parent_job_id=None,
        cost=cost,
        callback_token="tok",
        created_at=at,
        deadline_at=at + 900,
    )


async def admit(store: Store, job: NewJob, *, limit: int = 10, allowance: int | None = 100):
    return await store.jobs.admit(job, active_limit=limit, allowance=allowance)


async def test_admit_stores_a_queued_job_and_reserves_its_credits(store):
    ref = ReferenceImage(data=b"\x89PNG...", mime_type="image/png")
    job = await admit(store, new_job(cost=2, refs=(ref, ReferenceImage(url="https://x/y.png"))))
    assert job.status is JobStatus.QUEUED
    assert (job.cost, job.quota_day, job.origin.upload_limit) == (2, utc_day(NOW), 1024)
    assert job.request.references == ()  # listings and writes come without images
    full = await store.jobs.get(job.id)
    assert full is not None
    assert [r.data for r in full.request.references] == [b"\x89PNG...", None]
    assert full.request.references[1].url == "https://x/y.png"
    snapshot = await store.quota.snapshot("u1", NOW, 10)
    assert (snapshot.reserved, snapshot.spent, snapshot.remaining) == (2, 0, 8)
    assert await store.jobs.events(job.id) == [(None, "queued")]


async def test_admit_refuses_over_the_active_limit_and_reserves_nothing(store):
    await admit(store, new_job(), limit=1)
    with pytest.raises(UserLimitError):
        await admit(store, new_job(), limit=1)
    assert (await store.quota.snapshot("u1", NOW, None)).reserved == 1
    assert len(await store.jobs.with_status(list(JobStatus))) == 1


async def test_admit_refuses_over_the_allowance_and_stores_nothing(store):
    with pytest.raises(QuotaExceededError) as refused:
        await admit(store, new_job(cost=4), allowance=3)
    assert refused.value.snapshot.remaining == 3
    assert refused.value.cost == 4
    assert await store.jobs.with_status(list(JobStatus)) == []
    assert (await store.quota.snapshot("u1", NOW, 3)).reserved == 0


async def test_simultaneous_admissions_never_overspend(store):
    results = await asyncio.gather(
        *(admit(store, new_job(), limit=1000, allowance=5) for _ in range(40)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert all(isinstance(r, QuotaExceededError) for r in results if isinstance(r, BaseException))
    assert (await store.quota.snapshot("u1", NOW, 5)).remaining == 0


async def test_transition_is_compare_and_set_and_returns_the_row_it_wrote(store):
    job = await admit(store, new_job())
    moved = await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW + 1, note="sending")
    assert moved is not None and moved.status is JobStatus.SUBMITTING
    assert moved.updated_at == NOW + 1
    assert await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW + 2) is None
    assert await store.jobs.transition(job.id, JobStatus.DELIVERED, now=NOW + 2) is None
    submitted = await store.jobs.transition(
        job.id, JobStatus.SUBMITTED, now=NOW + 3, task_id="t1", next_poll_at=NOW + 10
    )
    assert submitted is not None
    assert (submitted.task_id, submitted.next_poll_at) == ("t1", NOW + 10)
    assert (
        await store.jobs.transition(
            job.id, JobStatus.CANCELLED, now=NOW + 4, only_from=[JobStatus.QUEUED]
        )
        is None
    )
    assert [to for _, to in await store.jobs.events(job.id)] == [
        "queued",
        "submitting",
        "submitted",
    ]


async def test_an_unknown_job_or_field_changes_nothing(store):
    assert await store.jobs.transition("nosuchjob", JobStatus.SUBMITTING, now=NOW) is None
    job = await admit(store, new_job())
    with pytest.raises(ValueError, match="not updatable"):
        await store.jobs.update(job.id, when=[JobStatus.QUEUED], status="delivered")


async def _to_succeeded(store: Store, job_id: str, results: tuple[ResultImage, ...]):
    await store.jobs.transition(job_id, JobStatus.SUBMITTING, now=NOW)
    done = await store.jobs.transition(
        job_id, JobStatus.SUCCEEDED, now=NOW + 5, results=results, next_delivery_at=NOW + 5
    )
    assert done is not None
    return done


async def test_delivery_commits_once_and_drops_result_bytes(store):
    job = await admit(store, new_job(cost=2))
    results = (ResultImage(data=b"img", mime_type="image/png"), ResultImage(url="https://r/1"))
    await _to_succeeded(store, job.id, results)
    stored = await store.jobs.get(job.id)
    assert stored is not None and [r.data for r in stored.results] == [b"img", None]
    delivered = await store.jobs.transition(
        job.id, JobStatus.DELIVERED, now=NOW + 6, delivered_via="followup", posted_message_id="9"
    )
    assert delivered is not None and delivered.delivered_via == "followup"
    assert await store.jobs.transition(job.id, JobStatus.FAILED, now=NOW + 7) is None
    snapshot = await store.quota.snapshot("u1", NOW, 10)
    assert (snapshot.reserved, snapshot.spent) == (0, 2)
    after = await store.jobs.get(job.id)
    assert after is not None
    assert [(r.data, r.url) for r in after.results] == [(None, None), (None, "https://r/1")]


async def test_grounding_sources_are_kept_with_the_succeeded_job(store):
    sources = (Source(url="https://a.example/", title="A"), Source(url="https://b.example/"))
    job = await admit(store, new_job())
    assert job.sources == ()
    await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW)
    done = await store.jobs.transition(
        job.id,
        JobStatus.SUCCEEDED,
        now=NOW + 5,
        results=(ResultImage(url="https://r/1"),),
        sources_json=encode_sources(sources),
    )
    assert done is not None and done.sources == sources
    await store.jobs.transition(job.id, JobStatus.DELIVERED, now=NOW + 6)
    stored = await store.jobs.get(job.id, images=False)
    assert stored is not None and stored.sources == sources
    assert decode_sources("not json") == () and encode_sources(()) is None


@pytest.mark.parametrize("ending", [JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.CANCELLED])
async def test_refunding_endings_give_the_credits_back_once(store, ending):
    job = await admit(store, new_job(cost=3))
    ended = await store.jobs.transition(
        job.id,
        ending,
        now=NOW + 1,
        failure_kind=FailureKind.CANCELLED,
        failure_reason="why",
    )
    assert ended is not None and ended.status in FINAL
    assert (ended.failure_kind, ended.failure_reason) == (FailureKind.CANCELLED, "why")
    assert await store.jobs.transition(job.id, ending, now=NOW + 2) is None
    snapshot = await store.quota.snapshot("u1", NOW, 10)
    assert (snapshot.reserved, snapshot.spent) == (0, 0)
    assert await store.quota.totals() == CreditTotals(day=utc_day(NOW), reserved=0, spent=0)


async def test_update_only_within_the_given_statuses(store):
    job = await admit(store, new_job())
    assert not await store.jobs.update(job.id, when=TRACKED, next_poll_at=NOW)
    assert await store.jobs.update(job.id, when=[JobStatus.QUEUED], poll_count=3)
    stored = await store.jobs.get(job.id, images=False)
    assert stored is not None and stored.poll_count == 3


async def test_hint_makes_a_tracked_job_due_and_only_marks_others(store):
    queued = await admit(store, new_job())
    await store.jobs.hint(queued.id, NOW)
    hinted = await store.jobs.get(queued.id, images=False)
    assert hinted is not None and hinted.callback_hinted and hinted.next_poll_at is None
    tracked = await admit(store, new_job(user="u2"))
    await store.jobs.transition(tracked.id, JobStatus.SUBMITTING, now=NOW)
    await store.jobs.transition(
        tracked.id, JobStatus.SUBMITTED, now=NOW, task_id="t", next_poll_at=NOW + 60
    )
    await store.jobs.hint(tracked.id, NOW + 1)
    assert [j.id for j in await store.jobs.due_for_poll(NOW + 1)] == [tracked.id]
    await store.jobs.hint(tracked.id, NOW + 5)  # a later hint does not put the poll off
    assert [j.id for j in await store.jobs.due_for_poll(NOW + 1)] == [tracked.id]


async def test_a_hint_whose_read_started_holds_the_job(store):
    """A callback's read started at once: the job is held as a claim would hold it (even if
    a poll was due sooner), and a job no longer tracked keeps its times."""
    tracked = await admit(store, new_job())
    await store.jobs.transition(tracked.id, JobStatus.SUBMITTING, now=NOW)
    await store.jobs.transition(
        tracked.id, JobStatus.SUBMITTED, now=NOW, task_id="t", next_poll_at=NOW + 1
    )
    await store.jobs.hint(tracked.id, NOW + 2, held_until=NOW + 30)
    held = await store.jobs.get(tracked.id, images=False)
    assert held is not None and held.callback_hinted and held.next_poll_at == NOW + 30
    assert await store.jobs.due_for_poll(NOW + 29) == []
    queued = await admit(store, new_job(user="u2"))
    await store.jobs.hint(queued.id, NOW, held_until=NOW + 30)
    marked = await store.jobs.get(queued.id, images=False)
    assert marked is not None and marked.callback_hinted and marked.next_poll_at is None


async def test_due_times_for_polls_and_deliveries(store):
    assert await store.jobs.next_due_at() is None
    polled = await admit(store, new_job())
    await store.jobs.transition(polled.id, JobStatus.SUBMITTING, now=NOW)
    await store.jobs.transition(
        polled.id, JobStatus.RUNNING, now=NOW, task_id="p", next_poll_at=NOW + 30
    )
    delivered = await admit(store, new_job(user="u2"))
    await _to_succeeded(store, delivered.id, (ResultImage(url="https://r/2"),))
    await store.jobs.update(delivered.id, when=[JobStatus.SUCCEEDED], next_delivery_at=NOW + 20)
    assert await store.jobs.next_due_at() == NOW + 20
    assert await store.jobs.due_for_poll(NOW + 25) == []
    assert [j.id for j in await store.jobs.due_for_delivery(NOW + 25)] == [delivered.id]
    assert [j.id for j in await store.jobs.due_for_poll(NOW + 30)] == [polled.id]
    assert await store.jobs.count_delivery_attempt(delivered.id) == 1
    assert await store.jobs.count_delivery_attempt(delivered.id) == 2


async def test_listings_and_counts(store):
    first = await admit(store, new_job(at=NOW))
    second = await admit(store, new_job(user="u2", provider="gemini", at=NOW + 1))
    await store.jobs.transition(second.id, JobStatus.SUBMITTING, now=NOW + 2)
    listed = await store.jobs.with_status([JobStatus.QUEUED, JobStatus.SUBMITTING])
    assert [j.id for j in listed] == [first.id, second.id]
    assert await store.jobs.at_provider_counts() == {"gemini": 1}
    assert await store.jobs.status_counts() == [
        ("gemini", "submitting", 1),
        ("magnific", "queued", 1),
    ]
    totals = await store.quota.totals()
    assert (totals.day, totals.reserved, totals.spent) == (utc_day(NOW), 2, 0)


async def test_meta_and_ping(store):
    assert await store.meta.get("k") is None
    await store.meta.set("k", "1")
    await store.meta.set("k", "2")
    assert await store.meta.get("k") == "2"
    await store.ping()


async def tracked(store: Store, *, user: str, poll_at: float) -> str:
    """A job submitted to its provider (task ``t-<job id>``), its next poll at ``poll_at``."""
    job = await admit(store, new_job(user=user))
    await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW)
    await store.jobs.transition(
        job.id,
        JobStatus.SUBMITTED,
        now=NOW,
        task_id=f"t-{job.id}",
        next_poll_at=poll_at,
        submitted_at=NOW - 1,
    )
    return str(job.id)


async def test_waiting_lists_a_providers_tracked_jobs_with_their_tasks(store):
    first = await tracked(store, user="u1", poll_at=NOW + 5)
    second = await tracked(store, user="u2", poll_at=NOW + 6)
    await admit(store, new_job(user="u3"))  # queued: no task yet
    other = await admit(store, new_job(user="u4", provider="nanobananaapi"))
    await store.jobs.transition(other.id, JobStatus.SUBMITTING, now=NOW)
    await store.jobs.transition(other.id, JobStatus.SUBMITTED, now=NOW, task_id="elsewhere")
    waiting = await store.jobs.waiting("magnific")
    assert [(w.job_id, w.task_id, w.provider, w.model) for w in waiting] == [
        (first, f"t-{first}", "magnific", "nano-banana-pro"),
        (second, f"t-{second}", "magnific", "nano-banana-pro"),
    ]
    assert waiting[0].submitted_at == NOW - 1 and waiting[0].reference_count == 0
    assert waiting[0].status is JobStatus.SUBMITTED


async def test_polls_are_put_off_and_brought_forward_only_one_way(store):
    soon = await tracked(store, user="u1", poll_at=NOW + 5)
    late = await tracked(store, user="u2", poll_at=NOW + 100)
    hinted = await tracked(store, user="u3", poll_at=NOW + 5)
    await store.jobs.hint(hinted, NOW + 5)  # a callback's hint is never put off
    queued = await admit(store, new_job(user="u4"))
    assert await store.jobs.defer_polls([soon, late, hinted, queued.id], NOW + 50) == 1
    polls = {j: (await store.jobs.get(j, images=False)).next_poll_at for j in (soon, late, hinted)}
    assert polls == {soon: NOW + 50, late: NOW + 100, hinted: NOW + 5}
    assert await store.jobs.hasten_polls([soon, late, hinted, queued.id], NOW + 10) == 2
    polls = {j: (await store.jobs.get(j, images=False)).next_poll_at for j in (soon, late, hinted)}
    assert polls == {soon: NOW + 10, late: NOW + 10, hinted: NOW + 5}
    assert (await store.jobs.get(queued.id, images=False)).next_poll_at is None
    many = [f"nothing-{i}" for i in range(1200)] + [soon]  # more ids than one statement takes
    assert await store.jobs.defer_polls(many, NOW + 70) == 1
