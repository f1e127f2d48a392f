"""Throughput: how many jobs a second the engine carries from accepted to delivered when the
provider answers at once.

    .venv/bin/python -m benchmarks.throughput [JOBS] [--profile]

JOBS jobs (default 300) for the offline ``local`` provider at 1K (1024×1024; it answers in the
create request), accepted at once by 100 users, each delivered to a notifier that keeps the
files; the engine's defaults otherwise (provider concurrency 5). Printed beside its goal: jobs
per second from the first acceptance to the last delivery, and CPU seconds per job (every
thread's: the database's, the image workers', the provider's rendering).

``--profile`` also prints where the event loop's time went (pyinstrument, from the dev extra;
the other threads' work shows only as the loop waiting for it), and slows the run down.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.jobs.config import EngineConfig
from bot.jobs.states import JobStatus
from providers.local import LocalProvider, LocalSettings
from tests.jobs.harness import make_harness, spec

CONFIG = EngineConfig(allowance=None, per_user_active_limit=1000, idle_tick=1.0)


async def main(jobs: int = 300, concurrency: int | None = None) -> dict[str, float]:
    config = CONFIG
    if concurrency is not None:
        config = EngineConfig(
            allowance=None,
            per_user_active_limit=1000,
            idle_tick=1.0,
            default_concurrency=concurrency,
        )
    with tempfile.TemporaryDirectory() as tmp:
        provider = LocalProvider(LocalSettings.from_values())
        h = await make_harness(Path(tmp), {"local": provider}, config=config, allowance=None)
        try:
            cpu, started = time.process_time(), time.perf_counter()
            accepted = await asyncio.gather(
                *(
                    h.engine.accept(spec(prompt=f"fox {i}", user=f"u{i % 100}", resolution="1K"))
                    for i in range(jobs)
                )
            )
            done = [await h.engine.wait(job.id, 120) for job in accepted]
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            await h.close()
    delivered = sum(1 for job in done if job.status is JobStatus.DELIVERED)
    rate = delivered / elapsed
    print(f"{jobs} jobs, {delivered} delivered in {elapsed:.1f} s")
    print("| figure | measured | goal |")
    print("| --- | --- | --- |")
    print(f"| jobs per second, accepted to delivered | {rate:.1f} | ≥ 100 |")
    print(f"| CPU per job | {1000 * cpu / max(1, delivered):.1f} ms | ≤ 10 ms |")
    return {"rate": rate, "delivered": delivered}


def _profiled(jobs: int) -> None:
    from pyinstrument import Profiler  # a dev tool: only for --profile

    profiler = Profiler(interval=0.0005)
    with profiler:
        asyncio.run(main(jobs))
    print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="?", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print the event loop's profile")
    args = parser.parse_args()
    if args.profile:
        _profiled(args.jobs)
    else:
        asyncio.run(main(args.jobs))
