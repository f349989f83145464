#!/usr/bin/env python3
"""Wall time of the whole client suite (every library case) per driver, against the 60 s target.

usage: python tools/bench/clients.py [--driver NAME|COMMAND ...] [--quick] [VECTORS...]

Plays every library case of vectors/client/ (VECTORS narrows it; ``--quick``
takes the two seed cases) through each reference driver whose library is
installed (or the ``--driver`` commands given), one case after another as
``gearsim run --driver`` does, and prints per driver: the wall time, its
ratio to the 60 s target, its ratio to the toy library of tests/data
(a minimal pure-Python client and worker, measured in the same run: the cost
of gearsim itself), the mean per case and the verdict counts.

This is a tool, not a test. Every driver it starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from gearsim.cli.clients import available_drivers, run_driver_cases
from gearsim.files import select
from gearsim.run.result import CaseResult

TARGET_SECONDS = 60.0
ROOT = Path(__file__).resolve().parents[2]
TOY = f"{{python}} {ROOT / 'tests' / 'data' / 'toy_client' / 'toy_driver.py'}"


def _summary(results: list[CaseResult]) -> str:
    counts = Counter(r.verdict.value for r in results)
    return " ".join(f"{k}={counts[k]}" for k in ("pass", "acceptable", "fail", "inconclusive", "n/a") if counts[k])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vectors", nargs="*", help="vector selectors (default: client)")
    parser.add_argument("--driver", action="append", help="driver to time (repeatable; default: every installed one)")
    parser.add_argument("--quick", action="store_true", help="only the two seed cases")
    args = parser.parse_args(argv)
    specs = args.vectors or (["client/library-client.yaml::seed-*"] if args.quick else ["client"])
    selection = select(specs)
    drivers = args.driver or [name for name, why in available_drivers().items() if not why]
    rows: list[tuple[str, float, int, str]] = []
    for name, command in [("toy", TOY), *((d, d) for d in drivers)]:
        started = time.monotonic()
        results = run_driver_cases(selection, command, profile="gearmand-1.1")
        rows.append((name, time.monotonic() - started, len(results), _summary(results)))
    toy_seconds = rows[0][1]
    print(f"client suite per driver: {rows[0][2]} library cases, one after another, target {TARGET_SECONDS:g} s")
    print(f"{'driver':<8} {'wall s':>8} {'vs target':>10} {'vs toy':>8} {'per case ms':>12}  verdicts")
    worst = 0.0
    for name, seconds, count, verdicts in rows:
        per_case = 1000 * seconds / max(count, 1)
        print(
            f"{name:<8} {seconds:8.1f} {seconds / TARGET_SECONDS:9.2f}x {seconds / toy_seconds:7.2f}x "
            f"{per_case:12.0f}  {verdicts}"
        )
        if name != "toy":
            worst = max(worst, seconds)
    print(f"slowest reference driver: {worst:.1f} s = {worst / TARGET_SECONDS:.2f}x the {TARGET_SECONDS:g} s target")
    return 0 if worst <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
