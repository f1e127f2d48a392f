"""``compose.yaml`` (no Docker needed): PostgreSQL with a health check and a volume, a one-shot
migration before any bot, bot processes that together run every shard exactly once, each
setting one the bot reads, REST through the one proxy, and one callback address for all."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
BOTS = {name: s for name, s in SERVICES.items() if name.startswith("bot-")}
#: the scale-out settings the PostgreSQL store reads (README, "Running more than one process")
CONTRACT = {"DATABASE_URL"}


def interpolated(value: str) -> str:
    """``${NAME:-default}`` as Compose reads it with ``NAME`` unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def env(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolated(str(v)) for k, v in service.get("environment", {}).items()}


def test_postgres_keeps_its_data_and_says_when_it_is_ready():
    postgres = SERVICES["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]


def test_the_migration_runs_once_before_every_bot():
    migrate = SERVICES["migrate"]
    assert migrate["command"][-1] == "migrate"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert len(BOTS) >= 2
    for bot in BOTS.values():
        assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_service_built_here_uses_the_dockerfile():
    assert (ROOT / "Dockerfile").is_file()
    for service in (*BOTS.values(), SERVICES["migrate"]):
        assert service["build"] == "."


def test_the_bots_name_only_settings_the_bot_reads():
    known = {name.upper() for name in Settings.model_fields} | CONTRACT
    for service in (*BOTS.values(), SERVICES["migrate"]):
        assert set(env(service)) - known == set()


def test_the_bots_share_one_database_on_the_postgres_service():
    urls = {env(s)["DATABASE_URL"] for s in (*BOTS.values(), SERVICES["migrate"])}
    assert len(urls) == 1
    url = urlsplit(urls.pop())
    assert url.scheme == "postgresql" and url.hostname == "postgres"
    postgres = SERVICES["postgres"]["environment"]
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == interpolated(postgres["POSTGRES_PASSWORD"])
    assert url.path == "/" + postgres["POSTGRES_DB"]


def test_the_bots_run_every_shard_exactly_once_and_valid_settings():
    counts = {int(env(bot)["SHARD_COUNT"]) for bot in BOTS.values()}
    assert len(counts) == 1
    count = counts.pop()
    ran: list[int] = []
    syncing = []
    for name, bot in BOTS.items():
        values = env(bot)
        settings = Settings(
            _env_file=None, shard_count=values["SHARD_COUNT"], shard_ids=values["SHARD_IDS"]
        )
        ran += settings.shards() or []
        if settings.syncs_commands:
            syncing.append(name)
    assert sorted(ran) == list(range(count))
    assert len(syncing) == 1  # one process syncs the commands


def test_every_bot_calls_discord_through_the_one_proxy():
    bases = {env(bot)["DISCORD_API_BASE"] for bot in BOTS.values()}
    assert len(bases) == 1
    base = urlsplit(bases.pop())
    assert base.hostname in SERVICES
    assert base.path == "/api/v10"
    proxy = SERVICES[base.hostname]
    assert str(base.port) == env(proxy)["PORT"]


def test_one_public_address_reaches_every_bots_receiver():
    command = SERVICES["callbacks"]["command"]
    upstreams = {command[i + 1] for i, arg in enumerate(command) if arg == "--to"}
    assert upstreams == {f"{name}:{env(bot)['CALLBACK_PORT']}" for name, bot in BOTS.items()}
    listen = command[command.index("--from") + 1]
    published = SERVICES["callbacks"]["ports"]
    assert any(p.endswith(listen) for p in published)
    for bot in BOTS.values():
        assert env(bot)["CALLBACK_HOST"] == "0.0.0.0"
