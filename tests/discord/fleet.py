"""Several real bot processes (``python -m bot run``) on one PostgreSQL schema, against the
fake Discord and a fake Magnific in the test process: the machinery of the multi-process
end-to-end and crash tests.

Process ``i`` runs shard ``i`` of ``SHARD_COUNT=n`` and listens for callbacks on its own port,
but its ``CALLBACK_PUBLIC_URL`` names the receiver of process ``i + 1`` (mod ``n``): every
callback reaches a process other than the one that sent the create request. Each process's
log goes to a file beside the test's other files (a pipe nobody reads would block it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg

from tests.discord.test_fake_discord_shards import guild_on
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeMember, FakeUser
from tests.fakes.discord.ratelimits import RateLimitConfig
from tests.fakes.magnific import FakeMagnific
from tests.pg import pg_schema

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec-fleet-test"  # noqa: S105 - the fake provider's signing key
#: every wait on a process is bounded by this (seconds)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    """A loopback port free just now (bound again by a bot process shortly after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class BotProcess:
    """One ``python -m bot run``, restartable, with its environment and logs."""

    index: int
    env: dict[str, str]
    logs: Path
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log_path(self, start: int) -> Path:
        return self.logs / f"bot{self.index}-{start}.log"

    async def start(self) -> None:
        """Start it (again)."""
        clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
        clean.update(self.env)
        self.starts += 1
        with self.log_path(self.starts).open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.logs,
                env=clean,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    async def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a power cut would; waits for the end."""
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)

    async def stop(self) -> int | None:
        """SIGTERM (a clean stop), SIGKILL if it does not end in time; its exit code."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                await self.kill()
        return self.proc.returncode

    def tracebacks(self) -> list[str]:
        """The logs of every start that show a traceback (their last lines)."""
        found = []
        for start in range(1, self.starts + 1):
            text = self.log_path(start).read_text(errors="replace")
            if "Traceback" in text:
                found.append(f"bot{self.index} start {start}:\n{text[-3000:]}")
        return found


@dataclasses.dataclass
class Fleet:
    """The fakes, the schema and the processes of one test."""

    fake: FakeDiscord
    magnific: FakeMagnific
    url: str
    processes: list[BotProcess]
    channels: list[list[FakeChannel]]  # by shard: text channels of guilds it owns

    async def start(self, process: BotProcess) -> None:
        """Start ``process`` and wait until its shard is connected anew."""
        before = self.fake.sessions.get(process.index)
        await process.start()
        await self.fake.wait_for(
            lambda: (s := self.fake.sessions.get(process.index)) is not None
            and s is not before
            and s.connected,
            timeout=START_TIMEOUT,
            what=f"process {process.index} identified",
        )

    def live_shards(self) -> list[int]:
        """Shards whose process runs and whose session is connected."""
        return [
            p.index
            for p in self.processes
            if p.running and (s := self.fake.sessions.get(p.index)) is not None and s.connected
        ]

    async def query(self, sql: str, *args: object) -> list[asyncpg.Record]:
        """Rows of ``sql`` on the processes' schema."""
        conn = await asyncpg.connect(self.url, timeout=10)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


def member_everywhere(fake: FakeDiscord, user: FakeUser, channels: Sequence[FakeChannel]) -> None:
    """Make ``user`` a member of every guild of ``channels``."""
    for channel in channels:
        assert channel.guild_id is not None
        guild = fake.guilds[channel.guild_id]
        guild.members[user.id] = FakeMember(user, guild.id, roles=[], joined_at=fake.state.now_iso())


@contextlib.asynccontextmanager
async def fleet(
    tmp_path: Path, count: int, *, guilds_per_shard: int = 2, **settings: str
) -> AsyncIterator[Fleet]:
    """``count`` bot processes (not started) on a fresh schema; ``settings``: more environment
    for every process. Every process is killed on the way out, whatever happened."""
    async with (
        pg_schema() as url,
        FakeDiscord(shard_count=count, rate_limits=RateLimitConfig.off()) as fake,
        FakeMagnific(webhook_secret=WEBHOOK_SECRET) as magnific,
    ):
        channels = []
        for shard in range(count):
            guilds = [guild_on(fake, shard, count) for _ in range(guilds_per_shard)]
            channels.append(
                [next(c for c in g.channels.values() if c.type == 0) for g in guilds]
            )
        ports = [free_port() for _ in range(count)]
        processes = []
        for index in range(count):
            env = {
                "DISCORD_TOKEN": fake.token,
                "DISCORD_API_BASE": fake.api_base,
                "DISCORD_GATEWAY_URL": fake.gateway_url,
                "DATABASE_URL": url,
                "SHARD_COUNT": str(count),
                "SHARD_IDS": str(index),
                "MAGNIFIC_API_KEY": magnific.api_key,
                "MAGNIFIC_BASE_URL": magnific.base_url,
                "MAGNIFIC_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "DEFAULT_PROVIDER": "magnific:nano-banana-pro",
                "CALLBACK_HOST": "127.0.0.1",
                "CALLBACK_PORT": str(ports[index]),
                "CALLBACK_PUBLIC_URL": f"http://127.0.0.1:{ports[(index + 1) % count]}",
                "METRICS_PORT": "0",
                "FETCH_ALLOW_PRIVATE": "1",
                "QUOTA_DAILY_CREDITS": "1000",
                "USER_MAX_JOBS": "50",
                "PROVIDER_CONCURRENCY_DEFAULT": "20",
                "BANANABOT_DB": str(tmp_path / "unused.db"),
                "PYTHONPATH": str(ROOT),
                **settings,
            }
            processes.append(BotProcess(index, env, tmp_path))
        crew = Fleet(fake, magnific, url, processes, channels)
        try:
            yield crew
        finally:
            for process in processes:
                with contextlib.suppress(Exception):
                    await process.kill()


async def start_all(crew: Fleet) -> None:
    """Start every process (shard 0's first: it migrates and syncs the commands)."""
    await crew.start(crew.processes[0])
    await crew.fake.wait_for(
        lambda: crew.fake.commands[None], timeout=START_TIMEOUT, what="command sync"
    )
    await asyncio.gather(*(crew.start(p) for p in crew.processes[1:]))


def add_users(crew: Fleet, count: int) -> list[FakeUser]:
    """``count`` users, each a member of every guild."""
    every = [c for shard in crew.channels for c in shard]
    users = []
    for n in range(count):
        user = crew.fake.add_user(f"user{n}", member=False)
        member_everywhere(crew.fake, user, every)
        users.append(user)
    return users


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the store and the fakes say about every job at the end."""

    jobs: list[asyncpg.Record]
    results: Counter[str]  # job id -> result messages posted for it
    stray_results: int  # result messages no job names
    creates: Counter[str]  # prompt -> provider create requests
    ledger: list[str]  # differences, worded


async def outcome(crew: Fleet) -> Outcome:
    """Read every job, the ledger, the result messages and the provider's creates."""
    jobs = await crew.query(
        "SELECT id, status, user_id, cost, posted_message_id, request_json, failure_kind "
        "FROM jobs ORDER BY created_at"
    )
    posted = {j["posted_message_id"]: j["id"] for j in jobs if j["posted_message_id"]}
    results: Counter[str] = Counter()
    stray = 0
    for message in crew.fake.messages("*", include_deleted=True):
        if message.attachments and not message.ephemeral:
            if message.id in posted:
                results[posted[message.id]] += 1
            else:
                stray += 1
    creates: Counter[str] = Counter(
        str(r.json["prompt"])
        for r in crew.magnific.requests_to("/nano-banana-pro", "POST")
        if isinstance(r.json, dict)
    )
    return Outcome(jobs, results, stray, creates, await ledger_differences(crew, jobs))


async def ledger_differences(crew: Fleet, jobs: Sequence[asyncpg.Record]) -> list[str]:
    """Each user's spent credits must be their delivered jobs' cost, nothing reserved; each
    job reserved once and then committed (delivered) or refunded (failed), never both."""
    problems = []
    spent: Counter[str] = Counter()
    for job in jobs:
        if job["status"] == "delivered":
            spent[job["user_id"]] += job["cost"]
    usage = {
        r["user_id"]: (r["reserved"], r["spent"])
        for r in await crew.query(
            "SELECT user_id, SUM(reserved) AS reserved, SUM(spent) AS spent "
            "FROM quota_usage GROUP BY user_id"
        )
    }
    for user in {j["user_id"] for j in jobs} | set(usage):
        reserved, used = usage.get(user, (0, 0))
        if reserved or used != spent[user]:
            problems.append(f"user {user}: reserved {reserved}, spent {used}, owed {spent[user]}")
    entries: dict[str, set[str]] = {}
    for row in await crew.query("SELECT job_id, entry FROM quota_ledger"):
        entries.setdefault(row["job_id"], set()).add(row["entry"])
    for job in jobs:
        want = {"reserve", "commit" if job["status"] == "delivered" else "refund"}
        if entries.get(job["id"], set()) != want:
            problems.append(f"job {job['id']} ({job['status']}): ledger {entries.get(job['id'])}")
    return problems


async def wait_all_final(crew: Fleet, expected: int, timeout: float) -> list[asyncpg.Record]:
    """Wait (bounded) until at least ``expected`` jobs exist and none is unfinished."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await crew.query("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        counts = {r["status"]: r["n"] for r in rows}
        open_ = sum(n for s, n in counts.items() if s not in ("delivered", "failed", "timed_out"))
        if sum(counts.values()) >= expected and not open_:
            return rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs not finished after {timeout} s: {counts}")
        await asyncio.sleep(0.25)
