"""Small key/value facts kept in the database (e.g. the last command-sync hash)."""

from __future__ import annotations

from bot.storage.db import Database


async def get_meta(db: Database, key: str) -> str | None:
    """The stored value of ``key``, or None."""
    row = await db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
    return str(row[0]) if row else None


async def set_meta(db: Database, key: str, value: str) -> None:
    """Store ``value`` under ``key``."""
    await db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
