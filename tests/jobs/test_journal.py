"""The job log: one parseable JSON line per status a job takes, with its fields and timings."""

from __future__ import annotations

import json
import logging

from bot.jobs.states import JobStatus
from providers.local import LocalProvider, LocalSettings
from tests.jobs.harness import make_harness, spec
from tests.logcapture import captured_logs

FIELDS = {"job_id", "provider", "model", "from", "to", "queued_s", "at_provider_s", "total_s"}


def transitions(text: str, job_id: str) -> list[dict[str, object]]:
    records = [json.loads(line) for line in text.splitlines()]
    return [r for r in records if r.get("event") == "job_transition" and r["job_id"] == job_id]


async def test_each_transition_is_one_json_line_with_its_timings(tmp_path):
    with captured_logs("json", logging.INFO) as stream:
        h = await make_harness(tmp_path, {"local": LocalProvider(LocalSettings.from_values())})
        try:
            job = await h.engine.accept(spec())
            assert (await h.engine.wait(job.id, 10)).status is JobStatus.DELIVERED
        finally:
            await h.close()
    lines = transitions(stream.getvalue(), job.id)
    assert [(r["from"], r["to"]) for r in lines] == [
        (None, "queued"),
        ("queued", "submitting"),
        ("submitting", "succeeded"),
        ("succeeded", "delivered"),
    ]
    for record in lines:
        assert set(record) >= FIELDS
        assert (record["provider"], record["model"], record["level"]) == ("local", "local", "INFO")
        assert record["logger"] == "bot.jobs.journal"
        assert 0 <= record["queued_s"] <= record["total_s"] < 10  # type: ignore[operator]
    assert lines[0]["at_provider_s"] is None  # not sent yet
    delivered = lines[-1]
    assert 0 <= delivered["at_provider_s"] <= delivered["total_s"]  # type: ignore[operator]
    assert "failure_kind" not in delivered


async def test_a_cancelled_job_logs_its_cancellation(tmp_path):
    with captured_logs("json", logging.INFO) as stream:
        h = await make_harness(
            tmp_path, {"local": LocalProvider(LocalSettings.from_values())}, start=False
        )
        try:
            job = await h.engine.accept(spec())
            assert await h.engine.cancel(job.id)
        finally:
            await h.close()
    last = transitions(stream.getvalue(), job.id)[-1]
    assert (last["from"], last["to"], last["failure_kind"]) == ("queued", "cancelled", "cancelled")
    assert last["at_provider_s"] is None
    assert "job " + job.id + " queued -> cancelled" in str(last["message"])
