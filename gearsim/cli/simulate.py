"""``gearsim simulate SCENARIO``: run a workload scenario and print what became of the jobs.

Glue (files, terminal, exit codes). This module owns the ``simulate``
subcommand: finding the scenario (a path, or a bundled name such as
``status`` looked up in ``gearsim.files.data_dir("scenarios")``), loading
it with the bundled schema, running ``gearsim.sim.workload.Workload``, printing the
summary (``format_summary``) and writing ``--trace FILE`` (the canonical trace
text). Progress lines go to stderr only when stdout is a terminal, so a piped
run prints nothing but the summary. Exit codes: 0 ran; 3 bad input, as one
line on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from gearsim.cli.common import EXIT_INPUT, EXIT_OK, check_outputs, write_pcap
from gearsim.errors import GearsimError
from gearsim.files import data_dir, read_input_text, replace_text, special_kind
from gearsim.sim.scenario import Scenario, ScenarioError, parse_scenario_text
from gearsim.sim.workload import FunctionStats, Results, Workload, percentile

__all__ = ["add_simulate_command", "find_scenario", "format_summary", "load_scenario", "run_simulate"]


_LIBRARY = {
    "libgearman": "libgearman: first server not busy sending, last-added first, no hashing (B-L2)",
    "perl": "Perl Gearman::Client: ((CRC32(unique) >> 16) & 0x7fff) mod servers, else random",
}


def add_simulate_command(subparsers: Any) -> None:
    """Add ``simulate`` to the ``gearsim`` command's subparsers."""
    p = subparsers.add_parser(
        "simulate",
        help="run a workload scenario (clients, workers, faults) in virtual time and count job outcomes",
        description="Run a workload scenario in virtual time. SCENARIO is a YAML file or the name of a "
        "bundled one: " + ", ".join(bundled_names()),
    )
    p.add_argument("scenario", help="a scenario file, or a bundled name such as 'status'")
    p.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    p.add_argument("--trace", metavar="FILE", help="write the canonical text trace of the run")
    p.add_argument("--pcap", metavar="FILE", help="write the run as a capture (synthesized TCP/IP on loopback)")
    p.set_defaults(func=run_simulate)


def bundled_names() -> list[str]:
    """Names of the bundled scenarios (empty when the folder is missing)."""
    try:
        return sorted(p.stem for p in data_dir("scenarios").glob("*.yaml"))
    except FileNotFoundError:
        return []


def find_scenario(name: str) -> Path:
    """The file ``name`` names: a path, else a bundled scenario (with or without .yaml).

    Raises:
        ScenarioError: neither exists, or ``name`` is a FIFO, a device or a socket.
    """
    path = Path(name)
    if path.is_file():
        return path
    if special_kind(path):
        raise ScenarioError(f"{name}: {special_kind(path)}, not a scenario file")
    try:
        folder = data_dir("scenarios")
    except FileNotFoundError:
        raise ScenarioError(f"no such file, and no bundled scenarios folder to look in for {name!r}") from None
    for candidate in (folder / name, folder / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    raise ScenarioError(f"no such file or bundled scenario {name!r} (bundled: {', '.join(bundled_names())})")


def load_scenario(name: str) -> Scenario:
    """Find, read and parse a scenario, checking it against spec/scenario.schema.json.

    Raises:
        ScenarioError: missing, unreadable or invalid; the message names the file.
    """
    path = find_scenario(name)
    shown = name if Path(name).is_file() else f"bundled scenarios/{path.name}"
    text = read_input_text(path, shown, error=ScenarioError)
    schema = (data_dir("spec") / "scenario.schema.json").read_text(encoding="utf-8")
    return parse_scenario_text(text, shown, schema)


def _ms(ticks: int) -> str:
    return f"{ticks / 1000:.3f} s" if ticks >= 10_000 else f"{ticks} ms"


def _row(name: str, st: FunctionStats) -> list[str]:
    lat = st.latencies
    pct = [str(percentile(lat, q)) if lat else "-" for q in (50, 90, 99)] + [str(max(lat)) if lat else "-"]
    counts = (st.submitted, st.jobs, st.coalesced, st.duplicates, st.completed, st.failed, st.lost, st.unfinished)
    return [name, *(str(c) for c in counts), str(st.reruns), *pct]


def format_summary(scenario: Scenario, results: Results, wall: float | None = None) -> str:
    """The readable summary of a run: setup, a table of counts and latency percentiles, notes."""
    lines = [f"gearsim simulate: {scenario.name} ({scenario.file or 'inline'}), seed {results.seed}"]
    servers = ", ".join(f"{s.name} ({s.profile})" for s in scenario.servers)
    libraries = sorted({c.library for c in scenario.clients})
    lines.append(f"servers: {servers}; link latency {scenario.latency} ms")
    lines += [f"client server choice: {_LIBRARY[lib]}" for lib in libraries]
    how = "all work settled" if results.settled else "end of the scenario's duration"
    speed = f", wall {wall:.3f} s" if wall is not None else ""
    lines.append(f"virtual time {_ms(results.virtual)} ({how}){speed}, {results.packets} packets")
    header = ["function", "submitted", "jobs", "coalesced", "duplicates", "completed", "failed", "lost"]
    header += ["unfinished", "reruns", "p50 ms", "p90 ms", "p99 ms", "max ms"]
    rows = [header] + [_row(name, st) for name, st in results.functions.items()]
    if len(results.functions) > 1:
        rows.append(_row("(all)", results.totals()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        )
    if len(scenario.servers) > 1:
        lines.append("jobs per server: " + ", ".join(f"{k} {v}" for k, v in results.jobs_per_server.items()))
    for reason, count in sorted(results.lost_reasons.items()):
        lines.append(f"lost: {count} ({reason})")
    for client, handles in results.handles.items():
        if len(handles) <= 20:
            lines.append(f"handles ({client}): {' '.join(handles)}")
    for client, polls in results.polls.items():
        if len(polls) <= 40:
            lines.append(f"status polls ({client}):")
            lines += [f"  {line}" for line in polls]
    lines.append(
        "notes: coalesced = JOB_CREATED named a job already alive; duplicates = a new job while one with the "
        "same function and unique was alive elsewhere in the pool; latency = submit to result (completed only)"
    )
    return "\n".join(lines) + "\n"


def run_simulate(args: argparse.Namespace) -> int:
    """The ``simulate`` command: 0 when it ran, 3 with one line on stderr for bad input."""
    try:
        check_outputs([("--trace", args.trace), ("--pcap", args.pcap)])  # before the run, not after it
        scenario = load_scenario(args.scenario)
        workload = Workload(scenario, seed=args.seed)
    except (GearsimError, OSError) as exc:
        print(f"gearsim simulate: {exc}", file=sys.stderr)
        return EXIT_INPUT
    from gearsim.cli.progress import progress

    started = time.perf_counter()
    with progress("gearsim simulate", unit="ms virtual") as bar:

        def advance(now: int, end: int) -> None:
            bar.update(completed=now, total=end)

        workload.run(on_progress=advance)
    wall = time.perf_counter() - started
    results = workload.results()
    sys.stdout.write(format_summary(scenario, results, wall))
    if args.trace:
        try:
            replace_text(Path(args.trace), workload.sim.trace.text())
        except OSError as exc:
            print(f"gearsim simulate: cannot write the trace: {exc}", file=sys.stderr)
            return EXIT_INPUT
    if args.pcap:
        try:
            write_pcap([workload.sim.trace], args.pcap)
        except OSError as exc:
            print(f"gearsim simulate: cannot write the capture: {exc}", file=sys.stderr)
            return EXIT_INPUT
    return EXIT_OK
