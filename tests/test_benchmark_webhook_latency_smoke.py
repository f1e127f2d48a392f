"""A tiny run of ``python -m benchmarks.webhook_latency`` so the benchmark never rots."""

from __future__ import annotations

from benchmarks import webhook_latency


async def test_the_webhook_latency_benchmark_runs_tiny(capsys):
    result = await webhook_latency.run(jobs=3, runs=1, step=0.3)
    out = capsys.readouterr().out
    assert "added latency p50, 3 jobs at once, 1K" in out
    assert "stored as succeeded → posted" in out
    assert len(result["added"]) == 3 and all(0 < s < 5 for s in result["added"])
