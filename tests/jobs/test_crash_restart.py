"""SIGKILL the bot while provider tasks are pending; the next start delivers each job once."""

from tests.fakes.magnific import FakeMagnific
from tests.jobs.crash import crash_and_restart


async def test_sigkill_while_tasks_pending_delivers_each_job_exactly_once(tmp_path):
    async with FakeMagnific() as fake:
        fake.step_seconds = 0.3
        fake.steps_to_finish = 3
        audit = await crash_and_restart(tmp_path, fake, jobs=6, kill_after=None)
    assert audit.accepted == 6
    assert audit.delivered_once == 6, audit
    assert audit.delivered_twice_or_more == 0
    assert audit.lost == 0
    assert audit.charged_twice == 0
    assert audit.bad_totals == 0
    assert audit.creates == 6  # nothing was submitted twice
