"""The requester's status line costs almost no Discord requests: elapsed time is a Discord
timestamp the client renders live, the queue position is told only when it matters, a global
edit budget caps progress edits, and a status line nobody can see any more is not edited."""

from __future__ import annotations

import pytest

from tests.discord.bot_harness import (
    imagine,
    job_id_of,
    keys_for,
    result_of,
    running_bot,
    settings_for,
    status_text,
)
from tests.fakes.discord import FakeDiscord
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
    # one edit for the whole time at the provider: the client shows "started 4 seconds ago"
    assert texts == [generating, "📤 Uploading…", "✅ Done — posted below."], texts
