"""The PostgreSQL the tests use: ``BANANABOT_TEST_DATABASE_URL`` (default the local server's
``test`` database). Each user of :func:`pg_schema` gets a schema of its own with a random
name, dropped after, so test runs sharing the server never see each other's rows. When the
server cannot be reached the PostgreSQL tests are skipped, saying so (failed instead when
``BANANABOT_REQUIRE_POSTGRES`` is set, as ``.ci/run`` does)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from bot.storage.postgres.db import shown

PG_URL = os.environ.get("BANANABOT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: set (CI): an unreachable server fails the PostgreSQL tests instead of skipping them
REQUIRED = bool(os.environ.get("BANANABOT_REQUIRE_POSTGRES"))
_unreachable: list[str] = []  # the reason, once known


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (BANANABOT_REQUIRE_POSTGRES is set)", pytrace=False)
    pytest.skip(reason)


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` (asyncpg passes unknown query parameters on
    as server settings)."""
    return f"{url}{'&' if '?' in url else '?'}search_path={schema}"


@asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A fresh, empty schema; yields a URL that uses it. Skips the test when PostgreSQL at
    :data:`PG_URL` cannot be reached."""
    if _unreachable:
        _unavailable(_unreachable[0])
    schema = f"bb_test_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        _unreachable.append(
            f"PostgreSQL at {shown(PG_URL)} is not reachable ({type(exc).__name__}: {exc}); "
            "PostgreSQL tests skipped (set BANANABOT_TEST_DATABASE_URL)"
        )
        _unavailable(_unreachable[0])
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield with_search_path(PG_URL, schema)
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await admin.close()
