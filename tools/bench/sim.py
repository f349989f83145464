#!/usr/bin/env python3
"""Simulator speed: simulated packets per wall-second and virtual/wall time, beside the targets.

usage: python tools/bench/sim.py [--quick] [--repeat R] [--jobs N] [--repeat-b R]

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

from gearsim.cli.simulate import load_scenario  # noqa: E402
from gearsim.sim.scenario import Scenario  # noqa: E402
from gearsim.sim.workload import Results, Workload  # noqa: E402

TARGET_PACKETS_PER_S = 100_000
TARGET_STATUS_WALL_MS = 20.0


def timed(scenario: Scenario, repeat: int) -> tuple[float, float, Results]:
    """Best wall seconds and best CPU seconds over ``repeat`` runs, and the results of the last.

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
    return best, best_cpu, results


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
    args = parser.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 20)
    repeat_b = max(1, args.repeat_b)
    jobs = args.jobs or (2_000 if args.quick else 100_000)

    status = load_scenario("status")
    wall_a, cpu_a, res_a = timed(status, repeat)
    big = with_jobs(load_scenario("bench-100k"), jobs)
    wall_b, cpu_b, res_b = timed(big, repeat_b)

    submitted_b = res_b.totals().submitted
    workers_b = sum(w.count for w in big.workers)
    runs_b = "1 run" if repeat_b == 1 else f"best of {repeat_b}"
    print(f"gearsim simulator benchmark (Python {sys.version.split()[0]}; best of {repeat} for (a), {runs_b} for (b))")
    print(f"{'figure':<34}  {'measured':>16}  {'target':>14}  {'ratio':>9}")
    pps_a = res_a.packets / wall_a
    pps_b = res_b.packets / wall_b
    cpu_pps_a = res_a.packets / cpu_a if cpu_a > 0 else float("inf")
    cpu_pps_b = res_b.packets / cpu_b if cpu_b > 0 else float("inf")
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
            "(a) status: packets/CPU-s",
            f"{cpu_pps_a:,.0f}",
            f">= {TARGET_PACKETS_PER_S:,}",
            cpu_pps_a / TARGET_PACKETS_PER_S,
        )
    )
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
            f"(b) {submitted_b:,} jobs: packets/CPU-s",
            f"{cpu_pps_b:,.0f}",
            f">= {TARGET_PACKETS_PER_S:,}",
            cpu_pps_b / TARGET_PACKETS_PER_S,
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
        f"{res_b.totals().completed:,} completed, settled: {res_b.settled}; "
        f"trace_deliveries={big.trace_deliveries} (the scenario's setting: "
        f"{'deliver records kept' if big.trace_deliveries else 'no deliver records, send records only'})"
    )
    print(
        "packets/s: packets per wall second (perf_counter); packets/CPU-s: per second of this process's CPU "
        "(process_time), which a loaded machine does not inflate"
    )
    print("ratio: measured/target for >= targets, target/measured for <= targets; >= 1.00x meets the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
