"""Two listeners: /healthz and /metrics on loopback by default, the callback receiver only when
CALLBACK_PUBLIC_URL is set, each serving only its own paths; the Dockerfile agrees."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import httpx
import pytest

from bot.runtime import build_runtime
from bot.settings import Settings
from bot.web.sockets import listen
from tests.discord.bot_harness import running_bot, settings_for
from tests.fakes.discord import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_defaults():
    defaults = Settings(_env_file=None)
    assert (defaults.metrics_host, defaults.metrics_port) == ("127.0.0.1", 8081)
    assert (defaults.callback_host, defaults.callback_port) == ("0.0.0.0", 8080)
    assert defaults.log_format == "text"


async def test_without_a_public_url_only_health_and_metrics_listen_on_loopback(tmp_path):
    callback_port = free_port()
    async with FakeDiscord() as fake:
        configured = settings_for(fake, tmp_path, callback_port=callback_port)
        async with running_bot(fake, configured, bind=True) as runtime:
            assert runtime.receiver is None and runtime.receiver_port is None
            assert refused(callback_port)
            assert runtime.status is not None
            assert [address[0] for address in runtime.status.addresses] == ["127.0.0.1"]
            async with httpx.AsyncClient() as client:
                base = f"http://127.0.0.1:{runtime.metrics_port}"
                assert (await client.get(f"{base}/healthz")).json() == {"ok": True}
                assert "bananabot_jobs" in (await client.get(f"{base}/metrics")).text
                answer = await client.post(f"{base}/callbacks/job/token", content=b"{}")
                assert answer.status_code in (404, 405)  # callbacks are not served here


async def test_with_a_public_url_the_receiver_serves_callbacks_only(tmp_path):
    callback_port = free_port()
    async with FakeDiscord() as fake:
        configured = settings_for(
            fake,
            tmp_path,
            callback_port=callback_port,
            callback_public_url="https://bot.example",
        )
        async with (
            running_bot(fake, configured, bind=True) as runtime,
            httpx.AsyncClient() as client,
        ):
            assert runtime.receiver_port == callback_port
            base = f"http://127.0.0.1:{callback_port}"
            unknown = await client.post(f"{base}/callbacks/nosuchjob/token", content=b"{}")
            assert unknown.status_code == 404
            assert unknown.json() == {"error": "unknown job"}
            for path in ("/healthz", "/metrics"):
                assert (await client.get(f"{base}{path}")).status_code == 404
            health = await client.get(f"http://127.0.0.1:{runtime.metrics_port}/healthz")
            assert health.json() == {"ok": True}
    assert refused(callback_port)


async def test_a_callback_listener_needs_a_public_url(tmp_path):
    sock = listen("127.0.0.1", 0)
    try:
        unset = Settings(_env_file=None, bananabot_db=tmp_path / "bot.db", metrics_port=0)
        with pytest.raises(ValueError, match="CALLBACK_PUBLIC_URL"):
            await build_runtime(unset, {}, listener=sock)
    finally:
        sock.close()


def test_the_container_health_check_asks_the_status_listener():
    dockerfile = (ROOT / "Dockerfile").read_text()
    defaults = Settings(_env_file=None)
    env_port = re.search(r"METRICS_PORT=(\d+)", dockerfile)
    assert env_port is not None and int(env_port.group(1)) == defaults.metrics_port
    assert "METRICS_HOST=127.0.0.1" in dockerfile
    check = re.search(r"HEALTHCHECK[^\n]*\n\s*CMD .*http://127\.0\.0\.1:(\d+)/healthz", dockerfile)
    assert check is not None and int(check.group(1)) == defaults.metrics_port
    assert re.search(r"^EXPOSE 8080$", dockerfile, re.MULTILINE)
