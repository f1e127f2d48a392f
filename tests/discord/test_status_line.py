"""The requester's status line costs almost no Discord requests: elapsed time is a Discord
timestamp the client renders live, the queue position is told only when it matters, a global
edit budget caps progress edits, and a status line nobody can see any more is not edited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.discord.progress import EditBudget
from tests.discord.bot_harness import (
    imagine,
    job_id_of,
    keys_for,
    result_of,
    running_bot,
    settings_for,
    status_text,
)
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.magnific import FakeMagnific

EDITS = "/webhooks/{id}/{token}/messages/"


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        yield server


async def test_elapsed_time_is_a_live_timestamp_and_costs_no_edits(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.step_seconds = 0.5
        magnific.steps_to_finish = 9  # 4.5 s at the provider, polled every 50 ms
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("tara")
            ix = await imagine(fake, user, model="magnific:nano-banana-pro")
            await status_text(fake, ix, "Generating")
            result = await result_of(fake, ix)
            job = await runtime.engine.get_job(job_id_of(result), images=False)
            assert job is not None and job.submitted_at is not None
            await status_text(fake, ix, "Done")
            original = ix.original
            assert original is not None
            texts = [str(edit.get("content", "")) for edit in original.edits]
    generating = f"🎨 Generating… started <t:{int(job.submitted_at)}:R>"
    # one edit for the whole time at the provider: the client shows "started 4 seconds ago";
    # the result, downloaded at once, is posted without an "Uploading…" first
    assert texts == [generating, "✅ Done — posted below."], texts


@asynccontextmanager
async def one_job(
    fake: FakeDiscord, tmp_path: Path, file_delay: float = 0.0
) -> AsyncIterator[FakeInteraction]:
    """A user's /imagine at the Magnific fake (results served after ``file_delay``), once
    its status line shows "Generating"."""
    async with FakeMagnific() as magnific:
        magnific.step_seconds = 0.2
        magnific.file_delay = file_delay
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings):
            ix = await imagine(fake, fake.add_user("uma"), model="magnific:nano-banana-pro")
            await status_text(fake, ix, "Generating")
            yield ix


async def test_a_result_ready_at_once_waits_for_no_status_edit(fake, tmp_path):
    """Each edit of the status line takes 0.5 s to reach Discord (and holds up whatever the
    interaction sends next): a result downloaded at once is posted with no edit before it,
    and "Done" follows."""
    edit = f"PATCH {EDITS}{{id}}"
    async with one_job(fake, tmp_path) as ix:
        edits = fake.rest.route_counts[edit]
        fake.rest.latency[edit] = 0.5
        await result_of(fake, ix)
        sent_before_the_post = fake.rest.route_counts[edit] - edits
        await status_text(fake, ix, "Done")
    assert sent_before_the_post == 0


async def test_a_slow_download_shows_uploading(fake, tmp_path):
    """Results that take a while to download: the line says so while they do."""
    async with one_job(fake, tmp_path, file_delay=1.5) as ix:
        await status_text(fake, ix, "Uploading")
        assert not any(m.attachments for m in fake.messages("*"))  # not posted yet
        await result_of(fake, ix)
        await status_text(fake, ix, "Done")
        assert ix.original is not None
        texts = [str(e.get("content", "")) for e in ix.original.edits]
    assert texts[-2:] == ["📤 Uploading…", "✅ Done — posted below."], texts


async def edit_rate(fake: FakeDiscord, seconds: float, step: float = 0.25) -> list[int]:
    """Status edits in each sliding second over ``seconds``, sampled every ``step``."""
    samples = [fake.count("PATCH", EDITS)]
    for _ in range(int(seconds / step)):
        await asyncio.sleep(step)
        samples.append(fake.count("PATCH", EDITS))
    per = int(1 / step)
    return [samples[i + per] - samples[i] for i in range(len(samples) - per)]


async def test_a_global_edit_budget_caps_status_edits_and_latest_state_still_shows(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.step_seconds = 1.0
        magnific.steps_to_finish = 1000  # the jobs wait at the provider for the whole test
        settings = settings_for(
            fake,
            tmp_path,
            **keys_for("magnific", magnific),
            provider_concurrency={"magnific": 100},
        )
        async with running_bot(fake, settings):
            users = [fake.add_user(f"w{i}") for i in range(40)]
            before = fake.count("PATCH", EDITS)
            asked = await asyncio.gather(
                *(imagine(fake, user, model="magnific:nano-banana-pro") for user in users)
            )
            rates = await edit_rate(fake, 4.0)
            # at most the burst (5) plus 5 a second, whatever 40 jobs ask
            assert max(rates) <= 10, rates
            # skipped edits are not lost: each job's next report shows where it is
            for ix in asked:
                await status_text(fake, ix, "Generating", timeout=30)
            edits = fake.count("PATCH", EDITS) - before
            assert edits <= len(asked) + 5, edits  # about one edit per job, none for time


def test_the_budget_keeps_a_reserve_for_new_stages_and_final_words_always_go():
    now = [0.0]
    budget = EditBudget(rate=5.0, burst=4.0, clock=lambda: now[0])
    assert [budget.take(reserve=0.5) for _ in range(3)] == [True, True, False]  # 2 kept back
    assert [budget.take() for _ in range(3)] == [True, True, False]  # a new stage spends them
    for _ in range(10):
        budget.charge()  # final words: never refused, in debt by one burst at most
    assert not budget.take()
    now[0] += 1.0  # 5 tokens: the debt of 4 paid, one edit left
    assert [budget.take() for _ in range(2)] == [True, False]


async def test_no_edits_once_discord_says_nobody_can_see_the_status_line(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.step_seconds = 0.3
        magnific.steps_to_finish = 5
        settings = settings_for(
            fake,
            tmp_path,
            **keys_for("magnific", magnific),
            provider_concurrency={"magnific": 1},
        )
        async with running_bot(fake, settings):
            first, late = fake.add_user("uma"), fake.add_user("vic")
            ahead = await imagine(fake, first, model="magnific:nano-banana-pro")
            await fake.wait_for(lambda: magnific.tasks, what="the first job at the provider")
            ix = await imagine(fake, late, model="magnific:nano-banana-pro")
            await status_text(fake, ix, "position 1")
            fake.expire_token(ix)  # e.g. the requester's clock and Discord's disagree
            await result_of(fake, ahead)
            result = await result_of(fake, ix)  # posted in the channel instead
            assert result.webhook_id is None
    token = f"/webhooks/{fake.application_id}/{ix.token}"
    after = [r for r in fake.requests if r.route.startswith(token) and r.status == 401]
    # the first refusal is the last try: no more edits, no follow-up attempt
    assert len(after) == 1, [(r.method, r.route) for r in after]
