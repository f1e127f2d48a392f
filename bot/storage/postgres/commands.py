"""``migrate`` and ``check`` for a PostgreSQL ``DATABASE_URL``: one line each, never with the
URL's password."""

from __future__ import annotations

import asyncpg

from bot.jobs.ports import StoreUnavailableError
from bot.storage.postgres.db import PgDatabase, shown
from bot.storage.postgres.migrate import latest_version, migrate, schema_version
from bot.storage.postgres.problems import PgOpenError, SchemaBehindError

_FAILURES = (StoreUnavailableError, asyncpg.PostgresError, OSError, TimeoutError)


async def _connect(url: str) -> PgDatabase:
    try:
        return await PgDatabase.open(url, min_size=1, max_size=2)
    except _FAILURES as exc:
        raise PgOpenError.of(url, exc) from exc


async def migrate_postgres(url: str) -> int:
    """Apply pending migrations, print what was applied and the version; exit code."""
    db = await _connect(url)
    try:
        applied = await migrate(db)
        version = await schema_version(db)
    except _FAILURES as exc:
        raise PgOpenError.of(url, exc) from exc
    finally:
        await db.close()
    for name in applied:
        print(f"applied {name}")  # noqa: T201 - the command's output
    print(f"{shown(url)}: schema version {version}")  # noqa: T201
    return 0


async def check_postgres(url: str) -> tuple[bool, str]:
    """Whether the database can be reached and its schema is current, and the line saying so
    (changes nothing)."""
    try:
        db = await _connect(url)
    except PgOpenError as exc:
        return False, str(exc)
    try:
        version = await schema_version(db)
    except _FAILURES as exc:
        return False, str(PgOpenError.of(url, exc))
    finally:
        await db.close()
    latest = latest_version()
    if version is None or version < latest:
        return False, str(PgOpenError.of(url, SchemaBehindError(version, latest)))
    return True, f"database {shown(url)}: PostgreSQL, schema {version}"
