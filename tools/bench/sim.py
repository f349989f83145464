#!/usr/bin/env python3
"""Simulator speed: simulated packets per wall-second and virtual/wall time, beside the targets.

usage: python tools/bench/sim.py [--quick] [--repeat R] [--jobs N] [--repeat-b R] [--against REV]

Two runs of ``gearsim.sim.workload.Workload`` on the reference model (gearmand-1.1
profile), each timed from building the workload to the end of ``run()``
(results and packet counting are outside the timing; garbage collector off
while timing; best of R repetitions for (a), of --repeat-b for (b)). Each
packets/s figure is printed twice: per wall second (``perf_counter``) and per
CPU second of this process (``process_time``), since a shared machine's load
lowers the first but not the second:

* (a) status: scenarios/status.yaml, the PHP manual's doBackground example:
      SUBMIT_JOB_BG reverse "this is a test", a worker sending WORK_STATUS i/14
      once a second, a client polling GET_STATUS every 3 s until the job is
      unknown: about 15 s of protocol time. Against real peers the same
      exchange takes its protocol time in wall time, so virtual/wall is also
      the speed-up over running it for real.
* (b) 100k: scenarios/bench-100k.yaml, 100,000 background jobs from 10
      clients with 50 workers (--quick: 2,000 jobs; --jobs N: N jobs). The
      scenario sets trace_deliveries: false, so its trace holds the send
      records (and events) but no per-piece deliver records; the output says so.

A packet is one message written by either end (a ``send`` trace record).
Targets: >= 100,000 simulated packets/s; (a) in <= 20 ms wall. Each figure is
printed beside its target with a ratio where >= 1.0x meets the target.

With ``--against REV`` (a commit, tag or branch) the same bench of revision
REV runs in the same invocation (tools/bench/against.py: a temporary worktree,
REV's own tools/bench/sim.py, REV's gearsim), and every figure is printed
beside REV's with the ratio (>= 1.00x: this revision is better); both runs
also print the SHA-256 of the traces of (a) and (b), which must be equal when
the simulator's behaviour did not change. For example, the issue-11 target
(packets/CPU-s on (b) at least 3x the pre-redesign revision)::

    python tools/bench/sim.py --against fc1dd99

This is a tool, not a test; tests/unit/test_bench_sim_smoke.py runs it --quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from against import AgainstError, checkout, forwarded, heading, number, ratio, run_bench  # noqa: E402

from gearsim.cli.simulate import load_scenario  # noqa: E402
from gearsim.sim.scenario import Scenario  # noqa: E402
from gearsim.sim.workload import Results, Workload  # noqa: E402

TARGET_PACKETS_PER_S = 100_000
TARGET_STATUS_WALL_MS = 20.0


def timed(scenario: Scenario, repeat: int) -> tuple[float, float, Results, str]:
    """Best wall seconds and best CPU seconds over ``repeat`` runs, the results of the last and its trace's SHA-256.

    CPU seconds come from ``time.process_time()``: on a shared, loaded machine
    they show what the run costs when other processes steal the wall clock.
    """
    best = best_cpu = float("inf")
    results: Results | None = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            start_cpu = time.process_time()
            wl = Workload(scenario)
            wl.run()
            cpu = time.process_time() - start_cpu
            wall = time.perf_counter() - start
        finally:
            gc.enable()
        best = min(best, wall)
        best_cpu = min(best_cpu, cpu)
        results = wl.results()
    assert results is not None
    return best, best_cpu, results, wl.sim.trace.sha256()


def with_jobs(scenario: Scenario, jobs: int) -> Scenario:
    """The scenario with ``jobs`` submissions in all, spread over its client instances."""
    instances = sum(c.count for c in scenario.clients)
    per = max(1, jobs // instances)
    return dataclasses.replace(scenario, clients=tuple(dataclasses.replace(c, jobs=per) for c in scenario.clients))


def row(figure: str, measured: str, target: str, ratio: float) -> str:
    return f"{figure:<34}  {measured:>16}  {target:>14}  {ratio:>8.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small (b) and few repetitions (for CI smoke tests)")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions of (a), best taken (default 20, quick 3)")
    parser.add_argument("--jobs", type=int, default=None, help="jobs in (b) (default 100,000, quick 2,000)")
    parser.add_argument("--repeat-b", type=int, default=1, help="runs of (b), best taken (default 1)")
    parser.add_argument("--against", metavar="REV", help="also run REV's own bench and print each figure beside it")
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 20)
    repeat_b = max(1, args.repeat_b)
    jobs = args.jobs or (2_000 if args.quick else 100_000)

    status = load_scenario("status")
    wall_a, cpu_a, res_a, sha_a = timed(status, repeat)
    big = with_jobs(load_scenario("bench-100k"), jobs)
    wall_b, cpu_b, res_b, sha_b = timed(big, repeat_b)

    submitted_b = res_b.totals().submitted
    workers_b = sum(w.count for w in big.workers)
    runs_b = "1 run" if repeat_b == 1 else f"best of {repeat_b}"
    print(f"gearsim simulator benchmark (Python {sys.version.split()[0]}; best of {repeat} for (a), {runs_b} for (b))")
    print(f"{'figure':<34}  {'measured':>16}  {'target':>14}  {'ratio':>9}")
    table: list[str] = []

    def emit(line: str) -> None:
        table.append(line)
        print(line)

    pps_a = res_a.packets / wall_a
    pps_b = res_b.packets / wall_b
    cpu_pps_a = res_a.packets / cpu_a if cpu_a > 0 else float("inf")
    cpu_pps_b = res_b.packets / cpu_b if cpu_b > 0 else float("inf")
    emit(
        row(
            "(a) status: wall",
            f"{wall_a * 1000:.2f} ms",
            f"<= {TARGET_STATUS_WALL_MS:.0f} ms",
            TARGET_STATUS_WALL_MS / (wall_a * 1000),
        )
    )
    emit(row("(a) status: packets/s", f"{pps_a:,.0f}", f">= {TARGET_PACKETS_PER_S:,}", pps_a / TARGET_PACKETS_PER_S))
    emit(
        row(
            "(a) status: packets/CPU-s",
            f"{cpu_pps_a:,.0f}",
            f">= {TARGET_PACKETS_PER_S:,}",
            cpu_pps_a / TARGET_PACKETS_PER_S,
        )
    )
    emit(
        row(
            "(a) status: virtual/wall",
            f"{res_a.virtual / 1000:.3f} s",
            f"real {res_a.virtual / 1000:.0f} s",
            res_a.virtual / 1000 / wall_a,
        )
    )
    emit(
        row(
            f"(b) {submitted_b:,} jobs: packets/s",
            f"{pps_b:,.0f}",
            f">= {TARGET_PACKETS_PER_S:,}",
            pps_b / TARGET_PACKETS_PER_S,
        )
    )
    emit(
        row(
            f"(b) {submitted_b:,} jobs: packets/CPU-s",
            f"{cpu_pps_b:,.0f}",
            f">= {TARGET_PACKETS_PER_S:,}",
            cpu_pps_b / TARGET_PACKETS_PER_S,
        )
    )
    emit(
        row(
            f"(b) {submitted_b:,} jobs: virtual/wall",
            f"{res_b.virtual / 1000:.3f} s",
            f"wall {wall_b:.2f} s",
            res_b.virtual / 1000 / wall_b,
        )
    )
    print(
        f"(a) {res_a.packets} packets, {res_a.virtual} ms virtual; the same exchange against real peers takes "
        f"{res_a.virtual / 1000:.1f} s of wall time, {res_a.virtual / 1000 / wall_a:,.0f}x the simulated run"
    )
    print(
        f"(b) {res_b.packets:,} packets, {workers_b} workers, {res_b.virtual} ms virtual, "
        f"{res_b.totals().completed:,} completed, settled: {res_b.settled}; "
        f"trace_deliveries={big.trace_deliveries} (the scenario's setting: "
        f"{'deliver records kept' if big.trace_deliveries else 'no deliver records, send records only'})"
    )
    print(
        "packets/s: packets per wall second (perf_counter); packets/CPU-s: per second of this process's CPU "
        "(process_time), which a loaded machine does not inflate"
    )
    print("ratio: measured/target for >= targets, target/measured for <= targets; >= 1.00x meets the target")
    print(f"trace sha256: (a) {sha_a}  (b) {sha_b}")
    if args.against is None:
        return 0
    passed = forwarded(argv if argv is not None else sys.argv[1:], args.against)
    try:
        ours = _figures(table)
        theirs, their_shas = _run_against(args.against, passed, jobs)
    except AgainstError as exc:
        print(f"sim.py: --against {args.against}: {exc}", file=sys.stderr)
        return 3
    print()
    print(heading(args.against, "tools/bench/sim.py"))
    print(f"{'figure':<34}  {'this revision':>16}  {args.against[:16]:>16}  {'ratio':>9}")
    for figure, (text, higher) in ours.items():
        if figure not in theirs:
            print(f"{figure:<34}  {text:>16}  {'(not printed)':>16}")
            continue
        their_text = theirs[figure]
        better = ratio(number(text), number(their_text), higher_is_better=higher)
        print(f"{figure:<34}  {text:>16}  {their_text:>16}  {better:>8.2f}x")
    same = their_shas == (sha_a, sha_b)
    print(f"traces of (a) and (b): {'identical' if same else 'DIFFERENT'} to {args.against}'s")
    print("ratio: how many times better this revision is (higher packets/s, lower wall ms); >= 1.00x: better")
    return 0


#: the figures compared with --against: figure -> higher is better
_COMPARED = re.compile(r"^(\([ab]\) .*?: (?:wall|packets/s|packets/CPU-s))\s{2,}(\S.*?)\s{2,}")


def _figures(lines: list[str]) -> dict[str, tuple[str, bool]]:
    """The compared figures of a printed table: figure -> (measured text, higher is better)."""
    found: dict[str, tuple[str, bool]] = {}
    for line in lines:
        match = _COMPARED.match(line)
        if match:
            found[match[1]] = (match[2], not match[1].endswith("wall"))
    return found


_TRACE_DIGESTS = """
import dataclasses, sys
try:
    from gearsim.cli.simulate import load_scenario
except ImportError:
    from gearsim.cli_simulate import load_scenario
try:
    from gearsim.sim.workload import Workload
except ImportError:
    from gearsim.workload import Workload
jobs = int(sys.argv[1])
status = load_scenario("status")
big = load_scenario("bench-100k")
per = max(1, jobs // sum(c.count for c in big.clients))
big = dataclasses.replace(big, clients=tuple(dataclasses.replace(c, jobs=per) for c in big.clients))
for scenario in (status, big):
    wl = Workload(scenario)
    wl.run()
    print(wl.sim.trace.sha256())
"""


def _run_against(rev: str, args: list[str], jobs: int) -> tuple[dict[str, str], tuple[str, str]]:
    """REV's figures (figure -> measured text) and the SHA-256 of its traces of (a) and (b).

    Raises:
        AgainstError: REV cannot be checked out, or its bench fails.
    """
    with checkout(rev) as tree:
        out = run_bench(tree, "tools/bench/sim.py", args)
        digests = subprocess.run(
            [sys.executable, "-c", _TRACE_DIGESTS, str(jobs)],
            cwd=tree,
            env=dict(os.environ, PYTHONPATH=str(tree)),
            capture_output=True,
            text=True,
        )
    figures = {name: text for name, (text, _) in _figures(out.splitlines()).items()}
    if not figures:
        raise AgainstError("its output has no figures this bench can read")
    shas = digests.stdout.split()
    return figures, (shas[0], shas[1]) if len(shas) == 2 else ("?", "?")


if __name__ == "__main__":
    sys.exit(main())
