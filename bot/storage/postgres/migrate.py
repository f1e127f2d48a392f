"""PostgreSQL's plain numbered SQL migrations (``bot/storage/postgres/migrations``), applied as
SQLite's are (:mod:`bot.storage.migrate`): each in its own transaction, the version kept in a
one-row ``schema_version`` table. Every migrating transaction first takes an advisory lock
(per schema), so processes starting together apply each migration once, one after the other.
"""

from __future__ import annotations

import logging

from bot.storage.migrate import migration_files as _files
from bot.storage.postgres.db import PgDatabase

log = logging.getLogger(__name__)

PACKAGE = "bot.storage.postgres.migrations"

_PREPARE = """
SELECT pg_advisory_xact_lock(hashtextextended('bananabot:migrate:' || current_schema(), 0));
CREATE TABLE IF NOT EXISTS schema_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING;
"""


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every PostgreSQL migration, in order."""
    return _files(PACKAGE)


def latest_version() -> int:
    """The version every migration applied gives."""
    return len(migration_files())


async def schema_version(db: PgDatabase) -> int | None:
    """The version the schema is at (None: never migrated, no ``schema_version`` table)."""
    row = await db.fetchone("SELECT to_regclass('schema_version') IS NOT NULL")
    if row is None or not row[0]:
        return None
    found = await db.fetchone("SELECT version FROM schema_version WHERE id = 1")
    return int(found[0]) if found else 0


async def migrate(db: PgDatabase) -> list[str]:
    """Apply every pending migration, each in its own locked transaction; their names."""
    applied = []
    for version, name, sql in migration_files():
        async with db.transaction() as tx:
            await tx.script(_PREPARE)
            current = await tx.fetchone("SELECT version FROM schema_version WHERE id = 1")
            if current is not None and int(current[0]) >= version:
                continue
            await tx.script(sql)
            await tx.execute("UPDATE schema_version SET version = ? WHERE id = 1", (version,))
        log.info("applied PostgreSQL migration %s", name)
        applied.append(name)
    return applied
