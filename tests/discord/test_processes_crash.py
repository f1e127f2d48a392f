"""Three real bot processes on one PostgreSQL schema, one of them SIGKILLed at random (seeded)
moments, 10 times over 300 ``/imagine`` jobs, and restarted each time as a supervisor would.
Callbacks reach them through one address in front of every receiver (the README's reverse
proxy), which skips a dead one. Every job ends delivered exactly once, or failed with a
refund (a create request in flight when its process died is never resent: it might bill
twice); nothing stays unfinished, nothing is posted twice, no provider task is created twice.
The takeover time after each kill (from the kill, and from its lease's expiry, to the last
of the jobs its worker held ended) is shown in the test run's output (the figures are in the
README's "Takeover")."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import pytest

from tests.discord.fleet import (
    BotProcess,
    Fleet,
    add_users,
    fleet,
    outcome,
    report,
    start_all,
    wait_all_final,
)

JOBS = 300
USERS = 50
KILLS = 10
LEASE = 2.0
RATE = 7.0  # interactions per second: the run lasts about 43 s
SEED = 14
ENDED = ("delivered", "failed", "timed_out", "cancelled")


@dataclass
class Takeover:
    """One kill: which process, the jobs its worker held, and when the last of them ended."""

    process: int
    at: float  # seconds into the run
    killed: float  # time.monotonic() of the kill
    held: int
    ended_after: float | None = None  # seconds from the kill; None: not within the bound


async def held_jobs(crew: Fleet, pid: int) -> list[str]:
    """Unfinished jobs whose last claim is the worker of process ``pid`` (ids name the pid)."""
    rows = await crew.query(
        "SELECT id FROM jobs WHERE claimed_by LIKE $1 AND status <> ALL($2::text[])",
        f"%:{pid}:%",
        list(ENDED),
    )
    return [r["id"] for r in rows]


async def watch(crew: Fleet, jobs: list[str], killed: float, record: Takeover) -> None:
    """Note when the last of ``jobs`` ended (bounded: lease and 40 s)."""
    while time.monotonic() - killed < LEASE + 40:
        rows = await crew.query("SELECT count(*) AS n FROM jobs WHERE id = ANY($1)", jobs)
        open_rows = await crew.query(
            "SELECT count(*) AS n FROM jobs WHERE id = ANY($1) AND status <> ALL($2::text[])",
            jobs,
            list(ENDED),
        )
        if rows[0]["n"] == len(jobs) and open_rows[0]["n"] == 0:
            record.ended_after = time.monotonic() - killed
            return
        await asyncio.sleep(0.1)


async def killer(
    crew: Fleet, rng: random.Random, moments: list[float], began: float
) -> tuple[list[Takeover], list[asyncio.Task[None]]]:
    """At each moment, SIGKILL a random running process and restart it; watch its jobs."""
    takeovers: list[Takeover] = []
    watchers: list[asyncio.Task[None]] = []
    for moment in moments:
        await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
        victim: BotProcess = rng.choice([p for p in crew.processes if p.running])
        pid = victim.pid
        await victim.kill()
        killed = time.monotonic()
        jobs = await held_jobs(crew, pid)
        record = Takeover(victim.index, killed - began, killed, len(jobs))
        takeovers.append(record)
        if jobs:
            watchers.append(asyncio.create_task(watch(crew, jobs, killed, record)))
        else:
            record.ended_after = 0.0
        await asyncio.sleep(0.2)  # the supervisor's pause
        await crew.start(victim)
    return takeovers, watchers


@pytest.mark.timeout(180)
async def test_sigkill_ten_times_over_three_hundred_jobs(tmp_path, capsys):
    rng = random.Random(SEED)  # the kills: moments and victims
    spread = random.Random(SEED + 1)  # where each interaction goes
    async with fleet(tmp_path, 3, proxy=True, LEASE_SECONDS=str(LEASE)) as crew:
        crew.magnific.step_seconds = 0.6
        crew.magnific.steps_to_finish = 1
        await start_all(crew)
        users = add_users(crew, USERS)
        span = JOBS / RATE
        moments = sorted(rng.uniform(1.0, span - 2.0) for _ in range(KILLS))
        began = time.monotonic()
        kills = asyncio.create_task(killer(crew, rng, moments, began))
        sent = []
        try:
            for n in range(JOBS):
                live = crew.live_shards()
                channel = spread.choice(crew.channels[spread.choice(live)]) if live else None
                if channel is not None:
                    user = users[n % USERS]
                    prompt = f"job {n}: a banana that survives"
                    options = {"prompt": prompt, "resolution": "1K"}
                    sent.append(await crew.fake.slash(user, channel, "imagine", options))
                await asyncio.sleep(max(0.0, began + (n + 1) / RATE - time.monotonic()))
            takeovers, watchers = await asyncio.wait_for(kills, 120)
        finally:
            if not kills.done():
                kills.cancel()
        await asyncio.wait_for(asyncio.gather(*watchers), LEASE + 45)
        await wait_all_final(crew, 1, timeout=60)
        elapsed = time.monotonic() - began
        await crew.magnific.idle(timeout=10)
        codes = [await p.stop() for p in crew.processes]
        result = await outcome(crew)

        statuses = [j["status"] for j in result.jobs]
        unanswered = [ix for ix in sent if not ix.acknowledged]
        with_job = {j["interaction_id"] for j in result.jobs}
        jobless = [ix for ix in sent if ix.acknowledged and ix.id not in with_job]
        lines = [
            f"crash test: {len(sent)} interactions, {len(result.jobs)} jobs in {elapsed:.1f} s: "
            f"{statuses.count('delivered')} delivered once, {statuses.count('failed')} failed "
            f"with a refund; interactions to a process as it died: {len(unanswered)} "
            f"unanswered, {len(jobless)} deferred but no job accepted"
        ]
        for n, t in enumerate(takeovers, 1):
            ended = "not within the bound" if t.ended_after is None else f"{t.ended_after:.1f} s"
            expiry = (
                f" ({t.ended_after - LEASE:+.1f} s from lease expiry)"
                if t.held and t.ended_after is not None
                else ""
            )
            lines.append(
                f"  kill {n}: bot{t.process} at {t.at:.1f} s, {t.held} jobs held, "
                f"the last ended {ended} after the kill{expiry}"
            )
        report(capsys, *lines)
        assert len(takeovers) == KILLS
        assert all(t.ended_after is not None for t in takeovers)
        assert set(statuses) <= {"delivered", "failed"}
        # each interaction: one job, or none because its process died before accepting it
        assert sorted(j["interaction_id"] for j in result.jobs) == sorted(
            ix.id for ix in sent if ix not in unanswered and ix not in jobless
        )
        # ... and those lost were sent to the shard of a process killed within seconds
        for ix in unanswered + jobless:
            shard = crew.fake.shard_of(ix.guild_id or "")
            assert any(
                t.process == shard and 0 <= t.killed - ix.created_at <= 5 for t in takeovers
            ), (ix.id, shard, ix.created_at - began, [(t.process, t.at) for t in takeovers])
        assert all(ix.response_type == 5 and len(ix.messages) <= 1 for ix in jobless)
        failed = [j for j in result.jobs if j["status"] == "failed"]
        assert len(failed) <= 5 * KILLS, [(j["failure_kind"]) for j in failed]
        for job in result.jobs:
            want = 1 if job["status"] == "delivered" else 0
            assert result.results[job["id"]] == want, (job["id"], job["status"])
        assert result.stray_results == 0
        assert set(result.creates.values()) <= {1}
        assert result.ledger == []
        assert codes == [0, 0, 0]
