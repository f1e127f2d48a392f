"""A tiny run of ``python -m benchmarks.reference_memory`` so the benchmark never rots."""

from __future__ import annotations

import pytest

from benchmarks import reference_memory


@pytest.mark.timeout(120)
async def test_the_reference_memory_benchmark_runs_tiny(capsys):
    code = await reference_memory.main(4)
    out = capsys.readouterr().out
    assert code in (0, 1), out  # 2: the run itself failed
    assert "4 delivered" in out
    assert "bot's peak resident memory, 4 × /imagine with a reference" in out
