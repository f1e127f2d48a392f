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

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tests.discord.test_fake_discord_shards import guild_on
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeMember, FakeUser
from tests.fakes.discord.ratelimits import RateLimitConfig
from tests.fakes.magnific import FakeMagnific
from tests.pg import pg_schema

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec-fleet-test"
#: every wait on a process is bounded by this (seconds)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def report(capsys: pytest.CaptureFixture[str], *lines: str) -> None:
    """Show ``lines`` in the test run's output, captured or not (the figures of a test)."""
    with capsys.disabled():
        sys.stdout.write("\n" + "\n".join(lines) + "\n")


def free_port() -> int:
    """A loopback port free just now (bound again by a bot process shortly after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CallbackProxy:
    """One callback address in front of every process's receiver, as the README's reverse
    proxy is: each callback goes to the next receiver in turn, and to the one after when a
    receiver does not answer (its process dead), as Caddy's ``lb_try_duration`` does."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self.turn = 0
        self.app = web.Application()
        self.app.router.add_post("/{tail:.*}", self._forward)
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> CallbackProxy:
        self.session = aiohttp.ClientSession()
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.read()
        keep = ("content-type", "webhook-id", "webhook-timestamp", "webhook-signature")
        headers = {k: v for k, v in request.headers.items() if k.lower() in keep}
        for _ in range(len(self.ports) * 3):  # three rounds at most, then 502
            port = self.ports[self.turn % len(self.ports)]
            self.turn += 1
            try:
                async with self.session.post(
                    f"http://127.0.0.1:{port}{request.path_qs}",
                    data=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as upstream:
                    return web.Response(status=upstream.status, body=await upstream.read())
            except (aiohttp.ClientConnectionError, TimeoutError):
                await asyncio.sleep(0.05)
        return web.Response(status=502)


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
            lambda: (
                (s := self.fake.sessions.get(process.index)) is not None
                and s is not before
                and s.connected
            ),
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
        guild.members[user.id] = FakeMember(
            user, guild.id, roles=[], joined_at=fake.state.now_iso()
        )


@contextlib.asynccontextmanager
async def fleet(
    tmp_path: Path,
    count: int,
    *,
    guilds_per_shard: int = 2,
    proxy: bool = False,
    **settings: str,
) -> AsyncIterator[Fleet]:
    """``count`` bot processes (not started) on a fresh schema; ``settings``: more environment
    for every process. Callbacks go to the next process's receiver, or with ``proxy`` to a
    :class:`CallbackProxy` in front of all. Every process is killed on the way out, whatever
    happened."""
    ports = [free_port() for _ in range(count)]
    async with (
        pg_schema() as url,
        FakeDiscord(shard_count=count, rate_limits=RateLimitConfig.off()) as fake,
        FakeMagnific(webhook_secret=WEBHOOK_SECRET) as magnific,
        CallbackProxy(ports) as callbacks,
    ):
        channels = []
        for shard in range(count):
            guilds = [guild_on(fake, shard, count) for _ in range(guilds_per_shard)]
            channels.append([next(c for c in g.channels.values() if c.type == 0) for g in guilds])
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
                "CALLBACK_PUBLIC_URL": callbacks.url
                if proxy
                else f"http://127.0.0.1:{ports[(index + 1) % count]}",
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
        "SELECT id, status, user_id, cost, posted_message_id, interaction_id, failure_kind "
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
            stuck = await crew.query(
                "SELECT id, status, claimed_by, task_id, poll_count, callback_hinted, "
                "next_poll_at - extract(epoch from now()) AS due_in, "
                "extract(epoch from now()) - updated_at AS idle_for FROM jobs "
                "WHERE status NOT IN ('delivered', 'failed', 'timed_out') LIMIT 5"
            )
            workers = await crew.query(
                "SELECT id, extract(epoch from now()) - seen_at AS unseen FROM workers"
            )
            tasks = {
                r["task_id"]: getattr(crew.magnific.tasks.get(r["task_id"]), "status", None)
                for r in stuck
            }
            raise TimeoutError(
                f"jobs not finished after {timeout} s: {counts}; unfinished: "
                f"{[dict(r) for r in stuck]}; provider: {tasks}; workers: "
                f"{[dict(r) for r in workers]}"
            )
        await asyncio.sleep(0.25)
