"""The bot as its own process, for benchmarks that run the loopback fakes here.

``python -m bot run`` runs as it would in production, with its own event loop and
interpreter; the fakes (Discord, providers) run in the benchmark's process, so their work is
not counted as the bot's. Helpers to start and stop it, read its ``/metrics``, wait for a
condition, and run a benchmark in a scratch directory with the bot's log shown on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, TypeVar

import httpx

from tests.fakes.discord import FakeDiscord

ROOT = Path(__file__).resolve().parents[1]

Metrics = dict[str, float]
T = TypeVar("T")


class RunError(Exception):
    """The benchmark could not run to the end."""


def free_port() -> int:
    """A loopback port nobody listens on (for the bot's listeners)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_file(path: Path) -> IO[bytes]:
    """Where the bot's output goes (the caller closes it)."""
    return open(path, "wb")


async def start_bot(
    fake: FakeDiscord,
    tmp: Path,
    port: int,
    log: IO[bytes],
    env: Mapping[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """``python -m bot run`` pointed at the fake, with a fresh database in ``tmp``, the
    offline ``local`` provider by default, ``/metrics`` on ``port``, and ``env`` on top; its
    output goes to ``log``. No provider key or token of this shell is passed on."""
    merged = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    merged.update(
        {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "DISCORD_GATEWAY_URL": fake.gateway_url,
            "BANANABOT_DB": str(tmp / "bot.db"),
            "DEFAULT_PROVIDER": "local",
            "FETCH_ALLOW_PRIVATE": "1",
            "METRICS_HOST": "127.0.0.1",
            "METRICS_PORT": str(port),
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        }
    )
    merged.update(env or {})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp, env=merged, stdout=log, stderr=log
    )


async def stop_bot(bot: asyncio.subprocess.Process) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if it takes too long."""
    if bot.returncode is not None:
        return
    bot.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(bot.wait(), 20)
    except TimeoutError:
        bot.kill()
        await bot.wait()


async def metrics(client: httpx.AsyncClient, port: int) -> Metrics:
    """The bot's ``/metrics`` as ``{"name{labels}": value}`` (one client for the whole run: a
    new one loads the CA certificates, which holds the fake's event loop for tens of ms)."""
    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    found: Metrics = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


async def until(check: Callable[[], object], seconds: float, what: str, every: float = 0.2) -> None:
    """Poll ``check()`` (sync or async) ``every`` s until true; RunError after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(every)
    raise RunError(f"timed out after {seconds:.0f} s waiting for {what}")


async def in_scratch(run: Callable[[Path], Awaitable[T]]) -> T | None:
    """``run`` in a fresh scratch directory; None (after printing why, and the tail of the
    bot's log, ``bot.log`` there) when it could not run to the end."""
    with tempfile.TemporaryDirectory(prefix="bananabot-bench-") as tmp:
        try:
            return await run(Path(tmp))
        except (RunError, TimeoutError, httpx.HTTPError) as exc:
            print(f"the benchmark did not finish: {exc}")
            with contextlib.suppress(OSError):
                print((Path(tmp) / "bot.log").read_text(errors="replace")[-3000:])
            return None
