"""The takeover benchmark runs, tiny, in the suite (on PostgreSQL; skipped, saying so,
without it)."""

from __future__ import annotations

from benchmarks import takeover


async def test_takeover_benchmark_runs(capsys):
    figures = await takeover.main(jobs=6, lease=1.0)
    out = capsys.readouterr().out
    assert figures["settled"] == 6 and figures["twice"] == 0, out  # names each job not settled
    assert "death to the last of its held jobs ended" in out
