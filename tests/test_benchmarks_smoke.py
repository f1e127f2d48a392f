"""The benchmarks run, tiny, in the suite, so none of them rots."""

from __future__ import annotations

from benchmarks import resources, throughput


async def test_resources_benchmark_runs(capsys):
    figures = await resources.main(jobs=30, hold=0.3, edge=600)
    assert figures["startup"] >= 0 and figures["rss"] > 0
    assert "start-up with 30 unfinished jobs" in capsys.readouterr().out


async def test_throughput_benchmark_runs(capsys):
    figures = await throughput.main(jobs=6)
    assert figures["delivered"] == 6 and figures["rate"] > 0
    assert "jobs per second" in capsys.readouterr().out


def test_throughput_benchmark_profiles_the_loop(capsys):
    throughput._profiled(3)
    out = capsys.readouterr().out
    assert "jobs per second" in out and "Duration" in out
