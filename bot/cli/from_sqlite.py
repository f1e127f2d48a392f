"""``python -m bot migrate --from-sqlite PATH``: copy an SQLite database (jobs, images, the
quota ledger, server settings, audit log, …) into the empty PostgreSQL at ``DATABASE_URL``,
verified by counts, in one transaction (:mod:`bot.storage.postgres.copy`).

Both databases are first brought up to date: PostgreSQL's migrations are applied, and so are
SQLite's to the file, in place, as ``run`` would; otherwise the file is only read.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg

from bot.cli.errors import FatalError
from bot.jobs.ports import StoreUnavailableError
from bot.settings import Settings
from bot.storage.inspect import UnreadableDatabaseError, schema_state
from bot.storage.migrate import migrate_file
from bot.storage.postgres.commands import migrate_postgres
from bot.storage.postgres.copy import (
    CopyRefusedError,
    CopyReport,
    CountsDifferError,
    copy_sqlite,
)
from bot.storage.postgres.db import PgDatabase, shown
from bot.storage.postgres.problems import PgOpenError
from bot.storage.snapshot import SqliteSnapshot

_PG_FAILURES = (StoreUnavailableError, asyncpg.PostgresError, OSError, TimeoutError)


async def from_sqlite_command(settings: Settings, path: Path) -> int:
    """Copy the SQLite database at ``path`` into ``DATABASE_URL``; print the counts. Exit 0
    only when every count agrees (and the copy is committed)."""
    if settings.database_url is None:
        raise FatalError(
            "DATABASE_URL is not set: set it to the PostgreSQL database to copy into "
            "(postgresql://user:password@host:5432/name)"
        )
    url = settings.database_url.get_secret_value()
    await _check_sqlite(path)
    await migrate_postgres(url)
    applied, version = await migrate_file(path)
    for name in applied:
        print(f"{path}: applied {name}")
    print(f"copying {path} (schema version {version}) into {shown(url)}")
    report = await _copy(path, url)
    for line in report.lines():
        print(line)
    if report.missing_files:
        print(
            f"note: {len(report.missing_files)} image file(s) that rows name were already gone "
            f"from {path.name}.blobs; those rows are copied as they were"
        )
    print("every count agrees: committed")
    return 0


async def _check_sqlite(path: Path) -> None:
    try:
        state = await asyncio.to_thread(schema_state, path)
    except UnreadableDatabaseError as exc:
        raise FatalError(f"--from-sqlite {path} is not an SQLite database ({exc})") from exc
    if not state.exists:
        raise FatalError(f"--from-sqlite {path}: no such file")
    if state.version == 0:
        raise FatalError(
            f"--from-sqlite {path} is not a bananabot database (its schema version is 0)"
        )
    if state.version > state.latest:
        raise FatalError(
            f"--from-sqlite {path} is at schema version {state.version}, newer than this "
            f"bananabot's {state.latest}: copy it with the version that wrote it"
        )


async def _copy(path: Path, url: str) -> CopyReport:
    try:
        db = await PgDatabase.open(url, min_size=1, max_size=1)
    except _PG_FAILURES as exc:
        raise PgOpenError.of(url, exc) from exc
    try:
        snapshot = await SqliteSnapshot.open(path)
    except sqlite3.Error as exc:
        await db.close()
        raise FatalError(f"--from-sqlite {path} cannot be read ({exc})") from exc
    try:
        async with db.dedicated() as conn:
            return await copy_sqlite(snapshot, conn)
    except CopyRefusedError as exc:
        raise FatalError(f"nothing copied: {exc}") from exc
    except CountsDifferError as exc:
        for line in exc.report.lines():
            print(line)
        raise FatalError(f"{exc}: the copy was rolled back") from exc
    except (asyncpg.PostgresError, sqlite3.Error) as exc:
        raise FatalError(
            f"the copy failed and was rolled back, nothing committed ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        await snapshot.close()
        await db.close()
