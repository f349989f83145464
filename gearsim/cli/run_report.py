"""``gearsim run``'s reports: the run's, a stopped run's, and the baseline's (glue: formats, files, exit codes).

Internal to gearsim.cli.run, which plays the cases: this module owns what is
made of their verdicts (:class:`Played` carries them here). The report goes to
stdout in text, and with ``--out`` to a file in ``--format`` (text, JSON,
JUnit, HTML), with a line reproducing each failure (gearsim.report.repro).
``--write-baseline`` records the verdicts, ``--baseline`` compares them and
decides the exit code (only regressions fail). A run told to stop reports the
cases it finished, and writes no baseline, trace or capture of a run that did
not happen (:func:`report_stopped`).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from gearsim.cli.common import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, counted, stop_name, unjudged
from gearsim.files import load_requirements, read_baseline, replace_text, write_baseline
from gearsim.io.serverdesc import ServerDescription
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import terminal_text
from gearsim.report.baseline import baseline_from_results, compare, format_comparison
from gearsim.report.repro import Target, reproduce_run
from gearsim.report.text import json_report, junit_report, text_report
from gearsim.run.batch import CaseRef
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.result import CaseResult, at_level

__all__ = ["Played", "baseline_exit", "baseline_target", "flag", "report_stopped", "title_tail", "write_report"]


@dataclass
class Played:
    """What a run played its cases against, and how."""

    results: list[CaseResult]
    #: the target described for the report's header
    described: str
    #: "virtual" or "wall"
    clock: str
    #: the model's factory (it keeps every case's trace), for --trace and --pcap
    model: ModelPeerFactory | None = None
    #: a line for the end of the report (a run stopped early)
    footer: str = ""


def flag(args: argparse.Namespace) -> str:
    """The report title's word for a run of programs or a driver (" --client", " --programs", " --driver")."""
    return " --client" if args.client else " --programs" if args.programs else " --driver" if args.driver else ""


def title_tail(args: argparse.Namespace, files: int, profile: str) -> str:
    """The report title's end: the files, profile, level and shard."""
    tail = counted(files, "file") + f", profile {profile}" + (f", level {args.level}" if args.level else "")
    return tail + (f", shard {args.shard}" if args.shard is not None else "")


def report_stopped(
    args: argparse.Namespace,
    refs: Sequence[CaseRef],
    finished: Sequence[CaseResult],
    stop: BaseException,
    files: int,
    profile: str,
    target: Target,
) -> None:
    """The report of the cases that finished before the run was told to stop, and what it leaves unwritten.

    Printed as the run's report would be, with ``--out`` written too when a
    case finished (an earlier report there is not replaced by an empty one).
    A verdict reached after the stop began is not among them: its server or
    program was being stopped under it (``gearsim.io.children.stopping``).
    No baseline is compared or written, and no trace or capture is: each
    would describe a run that did not happen.
    """
    requirements = load_requirements()
    order = {f"{vf.name}::{case.id}": i for i, (vf, case) in enumerate(refs)}
    results = sorted(finished, key=lambda r: order.get(r.id, len(order)))  # threads finish out of order
    if args.level:
        results = [at_level(r, args.level, requirements) for r in results]
    how = stop_name(stop)
    # the target as the options named it (profile and level are in the title's tail)
    options = shlex.join(replace(target, profile=None, level=None, seed=None).options())
    if target.seed is not None:  # only the model's runs take a seed
        options = f"the reference model (seed {target.seed}{', ' + options if options else ''})"
    title = f"gearsim run{flag(args)}: stopped by {how} after {len(results)} of {counted(len(refs), 'case')}"
    title += f" against {options}, {title_tail(args, files, profile)}"
    unwritten = [f"{option} {name}" for option, name in _unwritten(args, bool(results)) if name]
    footer = f"stopped by {how}: {len(results)} of {counted(len(refs), 'case')} finished"
    footer += " and are reported above; the totals are theirs, not the run's" if results else "; nothing to report"
    if unwritten:
        footer += f"; not written: {', '.join(unwritten)}"
    clock = "virtual" if target.seed is not None else "wall"  # only the model's runs take a seed
    played = Played(results, options, clock, footer=footer)
    if results:
        write_report(args, results, requirements, title, played, target, stopped=how)
    else:
        sys.stdout.write(terminal_text(title) + "\n")
    sys.stdout.write(terminal_text(footer) + "\n")
    sys.stdout.flush()


def _unwritten(args: argparse.Namespace, reported: bool) -> list[tuple[str, str | None]]:
    """The outputs a stopped run does not write, with the names given (None: not asked for)."""
    return [
        ("--out", None if reported else args.out),
        ("--trace", args.trace),
        ("--pcap", args.pcap),
        ("--write-baseline", args.write_baseline),
        ("--baseline", args.baseline and f"{args.baseline} (not compared)"),
    ]


def write_report(
    args: argparse.Namespace,
    results: list[CaseResult],
    requirements: Mapping[str, Requirement],
    title: str,
    played: Played,
    target: Target,
    stopped: str = "",
) -> None:
    """Print (and with ``--out`` write) the report in ``--format``; the text report goes to stdout either way.

    ``stopped`` names what stopped a run before its end (the JSON report's ``stopped``).
    """
    profile = target.profile or ""

    def text() -> str:
        return text_report(results, requirements, title, repro=lambda r: reproduce_run(r.id, target))

    if args.format == "json":
        meta = {"target": played.described, "profile": profile, "seed": target.seed, "level": args.level or "may"}
        if stopped:
            meta["stopped"] = stopped
        out = json_report(results, meta, requirements)
    elif args.format == "junit":
        out = junit_report(results, requirements, f"gearsim {profile}")
    elif args.format == "html":
        from gearsim.report.html import ReportRun, render_html

        out = render_html([ReportRun(profile, results, profile, played.described, played.clock)], requirements, title)
    else:
        out = text()
    # the summary goes out first: a report that cannot be written (a full disk) must not take it along
    sys.stdout.write(out if not args.out or args.format == "text" else text())
    if args.out:
        replace_text(Path(args.out), out)  # whole or not at all: a failed write keeps the last report


def baseline_target(args: argparse.Namespace, profile: str, described: ServerDescription | None) -> str:
    """What a baseline says it was written against (its ``peer``), as ``gearsim matrix`` names its columns.

    A server started from a command line or description is named by it: such a run was
    recorded as ``model:PROFILE`` once, as if the model had been judged.
    """
    if args.peer:
        return str(args.peer)
    if described is not None:
        return described.name
    if args.server:
        return "server"
    if args.driver:
        return f"driver:{args.driver}"
    if args.client or args.programs:
        return "programs"
    return f"model:{profile}"


def baseline_exit(args: argparse.Namespace, results: Sequence[CaseResult], profile: str, target: str) -> int | None:
    """Handle ``--write-baseline`` and ``--baseline``; None without ``--baseline`` (the usual exit code stands).

    With a baseline only regressions fail the run: EXIT_FAIL when a case
    regressed, else EXIT_OK, unless no case could be judged (gearsim.cli.common.unjudged:
    every one inconclusive, which a baseline written from such a run also records):
    EXIT_INCONCLUSIVE, with one line naming the cause on stderr. The comparison is printed.

    Raises:
        BaselineError: the baseline file is missing or malformed.
        OSError: the baseline to write cannot be written.
    """
    stream: TextIO = sys.stdout
    if args.write_baseline:
        meta = {"generated_by": f"gearsim run --write-baseline {args.write_baseline}"}
        write_baseline(Path(args.write_baseline), baseline_from_results(results, target, profile, meta))
    if not args.baseline:
        return None
    baseline = read_baseline(Path(args.baseline))
    if baseline.profile != profile:
        print(
            f"gearsim run: note: baseline {args.baseline} is for profile {baseline.profile}, not {profile}", file=stream
        )
    cmp = compare(baseline, results)
    stream.write(format_comparison(cmp))
    if not cmp.ok:
        return EXIT_FAIL
    why = unjudged(results)
    if why:
        print(terminal_text(f"gearsim run: {why}"), file=sys.stderr)
        return EXIT_INCONCLUSIVE
    return EXIT_OK
