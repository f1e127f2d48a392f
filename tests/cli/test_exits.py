"""Every fatal error ends the process promptly, with a non-zero code and one line on stderr
naming the problem and the fix: each case is a real ``python -m bot`` process.

"Promptly" is within 2 s of the failure point: for a failure found at start-up, 2 s after the
imports a start-up needs (measured once here, as the machine is loaded now); for an answer
from a server, 2 s after the server sent it. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
PROMPT = 2.0  # seconds from the failure point to the exit
HANG = 30.0  # a process still running after this long is hanging: killed, and the test fails


@dataclass
class Exit:
    code: int
    stdout: str
    stderr: str
    ended: float  # time.monotonic() when the process had exited
    started: float

    @property
    def lines(self) -> list[str]:
        return self.stderr.strip().splitlines()


def clean_env(env: dict[str, str]) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_TOKEN", "_PROXY", "_proxy"))
        and k not in ("LOG_LEVEL", "BANANABOT_CONFIG")
    }
    keep["PYTHONPATH"] = str(ROOT)
    keep.update(env)
    return keep


async def bot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Exit:
    """Run ``python -m bot ARGS`` to its end (killed, and failed, if it hangs)."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=clean_env(env or {}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), HANG)
    except TimeoutError:
        proc.kill()
        await asyncio.wait_for(proc.wait(), 10)
        pytest.fail(f"`bot {' '.join(args)}` still running after {HANG} s")
    ended = time.monotonic()
    assert proc.returncode is not None
    return Exit(proc.returncode, out.decode(), err.decode(), ended, started)


@pytest.fixture(scope="module")
def startup() -> float:
    """How long a start-up's imports take on this machine now (the fastest of two)."""
    times = []
    for _ in range(2):
        began = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", "import bot.cli, bot.cli.run, bot.runtime"],
            env=clean_env({}),
            check=True,
            timeout=HANG,
        )
        times.append(time.monotonic() - began)
    return min(times)


def assert_fatal(result: Exit, *words: str, failed_at: float, code: int = 1) -> None:
    """Exit ``code``, one line on stderr holding ``words``, no traceback, promptly."""
    assert result.code == code, result.stderr
    assert len(result.lines) == 1, result.stderr
    assert result.lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in result.lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert result.ended - failed_at < PROMPT, f"{result.ended - failed_at:.2f} s: {result.stderr}"


def at_start(result: Exit, startup: float) -> float:
    """The failure point of a failure found at start-up."""
    return result.started + startup


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """``run`` with a token, listening only on loopback (free ports), the database in tmp."""
    env = {
        "DISCORD_TOKEN": "not-a-real-token",
        "BANANABOT_DB": str(tmp_path / "bot.db"),
        "CALLBACK_HOST": "127.0.0.1",
        "CALLBACK_PORT": "0",
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
    }
    env.update(extra)
    return env


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- the database


def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    return path


@pytest.mark.parametrize("command", ["migrate", "run"])
async def test_a_file_that_is_not_a_database(tmp_path, startup, command):
    path = not_a_database(tmp_path)
    env = run_env(tmp_path, BANANABOT_DB=str(path))
    result = await bot(command, cwd=tmp_path, env=env)
    failed_at = at_start(result, startup)
    assert_fatal(result, f"BANANABOT_DB={path}", "not an SQLite database", failed_at=failed_at)
    assert path.read_text().startswith("these are my notes")  # left as it was


async def test_check_reports_a_file_that_is_not_a_database_and_exits(tmp_path, startup):
    path = not_a_database(tmp_path)
    result = await bot("check", cwd=tmp_path, env={"BANANABOT_DB": str(path)})
    assert result.code == 1
    assert result.stderr == ""
    assert any(
        line.startswith("[FAIL]") and str(path) in line for line in result.stdout.split("\n")
    )
    assert result.ended - at_start(result, startup) < PROMPT


@pytest.mark.parametrize("command", ["migrate", "run"])
async def test_a_directory(tmp_path, startup, command):
    directory = tmp_path / "data"
    directory.mkdir()
    result = await bot(command, cwd=tmp_path, env=run_env(tmp_path, BANANABOT_DB=str(directory)))
    assert_fatal(
        result,
        f"BANANABOT_DB={directory} is a directory",
        str(directory / "bananabot.db"),
        failed_at=at_start(result, startup),
    )


def unwritable(tmp_path: Path) -> Path:
    """A database path this process cannot create (root may write anywhere but /proc)."""
    if os.geteuid() == 0:
        return Path("/proc/bananabot-test/bot.db")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "bot.db"


@pytest.mark.parametrize("command", ["migrate", "run"])
async def test_an_unwritable_path(tmp_path, startup, command):
    path = unwritable(tmp_path)
    result = await bot(command, cwd=tmp_path, env=run_env(tmp_path, BANANABOT_DB=str(path)))
    assert_fatal(
        result,
        f"BANANABOT_DB={path}",
        "cannot be created or written",
        "set BANANABOT_DB to a path",
        failed_at=at_start(result, startup),
    )


# ---------------------------------------------------------------- ports and settings


async def test_the_callback_port_is_taken(tmp_path, startup):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = run_env(
            tmp_path,
            CALLBACK_PORT=str(port),
            CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        result = await bot("run", cwd=tmp_path, env=env)
    assert_fatal(
        result,
        f"127.0.0.1:{port}",
        "already in use",
        "CALLBACK_PORT",
        failed_at=at_start(result, startup),
    )


async def test_the_metrics_port_is_taken(tmp_path, startup):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await bot("run", cwd=tmp_path, env=run_env(tmp_path, METRICS_PORT=str(port)))
    assert_fatal(
        result,
        f"127.0.0.1:{port}",
        "already in use",
        "METRICS_PORT",
        failed_at=at_start(result, startup),
    )
    assert not (tmp_path / "bot.db").exists()  # found before anything else was built


@pytest.mark.parametrize(
    "command", [["run"], ["check"], ["imagine", "a fox", "--provider", "local"]]
)
async def test_a_bad_setting_is_named(tmp_path, startup, command):
    env = run_env(tmp_path, QUOTA_DAILY_CREDITS="abc")
    result = await bot(*command, cwd=tmp_path, env=env)
    assert_fatal(result, failed_at=at_start(result, startup))
    assert result.lines == ["error: QUOTA_DAILY_CREDITS: expected an integer, got 'abc'"]
    assert not (tmp_path / "bot.db").exists()  # nothing was started


async def test_a_bad_provider_setting_is_named(tmp_path, startup):
    env = {"GEMINI_TIMEOUT_SECONDS": "soon"}
    result = await bot("imagine", "a fox", "--provider", "local", cwd=tmp_path, env=env)
    assert_fatal(result, failed_at=at_start(result, startup))
    assert result.lines == ["error: GEMINI_TIMEOUT_SECONDS: expected a number, got 'soon'"]


# ---------------------------------------------------------------- Discord


@pytest.mark.parametrize("gateway", [False, True], ids=["api-only", "with-gateway-url"])
async def test_an_unreachable_discord_api_base(tmp_path, startup, gateway):
    base = f"http://127.0.0.1:{closed_port()}/api/v10"
    env = run_env(tmp_path, DISCORD_API_BASE=base)
    if gateway:
        env["DISCORD_GATEWAY_URL"] = f"ws://127.0.0.1:{closed_port()}"
    result = await bot("run", cwd=tmp_path, env=env)
    assert_fatal(
        result,
        f"cannot reach the Discord API at {base}",
        "DISCORD_API_BASE",
        failed_at=at_start(result, startup),
    )


async def test_an_unreachable_discord_com(tmp_path, startup):
    """As discord.com with no network: a host that does not resolve, reached the way
    discord.py logs in to discord.com (its own HTTP session)."""
    host = "discord.invalid"
    began = time.monotonic()
    try:
        socket.getaddrinfo(host, 443)
        pytest.skip(f"{host} resolves here")
    except OSError:
        pass
    if time.monotonic() - began > 1.0:
        pytest.skip("this machine's resolver is too slow to time an exit against")
    env = run_env(
        tmp_path,
        DISCORD_API_BASE=f"https://{host}/api/v10",
        DISCORD_GATEWAY_URL=f"wss://gateway.{host}",
    )
    result = await bot("run", cwd=tmp_path, env=env)
    assert_fatal(
        result,
        f"cannot reach the Discord API at https://{host}",
        failed_at=at_start(result, startup),
    )


@pytest.fixture
async def refusing_discord() -> AsyncIterator[tuple[str, list[float]]]:
    """A tiny Discord-like API that refuses every token (401); yields its base URL and the
    times it answered."""
    answered: list[float] = []

    async def refuse(request: web.Request) -> web.Response:
        answered.append(time.monotonic())
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/api/v10", answered
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("gateway", [False, True], ids=["api-only", "with-gateway-url"])
async def test_discord_refuses_the_token(tmp_path, refusing_discord, gateway):
    base, answered = refusing_discord
    env = run_env(tmp_path, DISCORD_API_BASE=base)
    if gateway:
        env["DISCORD_GATEWAY_URL"] = f"ws://127.0.0.1:{closed_port()}"
    result = await bot("run", cwd=tmp_path, env=env)
    assert answered, result.stderr
    assert_fatal(
        result,
        "Discord refused DISCORD_TOKEN",
        "Reset Token",
        failed_at=answered[-1],
    )
    assert "not-a-real-token" not in result.stderr


# ---------------------------------------------------------------- no token


async def test_run_without_a_token_fails_for_a_service(tmp_path, startup):
    env = run_env(tmp_path)
    del env["DISCORD_TOKEN"]
    result = await bot("run", cwd=tmp_path, env=env)
    assert_fatal(
        result,
        "DISCORD_TOKEN is not set",
        "https://discord.com/developers/applications",
        failed_at=at_start(result, startup),
    )
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()  # no demo


async def test_run_without_a_token_in_demo_mode_explains_and_exits_0(tmp_path):
    env = run_env(tmp_path)
    del env["DISCORD_TOKEN"]
    result = await bot("run", "--demo-without-token", cwd=tmp_path, env=env)
    assert result.code == 0, result.stderr
    assert "no DISCORD_TOKEN" in result.stderr
    assert "imagine" in result.stderr
    assert "python -m bot" not in result.stderr  # a command that works in a plain shell
    assert (tmp_path / result.stdout.strip()).is_file()


# ---------------------------------------------------------------- --debug


@pytest.mark.parametrize("how", [["--debug"], ["-v"], []], ids=["--debug", "-v", "LOG_LEVEL"])
async def test_debug_shows_the_traceback_too(tmp_path, how):
    path = not_a_database(tmp_path)
    env = {"BANANABOT_DB": str(path)}
    if not how:
        env["LOG_LEVEL"] = "DEBUG"
    result = await bot(*how, "migrate", cwd=tmp_path, env=env)
    assert result.code == 1
    assert "Traceback" in result.stderr
    assert result.lines[-1].startswith(f"error: database BANANABOT_DB={path}")
