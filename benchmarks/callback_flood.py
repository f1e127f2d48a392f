"""The callback port under a flood, with a genuine job still to deliver.

    .venv/bin/python -m benchmarks.callback_flood [IDLE] [SECONDS]

The receiver and the engine run as their own process (a real SQLite store, the Magnific
provider, the default :class:`~bot.web.app.ReceiverLimits`) with its descriptor limit at
1,024. The fake Magnific runs here and calls back when the genuine job's task finishes, about
8 s in. Meanwhile, from another loopback address (127.0.0.2, the attacker; the provider calls
from 127.0.0.1), this process holds IDLE (default 1,100) idle connections on the callback port
(reopening those the receiver closes) and sends as many requests as it can: forged tokens,
unknown jobs, bad signatures, and genuinely signed callbacks replayed (the same webhook id)
and repeated (new ids), for SECONDS (default 20).

Printed, each beside its goal: the receiver's open descriptors (most seen), requests answered
per second and how, the provider status checks the flood caused, whether and how fast the
genuine job was delivered after its task finished, ``/healthz`` latency during the flood, and
how much the receiver logged. Exits 1 when a goal is missed, 2 when the run failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.logs import configure
from providers.magnific import MagnificProvider
from tests.fakes._base import provider_settings
from tests.fakes.magnific import FakeMagnific, sign
from tests.jobs.harness import make_harness, spec, until

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"  # noqa: S105 - the fake provider's webhook secret
FD_LIMIT = 1024
ATTACKER = "127.0.0.2"
FLOOD_CLIENTS = 32
TASK_STEPS = 8  # one a second: the genuine task finishes about 8 s in

GOAL_DELIVERY = 5.0  # seconds from the task finishing to the job delivered
GOAL_HEALTH = 0.5  # seconds, the slowest /healthz during the flood
GOAL_CHECKS_PER_S = 0.5  # status checks the flood may cause: one per 2 s window at most
GOAL_LOG = 200_000  # bytes the receiver may log in the whole run


# ---------------------------------------------------------------- the receiver's process


async def serve(base_url: str, tmp: Path) -> None:
    """The receiver and engine: print where they listen and the job, then its outcome."""
    fake = FakeMagnific(webhook_secret=SECRET)  # not started: only its URL and key are used
    fake.port = int(base_url.rsplit(":", 1)[1])
    provider = MagnificProvider(
        provider_settings(MagnificProvider, fake, webhook_secret=SecretStr(SECRET))
    )
    h = await make_harness(tmp, {"magnific": provider}, receiver=True, config=EngineConfig())
    try:
        job = await h.engine.accept(spec(provider="magnific"))

        async def with_task() -> bool:
            stored = await h.engine.get_job(job.id, images=False)
            return stored is not None and stored.task_id is not None

        await until(with_task, timeout=30, what="the provider task")
        stored = await h.engine.get_job(job.id, images=False)
        assert stored is not None
        ready = {
            "port": h.port,
            "status_port": h.status_port,
            "job": job.id,
            "token": stored.callback_token,
            "task": stored.task_id,
        }
        print(json.dumps(ready), flush=True)
        done = await h.engine.wait(job.id, 120)
        print(json.dumps({"final": done.status.value, "at": time.time()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until told
    finally:
        await h.close()


def serve_main(base_url: str, tmp: str) -> None:
    """Entry point of the receiver's process (descriptors limited as on a small host)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))
    configure(logging.INFO, "text", stream=sys.stderr)
    asyncio.run(serve(base_url, Path(tmp)))


# ---------------------------------------------------------------- the flood


class Flood:
    """Counts what the flood saw."""

    def __init__(self, port: int, ready: dict[str, Any]) -> None:
        self.port = port
        self.ready = ready
        self.answers: Counter[str] = Counter()
        self.idle_opened = 0
        self.stop = asyncio.Event()

    async def hold_idle(self, count: int) -> None:
        held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        while not self.stop.is_set():
            for reader, writer in held:
                if reader.at_eof() or reader.exception() is not None:
                    writer.close()  # the receiver closed it: open another
            held = [(r, w) for r, w in held if not w.is_closing()]
            while len(held) < count and not self.stop.is_set():
                try:
                    held.append(
                        await asyncio.open_connection(
                            "127.0.0.1", self.port, local_addr=(ATTACKER, 0)
                        )
                    )
                except OSError:
                    self.answers["connect failed"] += 1
                    break
                self.idle_opened += 1
            await asyncio.sleep(0.2)
        for _, writer in held:
            writer.close()

    def request(self, n: int) -> tuple[str, bytes, dict[str, str]]:
        job, token, task = self.ready["job"], self.ready["token"], self.ready["task"]
        base = f"http://127.0.0.1:{self.port}/callbacks"
        # "finished": the claim that makes the engine read the task (one saying it runs would
        # cost nothing at all)
        done = {"task_id": task, "status": "COMPLETED", "generated": ["https://cdn.example/1.png"]}
        body = json.dumps(done).encode()
        kind = n % 5
        if kind == 0:
            return f"{base}/{job}/forged-{n}", body, {}
        if kind == 1:
            return f"{base}/nosuchjob{n}/x", body, {}
        webhook_id = "msg_replayed" if kind == 2 else f"msg_{n}"
        ts = str(int(time.time()))
        signature = sign(SECRET, webhook_id, ts, body) if kind != 4 else "v1,AAAA"
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": ts,
            "webhook-signature": signature,
        }
        return f"{base}/{job}/{token}", body, headers

    async def send(self, worker: int) -> None:
        connector = aiohttp.TCPConnector(local_addr=(ATTACKER, 0), limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            n = worker
            while not self.stop.is_set():
                url, body, headers = self.request(n)
                n += FLOOD_CLIENTS
                try:
                    async with session.post(
                        url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=5)
                    ) as response:
                        await response.read()
                        self.answers[str(response.status)] += 1
                except (aiohttp.ClientError, TimeoutError):
                    self.answers["no answer"] += 1


def descriptors(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


async def run(idle: int, seconds: float, tmp: Path) -> bool:
    """The whole benchmark; True when every goal is met."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, idle + 2000)), hard))
    async with FakeMagnific(webhook_secret=SECRET) as magnific:
        magnific.step_seconds = 1.0
        magnific.steps_to_finish = TASK_STEPS
        log_path = tmp / "receiver.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log_path.open("wb") as log:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.callback_flood",
                "--serve",
                magnific.base_url,
                str(tmp),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=ROOT,
            )
        try:
            assert child.stdout is not None and child.stdin is not None
            ready = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
            started = time.monotonic()
            flood = Flood(ready["port"], ready)
            checks_before = len(magnific.requests_to(ready["task"], "GET"))
            tasks = [asyncio.create_task(flood.hold_idle(idle))]
            tasks += [asyncio.create_task(flood.send(i)) for i in range(FLOOD_CLIENTS)]
            health: list[float] = []
            most_fds = 0
            final: dict[str, Any] | None = None
            finished_at: float | None = None
            final_line = asyncio.create_task(child.stdout.readline())
            async with aiohttp.ClientSession() as client:
                while time.monotonic() - started < seconds:
                    most_fds = max(most_fds, descriptors(child.pid))
                    t0 = time.monotonic()
                    try:
                        async with client.get(
                            f"http://127.0.0.1:{ready['status_port']}/healthz",
                            timeout=aiohttp.ClientTimeout(total=5),
                        ) as answer:
                            await answer.read()
                            health.append(time.monotonic() - t0 if answer.status == 200 else 99)
                    except (aiohttp.ClientError, TimeoutError):
                        health.append(99.0)
                    task = magnific.tasks.get(ready["task"])
                    if finished_at is None and getattr(task, "status", "") == "COMPLETED":
                        finished_at = time.time()
                    if final is None and final_line.done():
                        final = json.loads(final_line.result() or b"{}")
                    await asyncio.sleep(0.25)
            flood.stop.set()
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - started
            checks = len(magnific.requests_to(ready["task"], "GET")) - checks_before
            if final is None:
                with contextlib.suppress(TimeoutError):
                    final = json.loads(await asyncio.wait_for(final_line, 30) or b"{}")
        finally:
            if child.stdin is not None:
                child.stdin.close()
            try:
                await asyncio.wait_for(child.wait(), 20)
            except TimeoutError:
                child.send_signal(signal.SIGKILL)
                await child.wait()
    callback_status = [status for _, _, status in magnific.callbacks_sent]
    return report(
        idle=idle,
        flood=flood,
        elapsed=elapsed,
        most_fds=most_fds,
        checks=checks,
        health=health,
        final=final or {},
        finished_at=finished_at,
        callbacks=callback_status,
        log_bytes=log_path.stat().st_size,
    )


def report(**figures: Any) -> bool:
    """Print the figures beside their goals."""
    flood: Flood = figures["flood"]
    elapsed: float = figures["elapsed"]
    answered = sum(n for k, n in flood.answers.items() if k.isdigit())
    final = figures["final"]
    delivered = final.get("final") == "delivered"
    finished_at = figures["finished_at"]
    delay = final["at"] - finished_at if delivered and finished_at else float("inf")
    health = figures["health"]
    by_kind = ", ".join(f"{k}: {n}" for k, n in flood.answers.most_common())
    print(
        f"{figures['idle']} idle connections held open (reopened when closed: "
        f"{flood.idle_opened} opened in all) and {FLOOD_CLIENTS} clients sending requests "
        f"from {ATTACKER}, for {elapsed:.0f} s; the receiver's descriptor limit {FD_LIMIT}"
    )
    print(f"answers: {by_kind}")
    print(f"the provider's callbacks got: {figures['callbacks']}")
    lines = [
        (
            "receiver's open descriptors (most)",
            f"{figures['most_fds']}",
            f"< {FD_LIMIT}",
            0 < figures["most_fds"] < FD_LIMIT,
        ),
        ("requests answered per second", f"{answered / elapsed:.0f}", "> 0", answered > 0),
        (
            "status checks the flood caused",
            f"{figures['checks']} ({figures['checks'] / elapsed:.2f}/s)",
            f"<= {GOAL_CHECKS_PER_S}/s",
            figures["checks"] / elapsed <= GOAL_CHECKS_PER_S,
        ),
        (
            "genuine job delivered, after its task finished",
            f"{delay:.2f} s" if delivered else "NO",
            f"< {GOAL_DELIVERY} s",
            delay < GOAL_DELIVERY,
        ),
        (
            "/healthz during the flood (max)",
            f"{max(health, default=99):.3f} s",
            f"< {GOAL_HEALTH} s",
            max(health, default=99) < GOAL_HEALTH,
        ),
        (
            "receiver's log",
            f"{figures['log_bytes']} bytes",
            f"< {GOAL_LOG}",
            figures["log_bytes"] < GOAL_LOG,
        ),
    ]
    ok = True
    print()
    for name, value, goal, met in lines:
        ok &= met
        print(f"{name:<48}{value:>16}   goal {goal:<10}{'ok' if met else 'MISSED'}")
    return ok


async def main(idle: int, seconds: float) -> int:
    with tempfile.TemporaryDirectory(prefix="bananabot-flood-") as tmp:
        try:
            met = await run(idle, seconds, Path(tmp))
        except (TimeoutError, OSError, ValueError, AssertionError) as exc:
            print(f"the benchmark did not finish: {exc!r}")
            with contextlib.suppress(OSError):
                print((Path(tmp) / "receiver.log").read_text(errors="replace")[-3000:])
            return 2
    return 0 if met else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve_main(sys.argv[2], sys.argv[3])
        sys.exit(0)
    args = sys.argv[1:]
    sys.exit(
        asyncio.run(main(int(args[0]) if args else 1100, float(args[1]) if len(args) > 1 else 20))
    )
