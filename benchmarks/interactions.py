"""Acknowledgement latency under load: the real bot, in its own process, against the fake Discord.

    .venv/bin/python -m benchmarks.interactions [N]

The loopback fake Discord runs here; ``python -m bot run`` runs as a separate process (its
event loop is not the fake's) with a fresh database, the offline ``local`` provider, and its
status listener on a free loopback port (for ``/metrics``). A few seed users make results to
press buttons on; then N users (default 100) run ``/imagine`` at once, each with an 8 MB
noisy PNG reference, while N others, one every 0.1 s, run ``/quota``, autocomplete the model,
or press Re-roll, Edit, Delete (someone else's: refused) and 4K on the seed results.

Printed: acknowledgement latency (dispatch to the first callback, as the fake records it) p50 /
p99 / max per interaction kind, how many were late (over 3 s, or never answered), and the
longest event-loop stall (from the bot's ``/metrics``), each beside its goal, then how long
the jobs took, the fake's own event-loop lag (a stall there delays the recorded callback
times too; its garbage collector is off during the load for that reason) and the REST calls
the bot made. Exits 1 when a goal is missed, 2 when the run itself failed (the bot did not
start, or the load did not finish within its time limits). ``BENCH_KEEP_LOG=path`` keeps
the bot's log.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import shutil
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

from benchmarks.bot_process import (
    Metrics,
    free_port,
    in_scratch,
    log_file,
    metrics,
    start_bot,
    stop_bot,
    until,
)
from bot.web.lag import BUCKETS, LagMonitor
from providers.local import render_image
from tests.discord.bot_harness import job_id_of, result_of
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage, FakeUser

REFERENCE_SIZE = (2400, 2000)  # a noisy PNG of about 8 MB
SEEDS = 4
SIDE_GAP = 0.1  # seconds between the side interactions
DEADLINE = 3.0  # Discord's acknowledgement window

GOAL_P99 = 0.5
GOAL_MAX = 1.5
GOAL_STALL = 0.1


def unfinished_jobs(found: Metrics) -> int:
    """Jobs not yet delivered or failed, by the bot's own count."""
    final = ("delivered", "failed", "timed_out", "cancelled")
    return int(
        sum(
            value
            for name, value in found.items()
            if name.startswith("bananabot_jobs{") and not any(f'"{s}"' in name for s in final)
        )
    )


async def seed_results(fake: FakeDiscord) -> list[tuple[FakeUser, FakeMessage, str]]:
    """A few finished results with buttons: (owner, message, job id)."""
    owners = [fake.add_user(f"seed{i}") for i in range(SEEDS)]
    asked = [
        await fake.slash(user, fake.channel, "imagine", {"prompt": f"seed {i}"})
        for i, user in enumerate(owners)
    ]
    posted = await asyncio.gather(*(result_of(fake, ix, timeout=60) for ix in asked))
    return [
        (user, message, job_id_of(message)) for user, message in zip(owners, posted, strict=True)
    ]


async def side_interaction(
    fake: FakeDiscord, kind: str, user: FakeUser, seed: tuple[FakeUser, FakeMessage, str]
) -> FakeInteraction:
    """One interaction of ``kind`` by ``user`` (buttons: on the seed result)."""
    _, message, job_id = seed
    if kind == "quota":
        return await fake.slash(user, fake.channel, "quota")
    if kind == "autocomplete":
        return await fake.autocomplete(
            user, fake.channel, "imagine", {"prompt": "x", "model": ""}, focused="model"
        )
    return await fake.click(user, message, f"bb:{kind}:{job_id}")  # reroll, edit, delete, 4k


SIDE_KINDS = ("quota", "reroll", "autocomplete", "edit", "quota", "delete", "quota", "4k")


async def load(
    fake: FakeDiscord,
    n: int,
    reference: bytes,
    seeds: list[tuple[FakeUser, FakeMessage, str]],
) -> list[tuple[str, FakeInteraction]]:
    """N ``/imagine`` with a reference at once, and N side interactions while they run."""
    users = [fake.add_user(f"user{i}") for i in range(n)]
    others = [fake.add_user(f"other{i}") for i in range(n)]

    async def imagine(user: FakeUser) -> tuple[str, FakeInteraction]:
        ix = await fake.slash(
            user,
            fake.channel,
            "imagine",
            {"prompt": f"like this, by {user.username}"},
            attachments={"reference": ("reference.png", reference, "image/png")},
        )
        return "imagine", ix

    async def sides() -> list[tuple[str, FakeInteraction]]:
        sent = []
        kinds = itertools.cycle(SIDE_KINDS)
        for i, user in enumerate(others):
            kind = next(kinds)
            sent.append((kind, await side_interaction(fake, kind, user, seeds[i % len(seeds)])))
            await asyncio.sleep(SIDE_GAP)
        return sent

    side_task = asyncio.create_task(sides())
    imagines = await asyncio.gather(*(imagine(user) for user in users))
    return [*imagines, *await side_task]


def rest_calls(fake: FakeDiscord, since: int) -> str:
    """The bot's REST calls from request ``since`` on, counted by kind."""
    kinds: Counter[str] = Counter()
    for request in fake.requests[since:]:
        parts = ["{id}" if part.isdigit() else part for part in request.route.split("/")]
        if parts[1:2] == ["webhooks"] and len(parts) > 3:
            parts[3] = "{token}"
        if parts[1:2] == ["interactions"] and len(parts) > 3:
            parts[3] = "{token}"
        kinds[f"{request.method} {'/'.join(parts)}"] += 1
    total = sum(kinds.values())
    return f"{total} (" + ", ".join(f"{k} {n}" for k, n in kinds.most_common(6)) + ")"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def longest_stall(before: Metrics, after: Metrics) -> tuple[float, str]:
    """The longest event-loop lag between the two readings, and how it is known."""
    if (
        after["bananabot_event_loop_lag_seconds_max"]
        > before["bananabot_event_loop_lag_seconds_max"]
    ):
        return after["bananabot_event_loop_lag_seconds_max"], "exact"
    bound = 0.0  # the maximum is older than the load: bound it with the histogram
    previous = 0.0
    for le in (*BUCKETS, "+Inf"):
        key = f'bananabot_event_loop_lag_histogram_seconds_bucket{{le="{le}"}}'
        grew = after[key] - before[key]
        if grew > previous:
            bound = float("inf") if le == "+Inf" else float(le)
        previous = grew
    return bound, "at most (histogram)"


def own_acknowledgements(before: Metrics, after: Metrics) -> str:
    """What the bot measured itself (creation to first response) during the load."""
    name = "bananabot_interaction_ack_seconds"
    count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
    total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
    mean = total / count if count else float("nan")
    return f"the bot's own {name}: {count:.0f} first responses, mean {mean:.3f} s"


def is_late(ix: FakeInteraction) -> bool:
    """Answered after Discord's window, or never."""
    return ix.late or ix.callback is None or ix.callback.elapsed > DEADLINE


def report(
    sent: list[tuple[str, FakeInteraction]], stall: tuple[float, str], extra: list[str]
) -> bool:
    """Print the figures beside their goals; True when every goal is met."""
    by_kind: dict[str, list[FakeInteraction]] = defaultdict(list)
    for kind, ix in sent:
        by_kind[kind].append(ix)
    by_kind["all"] = [ix for _, ix in sent]
    ok = True
    print(f"{'kind':<13}{'n':>5}{'p50 s':>9}{'p99 s':>9}{'max s':>9}{'late':>6}")
    for kind, interactions in by_kind.items():
        latencies = [ix.callback.elapsed for ix in interactions if ix.callback is not None]
        late = sum(1 for ix in interactions if is_late(ix))
        p50 = percentile(latencies, 50) if latencies else float("nan")
        p99 = percentile(latencies, 99) if latencies else float("nan")
        top = max(latencies, default=float("inf"))
        meets = p99 < GOAL_P99 and top < GOAL_MAX and late == 0
        ok &= meets
        mark = "" if meets else "   <- misses a goal"
        print(f"{kind:<13}{len(interactions):>5}{p50:>9.3f}{p99:>9.3f}{top:>9.3f}{late:>6}{mark}")
    everyone = [ix.callback.elapsed for ix in by_kind["all"] if ix.callback is not None]
    late_total = sum(1 for ix in by_kind["all"] if is_late(ix))
    stall_value, how = stall
    lines = [
        (
            "p99 acknowledgement (all)",
            f"{percentile(everyone, 99):.3f} s",
            f"< {GOAL_P99} s",
            percentile(everyone, 99) < GOAL_P99,
        ),
        (
            "max acknowledgement (all)",
            f"{max(everyone):.3f} s",
            f"< {GOAL_MAX} s",
            max(everyone) < GOAL_MAX,
        ),
        ("late (> 3 s or never)", f"{late_total}", "0", late_total == 0),
        (
            f"longest event-loop stall ({how})",
            f"{stall_value:.3f} s",
            f"< {GOAL_STALL} s",
            stall_value < GOAL_STALL,
        ),
    ]
    print()
    for name, value, goal, met in lines:
        ok &= met
        print(f"{name:<42}{value:>10}   goal {goal:<9}{'ok' if met else 'MISSED'}")
    for line in extra:
        print(line)
    return ok


async def run(n: int, tmp: Path) -> bool:
    """The whole benchmark in ``tmp``; True when every goal is met."""
    reference = await asyncio.to_thread(render_image, "reference", REFERENCE_SIZE, noise=True)
    print(
        f"{n} users run /imagine at once with a {len(reference) / 1e6:.1f} MB PNG reference; "
        f"{n} others interact every {SIDE_GAP} s; the bot runs as its own process "
        f"({os.cpu_count()} cores)"
    )
    port = free_port()
    async with FakeDiscord() as fake, httpx.AsyncClient(timeout=10) as client:
        fake_lag = LagMonitor()  # the fake's own loop: stalls here would inflate the figures
        fake_lag.start()
        log = log_file(tmp / "bot.log")
        bot = await start_bot(fake, tmp, port, log)
        try:
            await fake.wait_identified(1, timeout=60)
            await until(lambda: fake.commands.get(None), 60, "the command sync")
            seeds = await seed_results(fake)
            # the fake's own garbage collections would stall it, and inflate the figures
            gc.collect()
            gc.disable()
            await asyncio.sleep(1.0)  # idle: the startup's lag is behind us
            before = await metrics(client, port)
            first_request = len(fake.requests)
            started = time.monotonic()
            sent = await load(fake, n, reference, seeds)
            await until(lambda: all(ix.callback for _, ix in sent), 30, "every acknowledgement")

            async def all_done() -> bool:
                return unfinished_jobs(await metrics(client, port)) == 0

            await until(all_done, 300, "every job to finish", every=1.0)
            finished = time.monotonic() - started
            after = await metrics(client, port)
            calls = rest_calls(fake, first_request)
        finally:
            gc.enable()
            await stop_bot(bot)
            await fake_lag.stop()
            log.close()
            if os.environ.get("BENCH_KEEP_LOG"):  # e.g. with PYTHONASYNCIODEBUG=1 for the bot
                await asyncio.to_thread(shutil.copy, tmp / "bot.log", os.environ["BENCH_KEEP_LOG"])
    delivered = after.get('bananabot_jobs{provider="local",status="delivered"}', 0)
    failed = sum(v for k, v in after.items() if k.startswith("bananabot_jobs{") and "failed" in k)
    extra = [
        "",
        f"jobs delivered {delivered:.0f}, failed {failed:.0f}; all finished {finished:.1f} s "
        "after the load started",
        "bot's event-loop lag max since start "
        f"{after['bananabot_event_loop_lag_seconds_max']:.3f} s "
        f"(before the load {before['bananabot_event_loop_lag_seconds_max']:.3f} s); "
        f"the fake's own loop: max lag {fake_lag.max:.3f} s",
        f"REST calls the bot made during the load: {calls}",
        own_acknowledgements(before, after),
    ]
    return report(sent, longest_stall(before, after), extra)


async def main(n: int) -> int:
    """Run, print, and say whether the goals were met (0), missed (1), or the run failed (2)."""
    met = await in_scratch(lambda tmp: run(n, tmp))
    return 2 if met is None else 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))
