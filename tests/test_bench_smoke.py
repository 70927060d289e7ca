"""The benchmark runs end to end, briefly, and every total it gets is exact."""

from __future__ import annotations

import subprocess
import sys

from bench.processes import PROJECT


def test_bench_smoke_runs_with_exact_totals() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"], cwd=PROJECT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("| wrong totals | 0 |") == 3
    assert result.stdout.count("| errors | 0 |") == 3
    assert "## Reference HTTP backend" in result.stdout
    assert "nan" not in result.stdout
