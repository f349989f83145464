#!/usr/bin/env python3
"""Simulator speed: simulated packets per wall-second and virtual/wall time, beside the targets.

usage: python tools/bench/sim.py [--quick] [--repeat R] [--jobs N]

Two runs of ``gearsim.workload.Workload`` on the reference model (gearmand-1.1
profile), each timed from building the workload to the end of ``run()``
(results and packet counting are outside the timing; garbage collector off
while timing; best of R repetitions):

* (a) status: scenarios/status.yaml, the PHP manual's doBackground example:
      SUBMIT_JOB_BG reverse "this is a test", a worker sending WORK_STATUS i/14
      once a second, a client polling GET_STATUS every 3 s until the job is
      unknown: about 15 s of protocol time. Against real peers the same
      exchange takes its protocol time in wall time, so virtual/wall is also
      the speed-up over running it for real.
* (b) 100k: scenarios/bench-100k.yaml, 100,000 background jobs from 10
      clients with 50 workers (--quick: 2,000 jobs; --jobs N: N jobs).

A packet is one message written by either end (a ``send`` trace record).
Targets: >= 100,000 simulated packets/s; (a) in <= 20 ms wall. Each figure is
printed beside its target with a ratio where >= 1.0x meets the target.

This is a tool, not a test; tests/unit/test_bench_sim_smoke.py runs it --quick.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gearsim.cli_simulate import load_scenario  # noqa: E402
from gearsim.scenario import Scenario  # noqa: E402
from gearsim.workload import Results, Workload  # noqa: E402

TARGET_PACKETS_PER_S = 100_000
TARGET_STATUS_WALL_MS = 20.0


def timed(scenario: Scenario, repeat: int) -> tuple[float, Results]:
    """Best wall seconds over ``repeat`` runs, and the results of the last."""
    best = float("inf")
    results: Results | None = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            wl = Workload(scenario)
            wl.run()
            wall = time.perf_counter() - start
        finally:
            gc.enable()
        best = min(best, wall)
        results = wl.results()
    assert results is not None
    return best, results


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
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 20)
    jobs = args.jobs or (2_000 if args.quick else 100_000)

    status = load_scenario("status")
    wall_a, res_a = timed(status, repeat)
    big = with_jobs(load_scenario("bench-100k"), jobs)
    wall_b, res_b = timed(big, 1)

    submitted_b = res_b.totals().submitted
    workers_b = sum(w.count for w in big.workers)
    print(f"gearsim simulator benchmark (Python {sys.version.split()[0]}; best of {repeat} for (a), 1 run for (b))")
    print(f"{'figure':<34}  {'measured':>16}  {'target':>14}  {'ratio':>9}")
    pps_a = res_a.packets / wall_a
    pps_b = res_b.packets / wall_b
    print(
        row(
            "(a) status: wall",
            f"{wall_a * 1000:.2f} ms",
            f"<= {TARGET_STATUS_WALL_MS:.0f} ms",
            TARGET_STATUS_WALL_MS / (wall_a * 1000),
        )
    )
    print(row("(a) status: packets/s", f"{pps_a:,.0f}", f">= {TARGET_PACKETS_PER_S:,}", pps_a / TARGET_PACKETS_PER_S))
    print(
        row(
            "(a) status: virtual/wall",
            f"{res_a.virtual / 1000:.3f} s",
            f"real {res_a.virtual / 1000:.0f} s",
            res_a.virtual / 1000 / wall_a,
        )
    )
    print(
        row(
            f"(b) {submitted_b:,} jobs: packets/s",
            f"{pps_b:,.0f}",
            f">= {TARGET_PACKETS_PER_S:,}",
            pps_b / TARGET_PACKETS_PER_S,
        )
    )
    print(
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
        f"{res_b.totals().completed:,} completed, settled: {res_b.settled}"
    )
    print("ratio: measured/target for >= targets, target/measured for <= targets; >= 1.00x meets the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
