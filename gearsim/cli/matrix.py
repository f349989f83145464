"""``gearsim matrix``: every vector on every implementation, side by side (glue: arguments, files, exit codes).

``gearsim matrix [VECTORS] [--out-json F] [--out-html F] [--out-md F]`` runs
the vectors against every available implementation: the reference model under
every profile (or ``--profiles P,...``), and every installed real server
(``gearmand-c``, ``perl-gearman-server``, ``gear``) under its matching
profile, each case on a freshly started server (gearsim.io.managed). It
writes the compatibility matrix, and with ``--write-baselines DIR`` one
baseline file per implementation (``DIR/<peer>.json``,
``DIR/model-<profile>.json``); with ``--baselines DIR`` it compares every
implementation with its baseline and exits 1 on a regression. Servers the
bundled peers do not cover join as more columns: ``--server-command 'CMD
{port}'`` and ``--server-description FILE`` (each repeatable), judged under
their description's profile (else the spec profile).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from gearsim.cli.common import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    Stopped,
    baselines_folder,
    check_outputs,
    positive,
    profile_list,
    say_notes,
    say_stopped_table,
    unjudged_exit,
)
from gearsim.errors import InputError
from gearsim.files import Selection, load_requirements, read_baseline, replace_text, select, write_baseline
from gearsim.io.launch import start_server, stop_server
from gearsim.io.managed import DEFAULT_JOBS, PEER_PROFILES, ManagedPeerFactory, run_cases
from gearsim.io.peers import PEERS, PeerError, peer_available, peer_description
from gearsim.io.serverdesc import ServerDescription, command_description, load_description
from gearsim.report.baseline import baseline_from_results, compare, format_comparison
from gearsim.report.matrix import Implementation, Matrix, build_matrix, matrix_html, matrix_json, matrix_markdown
from gearsim.run.batch import REAL_SERVER_AREAS, CaseRef, UnsupportedOption, selected_cases
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, default_profile, run_case

__all__ = [
    "add_matrix_command",
    "baseline_key",
    "described_implementation",
    "model_implementation",
    "peer_implementation",
    "run_implementation",
    "run_matrix",
]


def baseline_key(impl: Implementation) -> str:
    """The file stem of an implementation's baseline: the peer name, or ``model-<profile>``."""
    return impl.key.replace(":", "-")


# --------------------------------------------------------------------------- running


def model_implementation(profile: str) -> Implementation:
    """The column for the reference model under ``profile``."""
    return Implementation(f"model:{profile}", f"model ({profile})", "model", profile, "gearsim", "virtual time")


def peer_implementation(name: str, version: str = "", note: str = "") -> Implementation:
    """The column for real server ``name`` under its matching profile."""
    return Implementation(name, PEERS[name].description, "server", PEER_PROFILES[name], version, note)


def described_implementation(description: ServerDescription, version: str = "", note: str = "") -> Implementation:
    """The column for a server given by its description (``--server-command``/``--server-description``)."""
    profile = description.profile or default_profile(real_server=True)
    return Implementation(description.name, description.summary or description.name, "server", profile, version, note)


def peer_version(name: str | ServerDescription, rundir: Path) -> str:
    """Start a peer (by name) or a described server once to ask its version; ``"unknown"`` when that fails.

    Never raises.
    """
    description = peer_description(name) if isinstance(name, str) else name
    try:
        server = start_server(description, rundir)
    except (PeerError, ValueError, UnsupportedOption):
        return "unknown"
    try:
        return server.version()
    finally:
        with contextlib.suppress(PeerError):
            stop_server(server)


def _server_refs(refs: Sequence[CaseRef]) -> list[CaseRef]:
    return [(vf, case) for vf, case in refs if vf.area in REAL_SERVER_AREAS]


def run_implementation(
    impl: Implementation,
    refs: Sequence[CaseRef],
    workdir: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    reuse: bool = True,
    description: ServerDescription | None = None,
) -> list[CaseResult]:
    """Play ``refs`` on one implementation: the model (virtual time) or fresh managed servers.

    A real server is the bundled peer named ``impl.key``, or ``description`` when given.

    Raises:
        PeerError: a managed server could not be stopped (servers that will not
            start give INCONCLUSIVE verdicts instead).
    """
    if impl.kind == "model":
        model = ModelPeerFactory(profile=impl.profile)
        return [run_case(vf, case, model, impl.profile) for vf, case in refs]

    server = description if description is not None else impl.key

    def make(i: int) -> ManagedPeerFactory:
        return ManagedPeerFactory(server, workdir / f"{impl.key}-{i}", reuse=reuse)

    return run_cases(refs, make, impl.profile, jobs=jobs)


def run_matrix(
    selection: Selection,
    *,
    peers: Sequence[str],
    models: Sequence[str],
    jobs: int = DEFAULT_JOBS,
    reuse: bool = True,
    require_peers: bool = False,
    log: TextIO | None = None,
    servers: Sequence[ServerDescription] = (),
    runs: list[tuple[Implementation, list[CaseResult]]] | None = None,
) -> tuple[Matrix, list[tuple[Implementation, list[CaseResult]]]]:
    """Run the selection on the model under ``models``, on the installed ``peers`` and on described ``servers``.

    A peer that is not installed gets an empty column with a note, unless
    ``require_peers``. Real servers get only the server-judging areas
    (:data:`REAL_SERVER_AREAS`). Each column is appended to ``runs`` (when
    given) as it ends, so that a caller told to stop still has the finished ones.

    Raises:
        PeerError: a peer is missing and ``require_peers`` is set, or a server
            could not be stopped.
    """
    refs = selected_cases(selection.files, selection.chosen)
    runs = [] if runs is None else runs
    for profile in models:
        impl = model_implementation(profile)
        t0 = time.monotonic()
        runs.append((impl, run_implementation(impl, refs, Path("."))))
        _log(log, f"{impl.key}: {len(refs)} cases in {time.monotonic() - t0:.1f} s")
    with tempfile.TemporaryDirectory(prefix="gearsim-matrix-") as tmp:
        workdir = Path(tmp)
        for name in peers:
            missing = peer_available(name)
            if missing is not None:
                if require_peers:
                    raise PeerError(f"{name}: {missing}")
                runs.append((peer_implementation(name, note=f"not installed: {missing}"), []))
                _log(log, f"{name}: skipped, {missing}")
                continue
            impl = peer_implementation(name, peer_version(name, workdir / f"{name}-version"))
            t0 = time.monotonic()
            server_refs = _server_refs(refs)
            results = run_implementation(impl, server_refs, workdir, jobs=jobs, reuse=reuse)
            runs.append((impl, results))
            _log(log, f"{name}: {len(server_refs)} cases in {time.monotonic() - t0:.1f} s (jobs {jobs})")
        for description in servers:
            missing = description.missing()
            if missing is not None:
                raise PeerError(f"{description.name}: {missing}")
            version = peer_version(description, workdir / f"{description.name}-version")
            impl = described_implementation(description, version)
            t0 = time.monotonic()
            server_refs = _server_refs(refs)
            results = run_implementation(impl, server_refs, workdir, jobs=jobs, reuse=reuse, description=description)
            runs.append((impl, results))
            _log(log, f"{impl.key}: {len(server_refs)} cases in {time.monotonic() - t0:.1f} s (jobs {jobs})")
    meta = {
        "title": "Every bundled vector against the reference model under each profile and against each "
        "installed real Gearman server under its profile (each case on a freshly started server).",
        "vectors": f"{len(refs)} cases in {len(selection.files)} files",
        "real servers run": ", ".join(REAL_SERVER_AREAS) + " vectors (program cases judge client programs: n/a)",
        "regenerate": "gearsim matrix --out-md docs/compatibility.md --write-baselines baselines",
    }
    return build_matrix(runs, meta), runs


def _log(log: TextIO | None, text: str) -> None:
    if log is not None:
        print(f"gearsim matrix: {text}", file=log, flush=True)


# --------------------------------------------------------------------------- gearsim matrix


def _cmd_matrix(args: argparse.Namespace) -> int:
    baselines_folder(args.baselines)
    outputs = [("--out-json", args.out_json), ("--out-html", args.out_html), ("--out-md", args.out_md)]
    check_outputs(outputs, [("--write-baselines", args.write_baselines)], make_folders=True)
    selection = select(args.vectors)
    say_notes("matrix", selection.notes)
    peers = list(PEERS) if args.peers is None else [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in PEERS:
            raise InputError(f"unknown peer {p!r}; known peers: {', '.join(sorted(PEERS))}")
    models = [] if args.no_model else profile_list(args.profiles)
    servers = [command_description(c) for c in args.server_command or ()]
    servers += [load_description(Path(f)) for f in args.server_description or ()]
    names = [d.name for d in servers]
    if not models and not peers and not servers:
        # a table of no column ran nothing and exited 0, as if every server had been judged
        why = "no model profile (--no-model, or --profiles naming none) and no real server named"
        raise InputError(f"no column to run: {why}")
    clash = next((n for n in names if names.count(n) > 1 or n in peers), None)
    if clash is not None:
        raise InputError(f"two columns would be called {clash!r}: give each described server its own name")
    if args.baselines:
        # a broken baseline is refused before the run, as run --baseline's is, not after every server ran
        for key in [f"model-{p}" for p in models] + peers + names:
            path = Path(args.baselines) / f"{key.replace(':', '-')}.json"
            if path.exists():
                read_baseline(path)
    finished: list[tuple[Implementation, list[CaseResult]]] = []
    try:
        matrix, runs = run_matrix(
            selection,
            peers=peers,
            models=models,
            jobs=args.jobs,
            reuse=not args.no_reuse,
            require_peers=args.require_peers,
            log=sys.stderr,
            servers=servers,
            runs=finished,
        )
    except (KeyboardInterrupt, Stopped) as stop:
        # an hour of columns stopped by a CI timeout or a Ctrl-C printed nothing of them
        lines = [_count_line(impl, results) for impl, results in finished if results]
        say_stopped_table("gearsim matrix", stop, lines, len(models) + len(peers) + len(servers))
        raise
    if not any(results for _, results in runs):
        # every column skipped: a table of empty columns replaced the committed one, and exited 0
        print("gearsim matrix: no column could run here (each was skipped, above); nothing written", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    rules = load_requirements()
    renders = (
        (args.out_json, matrix_json(matrix)),
        (args.out_html, matrix_html(matrix, rules)),
        (args.out_md, matrix_markdown(matrix, rules)),
    )
    for path, text in renders:
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            replace_text(Path(path), text)
    code = EXIT_OK
    for impl, results in runs:
        if not results:
            continue
        print(_count_line(impl, results))
        key = baseline_key(impl)
        if args.write_baselines:
            meta = {
                "version": impl.version,
                "generated_by": f"gearsim matrix --write-baselines {args.write_baselines}",
            }
            if impl.kind == "server":
                meta["areas"] = ",".join(REAL_SERVER_AREAS)
            write_baseline(
                Path(args.write_baselines) / f"{key}.json",
                baseline_from_results(results, impl.key, impl.profile, meta),
            )
        if args.baselines:
            path = Path(args.baselines) / f"{key}.json"
            if not path.exists():
                print(f"  no baseline {path}")
                continue
            cmp = compare(read_baseline(path), results)
            sys.stdout.write(format_comparison(cmp))
            if not cmp.ok:
                code = EXIT_FAIL
    if code == EXIT_FAIL:
        return code
    # a FAIL in the table is the server's, and exits 0; a column in which nothing could be judged measured nothing
    return unjudged_exit("gearsim matrix", ((impl.key, results) for impl, results in runs))


def _count_line(impl: Implementation, results: Sequence[CaseResult]) -> str:
    """A column's summary line: its key, then each verdict's count (``fail=2 pass=301 ...``)."""
    c = Counter(r.verdict for r in results)
    return f"{impl.key:<22} " + " ".join(f"{v.value}={n}" for v, n in sorted(c.items(), key=lambda kv: kv[0].value))


def add_matrix_command(subparsers: Any) -> None:
    """Add ``gearsim matrix`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "matrix",
        help="compatibility matrix: every vector on the model (each profile) and on each installed real server",
        description="Run the vectors on the reference model under each profile and on each installed real server, "
        "and write the compatibility matrix. Exit status: 0 when the table is written, FAILs in it included (they "
        "are the servers' verdicts); 1 on a regression against --baselines; 2 when a column has no case that "
        "could be judged (every one inconclusive, as when its server never answers), with one line naming the "
        "cause; 3 on an input or harness error.",
    )
    p.add_argument("vectors", nargs="*", help="paths, bundled names or globs (default: all bundled vectors)")
    p.add_argument("--out-json", metavar="FILE", help="write the matrix as JSON")
    p.add_argument("--out-html", metavar="FILE", help="write the matrix as one self-contained HTML page")
    p.add_argument("--out-md", metavar="FILE", help="write the matrix as Markdown (docs/compatibility.md)")
    p.add_argument("--peers", metavar="LIST", help=f"comma-separated real servers (default: {','.join(PEERS)})")
    p.add_argument(
        "--server-command",
        action="append",
        metavar="'CMD ... {port} ...'",
        help="one more column: a server gearsim starts from this command line (repeatable)",
    )
    p.add_argument(
        "--server-description",
        action="append",
        metavar="FILE",
        help="one more column: a server from this TOML server description (repeatable)",
    )
    p.add_argument("--profiles", metavar="P,...", help="profiles the model is run under (default: every profile)")
    p.add_argument("--no-model", action="store_true", help="leave the reference model out")
    p.add_argument("--jobs", type=positive, default=DEFAULT_JOBS, help=f"servers run at once (default {DEFAULT_JOBS})")
    p.add_argument("--no-reuse", action="store_true", help="a fresh server for every case, even stateless ones")
    p.add_argument("--require-peers", action="store_true", help="fail when a real server is not installed")
    p.add_argument("--write-baselines", metavar="DIR", help="write DIR/<implementation>.json from this run")
    p.add_argument("--baselines", metavar="DIR", help="compare with DIR/<implementation>.json; exit 1 on regression")
    p.set_defaults(func=_cmd_matrix)
