"""tools/bench/hostile.py runs: the bad-header and slow-header attacks on gearsim serve alone, tables printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench" / "hostile.py"


def test_the_attack_tool_prints_its_figures() -> None:
    command = [sys.executable, str(TOOL), "--quick", "--servers", "gearsim", "--attacks", "bad-header,slow-header"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines() if line.strip()}
    assert rows["closed_within_1s"] == ["20.0"] and rows["connections"] == ["20.0"]
    (closed_after,) = rows["closed_after_s"]  # --quick: serve --message-timeout 1, the tool waits 3 s
    assert closed_after != "never" and float(closed_after) >= 1.0
