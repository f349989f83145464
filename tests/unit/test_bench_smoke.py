"""tools/bench/codec.py still runs: a tiny --quick run exits 0 and prints its ratios.

The benchmark is a tool, not a test; this only keeps it from rotting.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench" / "codec.py"


def test_bench_quick_runs_and_prints_ratio_rows() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--messages", "200", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split("  ")[0].strip(): line for line in result.stdout.splitlines()}
    for figure in ("decode packets/s", "decode MB/s", "encode packets/s", "encode MB/s"):
        assert figure in rows, result.stdout
        assert rows[figure].count("x") >= 2 and ">=1.0x" in rows[figure] and ">=0.7x" in rows[figure]
    assert "gear measured:" in result.stdout
    assert ("validate packets/s" in rows) or ("validate: skipped" in result.stdout)
