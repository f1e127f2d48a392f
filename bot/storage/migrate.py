"""Plain numbered SQL migrations; the schema version lives in ``PRAGMA user_version``."""

from __future__ import annotations

import logging
import re
import sqlite3
from importlib import resources
from pathlib import Path

from bot.jobs.ports import StoreUnavailableError
from bot.storage.db import Database, DatabaseOpenError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files(package: str = "bot.storage.migrations") -> list[tuple[int, str, str]]:
    """(version, name, sql) for every migration in ``package`` (SQLite's unless named), in
    order; versions must be 1..N with no gaps."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, name, _) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration {name} breaks the numbering (expected {expected:04d})")
    return found


async def schema_version(db: Database) -> int:
    """The version the database is at."""
    row = await db.fetchone("PRAGMA user_version")
    return int(row[0]) if row else 0


async def migrate(db: Database) -> list[str]:
    """Apply every pending migration, each in its own transaction; return their names."""
    current = await schema_version(db)
    applied = []
    for version, name, sql in migration_files():
        if version <= current:
            continue
        await db.executescript(
            f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
        log.info("applied migration %s", name)
        applied.append(name)
    return applied


async def migrate_file(path: Path) -> tuple[list[str], int]:
    """Open the database file at ``path`` (creating it if needed), apply every pending
    migration and close it; the names applied and the version it is at.

    :class:`~bot.storage.db.DatabaseOpenError` when the file cannot be used."""
    db = await Database.open(path)
    try:
        applied = await migrate(db)
        version = await schema_version(db)
    except (sqlite3.Error, OSError, StoreUnavailableError) as exc:  # read-only, a full disk…
        raise DatabaseOpenError.of(path, exc) from exc
    finally:
        await db.close()
    return applied, version
