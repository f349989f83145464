"""tools/mutate_client_captures.py: a few client-side mutants of one reference capture, each caught under its rule.

The full run (every operator on every reference capture) is the tool's; this
keeps it working and its figure honest on a small subset.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from capture_helpers import real_captures

TOOL = Path(__file__).resolve().parents[2] / "tools" / "mutate_client_captures.py"


def test_a_small_subset_of_client_mutants_is_detected_under_the_matching_rule() -> None:
    cap = next(c for c in real_captures() if c.path.name == "gearmand.raw.pcap")
    operators = ["fraction", "server-type", "res-magic", "missing-argument", "oversize-handle", "handle-not-held"]
    cmd = [sys.executable, str(TOOL), str(cap.path), "--port", str(cap.port), "--per-operator", "2"]
    for name in operators:
        cmd += ["--operator", name]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    per_operator = {line.split()[0]: line for line in lines[:-1]}
    assert sorted(per_operator) == sorted(operators)
    counts = {name: (int(line.split()[1]), int(line.split()[3])) for name, line in per_operator.items()}
    assert all(1 <= made == caught for made, caught in counts.values()), counts
    made = sum(m for m, _ in counts.values())
    want = f"client-side mutations: {made} mutants, {made} detected with the matching rule (100.0%)"
    assert lines[-1] == want + ", 0 wrong rule, 0 missed"
