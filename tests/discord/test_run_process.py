"""``python -m bot run`` as a real process against the fake Discord: SIGKILL and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.discord.bot_harness import job_id_of, result_of
from tests.fakes.discord import FakeDiscord
from tests.fakes.magnific import FakeMagnific

ROOT = Path(__file__).resolve().parents[2]


async def start_bot(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    clean.update(env)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=cwd,
        env=clean,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_run_process_killed_while_pending_delivers_once_after_restart(tmp_path):
    async with FakeDiscord() as fake, FakeMagnific() as magnific:
        magnific.step_seconds = 0.3
        magnific.steps_to_finish = 6
        env = {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "MAGNIFIC_API_KEY": magnific.api_key,
            "MAGNIFIC_BASE_URL": magnific.base_url,
            "DEFAULT_PROVIDER": "magnific:nano-banana-pro",
            "BANANABOT_DB": str(tmp_path / "b.db"),
            "METRICS_PORT": "0",  # /healthz and /metrics on any free loopback port
            "FETCH_ALLOW_PRIVATE": "1",
            "POLL_INTERVAL_SECONDS": "0.05",
            "PYTHONPATH": str(ROOT),
        }
        user = fake.add_user("sam")
        first = await start_bot(env, tmp_path)
        try:
            await fake.wait_identified(1, timeout=30)
            await fake.wait_for(lambda: fake.commands[None], timeout=30, what="command sync")
            ix = await fake.slash(user, fake.channel, "imagine", {"prompt": "a fox at dawn"})
            await fake.wait_for(lambda: magnific.tasks, timeout=15, what="a provider task")
        finally:
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), 10)
        syncs = len(fake.command_syncs)
        second = await start_bot(env, tmp_path)
        try:
            result = await result_of(fake, ix, timeout=30)
            job_id = job_id_of(result)
            reroll = await fake.click(user, result, f"bb:reroll:{job_id}")
            await result_of(fake, reroll, timeout=30)
        finally:
            second.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(second.communicate(), 15)
        assert second.returncode == 0, stderr.decode()[-2000:]
        assert b"Traceback" not in stderr, stderr.decode()[-3000:]
        assert len(fake.command_syncs) == syncs  # commands unchanged: no second sync
        results = [m for m in fake.messages() if m.attachments and not m.deleted]
        assert len(results) == 2  # the original job once, and the re-roll
        assert len(magnific.requests_to("/nano-banana-pro", "POST")) == 2
