"""Run the crash worker, SIGKILL it at a chosen moment, restart it, and audit the outcome."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.magnific import FakeMagnific

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Audit:
    """What happened to every accepted job across the crash."""

    accepted: int
    delivered_once: int
    delivered_twice_or_more: int
    failed_refunded: int
    unfinished: int
    charged_twice: int
    bad_totals: int
    creates: int

    @property
    def lost(self) -> int:
        """Jobs neither delivered nor failed with a refund."""
        return (
            self.accepted
            - self.delivered_once
            - self.delivered_twice_or_more
            - (self.failed_refunded)
        )


async def _worker(tmp: Path, fake: FakeMagnific, accept: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.jobs.crash_worker",
        "--db",
        str(tmp / "bot.db"),
        "--out",
        str(tmp / "out"),
        "--log",
        str(tmp / "deliveries.log"),
        "--base-url",
        fake.base_url,
        "--key",
        fake.api_key,
        "--accept",
        str(accept),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return list(conn.execute(sql))


async def crash_and_restart(
    tmp: Path, fake: FakeMagnific, *, jobs: int, kill_after: float | None
) -> Audit:
    """Start a worker with ``jobs`` jobs; SIGKILL it ``kill_after`` s after it accepted them
    (None: as soon as every job has a provider task id); restart it and audit."""
    first = await _worker(tmp, fake, jobs)
    assert first.stdout is not None
    accepted = [
        (await asyncio.wait_for(first.stdout.readline(), 20)).decode().split()[1]
        for _ in range(jobs)
    ]
    db = tmp / "bot.db"
    if kill_after is None:
        for _ in range(400):
            rows = _rows(db, "SELECT COUNT(*) FROM jobs WHERE task_id IS NOT NULL")
            if rows[0][0] == jobs:
                break
            await asyncio.sleep(0.025)
    else:
        await asyncio.sleep(kill_after)
    first.send_signal(signal.SIGKILL)
    await asyncio.wait_for(first.wait(), 10)
    second = await _worker(tmp, fake, 0)
    _, err = await asyncio.wait_for(second.communicate(), 90)
    assert second.returncode == 0, err.decode()[-2000:]

    log = tmp / "deliveries.log"
    delivered = Counter(log.read_text().split()) if log.exists() else Counter()
    status: dict[str, str] = dict(_rows(db, "SELECT id, status FROM jobs"))
    ledger = Counter(
        (job, entry) for job, entry in _rows(db, "SELECT job_id, entry FROM quota_ledger")
    )
    usage = _rows(db, "SELECT COALESCE(SUM(reserved), 0), COALESCE(SUM(spent), 0) FROM quota_usage")
    cost: dict[str, int] = dict(_rows(db, "SELECT id, cost FROM jobs"))
    expected_spent = sum(cost[j] for j in accepted if status[j] == "delivered")
    return Audit(
        accepted=len(accepted),
        delivered_once=sum(1 for j in accepted if delivered[j] == 1 and status[j] == "delivered"),
        delivered_twice_or_more=sum(1 for j in accepted if delivered[j] > 1),
        failed_refunded=sum(
            1
            for j in accepted
            if status[j] in ("failed", "timed_out")
            and ledger[(j, "refund")] == 1
            and delivered[j] == 0
        ),
        unfinished=sum(
            1
            for j in accepted
            if status[j] not in ("delivered", "failed", "timed_out", "cancelled")
        ),
        charged_twice=sum(1 for j in accepted if ledger[(j, "commit")] + ledger[(j, "refund")] > 1),
        bad_totals=0 if (usage[0][0], usage[0][1]) == (0, expected_spent) else 1,
        creates=len(fake.requests_to("/v1/ai/text-to-image/", "POST")),
    )
