"""The lease contract (bot/jobs/ports.py, LeaseStore): workers, claims, takeover by expiry."""

from __future__ import annotations

import asyncio
import math

from bot.jobs.ports import Store
from bot.jobs.states import JobStatus
from providers.base import ResultImage
from tests.storage.test_store_contract import NOW, admit, new_job, tracked

LEASE = 30.0


async def _succeeded(store: Store, *, user: str, deliver_at: float) -> str:
    job = await admit(store, new_job(user=user))
    await store.jobs.transition(job.id, JobStatus.SUBMITTING, now=NOW)
    await store.jobs.transition(
        job.id,
        JobStatus.SUCCEEDED,
        now=NOW,
        results=(ResultImage(url="https://r/1"),),
        next_delivery_at=deliver_at,
    )
    return str(job.id)


async def test_a_claimed_poll_is_nobody_elses_until_its_lease_passes(store):
    first = await tracked(store, user="u1", poll_at=NOW + 1)
    second = await tracked(store, user="u2", poll_at=NOW + 2)
    await tracked(store, user="u3", poll_at=NOW + 60)
    claimed = await store.leases.claim_polls("a", NOW + 5, NOW + 5 + LEASE, 10)
    assert [j.id for j in claimed] == [first, second]  # earliest due first
    assert [j.next_poll_at for j in claimed] == [NOW + 1, NOW + 2]  # as before the claim
    assert await store.leases.claim_polls("b", NOW + 5, NOW + 5 + LEASE, 10) == []
    stored = await store.jobs.get(first, images=False)
    assert stored is not None and stored.claimed_by == "a"
    assert stored.next_poll_at == NOW + 5 + LEASE
    # "a" died: the claims come due again when the lease passes (the third job with them)
    again = await store.leases.claim_polls("b", NOW + 61, NOW + 61 + LEASE, 10)
    assert len(again) == 3 and {j.claimed_by for j in again} >= {"a"}


async def test_claims_respect_the_limit(store):
    for n in range(3):
        await tracked(store, user=f"u{n}", poll_at=NOW)
    assert len(await store.leases.claim_polls("a", NOW, NOW + LEASE, 2)) == 2
    assert len(await store.leases.claim_polls("b", NOW, NOW + LEASE, 2)) == 1


async def test_racing_claimers_take_each_delivery_once(store):
    ids = [await _succeeded(store, user=f"u{n}", deliver_at=NOW) for n in range(20)]
    claims = await asyncio.gather(
        *(store.leases.claim_deliveries(w, NOW, NOW + LEASE, 7) for w in "abcdef")
    )
    taken = [j.id for claimed in claims for j in claimed]
    assert sorted(taken) == sorted(ids)  # every one, once


async def test_a_renewed_delivery_stays_claimed(store):
    job_id = await _succeeded(store, user="u1", deliver_at=NOW)
    assert len(await store.leases.claim_deliveries("a", NOW, NOW + LEASE, 10)) == 1
    assert await store.leases.renew("b", [job_id], NOW + 2 * LEASE) == 0  # not b's
    assert await store.leases.renew("a", [job_id], NOW + 2 * LEASE) == 1
    assert await store.leases.claim_deliveries("b", NOW + LEASE + 1, NOW + 3 * LEASE, 10) == []
    assert len(await store.leases.claim_deliveries("b", NOW + 2 * LEASE, NOW, 10)) == 1


async def test_claim_submit_counts_the_provider_in_the_same_step(store):
    jobs = [await admit(store, new_job(user=f"u{n}", provider="gemini")) for n in range(30)]
    other = await admit(store, new_job(user="x", provider="magnific"))
    results = await asyncio.gather(
        *(
            store.leases.claim_submit(j.id, worker=f"w{n}", now=NOW, concurrency=2)
            for n, j in enumerate(jobs)
        )
    )
    started = [r for r in results if r is not None]
    assert len(started) == 2  # never more than the provider takes, however they race
    assert all(r.status is JobStatus.SUBMITTING and r.submitted_at == NOW for r in started)
    assert all(r.previous_status is JobStatus.QUEUED for r in started)
    assert {r.claimed_by for r in started} < {f"w{n}" for n in range(30)}
    assert await store.jobs.events(started[0].id) == [(None, "queued"), ("queued", "submitting")]
    assert await store.leases.claim_submit(other.id, worker="w", now=NOW, concurrency=2)
    again = await store.leases.claim_submit(started[0].id, worker="w", now=NOW, concurrency=9)
    assert again is None  # no longer queued
    assert await store.jobs.at_provider_counts() == {"gemini": 2, "magnific": 1}


async def test_submits_of_dead_and_unknown_workers_are_stranded(store):
    await store.leases.beat("live", NOW)
    await store.leases.beat("dead", NOW - 2 * LEASE)
    ids = {}
    for worker in ("live", "dead", "gone"):
        job = await admit(store, new_job(user=worker))
        await store.leases.claim_submit(job.id, worker=worker, now=NOW, concurrency=10)
        ids[worker] = job.id
    stranded = await store.leases.stranded(NOW - LEASE)
    assert {j.id for j in stranded} == {ids["dead"], ids["gone"]}
    # a store nobody else uses: every earlier worker is dead
    assert len(await store.leases.stranded(math.inf)) == 3
    await store.leases.release("live")
    assert len(await store.leases.stranded(NOW - LEASE)) == 3


async def test_resume_leaves_live_workers_claims_alone(store):
    await store.leases.beat("live", NOW)
    mine = await tracked(store, user="u1", poll_at=NOW)
    theirs = await _succeeded(store, user="u2", deliver_at=NOW)
    assert len(await store.leases.claim_polls("live", NOW, NOW + LEASE, 10)) == 1
    assert len(await store.leases.claim_deliveries("dead", NOW, NOW + LEASE, 10)) == 1
    assert await store.leases.resume(NOW + 1, NOW - LEASE) == 1  # the dead worker's delivery
    polled = await store.jobs.get(mine, images=False)
    delivered = await store.jobs.get(theirs, images=False)
    assert polled is not None and polled.next_poll_at == NOW + LEASE
    assert delivered is not None and delivered.next_delivery_at == NOW + 1
    assert await store.leases.resume(NOW + 2, math.inf) == 2


async def test_beats_keep_a_worker_live(store):
    await store.leases.beat("w", NOW - 2 * LEASE)
    job = await admit(store, new_job())
    await store.leases.claim_submit(job.id, worker="w", now=NOW, concurrency=1)
    assert len(await store.leases.stranded(NOW - LEASE)) == 1
    await store.leases.beat("w", NOW)
    assert await store.leases.stranded(NOW - LEASE) == []


async def test_live_counts_the_workers_seen_within_the_lease(store):
    await store.leases.beat("a", NOW)
    await store.leases.beat("b", NOW - 1)
    await store.leases.beat("gone", NOW - 2 * LEASE)
    assert await store.leases.live(NOW - LEASE) == 2
    await store.leases.release("b")
    assert await store.leases.live(NOW - LEASE) == 1
