"""``gearsim clients``: client and worker libraries judged through drivers (glue).

``gearsim run --driver COMMAND`` (gearsim.cli.run) plays library cases with
one driver, through :func:`run_driver_cases` here.

``gearsim clients`` is the client compatibility matrix: every library case
with every reference driver whose library is installed (or the ``--driver``
commands given), written as Markdown (``--out-md docs/clients.md``), HTML
and JSON, and with ``--write-baselines DIR`` one baseline per driver
(``DIR/driver-<name>.json``); ``--baselines DIR`` compares and exits 1 on a
regression, as ``gearsim matrix`` does for servers.

``write_case_traces(path, results)`` writes the trace of every case that has
records (``--trace`` for program and driver runs, pass or fail).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearsim.cli.common import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_INPUT,
    Stopped,
    baselines_folder,
    check_outputs,
    say_notes,
    say_stopped_table,
    unjudged_exit,
)
from gearsim.cli.common import command as nonblank
from gearsim.cli.common import seconds as positive_seconds
from gearsim.files import Selection, load_requirements, read_baseline, replace_text, select, write_baseline
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.trace import format_record, terminal_text
from gearsim.run.result import CaseResult, Verdict

if TYPE_CHECKING:
    from gearsim.report.matrix import Implementation

__all__ = [
    "DEFAULT_LIBRARY_VECTORS",
    "add_clients_command",
    "available_drivers",
    "run_driver_cases",
    "write_case_traces",
]

#: how the server matrix explains n/a, which says otherwise for drivers
_SERVER_NA = "**n/a** (the case is for other profiles, or needs the model's virtual clock)."
#: what ``--driver`` runs when no vectors are named
DEFAULT_LIBRARY_VECTORS = ("client",)


def _library_selection(specs: Sequence[str]) -> Selection:
    """The named vectors, or every bundled file that holds library cases."""
    selection = select(list(specs) or list(DEFAULT_LIBRARY_VECTORS))
    say_notes("clients", selection.notes)
    return selection


def run_driver_cases(
    selection: Selection,
    command: str,
    *,
    profile: str,
    time_limit: float = 90.0,
    only_library: bool = True,
    shard: Any = None,
) -> list[CaseResult]:
    """Play the selected library cases with the driver ``command``; others are left out (or n/a).

    Raises:
        GearsimBug: a bug inside gearsim (never a verdict).
    """
    from gearsim.cli.progress import progress
    from gearsim.io.library_cases import run_library_case

    chosen = [
        (vf, vf.case(c))
        for vf in selection.files
        for c in selection.chosen(vf)
        if shard is None or shard.holds(f"{vf.name}::{c}")
    ]
    if only_library:
        chosen = [(vf, case) for vf, case in chosen if case.is_library]
    results: list[CaseResult] = []
    with progress("gearsim run", total=len(chosen), unit="cases") as bar:
        for vf, case in chosen:
            results.append(run_library_case(vf, case, command, profile=profile, time_limit=time_limit))
            bar.advance()
    return results


def write_case_traces(path: Path, results: Sequence[CaseResult]) -> int:
    """Write the canonical trace of every case with records, each after a ``# FILE::CASE verdict`` line.

    Returns how many cases were written.

    Raises:
        OSError: the file cannot be written.
    """
    lines: list[str] = []
    count = 0
    for r in results:
        if not r.records:
            continue
        count += 1
        lines.append(f"# {r.id} {r.verdict.value}")
        lines.extend(format_record(rec) for rec in r.records)
    replace_text(path, "\n".join(lines) + ("\n" if lines else ""))
    return count


# --------------------------------------------------------------------------- gearsim clients


def available_drivers() -> dict[str, str]:
    """Each bundled driver's name -> why it cannot run here ('' when it can). Never raises."""
    from gearsim.drivers import REFERENCE

    out: dict[str, str] = {}
    for name, ref in REFERENCE.items():
        if shutil.which(ref.needs) is None and ref.needs != "python3":
            out[name] = f"{ref.needs} not found"
            continue
        argv = [sys.executable if w == "{python}" else w for w in ref.probe]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            out[name] = f"{ref.library}: {exc}"
            continue
        out[name] = "" if done.returncode == 0 else f"{ref.library} is not installed"
    return out


def _cmd_clients(args: argparse.Namespace) -> int:
    from gearsim.drivers import REFERENCE
    from gearsim.report.baseline import baseline_from_results, compare, format_comparison
    from gearsim.report.html import ReportRun, render_html
    from gearsim.report.matrix import Implementation, build_matrix, matrix_json, matrix_markdown

    baselines_folder(args.baselines)
    check_outputs([("--out-md", args.out_md), ("--out-json", args.out_json), ("--out-html", args.out_html)])
    check_outputs(folders=[("--write-baselines", args.write_baselines)], make_folders=True)
    commands: list[tuple[str, str]] = [
        (c if c in REFERENCE else f"driver{i + 1}", c) for i, c in enumerate(args.driver or [])
    ]
    if not commands:
        missing = available_drivers()
        for name, why in missing.items():
            if why:
                if args.require_drivers:
                    print(f"gearsim clients: {name}: {why}", file=sys.stderr)
                    return EXIT_INPUT
                print(f"gearsim clients: skipping {name}: {why}", file=sys.stderr)
        commands = [(name, name) for name, why in missing.items() if not why]
    if not commands:
        # a table of no column measured nothing: written, it replaced the committed one, and exited 0
        print("gearsim clients: no driver could run here (each was skipped, above); nothing written", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    selection = _library_selection(args.vectors)
    for name, _command in commands if args.baselines else ():
        # a missing or broken baseline is refused before every driver ran, not after the first (the rest unwritten)
        read_baseline(Path(args.baselines) / f"driver-{name}.json")
    runs: list[tuple[Implementation, list[CaseResult]]] = []
    seconds: dict[str, float] = {}
    try:
        for done, (name, command) in enumerate(commands, 1):
            started = time.monotonic()
            results = run_driver_cases(selection, command, profile=args.profile, time_limit=args.driver_time_limit)
            seconds[name] = time.monotonic() - started
            label = REFERENCE[name].library if name in REFERENCE else command
            version = _library_of(results)
            impl = Implementation(f"driver:{name}", label, "driver", args.profile, version, f"{seconds[name]:.1f} s")
            runs.append((impl, results))
            # progress only: the counts and the library's version are the summary's, printed once at the end
            print(f"gearsim clients: {name} done in {seconds[name]:.1f} s ({done} of {len(commands)})", file=sys.stderr)
    except (KeyboardInterrupt, Stopped) as stop:
        # the drivers that ran to their end are summed up: a stop used to print nothing of them
        lines = [_count_line(impl, results) for impl, results in runs]
        say_stopped_table("gearsim clients", stop, lines, len(commands))
        raise
    requirements = load_requirements()
    meta = {
        "title": "Every library case of vectors/client/ through each reference driver (spec/driver.md), against "
        "the reference model served on 127.0.0.1.",
        "regenerate": "gearsim clients --out-md docs/clients.md --write-baselines baselines",
        "cases": f"{len(runs[0][1]) if runs else 0} library cases in {len(selection.files)} files",
    }
    matrix = build_matrix(runs, meta)
    if args.out_md:
        text = matrix_markdown(matrix, requirements).replace("# Compatibility matrix", "# Client compatibility matrix")
        text = text.replace(_SERVER_NA, "**n/a** (the driver does not offer what the case needs).")
        replace_text(Path(args.out_md), text)
    if args.out_json:
        replace_text(Path(args.out_json), matrix_json(matrix))
    if args.out_html:
        report = [ReportRun(impl.key, results, args.profile, impl.label, "wall") for impl, results in runs]
        replace_text(Path(args.out_html), render_html(report, requirements, "gearsim clients"))
    regressed = False
    for impl, results in runs:
        stem = impl.key.replace(":", "-")
        if args.write_baselines:
            meta_b = {"library": impl.version or impl.label, "generated_by": "gearsim clients --write-baselines"}
            baseline = baseline_from_results(results, impl.key, args.profile, meta_b)
            write_baseline(Path(args.write_baselines) / f"{stem}.json", baseline)
        if args.baselines:
            cmp = compare(read_baseline(Path(args.baselines) / f"{stem}.json"), results)
            sys.stdout.write(f"{impl.key}:\n{format_comparison(cmp)}")
            regressed = regressed or not cmp.ok
    for impl, results in runs:
        print(terminal_text(_count_line(impl, results)))
    if regressed:
        return EXIT_FAIL
    # a FAIL in the table is the library's, and exits 0; a column in which nothing could be judged measured nothing
    return unjudged_exit("gearsim clients", ((impl.key, results) for impl, results in runs))


def _library_of(results: Sequence[CaseResult]) -> str:
    """The library a driver named in its hello (``CaseResult.library`` of any result that has one)."""
    return next((r.library for r in results if r.library), "")


def _count_line(impl: Implementation, results: Sequence[CaseResult]) -> str:
    """A driver's summary line; the version is the library name the driver gave in its hello: its words, not ours."""
    return f"{impl.key}: {_counts(results)} ({impl.version or impl.label}, {impl.note})"


def _counts(results: Sequence[CaseResult]) -> str:
    counts = {v: sum(1 for r in results if r.verdict == v) for v in Verdict}
    return ", ".join(f"{n} {v.value}" for v, n in counts.items() if n) or "no cases"


def add_clients_command(subparsers: Any) -> None:
    """Register ``gearsim clients`` (the client compatibility matrix)."""
    p = subparsers.add_parser(
        "clients",
        help="the client compatibility matrix: library cases through every reference driver",
        description="Run the library cases (default: every bundled one) with each reference driver whose library "
        "is installed, or with the --driver commands given, and write the client compatibility matrix. "
        "Exit status: 0 when the table is written, FAILs in it included (they are the libraries' verdicts); "
        "1 on a regression against --baselines; 2 when a driver's column has no case that could be judged "
        "(every one inconclusive, as when the driver never answers hello), with one line naming the cause; "
        "3 on an input or harness error.",
    )
    p.add_argument("vectors", nargs="*", help="paths, bundled names or globs (default: client)")
    p.add_argument(
        "--driver", action="append", type=nonblank, metavar="COMMAND", help="a driver to run (repeatable; default: all)"
    )
    p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"the model's profile (default {DEFAULT_PROFILE})")
    p.add_argument(
        "--driver-time-limit", type=positive_seconds, default=90.0, metavar="S", help="seconds per case (default 90)"
    )
    p.add_argument("--require-drivers", action="store_true", help="fail when a reference driver cannot run here")
    p.add_argument("--out-md", metavar="FILE", help="write the matrix as Markdown (docs/clients.md)")
    p.add_argument("--out-html", metavar="FILE", help="write the HTML report, one run per driver")
    p.add_argument("--out-json", metavar="FILE", help="write the matrix as JSON")
    p.add_argument("--write-baselines", metavar="DIR", help="write DIR/driver-<name>.json from this run")
    p.add_argument("--baselines", metavar="DIR", help="compare with DIR/driver-<name>.json; exit 1 on regression")
    p.set_defaults(func=_cmd_clients)
