"""The PostgreSQL backend's own parts: placeholders, which errors mean "unavailable",
migrations run by two processes at once, blobs left by a crash, a connection for LISTEN."""

from __future__ import annotations

import asyncio
import socket
import time

import asyncpg
import pytest

from bot.jobs.ports import StoreUnavailableError
from bot.storage.postgres.blobs import ORPHAN_AGE
from bot.storage.postgres.db import PgDatabase, shown
from bot.storage.postgres.migrate import latest_version, migrate, schema_version
from bot.storage.postgres.placeholders import bind, translate
from bot.storage.postgres.problems import PgOpenError
from bot.storage.postgres.store import PostgresStore
from tests.pg import pg_schema


def test_placeholders_are_numbered_once_per_statement() -> None:
    assert bind("SELECT ? , ?", (1, 2)) == ("SELECT $1 , $2", [1, 2])
    assert bind("x = :a AND y = :b OR z = :a", {"a": 1, "b": 2}) == (
        "x = $1 AND y = $2 OR z = $1",
        [1, 2],
    )
    assert translate("SELECT '?', ':a', \"?\", 1::int, ?") == (
        "SELECT '?', ':a', \"?\", 1::int, $1",
        None,
    )
    assert translate.cache_info().currsize >= 3
    with pytest.raises(ValueError, match="both"):
        translate("SELECT ?, :a")
    with pytest.raises(TypeError):
        bind("SELECT :a", (1,))


def test_a_password_is_never_shown() -> None:
    assert shown("postgresql://bot:s3cret@db:5432/bot") == "postgresql://bot:***@db:5432/bot"
    assert shown("postgresql://postgres@127.0.0.1/test") == "postgresql://postgres@127.0.0.1/test"


async def test_an_unreachable_server_is_unavailable_not_a_bug() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnavailableError):
        await PgDatabase.open(f"postgresql://postgres@127.0.0.1:{port}/test")


async def test_bugs_stay_errors_and_a_lost_connection_is_unavailable() -> None:
    async with pg_schema() as url:
        store = await PostgresStore.open(url)
        try:
            with pytest.raises(asyncpg.PostgresSyntaxError):
                await store.db.fetchall("SELEC 1")
            await store.meta.set("k", "v")
            with pytest.raises(asyncpg.UniqueViolationError):
                await store.db.execute("INSERT INTO meta (key, value) VALUES ('k', 'w')")
            with pytest.raises(StoreUnavailableError):  # the server ends our session
                async with store.db.transaction() as tx:
                    await tx.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            await store.ping()  # the pool replaces the connection
        finally:
            await store.close()


async def test_processes_migrating_at_once_apply_each_migration_once() -> None:
    async with pg_schema() as url:
        dbs = [await PgDatabase.open(url) for _ in range(3)]
        try:
            assert await schema_version(dbs[0]) is None
            applied = await asyncio.wait_for(asyncio.gather(*(migrate(db) for db in dbs)), 30)
            assert sorted(name for names in applied for name in names) == ["0001_initial.sql"]
            assert await schema_version(dbs[0]) == latest_version()
            assert await migrate(dbs[0]) == []
        finally:
            for db in dbs:
                await db.close()


async def test_a_store_that_must_not_migrate_refuses_a_missing_schema() -> None:
    async with pg_schema() as url:
        with pytest.raises(PgOpenError, match="schema is missing: run `python -m bot migrate`"):
            await PostgresStore.open(url, apply_migrations=False)
        await (await PostgresStore.open(url)).close()
        await (await PostgresStore.open(url, apply_migrations=False)).close()


async def test_only_old_blobs_no_row_names_are_orphans() -> None:
    async with pg_schema() as url:
        store = await PostgresStore.open(url)
        try:
            old, fresh = "j1/ref-0-aa", "j2/ref-0-bb"
            await store.files.write([(old, b"old"), (fresh, b"fresh")])
            await store.db.execute(
                "UPDATE blobs SET created_at = ? WHERE name = ?",
                (time.time() - ORPHAN_AGE - 1, old),
            )
            assert await store.files.remove_orphans(set()) == 1
            assert await store.files.read([old, fresh, None]) == [None, b"fresh", None]
        finally:
            await store.close()


async def test_a_dedicated_connection_can_listen() -> None:
    async with pg_schema() as url:
        db = await PgDatabase.open(url)
        try:
            heard: asyncio.Queue[str] = asyncio.Queue()
            async with db.dedicated() as conn:
                await conn.add_listener("jobs", lambda *args: heard.put_nowait(args[-1]))
                await db.execute("SELECT pg_notify('jobs', 'j1')")
                assert await asyncio.wait_for(heard.get(), 5) == "j1"
        finally:
            await db.close()
