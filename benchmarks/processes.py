"""Processes: how many jobs a second one, two and four bot processes on one PostgreSQL carry
from accepted to delivered, beside one process on SQLite, when the provider answers at once.

    .venv/bin/python -m benchmarks.processes [JOBS] [--counts 1,2,4] [--concurrency N]

Each row is a run of its own: JOBS jobs (default 600) for the offline ``local`` provider at
1K (it answers in the create request), by 100 users. Every bot process is a real OS process
(``multiprocessing``, spawned) running a :class:`~bot.jobs.engine.JobEngine` on its own store
(PostgreSQL: its own pool, on a fresh schema for the run, dropped after; SQLite: a new file)
with a notifier that keeps the files and counts deliveries. Once every process has started,
the jobs are accepted round-robin through the processes (job ``i`` by process ``i % N``),
each process its share at once; any process may deliver any job. A provider's concurrency
counts every process's jobs at it, so it is the same total in every row (``--concurrency``,
default 32: above what one process keeps busy, so it does not cap the figure).

Printed per row: jobs per second from the first acceptance to the last delivery; CPU seconds
per job of the bot processes (every thread; SQLite's work is among them) and, for PostgreSQL,
with the server's backends serving them added (read from ``/proc``, so only with the server on
this machine); jobs delivered (by their stored status); and jobs delivered more than once
(goal: every job delivered, none twice). PostgreSQL: ``BANANABOT_TEST_DATABASE_URL``, default
the local server's ``test`` database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, Receipt
from bot.media.fetch import ImageFetcher
from bot.media.sniff import ImageFile
from bot.storage.backend import open_store
from tests.jobs.harness import CountingNotifier, spec
from tests.pg import pg_schema

#: the provider's concurrency, for all processes together
CONCURRENCY = 32
USERS = 100
_CLOCK_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def config(concurrency: int) -> EngineConfig:
    """The engine's settings in every process of every row."""
    return EngineConfig(
        allowance=None,
        per_user_active_limit=1000,
        idle_tick=1.0,
        provider_concurrency={"local": concurrency},
    )


@dataclass(frozen=True)
class Row:
    """One configuration's figures."""

    name: str
    processes: int
    rate: float
    cpu_bot: float  # seconds per job, bot processes
    cpu_server: float | None  # seconds per job, PostgreSQL backends (None: SQLite, or unread)
    delivered: int
    twice: int


@dataclass(frozen=True)
class _Part:
    """What one bot process is told: which of ``count`` it is, and where its store is."""

    index: int
    count: int
    jobs: int
    concurrency: int
    database_url: str | None
    sqlite_path: str
    out: str
    profile: bool = False


@dataclass(frozen=True)
class _Signals:
    """Shared by the bot processes and the one measuring: ``go`` (accept the jobs), ``done``
    (every job delivered), ``stop``, and the deliveries so far."""

    go: Event
    done: Event
    stop: Event
    delivered: Any  # a multiprocessing Value("i")


class _Notifier(CountingNotifier):
    """Counts deliveries (here and across the processes) and notes the last one's time."""

    def __init__(self, out_dir: Path, jobs: int, signals: _Signals) -> None:
        super().__init__(out_dir)
        self.jobs = jobs
        self.signals = signals
        self.last = 0.0

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        receipt = await super().deliver(job, images, attempt)
        self.last = time.time()
        shared = self.signals.delivered
        with shared.get_lock():
            shared.value += 1
            if shared.value >= self.jobs:
                self.signals.done.set()
        return receipt


def _child(part: _Part, pipe: Connection, signals: _Signals) -> None:
    """One bot process: start an engine, accept its share of the jobs on ``go``, deliver
    until ``stop``, then report (``part.profile``: printing where its event loop's time went)."""
    if not part.profile:
        asyncio.run(_serve(part, pipe, signals))
        return
    from pyinstrument import Profiler  # a dev tool: only for --profile

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    with profiler:
        asyncio.run(_serve(part, pipe, signals))
    print(profiler.output_text(unicode=True, color=False), flush=True)


async def _serve(part: _Part, pipe: Connection, signals: _Signals) -> None:
    from providers.local import LocalProvider, LocalSettings

    store = await open_store(part.database_url, Path(part.sqlite_path))
    client = httpx.AsyncClient()
    provider = LocalProvider(LocalSettings.from_values())
    notifier = _Notifier(Path(part.out) / str(part.index), part.jobs, signals)
    engine = JobEngine(
        store,
        {"local": provider},
        ImageFetcher(client, allow_private=True),
        config=config(part.concurrency),
    )
    stopped = False
    try:
        await engine.start(notifier)
        pipe.send("ready")
        await asyncio.to_thread(signals.go.wait, 120)
        started, cpu = time.time(), time.process_time()
        await asyncio.gather(
            *(
                engine.accept(spec(prompt=f"fox {i}", user=f"u{i % USERS}", resolution="1K"))
                for i in range(part.index, part.jobs, part.count)
            )
        )
        await asyncio.to_thread(signals.stop.wait, 600)
        stopped = True
        await engine.stop(grace=5.0)  # the last deliveries stored
        cpu = time.process_time() - cpu
        pipe.send((started, notifier.last, cpu, dict(notifier.deliveries)))
        await asyncio.to_thread(pipe.recv)  # the server's CPU read while we are connected
    finally:
        if not stopped:
            await engine.stop(grace=1.0)
        await provider.aclose()
        await client.aclose()
        await store.close()


async def run(
    count: int, jobs: int, concurrency: int, *, postgres: bool, profile: bool = False
) -> Row:
    """One configuration: ``count`` processes on a fresh PostgreSQL schema (dropped after),
    or one on a new SQLite file (``profile``: the first process prints its profile)."""
    with tempfile.TemporaryDirectory() as tmp:
        if not postgres:
            await (await open_store(None, Path(tmp) / "bananabot.db")).close()  # migrated
            return await _measure("SQLite", count, jobs, concurrency, None, tmp, profile)
        async with pg_schema() as url:
            await (await open_store(url, Path(tmp))).close()  # migrated once, before them
            return await _measure("PostgreSQL", count, jobs, concurrency, url, tmp, profile)


async def _measure(
    name: str,
    count: int,
    jobs: int,
    concurrency: int,
    database_url: str | None,
    tmp: str,
    profile: bool,
) -> Row:
    tag = f"bb_bench_{secrets.token_hex(4)}"
    if database_url is not None:  # its connections are found by this name
        database_url = f"{database_url}&application_name={tag}"
    sqlite_path = str(Path(tmp) / "bananabot.db")
    context = multiprocessing.get_context("spawn")
    signals = _Signals(context.Event(), context.Event(), context.Event(), context.Value("i", 0))
    pipes, children = [], []
    for index in range(count):
        mine, theirs = context.Pipe()
        part = _Part(
            index, count, jobs, concurrency, database_url, sqlite_path, tmp, profile and not index
        )
        child = context.Process(target=_child, args=(part, theirs, signals), name=f"bot-{index}")
        child.start()
        pipes.append(mine)
        children.append(child)
    try:
        for pipe in pipes:
            await _receive(pipe, 120)
        server_before = _cpu_of(await _backends(database_url, tag))
        signals.go.set()
        await asyncio.to_thread(signals.done.wait, max(60.0, jobs / 5))
        signals.stop.set()
        reports = [await _receive(pipe, 60) for pipe in pipes]
        server_after = _cpu_of(await _backends(database_url, tag))
        for pipe in pipes:
            pipe.send("close")
        delivered = await _delivered(database_url, sqlite_path)
    finally:
        signals.go.set()
        signals.stop.set()
        for child in children:
            await asyncio.to_thread(child.join, 30)
            if child.is_alive():
                child.kill()
    started = min(report[0] for report in reports)
    ended = max(report[1] for report in reports)
    counts: Counter[str] = Counter()
    for report in reports:
        counts.update(report[3])
    per_job = 1 / max(1, delivered)
    server = _sum_since(server_before, server_after) if server_after else None
    return Row(
        name,
        count,
        delivered / max(1e-9, ended - started),
        sum(report[2] for report in reports) * per_job,
        server * per_job if server is not None else None,
        delivered,
        sum(1 for n in counts.values() if n > 1),
    )


async def _receive(pipe: Connection, seconds: float) -> Any:
    if not await asyncio.to_thread(pipe.poll, seconds):
        raise TimeoutError("a bot process did not answer")
    return pipe.recv()


async def _backends(database_url: str | None, tag: str) -> list[int]:
    """The server processes serving the bot processes' connections."""
    if database_url is None:
        return []
    conn = await asyncpg.connect(database_url.replace(tag, f"{tag}_admin"), timeout=10)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", tag)
    finally:
        await conn.close()
    return [int(row["pid"]) for row in rows]


def _cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds used so far by each of ``pids`` (those this machine runs, readable)."""
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICK
    return used


def _sum_since(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


async def _delivered(database_url: str | None, sqlite_path: str) -> int:
    """Jobs stored as delivered."""
    query = "SELECT count(*) FROM jobs WHERE status = 'delivered'"
    if database_url is None:
        with contextlib.closing(sqlite3.connect(sqlite_path)) as db:
            return int(db.execute(query).fetchone()[0])
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        return int(await conn.fetchval(query))
    finally:
        await conn.close()


def machine() -> str:
    """The machine's cores and processor, as far as this system tells."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({model})"


async def main(
    jobs: int = 600,
    counts: tuple[int, ...] = (1, 2, 4),
    concurrency: int = CONCURRENCY,
    *,
    profile: bool = False,
) -> list[Row]:
    """Every row; ``profile``: only one process on PostgreSQL, printing its profile first."""
    if profile:
        rows = [await run(1, jobs, concurrency, postgres=True, profile=True)]
    else:
        rows = [await run(1, jobs, concurrency, postgres=False)]
        for count in counts:
            rows.append(await run(count, jobs, concurrency, postgres=True))
    print(
        f"{jobs} jobs a row, local provider at 1K, concurrency {concurrency} in all; "
        f"machine: {machine()}"
    )
    print(
        "| store | processes | jobs per second | CPU per job, bot processes "
        "| … with PostgreSQL's backends | delivered | delivered twice |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        server = (
            f"{1000 * (row.cpu_bot + row.cpu_server):.1f} ms" if row.cpu_server is not None else "—"
        )
        print(
            f"| {row.name} | {row.processes} | {row.rate:.1f} | {1000 * row.cpu_bot:.1f} ms "
            f"| {server} | {row.delivered} / {jobs} | {row.twice} |"
        )
    print("goal: every job delivered, none twice")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="?", type=int, default=600)
    parser.add_argument("--counts", default="1,2,4", help="PostgreSQL process counts")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--profile", action="store_true", help="one process on PostgreSQL, its loop profiled"
    )
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.counts.split(","))
    try:
        asyncio.run(main(args.jobs, counts, args.concurrency, profile=args.profile))
    except pytest.skip.Exception as exc:
        sys.exit(f"processes: {exc}")
