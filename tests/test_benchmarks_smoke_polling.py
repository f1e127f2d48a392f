"""The polling benchmark runs (tiny) and still reports every figure, so it never rots."""

from __future__ import annotations

from benchmarks import polling, polling_live


def test_the_polling_benchmark_runs_tiny() -> None:
    rows = polling.main(["--tiny"])
    names = [row[0] for row in rows]
    for spread in ("realistic", "even"):
        for figure in ("delay median", "delay p99", "delay max", "reads per job"):
            assert any(
                name.startswith(spread) and f"after 500 jobs: {figure}" in name for name in names
            )
    assert any("fewest for max ≤ 4 s (hindsight)" in name for name in names)
    for schedule in ("learned per model", "learned per kind"):
        assert any(name.startswith("mixture") and f"{schedule}" in name for name in names)
    assert any("a schedule per kind (hindsight)" in name for name in names)
    for sigma in ("0.15", "0.25", "0.35"):
        assert any(f"within-kind sigma {sigma}, learned per kind" in name for name in names)
    assert any("waiting, budget: reads/s" in name for name in names)
    budget = [row for row in rows if "waiting, budget" in row[0]]
    assert all(row[3] == "yes" for row in budget)  # the budget holds


def test_the_live_polling_benchmark_runs_tiny() -> None:
    """The engine itself on the fake, tasks taking 0.5–4.5 s: both runs find every job."""
    rows = polling_live.main(["--jobs", "4", "--scale", "0.05"])
    names = [row[0] for row in rows]
    for run in ("task list", "one by one (no list)"):
        for figure in ("delay median", "delay max", "requests per job"):
            assert f"4 jobs, {run}: {figure}" in names
