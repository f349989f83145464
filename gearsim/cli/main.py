"""The ``gearsim`` command (glue: arguments, files, exit codes).

Exit codes: 0 all pass or acceptable; 1 a failure; 2 inconclusive; 3 a harness
or input error, reported as one line on stderr (never a traceback); 4 a bug in
gearsim itself, reported with its traceback and a request to report it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gearsim.errors import GearsimBug, GearsimError

if TYPE_CHECKING:
    from gearsim.protocol.requirements import Requirement
    from gearsim.run.model_peer import ModelPeerFactory
    from gearsim.run.runner import CaseResult

EXIT_INPUT = 3
EXIT_BUG = 4


def _cmd_lint(args: argparse.Namespace) -> int:
    from gearsim.files import load_requirements, load_schema_text, read_input_text, vector_root
    from gearsim.vectors.lint import lint_text

    paths = [Path(p) for p in args.paths] or [vector_root()]
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(p.rglob("*.yaml"))
        elif p.is_file():
            files.append(p)
        else:
            print(f"gearsim lint: {p}: no such file or folder", file=sys.stderr)
            return EXIT_INPUT
    schema, reqs = load_schema_text(), load_requirements()
    findings: list[str] = []
    cases = 0
    for f in files:
        try:
            text = read_input_text(f)
        except GearsimError as exc:
            findings.append(str(exc))
            continue
        vf, found = lint_text(text, str(f), schema, reqs)
        cases += len(vf.cases) if vf else 0
        findings += found
    for line in findings:
        print(line)
    print(f"gearsim lint: {len(files)} files, {cases} cases, {len(findings)} findings")
    return 1 if findings else 0


def _cmd_fmt(args: argparse.Namespace) -> int:
    from gearsim.files import read_vector_file
    from gearsim.vectors.parse import dump_vector_file

    changed = 0
    for name in args.paths:
        path = Path(name)
        vf = read_vector_file(path)
        text = dump_vector_file(vf.raw)
        if path.read_text(encoding="utf-8") != text:
            changed += 1
            if args.check:
                print(f"{path}: not in canonical form")
            else:
                path.write_text(text, encoding="utf-8")
                print(f"{path}: rewritten")
    return 1 if args.check and changed else 0


def _parse_server(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _parse_shard(text: str) -> object:
    from gearsim.run.shard import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from gearsim.files import load_requirements
    from gearsim.report.text import exit_code

    programs = args.client or args.programs
    if sum(map(bool, (programs, args.server or args.peer, args.driver))) > 1:
        print("gearsim run: --client/--programs, --server/--peer and --driver exclude each other", file=sys.stderr)
        return EXIT_INPUT
    model = None
    if args.driver:
        from gearsim.cli.clients import run_driver_vectors

        results, target = run_driver_vectors(args)
        title = f"gearsim run --driver: {len(results)} cases through {target}"
        clock = "wall"
    elif programs:
        from gearsim.cli.serve import run_client_vectors

        results, target = run_client_vectors(args)
        title = f"gearsim run {'--client' if args.client else '--programs'}: {len(results)} cases against {target}"
        clock = "wall"
    else:
        results, target, model = _run_vectors(args)
        title = f"gearsim run: {len(results)} cases against {target}"
        clock = "virtual" if model is not None else "wall"
    title += f", profile {args.profile}"
    if args.shard is not None:
        title += f", shard {args.shard}"
    _write_report(args, results, load_requirements(), title, target, clock)
    if model is not None and args.trace:
        Path(args.trace).write_text(model.trace_text(), encoding="utf-8")
    elif args.trace:
        from gearsim.cli.clients import write_case_traces

        write_case_traces(Path(args.trace), results)
    if model is not None and args.pcap:
        from gearsim.dissect.synth import write_trace_pcap

        write_trace_pcap([sim.trace for _, sim in model.traces()], args.pcap)
    from gearsim.cli.matrix import baseline_exit

    code = baseline_exit(args, results)
    return exit_code(results) if code is None else code


def _run_vectors(args: argparse.Namespace) -> tuple[list[CaseResult], str, ModelPeerFactory | None]:
    """Run the selected (and sharded) cases against the model, ``--server`` or a managed ``--peer``."""
    from gearsim.cli.matrix import run_on_real_server
    from gearsim.cli.progress import progress
    from gearsim.files import select
    from gearsim.run.model_peer import ModelPeerFactory
    from gearsim.run.runner import PeerFactory, run_case
    from gearsim.run.shard import WHOLE

    selection = select(args.vectors)
    real = run_on_real_server(args, selection)
    if real is not None:
        return real[0], f"{real[1]}, {len(selection.files)} files", None
    model = ModelPeerFactory(profile=args.profile, seed=args.seed)
    factory: PeerFactory = model
    target = f"the reference model (seed {args.seed}, virtual time)"
    if args.chunking is not None:
        from gearsim.cli.fuzz import chunked_factory
        from gearsim.run.chunking import expand

        factory = chunked_factory(model, args.chunking, wall_clock=False)
        target += f"; {expand(args.chunking).describe()}"
    shard = args.shard or WHOLE
    chosen = [(vf, c) for vf in selection.files for c in selection.chosen(vf) if shard.holds(f"{vf.name}::{c}")]
    results: list[CaseResult] = []
    with progress("gearsim run", total=len(chosen), unit="cases") as bar:
        for vf, case_id in chosen:
            results.append(run_case(vf, vf.case(case_id), factory, args.profile))
            bar.advance()
    return results, f"{target}, {len(selection.files)} files", model


def _write_report(
    args: argparse.Namespace,
    results: list[CaseResult],
    requirements: Mapping[str, Requirement],
    title: str,
    target: str,
    clock: str,
) -> None:
    """Print (and with ``--out`` write) the report in ``--format``."""
    from gearsim.report.text import json_report, junit_report, text_report

    if args.format == "json":
        out = json_report(results, {"target": target, "profile": args.profile, "seed": args.seed})
    elif args.format == "junit":
        out = junit_report(results, requirements, f"gearsim {args.profile}")
    elif args.format == "html":
        from gearsim.report.html import ReportRun, render_html

        out = render_html([ReportRun(args.profile, results, args.profile, target, clock)], requirements, title)
    else:
        out = text_report(results, requirements, title, repro=_repro(args))
    if args.out:
        Path(args.out).write_text(out, encoding="utf-8")
        out = text_report(results, requirements, title, repro=_repro(args)) if args.format != "text" else out
    sys.stdout.write(out)


def _repro(args: argparse.Namespace) -> Callable[[CaseResult], str]:
    """The one-line command that reruns one case exactly as this run did."""
    from gearsim.cli.fuzz import repro_line

    def line(result: CaseResult) -> str:
        text = repro_line(
            "run",
            vector=result.id,
            server=args.server,
            profile=args.profile,
            seed=args.seed,
            chunking=getattr(args, "chunking", None),
        )
        driver = getattr(args, "driver", None)
        return f"{text} --driver {shlex.quote(driver)}" if driver else text

    return line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gearsim", description="Gearman conformance kit")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run vectors (default: all bundled) against the reference model")
    run.add_argument("vectors", nargs="*", help="paths, bundled names or globs, optionally FILE::CASE-GLOB")
    run.add_argument("--profile", default="gearmand-1.1", help="implementation profile (default gearmand-1.1)")
    run.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    run.add_argument("--trace", metavar="FILE", help="write the canonical text trace of every case")
    run.add_argument("--server", type=_parse_server, metavar="HOST:PORT", help="run against a real server over TCP")
    run.add_argument("--format", choices=("text", "json", "junit", "html"), default="text", help="report format")
    run.add_argument("--out", metavar="FILE", help="write the report here (a text summary still goes to stdout)")
    run.add_argument("--pcap", metavar="FILE", help="write every case's conversation as one capture (model runs)")
    run.add_argument("--shard", type=_parse_shard, metavar="K/N", help="run only the cases of shard K of N (CI matrix)")
    from gearsim.cli.fuzz import add_chunking_argument, add_fuzz_command
    from gearsim.cli.matrix import add_matrix_command, add_run_arguments
    from gearsim.cli.serve import add_client_options, add_serve_commands

    add_client_options(run)
    from gearsim.cli.clients import add_clients_command, add_driver_options

    add_driver_options(run)
    add_chunking_argument(run)
    add_run_arguments(run)
    run.set_defaults(func=_cmd_run)
    add_fuzz_command(sub)

    lint = sub.add_parser("lint", help="check vector files: schema, canonical form, hex vs structure")
    lint.add_argument("paths", nargs="*", help="files or folders (default: the bundled vectors)")
    lint.set_defaults(func=_cmd_lint)

    fmt = sub.add_parser("fmt", help="rewrite vector files in canonical form")
    fmt.add_argument("paths", nargs="+")
    fmt.add_argument("--check", action="store_true", help="only report files not in canonical form")
    fmt.set_defaults(func=_cmd_fmt)

    from gearsim.cli.capture import add_capture_commands
    from gearsim.cli.simulate import add_simulate_command
    from gearsim.cli.spec import add_spec_commands

    add_capture_commands(sub)
    add_serve_commands(sub)
    add_simulate_command(sub)
    add_spec_commands(sub)
    add_matrix_command(sub)
    add_clients_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gearsim`` console script."""
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except GearsimBug as exc:
        traceback.print_exception(exc, file=sys.stderr)
        print(f"gearsim {args.command}: {exc}", file=sys.stderr)
        return EXIT_BUG
    except GearsimError as exc:
        print(f"gearsim {args.command}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (OSError, UnicodeDecodeError) as exc:
        print(f"gearsim {args.command}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
