"""Database faults: the store fails under jobs in flight, then recovers; nothing spins, nothing
is lost, the ledger is exact.

    .venv/bin/python -m benchmarks.store_fault [JOBS] [SECONDS]

For each fault (a full database: ``PRAGMA max_page_count``, writes needing a page fail with
SQLITE_FULL; a read-only one: ``PRAGMA query_only``, every write fails with SQLITE_READONLY;
both real SQLite failures on the store's writing connection, see tests/storage/faults.py): a
fresh database, a loopback Magnific fake whose tasks finish during the fault (with long signed
result URLs, as presigned storage URLs are), JOBS jobs (default 40) accepted and at the provider,
polled every second; the fault lasts SECONDS (default 10), then is lifted. Printed beside each
goal: provider status reads per second during the fault (and before it), log lines at WARNING
or above and tracebacks, CPU seconds of the process during the fault, jobs settled after and
how long that took, and the ledger's difference from what was delivered.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.jobs.states import FINAL, JobStatus
from providers.magnific import MagnificProvider
from tests.fakes._base import FAST_RETRY
from tests.fakes.magnific import FakeMagnific
from tests.jobs.harness import Harness, make_harness, spec
from tests.storage.faults import StoreFault, apply, restore

CONFIG = EngineConfig(
    poll_interval=1.0,
    idle_tick=1.0,
    deadline_seconds=120.0,
    default_concurrency=1000,
    per_user_active_limit=1000,
)


class Counting(logging.Handler):
    """Counts the records at WARNING or above, and those carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = 0
        self.tracebacks = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.lines += 1
        if record.exc_info:
            self.tracebacks += 1


@dataclass
class Run:
    fault: StoreFault
    polls_before: float
    polls_during: float
    failing_after: float | None
    failing: float
    lines: int
    tracebacks: int
    cpu: float
    settled: int
    delivered_once: int
    jobs: int
    settle_seconds: float
    ledger_difference: int
    extra_creates: int
    failures: int


def serve_fake(urls: Any, reads: Any, stop: Event, step_seconds: float) -> None:
    """The provider, in a process of its own (its rendering is not the bot's CPU time);
    ``reads`` follows how many status requests it has received."""

    async def serve() -> None:
        async with FakeMagnific() as fake:
            fake.url_padding = 6000
            fake.step_seconds = step_seconds
            fake.steps_to_finish = 3
            urls.put(fake.base_url)
            while not stop.is_set():
                reads.value = sum(
                    1 for r in fake.requests if r.method == "GET" and "/files/" not in r.path
                )
                await asyncio.sleep(0.01)

    asyncio.run(serve())


def provider_calls(h: Harness, operation: str) -> int:
    """How many ``submit`` or ``fetch`` calls the engine made (its own histogram's count)."""
    prefix = "bananabot_provider_request_seconds_count{"
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in h.engine.meters.exposition().decode().splitlines()
        if line.startswith(prefix) and f'operation="{operation}"' in line
    )


def store_failures(h: Harness) -> int:
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in h.engine.meters.exposition().decode().splitlines()
        if line.startswith("bananabot_store_failures_total{")
    )


async def run(fault: StoreFault, jobs: int, seconds: float) -> Run:
    context = multiprocessing.get_context("spawn")
    urls: Any = context.Queue()
    reads: Any = context.Value("l", 0)
    stop = context.Event()
    fake = context.Process(target=serve_fake, args=(urls, reads, stop, seconds / 8), daemon=True)
    fake.start()
    try:
        base_url = await asyncio.to_thread(urls.get, True, 30.0)
        with tempfile.TemporaryDirectory() as tmp:
            return await measure(
                Path(tmp), base_url, lambda: int(reads.value), fault, jobs, seconds
            )
    finally:
        stop.set()
        await asyncio.to_thread(fake.join, 10.0)


async def measure(
    tmp: Path,
    base_url: str,
    status_reads: Callable[[], int],
    fault: StoreFault,
    jobs: int,
    seconds: float,
) -> Run:
    """``status_reads``: how many status requests the provider has received so far."""
    settings = MagnificProvider.settings_type.from_values(
        api_key=SecretStr("test-key"), base_url=base_url, retry=FAST_RETRY
    )
    h = await make_harness(tmp, {"magnific": MagnificProvider(settings)}, config=CONFIG)
    try:
        accepted = [
            await h.engine.accept(spec(provider="magnific", user=f"u{i % 10}")) for i in range(jobs)
        ]
        for _ in range(600):  # every create answered (bounded: 30 s)
            if provider_calls(h, "submit") >= jobs:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        before = status_reads()
        await asyncio.sleep(2.0)
        polls_before = (status_reads() - before) / 2.0

        counter = Counting()
        logging.getLogger().addHandler(counter)
        try:
            await apply(h.store, fault)
            applied = time.monotonic()
            failing_at, failing_polls, cpu = None, 0, 0.0
            while time.monotonic() - applied < seconds:  # from when the engine notices
                if failing_at is None and not h.engine.guard.healthy:
                    # requests sent from now on: those already in flight were received
                    await asyncio.sleep(0.02)
                    failing_at, failing_polls = time.monotonic(), status_reads()
                    cpu = time.process_time()
                await asyncio.sleep(0.05)
            lifted = time.monotonic()
            failing = lifted - failing_at if failing_at is not None else 0.0
            polls_during = (status_reads() - failing_polls) / max(failing, 0.001)
            cpu = time.process_time() - cpu if failing_at is not None else 0.0
            await restore(h.store)
            for job in accepted:
                await h.engine.wait(job.id, max(0.1, 30.0 - (time.monotonic() - lifted)))
            settle_seconds = time.monotonic() - lifted
        finally:
            logging.getLogger().removeHandler(counter)
        final = [await h.engine.get_job(job.id, images=False) for job in accepted]
        delivered = [j for j in final if j is not None and j.status is JobStatus.DELIVERED]
        totals = await h.store.quota.totals()
        return Run(
            fault=fault,
            polls_before=polls_before,
            polls_during=polls_during,
            failing_after=(failing_at - applied) if failing_at is not None else None,
            failing=failing,
            lines=counter.lines,
            tracebacks=counter.tracebacks,
            cpu=cpu,
            settled=sum(1 for j in final if j is not None and j.status in FINAL),
            delivered_once=sum(1 for j in delivered if h.delivery.deliveries[j.id] == 1),
            jobs=jobs,
            settle_seconds=settle_seconds,
            ledger_difference=totals.reserved + abs(totals.spent - sum(j.cost for j in delivered)),
            extra_creates=provider_calls(h, "submit") - jobs,
            failures=store_failures(h),
        )
    finally:
        await h.close()


def report(r: Run, seconds: float) -> bool:
    noticed = "never" if r.failing_after is None else f"{r.failing_after:.1f} s in"
    rows = [
        ("first store operation refused", noticed, "", r.failing_after is not None),
        (
            "status reads per second from then on",
            f"{r.polls_during:.2f}",
            "~0",
            r.polls_during < 0.5,
        ),
        ("  (before the fault)", f"{r.polls_before:.1f}", "", True),
        ("store operations that failed", str(r.failures), "", True),
        ("log lines at WARNING or above", str(r.lines), "2 (failing, back)", r.lines <= 2),
        ("tracebacks", str(r.tracebacks), "0", r.tracebacks == 0),
        (f"CPU seconds in those {r.failing:.1f} s", f"{r.cpu:.2f}", "< 0.5", r.cpu < 0.5),
        ("jobs settled after, no restart", f"{r.settled}/{r.jobs}", "all", r.settled == r.jobs),
        ("  seconds after the fault was lifted", f"{r.settle_seconds:.1f}", "< 30", True),
        ("delivered once", f"{r.delivered_once}/{r.jobs}", "all", r.delivered_once == r.jobs),
        ("ledger difference (credits)", str(r.ledger_difference), "0", r.ledger_difference == 0),
        ("creates sent again", str(r.extra_creates), "0", r.extra_creates == 0),
    ]
    print(f"\n{r.fault.value} for {seconds:.0f} s, {r.jobs} jobs at the provider")
    ok = True
    for what, value, goal, met in rows:
        ok = ok and met
        mark = "" if met else "  <-- missed"
        print(f"  {what:<38} {value:>10}   {'goal ' + goal if goal else ''}{mark}")
    return ok


async def main(jobs: int, seconds: float) -> int:
    started = time.monotonic()
    results = [await run(fault, jobs, seconds) for fault in StoreFault]
    reports = [report(r, seconds) for r in results]
    ok = all(reports)
    print(f"\ntime: {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    sys.exit(asyncio.run(main(jobs, seconds)))
