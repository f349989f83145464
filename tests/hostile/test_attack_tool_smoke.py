"""tools/bench/hostile.py runs: the bad-header attack on gearsim serve alone, its table printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench" / "hostile.py"


def test_the_attack_tool_prints_its_figures() -> None:
    command = [sys.executable, str(TOOL), "--quick", "--servers", "gearsim", "--attacks", "bad-header"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.strip()}
    assert rows["closed_within_1s"] == ["20.0"] and rows["connections"] == ["20.0"]
