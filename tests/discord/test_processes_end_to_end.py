"""Two and four real bot processes (``python -m bot run``) on one PostgreSQL schema, each
running one gateway shard of the fake Discord: 200 ``/imagine`` jobs from 50 users in guilds
owned by every shard, each provider callback sent to a process other than the one that made
the create request. Every job is delivered exactly once, the ledger is exact, and no
provider task is created twice (issue 14, "Tests and figures")."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.discord.fleet import add_users, fleet, outcome, report, start_all, wait_all_final

JOBS = 200
USERS = 50
#: interactions sent per second (the ack deadline is Discord's 3 s, on a 2-core machine)
RATE = 25.0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("count", [2, 4])
async def test_jobs_across_processes_are_delivered_once_with_an_exact_ledger(
    tmp_path, capsys, count
):
    async with fleet(tmp_path, count, LEASE_SECONDS="10") as crew:
        crew.magnific.step_seconds = 0.4
        crew.magnific.steps_to_finish = 1  # one change: one callback per task
        await start_all(crew)
        users = add_users(crew, USERS)
        every = [c for shard in crew.channels for c in shard]
        began = time.monotonic()
        sent = []
        for n in range(JOBS):
            channel = every[n % len(every)]
            user = users[n % USERS]
            prompt = f"job {n}: a banana on shard {crew.fake.shard_of(channel.guild_id or '')}"
            sent.append(
                await crew.fake.slash(
                    user, channel, "imagine", {"prompt": prompt, "resolution": "1K"}
                )
            )
            await asyncio.sleep(1 / RATE)
        await wait_all_final(crew, JOBS, timeout=90)
        elapsed = time.monotonic() - began
        await crew.magnific.idle(timeout=10)
        codes = [await p.stop() for p in crew.processes]

        result = await outcome(crew)
        statuses = [j["status"] for j in result.jobs]
        report(capsys, f"{count} processes: {JOBS} jobs delivered in {elapsed:.1f} s")
        assert len(result.jobs) == JOBS
        assert statuses.count("delivered") == JOBS, [
            (j["status"], j["failure_kind"]) for j in result.jobs if j["status"] != "delivered"
        ]
        assert all(result.results[j["id"]] == 1 for j in result.jobs), result.results
        assert result.stray_results == 0
        assert len(result.creates) == JOBS and set(result.creates.values()) == {1}
        assert result.ledger == []
        # the callbacks came to a receiver other than the submitter's, and were taken
        taken = [c for c in crew.magnific.callbacks_sent if c[2] == 200]
        assert len(taken) >= JOBS * 0.9, len(taken)
        assert {url.split("/callbacks")[0] for url, _, _ in taken} == {
            p.env["CALLBACK_PUBLIC_URL"] for p in crew.processes
        }
        # every interaction answered by the process of its shard, in time
        assert not crew.fake.late_interactions()
        assert all(ix.acknowledged for ix in sent)
        assert codes == [0] * count
        assert [t for p in crew.processes for t in p.tracebacks()] == []
