"""The real bot with ``DATABASE_URL``: a loopback fake Discord, the store a PostgreSQL schema
of its own (the SQLite path is never created)."""

from __future__ import annotations

from pydantic import SecretStr

from bot.jobs.states import JobStatus
from bot.storage.postgres.store import PostgresStore
from tests.discord.bot_harness import imagine, job_id_of, result_of, running_bot, settings_for
from tests.fakes.discord import FakeDiscord
from tests.pg import pg_schema


async def test_imagine_delivers_with_the_store_in_postgresql(tmp_path):
    async with pg_schema() as url, FakeDiscord() as fake:
        settings = settings_for(fake, tmp_path, database_url=SecretStr(url))
        async with running_bot(fake, settings) as runtime:
            assert isinstance(runtime.store, PostgresStore)
            user = fake.add_user("alice")
            result = await result_of(fake, await imagine(fake, user))
            job = await runtime.engine.wait(job_id_of(result), 10.0)
            assert job.status is JobStatus.DELIVERED
            assert (await runtime.engine.quota(user.id)).spent == job.cost
        assert not (tmp_path / "bot.db").exists()  # BANANABOT_DB is ignored
