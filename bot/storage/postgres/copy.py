"""Copying an SQLite database, image files included, into an empty PostgreSQL one
(``python -m bot migrate --from-sqlite PATH``), in one PostgreSQL transaction.

Every table is copied generically, by the columns both schemas share, so a table a future
migration adds to both is carried without a change here. A table or column SQLite has and
PostgreSQL lacks stops the copy before anything is written (nothing is silently left
behind). The one difference handled by name is the image bytes: SQLite keeps them as files
beside the database, named by the rows' ``data_file``; PostgreSQL keeps them in its ``blobs``
table under the same names. Bytes older rows still hold inline (``data``) are copied as they
are; the PostgreSQL store moves them to ``blobs`` when it opens, as SQLite's does to files.

Rows are streamed :data:`BATCH` at a time (blobs also at most :data:`BLOB_BATCH_BYTES`), ids
are kept and identity sequences moved past them. Before committing, the rows of every table,
the blobs and the image bytes are counted again on both sides; any difference rolls it all
back. The target must hold no rows at all: two histories are never merged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bot.storage.snapshot import IMAGE_TABLES, SqliteSnapshot, SqliteTable

BATCH = 500
BLOB_BATCH_BYTES = 64 * 1024 * 1024
#: PostgreSQL's own tables, filled by its migrations or (``blobs``) from the image files
BLOBS = "blobs"
PG_ONLY = frozenset({"schema_version", BLOBS})
#: how long to wait for a running bot's writes before locking the tables (then give up)
LOCK_TIMEOUT = "10s"

_COERCE: dict[str, Callable[[Any], Any]] = {
    "text": lambda v: v if isinstance(v, str) else str(v),
    "bigint": lambda v: int(v) if isinstance(v, float) and v.is_integer() else v,
    "integer": lambda v: int(v) if isinstance(v, float) and v.is_integer() else v,
    "double precision": lambda v: float(v) if isinstance(v, int) else v,
    "bytea": lambda v: bytes(v) if isinstance(v, memoryview | bytearray) else v,
}


class CopyRefusedError(Exception):
    """The copy cannot start (nothing was written); the message says why and what to do."""


@dataclass(frozen=True)
class Count:
    """One line of the report: what SQLite held and what PostgreSQL holds now."""

    what: str
    sqlite: int
    postgres: int

    @property
    def ok(self) -> bool:
        """Both sides agree."""
        return self.sqlite == self.postgres


@dataclass(frozen=True)
class CopyReport:
    """The counts after copying, and the image files rows named that were already gone."""

    counts: list[Count]
    missing_files: list[str]

    @property
    def ok(self) -> bool:
        """Every count agrees."""
        return all(count.ok for count in self.counts)

    def lines(self) -> list[str]:
        """The counts as a table of text lines."""
        width = max(len(count.what) for count in self.counts)
        lines = [f"{'':{width}}  {'sqlite':>12}  {'postgresql':>12}"]
        for count in self.counts:
            mark = "" if count.ok else "  DIFFERENT"
            lines.append(f"{count.what:{width}}  {count.sqlite:>12}  {count.postgres:>12}{mark}")
        return lines


class CountsDifferError(Exception):
    """The copy was checked and rolled back: ``report`` says where the counts differ."""

    def __init__(self, report: CopyReport) -> None:
        super().__init__("the counts differ after copying; nothing was committed")
        self.report = report


@dataclass(frozen=True)
class _Plan:
    tables: list[SqliteTable]  # in an order where parents come before children
    types: dict[str, dict[str, str]]  # PostgreSQL's column types, by table and column


async def copy_sqlite(source: SqliteSnapshot, conn: asyncpg.Connection) -> CopyReport:
    """Copy everything ``source`` holds into the (migrated, empty) database of ``conn``, in
    one transaction, committed only when every count agrees.

    :class:`CopyRefusedError` before anything is written; :class:`CountsDifferError` after
    rolling back."""
    plan = _plan(await source.tables(), await _pg_columns(conn))
    async with conn.transaction():
        await _lock_empty(conn, [table.name for table in plan.tables])
        for table in plan.tables:
            await _copy_table(source, conn, table, plan.types[table.name])
        missing = await _copy_files(source, conn, {table.name for table in plan.tables})
        await _move_sequences(conn)
        report = CopyReport(await _counts(source, conn, plan, missing), missing)
        if not report.ok:
            raise CountsDifferError(report)
    return report


def _plan(tables: Sequence[SqliteTable], pg: dict[str, dict[str, str]]) -> _Plan:
    unknown = sorted(table.name for table in tables if table.name not in pg)
    if unknown:
        raise CopyRefusedError(
            f"SQLite table(s) {', '.join(unknown)} have no counterpart in PostgreSQL: this "
            "version cannot copy them (upgrade bananabot, or its PostgreSQL migrations)"
        )
    for table in tables:
        lacking = [column for column in table.columns if column not in pg[table.name]]
        if lacking:
            raise CopyRefusedError(
                f"SQLite column(s) {', '.join(lacking)} of table {table.name} have no "
                "counterpart in PostgreSQL: this version cannot copy them"
            )
        if table.name in PG_ONLY:
            raise CopyRefusedError(f"SQLite has a table {table.name}, kept only by PostgreSQL")
    if BLOBS not in pg:
        raise CopyRefusedError("PostgreSQL has no blobs table: run `python -m bot migrate`")
    return _Plan(_parents_first(tables), {table.name: pg[table.name] for table in tables})


def _parents_first(tables: Sequence[SqliteTable]) -> list[SqliteTable]:
    """``tables`` ordered so that every table comes after those its rows refer to."""
    pending = {table.name: table for table in tables}
    ordered: list[SqliteTable] = []
    while pending:
        ready = [t for t in pending.values() if not (t.parents & pending.keys())]
        if not ready:  # a cycle: no order satisfies every key; PostgreSQL will say which
            ready = list(pending.values())
        for table in sorted(ready, key=lambda t: t.name):
            ordered.append(pending.pop(table.name))
    return ordered


async def _pg_columns(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    rows = await conn.fetch(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
        "AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position"
    )
    found: dict[str, dict[str, str]] = {}
    for row in rows:
        found.setdefault(str(row[0]), {})[str(row[1])] = str(row[2])
    return found


async def _lock_empty(conn: asyncpg.Connection, tables: list[str]) -> None:
    """Lock the tables against writers (a bot already running on PostgreSQL) and refuse
    unless every one is empty."""
    names = [*tables, BLOBS]
    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    await conn.execute(f"LOCK TABLE {', '.join(map(_quoted, names))} IN EXCLUSIVE MODE")
    held = []
    for name in names:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_quoted(name)})"):
            held.append(name)
    if "jobs" in held:
        jobs = await conn.fetchval("SELECT COUNT(*) FROM jobs")
        raise CopyRefusedError(
            f"PostgreSQL already holds {jobs} job(s): copying would merge two histories, "
            "which this never does; point DATABASE_URL at an empty database or schema"
        )
    if held:
        raise CopyRefusedError(
            f"PostgreSQL already holds rows in {', '.join(held)}: copying would merge two "
            "histories, which this never does; point DATABASE_URL at an empty database or schema"
        )


async def _copy_table(
    source: SqliteSnapshot, conn: asyncpg.Connection, table: SqliteTable, types: dict[str, str]
) -> None:
    coerce = [_COERCE.get(types[column], _same) for column in table.columns]
    async for batch in source.rows(table.name, table.columns, BATCH):
        records = [
            tuple(None if v is None else fix(v) for fix, v in zip(coerce, row, strict=True))
            for row in batch
        ]
        await conn.copy_records_to_table(table.name, records=records, columns=table.columns)


def _same(value: Any) -> Any:
    return value


async def _copy_files(
    source: SqliteSnapshot, conn: asyncpg.Connection, tables: set[str]
) -> list[str]:
    """Every image file a row names into ``blobs`` under the same name; the names of those
    already gone (their rows are copied as they are, naming nothing that exists, as before)."""
    missing: list[str] = []
    batch: list[tuple[str, bytes, float]] = []
    size = 0
    for name in await source.file_names(tables):
        found = await asyncio.to_thread(source.read_file, name)
        if found is None:
            missing.append(name)
            continue
        batch.append((name, found[0], found[1]))
        size += len(found[0])
        if len(batch) >= BATCH or size >= BLOB_BATCH_BYTES:
            await conn.copy_records_to_table(BLOBS, records=batch, columns=_BLOB_COLUMNS)
            batch, size = [], 0
    if batch:
        await conn.copy_records_to_table(BLOBS, records=batch, columns=_BLOB_COLUMNS)
    return missing


_BLOB_COLUMNS = ("name", "data", "created_at")


async def _move_sequences(conn: asyncpg.Connection) -> None:
    """Move every identity (or serial) sequence past the largest id copied."""
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() "
        "AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')"
    )
    for table, column in rows:
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence($1, $2), "
            f"COALESCE(MAX({_quoted(column)}), 0) + 1, false) FROM {_quoted(table)}",
            _quoted(table),
            column,
        )


async def _counts(
    source: SqliteSnapshot, conn: asyncpg.Connection, plan: _Plan, missing: list[str]
) -> list[Count]:
    counts = []
    for table in plan.tables:
        copied = await conn.fetchval(f"SELECT COUNT(*) FROM {_quoted(table.name)}")
        counts.append(Count(table.name, await source.count(table.name), int(copied)))
    names = {table.name for table in plan.tables}
    files = await source.file_names(names)
    blobs = await conn.fetchval(f"SELECT COUNT(*) FROM {BLOBS}")
    counts.append(Count("image files -> blobs", len(files) - len(missing), int(blobs)))
    sqlite_bytes = await source.inline_bytes(names) + await _file_bytes(source, files)
    counts.append(Count("image bytes", sqlite_bytes, await _pg_bytes(conn, names)))
    return counts


async def _file_bytes(source: SqliteSnapshot, names: list[str]) -> int:
    def total() -> int:
        found = 0
        for name in names:
            path = source.files.path(name)
            found += path.stat().st_size if path.exists() else 0
        return found

    return await asyncio.to_thread(total)


async def _pg_bytes(conn: asyncpg.Connection, tables: set[str]) -> int:
    total = int(await conn.fetchval(f"SELECT COALESCE(SUM(octet_length(data)), 0) FROM {BLOBS}"))
    for table in IMAGE_TABLES:
        if table in tables:
            total += int(
                await conn.fetchval(f"SELECT COALESCE(SUM(octet_length(data)), 0) FROM {table}")
            )
    return total


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
