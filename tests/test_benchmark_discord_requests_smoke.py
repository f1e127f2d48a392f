"""A tiny run of ``python -m benchmarks.discord_requests`` so the benchmark never rots."""

from __future__ import annotations

from benchmarks import discord_requests


def test_the_discord_requests_benchmark_runs_tiny_and_meets_its_goals(capsys):
    code = discord_requests.main(
        ["--queues", "3,12", "--waiting", "12", "--seconds", "2", "--concurrency", "2"]
    )
    out = capsys.readouterr().out
    assert "Discord requests per job, 12 jobs queued" in out
    assert "status edits per second while 12 jobs wait" in out
    assert code == 0, out
