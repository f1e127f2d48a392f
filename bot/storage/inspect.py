"""Looking at a database without changing it: whether it exists, and its schema version.

``check`` uses this: it must never create, migrate or lock the operator's database.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.storage.migrate import migration_files


@dataclass(frozen=True)
class SchemaState:
    """A database file as found: missing, or at ``version`` of the ``latest`` migrations."""

    exists: bool
    version: int
    latest: int

    @property
    def current(self) -> bool:
        """Every migration has been applied."""
        return self.version >= self.latest


class UnreadableDatabaseError(Exception):
    """The file cannot be read as a bananabot database; the message says why."""


def schema_state(path: Path) -> SchemaState:
    """Read the schema version of ``path`` read-only (blocking: call it in a thread)."""
    latest = len(migration_files())
    if not path.exists():
        return SchemaState(exists=False, version=0, latest=latest)
    if not path.is_file():
        raise UnreadableDatabaseError("it is not a file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error as exc:
        raise UnreadableDatabaseError(str(exc)) from exc
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        row = conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as exc:
        raise UnreadableDatabaseError(str(exc)) from exc
    finally:
        conn.close()
    return SchemaState(exists=True, version=int(row[0]) if row else 0, latest=latest)
