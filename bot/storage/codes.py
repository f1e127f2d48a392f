"""SQLite's result code of an error, by name (``SQLITE_BUSY``, ``SQLITE_IOERR_WRITE``, …)."""

from __future__ import annotations


def sqlite_code(exc: BaseException) -> str:
    """The SQLite result code name ``exc`` carries; empty when it carries none."""
    return str(getattr(exc, "sqlite_errorname", "") or "")
