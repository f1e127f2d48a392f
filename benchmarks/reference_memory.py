"""Memory with attachments: the bot's peak resident memory while 100 users run ``/imagine`` at
once, each with a 2 MB reference image.

    .venv/bin/python -m benchmarks.reference_memory [N]

The loopback fake Discord runs here (its CDN serves the attachments); ``python -m bot run``
runs as its own process (so the fake's copies of the attachments are not counted) with a
fresh database and the offline ``local`` provider, which pastes the reference into its
result. N users (default 100) run ``/imagine`` at once, each with a noisy PNG of about 2 MB,
and every job runs to delivery. Printed beside its goal: the bot's peak resident memory
(``VmHWM``, read from ``/proc`` just before it stops) and its resident memory at rest after
the load. Exits 1 when the goal is missed, 2 when the run failed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import httpx

from benchmarks.bot_process import (
    RunError,
    free_port,
    in_scratch,
    log_file,
    metrics,
    start_bot,
    stop_bot,
    until,
)
from providers.local import render_image
from tests.fakes.discord import FakeDiscord

REFERENCE_SIZE = (1200, 1000)  # a noisy PNG of about 2 MB
GOAL_PEAK_MIB = 150.0


def memory_mib(pid: int) -> tuple[float, float]:
    """A process's resident memory now and at its peak (``VmRSS``, ``VmHWM``), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


async def run(n: int, tmp: Path) -> dict[str, float]:
    """The whole benchmark in ``tmp``: the bot's figures (MiB, seconds)."""
    reference = await asyncio.to_thread(render_image, "reference", REFERENCE_SIZE, noise=True)
    port = free_port()
    async with FakeDiscord() as fake, httpx.AsyncClient(timeout=10) as client:
        log = log_file(tmp / "bot.log")
        bot = await start_bot(fake, tmp, port, log)
        try:
            await fake.wait_identified(1, timeout=60)
            await until(lambda: fake.commands.get(None), 60, "the command sync")
            await asyncio.sleep(1.0)  # started and settled
            idle, _ = memory_mib(bot.pid)
            users = [fake.add_user(f"user{i}") for i in range(n)]
            started = time.monotonic()
            asked = await asyncio.gather(
                *(
                    fake.slash(
                        user,
                        fake.channel,
                        "imagine",
                        {"prompt": f"like this, by {user.username}"},
                        attachments={"reference": ("reference.png", reference, "image/png")},
                    )
                    for user in users
                )
            )
            await until(lambda: all(ix.callback for ix in asked), 60, "every acknowledgement")

            async def all_done() -> bool:
                found = await metrics(client, port)
                return sum(v for k, v in found.items() if _ended(k)) >= n

            await until(all_done, 300, "every job to finish", every=0.5)
            took = time.monotonic() - started
            found = await metrics(client, port)
            await asyncio.sleep(1.0)
            rest, peak = memory_mib(bot.pid)
        finally:
            await stop_bot(bot)
            log.close()
    delivered = found.get('bananabot_jobs{provider="local",status="delivered"}', 0.0)
    if delivered < n:
        raise RunError(f"only {delivered:.0f} of {n} jobs were delivered")
    return {
        "reference_mb": len(reference) / 1e6,
        "idle": idle,
        "peak": peak,
        "rest": rest,
        "delivered": delivered,
        "seconds": took,
    }


def _ended(metric: str) -> bool:
    """Whether a ``bananabot_jobs`` sample counts jobs that ended."""
    ended = ("delivered", "failed", "timed_out", "cancelled")
    return metric.startswith("bananabot_jobs{") and any(f'"{s}"' in metric for s in ended)


def report(n: int, figures: dict[str, float]) -> bool:
    """Print the table; True when the goal is met."""
    met = figures["peak"] <= GOAL_PEAK_MIB
    print(
        f"{n} users run /imagine at once, each with a {figures['reference_mb']:.1f} MB PNG "
        f"reference; the bot as its own process ({os.cpu_count()} cores); "
        f"{figures['delivered']:.0f} delivered in {figures['seconds']:.1f} s"
    )
    print("| figure | measured | goal | |")
    print("| --- | --- | --- | --- |")
    print(
        f"| bot's peak resident memory, {n} × /imagine with a reference | "
        f"{figures['peak']:.0f} MiB | ≤ {GOAL_PEAK_MIB:.0f} MiB | {'✔' if met else '✘ MISSED'} |"
    )
    print(f"| … before the load (started, idle) | {figures['idle']:.0f} MiB | | |")
    print(f"| … after it, at rest | {figures['rest']:.0f} MiB | | |")
    return met


async def main(n: int = 100) -> int:
    """Run, print, and say whether the goal was met (0), missed (1), or the run failed (2)."""
    figures = await in_scratch(lambda tmp: run(n, tmp))
    if figures is None:
        return 2
    return 0 if report(n, figures) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))
