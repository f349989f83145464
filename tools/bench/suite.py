#!/usr/bin/env python3
"""Wall time of the whole vector suite against a live real server (default: C gearmand).

usage: python tools/bench/suite.py [--peer NAME] [--jobs N] [--policies] [VECTORS...]

Runs every bundled vector that judges a server (areas codec, server, worker,
admin; VECTORS narrows it) against ``--peer`` under its matching profile, each
case on a freshly started server (gearsim.io.managed, reused only after
stateless cases), ``--jobs`` servers at once, and prints the wall time against
the 30 s target, the verdict counts and how many servers were started.

``--policies`` also measures the three ways of giving cases a server, and
prints which cases get another verdict than with a fresh server per case:

* shared  one long-lived server for all cases, in order (what ``--server HOST:PORT`` does);
* fresh   a new server for every case (and every codec reaction alternative);
* reuse   a new server unless every case since its start was stateless (the default).

This is a tool, not a test. It starts peers on 127.0.0.1 and stops each by its PID.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from gearsim.files import select
from gearsim.io.managed import PEER_PROFILES, ManagedPeerFactory, UserServerFactory, run_cases
from gearsim.io.peers import PEERS, peer_available, start_peer, stop_peer
from gearsim.run.batch import REAL_SERVER_AREAS, CaseRef, selected_cases
from gearsim.run.runner import CaseResult

TARGET_SECONDS = 30.0


def _summary(results: list[CaseResult]) -> str:
    counts = Counter(r.verdict.value for r in results)
    return " ".join(f"{k}={counts[k]}" for k in ("pass", "acceptable", "fail", "inconclusive", "n/a") if counts[k])


def _managed(peer: str, refs: list[CaseRef], jobs: int, reuse: bool, tmp: Path) -> tuple[list[CaseResult], int, float]:
    factories: list[ManagedPeerFactory] = []

    def make(i: int) -> ManagedPeerFactory:
        f = ManagedPeerFactory(peer, tmp / f"{peer}-{'reuse' if reuse else 'fresh'}-{jobs}-{i}", reuse=reuse)
        factories.append(f)
        return f

    t0 = time.monotonic()
    results = run_cases(refs, make, PEER_PROFILES[peer], jobs=jobs)
    return results, sum(f.starts for f in factories), time.monotonic() - t0


def _shared(peer: str, refs: list[CaseRef], tmp: Path) -> tuple[list[CaseResult], int, float]:
    running = start_peer(peer, tmp / f"{peer}-shared")
    try:
        user = UserServerFactory(running.host, running.port)
        t0 = time.monotonic()
        results = run_cases(refs, lambda _i: user, PEER_PROFILES[peer], jobs=1, skip_virtual=True)
        return results, 1, time.monotonic() - t0
    finally:
        stop_peer(running)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("vectors", nargs="*", help="selectors (default: every server-judging vector)")
    parser.add_argument("--peer", default="gearmand-c", choices=sorted(PEERS))
    parser.add_argument("--jobs", type=int, default=8, help="servers at once (default 8)")
    parser.add_argument("--policies", action="store_true", help="also time shared / fresh / reuse and diff verdicts")
    args = parser.parse_args(argv)
    missing = peer_available(args.peer)
    if missing is not None:
        print(f"suite.py: {args.peer}: {missing}", file=sys.stderr)
        return 2
    selection = select(args.vectors or [f"{a}/*" for a in REAL_SERVER_AREAS])
    refs = [(vf, c) for vf, c in selected_cases(selection.files, selection.chosen) if vf.area in REAL_SERVER_AREAS]
    with tempfile.TemporaryDirectory(prefix="gearsim-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results, starts, wall = _managed(args.peer, refs, args.jobs, True, tmp)
        verdict = "within" if wall < TARGET_SECONDS else "OVER"
        print(f"suite: {len(refs)} cases against {args.peer} ({PEER_PROFILES[args.peer]}), jobs {args.jobs}")
        print(f"wall time: {wall:.1f} s ({verdict} the {TARGET_SECONDS:.0f} s target); {starts} server starts")
        print(f"verdicts: {_summary(results)}")
        if not args.policies:
            return 0
        base = {r.id: r.verdict for r in results}
        runs = {
            "shared": _shared(args.peer, refs, tmp),
            "fresh, 1 at a time": _managed(args.peer, refs, 1, False, tmp),
            "reuse, 1 at a time": _managed(args.peer, refs, 1, True, tmp),
            f"fresh, {args.jobs} at once": _managed(args.peer, refs, args.jobs, False, tmp),
        }
        print(f"{'policy':<22}{'wall s':>8}{'starts':>8}  verdicts; cases whose verdict differs from reuse/{args.jobs}")
        print(f"{f'reuse, {args.jobs} at once':<22}{wall:>8.1f}{starts:>8}  {_summary(results)}")
        for name, (res, n, secs) in runs.items():
            diff = []
            for r in res:
                before = base.get(r.id)
                if before is not r.verdict:
                    diff.append(f"{r.id}: {before.value if before is not None else '-'} -> {r.verdict.value}")
            print(f"{name:<22}{secs:>8.1f}{n:>8}  {_summary(res)}; {len(diff)} differ")
            for line in diff[:40]:
                print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
