"""``migrate`` and ``check`` with ``DATABASE_URL``: PostgreSQL instead of SQLite, one clear line
for each problem, never the URL's password. Real processes, each schema its own."""

from __future__ import annotations

import socket

from bot.logs import secret_values
from bot.settings import Settings
from bot.storage.postgres.migrate import latest_version
from tests.cli.test_check import check
from tests.cli.test_cli import bot
from tests.pg import pg_schema


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_check_wants_a_migrated_schema_and_migrate_makes_it(tmp_path):
    async with pg_schema() as url:
        env = {"DATABASE_URL": url, "BANANABOT_DB": str(tmp_path / "ignored.db")}
        code, lines = await check(tmp_path, **env)
        assert code == 1
        assert lines["database"].startswith("[FAIL]")
        assert "schema is missing: run `python -m bot migrate`" in lines["database"]

        first = bot("migrate", cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        assert "applied 0001_initial.sql" in first.stdout
        again = bot("migrate", cwd=tmp_path, env=env)
        assert "applied" not in again.stdout
        assert f"schema version {latest_version()}" in again.stdout

        _, lines = await check(tmp_path, **env)
        assert lines["database"].startswith("[ok  ]"), lines["database"]
        assert f"PostgreSQL, schema {latest_version()}" in lines["database"]
        assert not (tmp_path / "ignored.db").exists()  # BANANABOT_DB is ignored


async def test_unreachable_and_refused_say_so_without_the_password(tmp_path):
    unreachable = f"postgresql://postgres:hunter2secret@127.0.0.1:{_free_port()}/test"
    code, lines = await check(tmp_path, DATABASE_URL=unreachable)
    assert code == 1
    assert "cannot be reached" in lines["database"]
    assert "postgres:***@127.0.0.1" in lines["database"]
    assert "hunter2secret" not in "".join(lines.values())

    result = bot("migrate", cwd=tmp_path, env={"DATABASE_URL": unreachable})
    assert result.returncode == 1
    assert result.stderr.startswith("error: database DATABASE_URL=postgresql://postgres:***@")
    assert "cannot be reached" in result.stderr and "hunter2secret" not in result.stderr

    refused = "postgresql://nosuchrole:hunter2secret@127.0.0.1:5432/test"
    _, lines = await check(tmp_path, DATABASE_URL=refused)
    assert "refused the login: check the user and password" in lines["database"]
    assert "hunter2secret" not in lines["database"]


def test_a_url_that_is_not_postgresql_is_refused_without_its_password(tmp_path):
    result = bot("migrate", cwd=tmp_path, env={"DATABASE_URL": "mysql://u:hunter2secret@h/db"})
    assert result.returncode == 1
    assert "DATABASE_URL: " in result.stderr and "must be a postgresql://" in result.stderr
    assert "hunter2secret" not in result.stderr


def test_the_urls_password_is_masked_on_its_own_too() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://bot:pw-secret-1@db:5432/bot")
    found = secret_values(settings)
    assert "pw-secret-1" in found
    assert "postgresql://bot:pw-secret-1@db:5432/bot" in found
