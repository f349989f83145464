"""Long commands draw progress only on a terminal: piped, stderr stays empty and stdout unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests" / "data" / "gearmand.raw.pcap"
PORT = str(
    next(
        c["port"]
        for c in yaml.safe_load((ROOT / "tests" / "data" / "captures.yaml").read_text())["captures"]
        if c["file"] == CAPTURE.name
    )
)


def _gearsim(*args: str, progress: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GEARSIM_PROGRESS"}
    if progress is not None:
        env["GEARSIM_PROGRESS"] = progress
    return subprocess.run(
        [sys.executable, "-m", "gearsim", *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ("simulate", "status"),
        ("decode", str(CAPTURE), "--port", PORT),
        ("jobs", str(CAPTURE), "--port", PORT),
        ("run", "server/seed.yaml"),
    ],
    ids=["simulate", "decode", "jobs", "run"],
)
def test_piped_output_has_no_progress(args: tuple[str, ...]) -> None:
    quiet = _gearsim(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout  # the command did its work
    assert quiet.stderr == ""
    forced = _gearsim(*args, progress="1")
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr != ""  # the same command does draw a bar when told it may
    if args[0] != "simulate":  # simulate prints its wall time, which differs run to run
        assert forced.stdout == quiet.stdout  # the bar never touches standard output
