#!/usr/bin/env python3
"""Are the verdicts stable under load? The whole bundled suite, N times, against a real peer, both cores busy.

usage: python tools/stability.py [--runs 10] [--peer gearmand-c] [--burners N] [--keep DIR] [-- RUN-ARGS...]

Runs ``gearsim run --peer PEER --format json`` (every bundled vector, the
peer's own profile, gearsim's default ``--jobs``) ``--runs`` times, one after
the other, while ``--burners`` other processes (default: one per core) spin
the CPUs, so each run meets the scheduling a loaded CI machine gives it. Each
run's verdict set (FILE::CASE -> verdict) is printed as its counts and a
digest; at the end every case whose verdict was not the same in all runs is
listed with the verdict of each run, and the exit status is 0 when all runs
gave the identical set, 1 when they did not, 3 when a run could not be made
(its exit status was 3 or 4, or its report is missing).

This is a tool, not a test (ten runs take minutes). The burners and the
servers are stopped by their PIDs; nothing is started outside 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

#: the verdicts in the order a summary lists them
ORDER = ("pass", "acceptable", "known-defect", "fail", "inconclusive", "n/a")
#: a process that only spins a core
BURNER = "import signal, sys\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\nwhile True:\n    pass\n"


@contextlib.contextmanager
def burning(count: int) -> Iterator[list[int]]:
    """``count`` processes spinning a core each, for the duration of the block; yields their PIDs."""
    procs = [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(count)]
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def one_run(peer: str, out: Path, extra: Sequence[str]) -> tuple[dict[str, str], float]:
    """One ``gearsim run`` of the bundled suite; returns FILE::CASE -> verdict and the seconds it took.

    Raises:
        SystemExit: the run was a harness error or a bug (exit 3 or 4), or wrote no report.
    """
    argv = [sys.executable, "-m", "gearsim", "run", "--peer", peer, "--format", "json", "--out", str(out), *extra]
    started = time.monotonic()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = child.communicate()
    except BaseException:
        # stopped (SIGTERM, ^C): let gearsim stop the servers it started, by their PIDs, before we go
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
    spent = time.monotonic() - started
    if child.returncode >= 3 or not out.exists():
        tail = (stderr or stdout).strip().splitlines()[-3:]
        print(f"stability: run failed (exit {child.returncode}): {' | '.join(tail)}", file=sys.stderr)
        raise SystemExit(3)
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    return {r["id"]: r["verdict"] for r in results}, spent


def digest(verdicts: dict[str, str]) -> str:
    """A short fingerprint of a verdict set: equal sets, equal digests."""
    text = "\n".join(f"{k}\t{v}" for k, v in sorted(verdicts.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def counts(verdicts: dict[str, str]) -> str:
    seen = Counter(verdicts.values())
    return " ".join(f"{k}={seen[k]}" for k in ORDER if seen[k])


def differences(runs: Sequence[dict[str, str]]) -> list[str]:
    """One line per case whose verdict was not the same in every run: the verdict of each run, in order."""
    ids = sorted(set().union(*runs))
    lines = []
    for case in ids:
        seen = [run.get(case, "(missing)") for run in runs]
        if len(set(seen)) > 1:
            lines.append(f"  {case}: {' '.join(seen)}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--peer", default="gearmand-c")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="busy processes (default: cores)")
    parser.add_argument("--keep", metavar="DIR", help="keep each run's JSON report in DIR")
    parser.add_argument("extra", nargs="*", help="more arguments for gearsim run (after --)")
    args = parser.parse_args(argv)
    # a plain `kill PID` stops the burners and the run in progress too (finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    runs: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="gearsim-stability-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"stability: {args.runs} runs of the bundled suite against --peer {args.peer}, {args.burners} burners")
        with burning(args.burners) as pids:
            print(f"  burners: PIDs {' '.join(map(str, pids))}")
            for n in range(1, args.runs + 1):
                verdicts, spent = one_run(args.peer, folder / f"run-{n:02d}.json", args.extra)
                runs.append(verdicts)
                print(f"  run {n:2d}: {spent:5.1f} s  {digest(verdicts)}  {counts(verdicts)}", flush=True)
    changed = differences(runs)
    if not changed:
        print(f"stability: identical verdicts in all {len(runs)} runs ({digest(runs[0])}: {counts(runs[0])})")
        return 0
    print(f"stability: {len(changed)} cases changed verdict across {len(runs)} runs (verdict of each run):")
    print("\n".join(changed))
    return 1


if __name__ == "__main__":
    sys.exit(main())
