"""tools/bench/pcap.py still runs: a --quick run exits 0 and prints its ratio lines.

The benchmark is a tool, not a test; this only keeps it from rotting.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from capture_helpers import require_tool

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench" / "pcap.py"


def test_pcap_bench_quick_runs() -> None:
    require_tool("tshark")
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "fast vs tshark:" in result.stdout and "layers vs plain scapy+TCPSession:" in result.stdout
    counts = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()[1:6]}
    assert len(set(counts.values())) == 1, f"the decoders disagree on the message count: {counts}"
