"""``python -m bot check`` tells the truth and changes nothing: a real process each time."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
from pathlib import Path

from aiohttp import web

from bot.storage.migrate import migration_files
from bot.web.probe import add_probe_route
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific
from tests.fakes.nanobananaapi import FakeNanoBananaApi

ROOT = Path(__file__).resolve().parents[2]


async def check(cwd: Path, **env: str) -> tuple[int, dict[str, str]]:
    """Run ``check``; return the exit code and its lines by subject (``[level] subject: …``)."""
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    clean.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "check",
        cwd=cwd,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None, err
    lines: dict[str, str] = {}
    for line in out.decode().splitlines():
        subject = line[7:].split(" ", 1)[0].rstrip(":")
        lines.setdefault(subject, line)
    return proc.returncode, lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_missing_database_is_not_created(tmp_path):
    db = tmp_path / "data" / "bot.db"
    _, lines = await check(tmp_path, BANANABOT_DB=str(db))
    assert lines["database"].startswith("[ok  ]") and "does not exist yet" in lines["database"]
    assert not db.exists() and not db.parent.exists()


async def test_an_old_schema_is_reported_and_left_alone(tmp_path):
    db = tmp_path / "bot.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 1")
    before = db.read_bytes()
    _, lines = await check(tmp_path, BANANABOT_DB=str(db))
    assert f"schema 1 of {len(migration_files())}" in lines["database"]
    assert lines["database"].startswith("[warn]")
    assert db.read_bytes() == before


async def test_a_file_that_is_not_a_database_fails(tmp_path):
    db = tmp_path / "notes.db"
    db.write_text("these are my notes, not a database" * 100)
    code, lines = await check(tmp_path, BANANABOT_DB=str(db))
    assert code == 1
    assert lines["database"].startswith("[FAIL]") and "BANANABOT_DB" in lines["database"]


async def test_keys_are_checked_with_a_harmless_request(tmp_path):
    async with FakeGemini() as gemini, FakeMagnific() as magnific, FakeNanoBananaApi() as nba:
        code, lines = await check(
            tmp_path,
            GEMINI_API_KEY="AIza-made-up",
            GEMINI_BASE_URL=gemini.base_url,
            MAGNIFIC_API_KEY=magnific.api_key,
            MAGNIFIC_BASE_URL=magnific.base_url,
            NANOBANANAAPI_API_KEY=nba.api_key,
            NANOBANANAAPI_BASE_URL=nba.base_url,
            NANOBANANAPRO_API_KEY="anything",
            NANOBANANAPRO_BASE_URL="http://127.0.0.1:9",
        )
        assert code == 1
        assert lines["gemini"].startswith("[FAIL]") and "refused GEMINI_API_KEY" in lines["gemini"]
        assert lines["magnific"].startswith("[ok  ]") and "accepted" in lines["magnific"]
        assert "credits left" in lines["nanobananaapi"]
        assert lines["nanobananapro"].startswith("[warn]") and "verify" in lines["nanobananapro"]
        assert "AIza-made-up" not in "\n".join(lines.values())
        # harmless: nothing was generated anywhere
        assert not [r for r in gemini.requests if r.method == "POST"]
        assert not [r for r in magnific.requests if r.method == "POST"]
        assert not [r for r in nba.requests if r.method == "POST"]
        code, lines = await check(
            tmp_path, GEMINI_API_KEY=gemini.api_key, GEMINI_BASE_URL=gemini.base_url
        )
        assert lines["gemini"].startswith("[ok  ]") and "accepted" in lines["gemini"]


async def test_an_unconfigured_default_provider_fails(tmp_path):
    code, lines = await check(tmp_path, DEFAULT_PROVIDER="magnific:nano-banana-pro")
    assert code == 1
    assert lines["DEFAULT_PROVIDER"].startswith("[FAIL]")


async def test_the_callback_url_must_reach_this_machines_receiver(tmp_path):
    port = free_port()
    env = {"CALLBACK_HOST": "127.0.0.1", "CALLBACK_PORT": str(port)}
    _, lines = await check(tmp_path, CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{port}", **env)
    line = lines["CALLBACK_PUBLIC_URL"]  # reached, but plain http is worth a warning
    assert line.startswith("[warn]") and "reaches this machine's 127.0.0.1" in line
    elsewhere = free_port()
    code, lines = await check(tmp_path, CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{elsewhere}", **env)
    assert code == 1
    assert lines["CALLBACK_PUBLIC_URL"].startswith("[FAIL]")
    assert "does not reach" in lines["CALLBACK_PUBLIC_URL"]


async def test_a_running_bots_receiver_answers_the_probe(tmp_path):
    app = web.Application()
    add_probe_route(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        _, lines = await check(
            tmp_path,
            CALLBACK_HOST="127.0.0.1",
            CALLBACK_PORT=str(port),
            CALLBACK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
    finally:
        await runner.cleanup()
    assert "running bot" in str(lines)
