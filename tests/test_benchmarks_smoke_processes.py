"""The processes benchmark runs, tiny, in the suite: one process on SQLite, one and two on
PostgreSQL (skipped, saying so, without PostgreSQL; failed when it is required)."""

from __future__ import annotations

from benchmarks import processes


async def test_processes_benchmark_runs(capsys):
    rows = await processes.main(jobs=20, counts=(1, 2), concurrency=8)
    assert [(row.name, row.processes) for row in rows] == [
        ("SQLite", 1),
        ("PostgreSQL", 1),
        ("PostgreSQL", 2),
    ]
    assert all(row.delivered == 20 and row.twice == 0 and row.rate > 0 for row in rows)
    out = capsys.readouterr().out
    assert "jobs per second" in out and "cores" in out
