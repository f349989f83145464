"""``gearsim matrix`` and the real-server and baseline parts of ``gearsim run`` (glue).

``gearsim matrix [VECTORS] [--out-json F] [--out-html F] [--out-md F]`` runs
the vectors against every available implementation: the reference model under
every profile, and every installed real server (``gearmand-c``,
``perl-gearman-server``, ``gear``) under its matching profile, each case on a
freshly started server (gearsim.io.managed). It writes the compatibility
matrix, and with ``--write-baselines DIR`` one baseline file per
implementation (``DIR/<peer>.json``, ``DIR/model-<profile>.json``); with
``--baselines DIR`` it compares every implementation with its baseline and
exits 1 on a regression.

For ``gearsim run`` this module offers three hooks the main CLI calls:
:func:`add_run_arguments` (``--peer``, ``--jobs``, ``--no-reuse``,
``--baseline``, ``--write-baseline``), :func:`run_on_real_server` (plays the
selection on a user-given ``--server`` or on managed ``--peer`` servers) and
:func:`baseline_exit` (the baseline comparison and its exit code).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from gearsim.errors import HarnessError
from gearsim.files import Selection, select
from gearsim.io.managed import ManagedPeerFactory, UserServerFactory, run_cases
from gearsim.io.peers import PEERS, PeerError, peer_available, start_peer, stop_peer
from gearsim.model.profiles import PROFILES
from gearsim.report.baseline import (
    Baseline,
    BaselineError,
    Comparison,
    baseline_from_results,
    compare,
    dump_baseline,
    format_comparison,
    parse_baseline,
)
from gearsim.report.matrix import Implementation, Matrix, build_matrix, matrix_html, matrix_json, matrix_markdown
from gearsim.run.batch import CaseRef, ClosingFactory, selected_cases
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, run_case

__all__ = [
    "BASELINE_DIR",
    "DEFAULT_JOBS",
    "PEER_PROFILES",
    "REAL_SERVER_AREAS",
    "add_matrix_command",
    "add_run_arguments",
    "baseline_exit",
    "baseline_key",
    "main",
    "read_baseline",
    "run_implementation",
    "run_matrix",
    "run_on_real_server",
    "write_baseline",
]

#: the profile each real server is judged under
PEER_PROFILES: dict[str, str] = {
    "gearmand-c": "gearmand-1.1",
    "perl-gearman-server": "perl-1.130",
    "gear": "gear-0.16",
}
#: the vector areas a real server is run on: all of them; a program case (client/) judges a
#: client program and is n/a for a server, the other client/ cases judge the server
REAL_SERVER_AREAS: tuple[str, ...] = ("codec", "server", "worker", "admin", "client", "regressions")
#: managed servers played at once per implementation
DEFAULT_JOBS = 12
#: where the committed baselines live, relative to the repository root
BASELINE_DIR = Path("baselines")

_EXIT_REGRESSION = 1


# --------------------------------------------------------------------------- baselines on disk


def baseline_key(impl: Implementation) -> str:
    """The file stem of an implementation's baseline: the peer name, or ``model-<profile>``."""
    return impl.key.replace(":", "-")


def read_baseline(path: Path) -> Baseline:
    """Read a baseline file.

    Raises:
        BaselineError: the file is missing, unreadable or not a baseline.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from None
    return parse_baseline(text, str(path))


def write_baseline(path: Path, baseline: Baseline) -> None:
    """Write a baseline file in canonical form (creating its folder).

    Raises:
        OSError: the file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_baseline(baseline), encoding="utf-8")


# --------------------------------------------------------------------------- running


def model_implementation(profile: str) -> Implementation:
    """The column for the reference model under ``profile``."""
    return Implementation(f"model:{profile}", f"model ({profile})", "model", profile, "gearsim", "virtual time")


def peer_implementation(name: str, version: str = "", note: str = "") -> Implementation:
    """The column for real server ``name`` under its matching profile."""
    return Implementation(name, PEERS[name].description, "server", PEER_PROFILES[name], version, note)


def peer_version(name: str, rundir: Path) -> str:
    """Start peer ``name`` once to ask its version; ``"unknown"`` when that fails. Never raises."""
    try:
        peer = start_peer(name, rundir)
    except (PeerError, ValueError):
        return "unknown"
    try:
        return peer.version()
    finally:
        with contextlib.suppress(PeerError):
            stop_peer(peer)


def _server_refs(refs: Sequence[CaseRef]) -> list[CaseRef]:
    return [(vf, case) for vf, case in refs if vf.area in REAL_SERVER_AREAS]


def run_implementation(
    impl: Implementation,
    refs: Sequence[CaseRef],
    workdir: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    reuse: bool = True,
) -> list[CaseResult]:
    """Play ``refs`` on one implementation: the model (virtual time) or fresh managed servers.

    Raises:
        PeerError: a managed server could not be stopped (servers that will not
            start give INCONCLUSIVE verdicts instead).
    """
    if impl.kind == "model":
        model = ModelPeerFactory(profile=impl.profile)
        return [run_case(vf, case, model, impl.profile) for vf, case in refs]

    def make(i: int) -> ManagedPeerFactory:
        return ManagedPeerFactory(impl.key, workdir / f"{impl.key}-{i}", reuse=reuse)

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
) -> tuple[Matrix, list[tuple[Implementation, list[CaseResult]]]]:
    """Run the selection on the model under ``models`` and on the installed ``peers``.

    A peer that is not installed gets an empty column with a note, unless
    ``require_peers``. Real servers get only the server-judging areas
    (:data:`REAL_SERVER_AREAS`).

    Raises:
        PeerError: a peer is missing and ``require_peers`` is set, or a server
            could not be stopped.
    """
    refs = selected_cases(selection.files, selection.chosen)
    runs: list[tuple[Implementation, list[CaseResult]]] = []
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
    selection = select(args.vectors)
    peers = list(PEERS) if args.peers is None else [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in PEERS:
            raise BaselineError(f"unknown peer {p!r}; known peers: {', '.join(sorted(PEERS))}")
    models = [] if args.no_model else list(PROFILES)
    matrix, runs = run_matrix(
        selection,
        peers=peers,
        models=models,
        jobs=args.jobs,
        reuse=not args.no_reuse,
        require_peers=args.require_peers,
        log=sys.stderr,
    )
    from gearsim.files import load_requirements

    rules = load_requirements()
    renders = (
        (args.out_json, matrix_json(matrix)),
        (args.out_html, matrix_html(matrix, rules)),
        (args.out_md, matrix_markdown(matrix, rules)),
    )
    for path, text in renders:
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
    code = 0
    for impl, results in runs:
        if not results:
            continue
        c = matrix.counts(impl.key)
        print(f"{impl.key:<22} " + " ".join(f"{v.value}={n}" for v, n in sorted(c.items(), key=lambda kv: kv[0].value)))
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
                code = _EXIT_REGRESSION
    return code


def add_matrix_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gearsim matrix`` to the main parser's subcommands."""
    p = subparsers.add_parser(
        "matrix",
        help="compatibility matrix: every vector on the model (each profile) and on each installed real server",
    )
    p.add_argument("vectors", nargs="*", help="paths, bundled names or globs (default: all bundled vectors)")
    p.add_argument("--out-json", metavar="FILE", help="write the matrix as JSON")
    p.add_argument("--out-html", metavar="FILE", help="write the matrix as one self-contained HTML page")
    p.add_argument("--out-md", metavar="FILE", help="write the matrix as Markdown (docs/compatibility.md)")
    p.add_argument("--peers", metavar="LIST", help=f"comma-separated real servers (default: {','.join(PEERS)})")
    p.add_argument("--no-model", action="store_true", help="leave the reference model out")
    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help=f"servers run at once (default {DEFAULT_JOBS})")
    p.add_argument("--no-reuse", action="store_true", help="a fresh server for every case, even stateless ones")
    p.add_argument("--require-peers", action="store_true", help="fail when a real server is not installed")
    p.add_argument("--write-baselines", metavar="DIR", help="write DIR/<implementation>.json from this run")
    p.add_argument("--baselines", metavar="DIR", help="compare with DIR/<implementation>.json; exit 1 on regression")
    p.set_defaults(func=_cmd_matrix)


# --------------------------------------------------------------------------- gearsim run hooks


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """Add ``--peer``, ``--jobs``, ``--no-reuse``, ``--baseline`` and ``--write-baseline`` to ``gearsim run``."""
    run.add_argument(
        "--peer",
        choices=sorted(PEERS),
        help="start this real server on 127.0.0.1 for the run, fresh for each case, with each case's options",
    )
    run.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="with --peer: servers run at once")
    run.add_argument("--no-reuse", action="store_true", help="with --peer: a fresh server even after stateless cases")
    run.add_argument("--baseline", metavar="FILE", help="compare with this baseline; exit 1 only on regressions")
    run.add_argument("--write-baseline", metavar="FILE", help="write the verdicts of this run as a baseline")


def run_on_real_server(args: argparse.Namespace, selection: Selection) -> tuple[list[CaseResult], str] | None:
    """Play the selection on ``--server HOST:PORT`` or on managed ``--peer`` servers.

    Returns None when neither is given (the caller runs the model), else the
    results in selection order and a description of the target for the report.
    A user-given server runs every case, in order, on that one server; cases
    that need server start-up options are INCONCLUSIVE ("needs server option
    --job-retries=2"). ``--shard K/N`` keeps only that shard's cases.

    Raises:
        BaselineError: both --server and --peer are given (an input error).
        PeerError: the managed peer is not installed, or could not be stopped.
    """
    server: tuple[str, int] | None = getattr(args, "server", None)
    peer: str | None = getattr(args, "peer", None)
    if server is None and peer is None:
        return None
    if server is not None and peer is not None:
        raise BaselineError("--server and --peer exclude each other")
    refs = selected_cases(selection.files, selection.chosen)
    shard = getattr(args, "shard", None)
    if shard is not None:
        refs = [(vf, c) for vf, c in refs if shard.holds(f"{vf.name}::{c.id}")]
    if server is not None:
        host, port = server
        user = UserServerFactory(host, port)
        factory = _chunked(args, user)
        results = _with_progress(
            refs, lambda tick: run_cases(refs, lambda _i: factory, args.profile, jobs=1, progress=tick)
        )
        return results, f"{_identity(host, port)} ({user.describe()}){_chunking_note(args)}"
    assert peer is not None  # one of the two is set
    results, target = _run_managed(args, peer, refs)
    return results, target + _chunking_note(args)


def _chunked(args: argparse.Namespace, factory: ClosingFactory) -> ClosingFactory:
    """``factory`` re-chunking every write when ``--chunking SEED`` is given."""
    seed = getattr(args, "chunking", None)
    if seed is None:
        return factory
    from gearsim.cli.fuzz import chunked_factory

    return chunked_factory(factory, seed, wall_clock=True)


def _chunking_note(args: argparse.Namespace) -> str:
    seed = getattr(args, "chunking", None)
    if seed is None:
        return ""
    from gearsim.run.chunking import expand

    return f"; {expand(seed).describe()}"


def _identity(host: str, port: int) -> str:
    """'<its answer to admin version> at HOST:PORT', for reports."""
    from gearsim.fuzz.session import server_identity

    try:
        return server_identity(host, port)
    except HarnessError:
        return f"a server that does not answer 'version' at {host}:{port}"


def _with_progress(
    refs: Sequence[CaseRef], run: Callable[[Callable[[CaseResult], None]], list[CaseResult]]
) -> list[CaseResult]:
    from gearsim.cli.progress import progress

    with progress("gearsim run", total=len(refs), unit="cases") as bar:
        return run(lambda _result: bar.advance())


def _run_managed(args: argparse.Namespace, peer: str, refs: Sequence[CaseRef]) -> tuple[list[CaseResult], str]:
    missing = peer_available(peer)
    if missing is not None:
        raise PeerError(f"{peer}: {missing}")
    expected = PEER_PROFILES[peer]
    if args.profile != expected:
        print(f"gearsim run: note: {peer} is usually judged under profile {expected}", file=sys.stderr)
    reuse = not getattr(args, "no_reuse", False)
    jobs = max(1, int(getattr(args, "jobs", DEFAULT_JOBS)))
    with tempfile.TemporaryDirectory(prefix="gearsim-run-") as tmp:
        factories: list[ManagedPeerFactory] = []

        def make(i: int) -> ClosingFactory:
            f = ManagedPeerFactory(peer, Path(tmp) / f"{peer}-{i}", reuse=reuse)
            factories.append(f)
            return _chunked(args, f)

        results = _with_progress(refs, lambda tick: run_cases(refs, make, args.profile, jobs=jobs, progress=tick))
        starts = sum(f.starts for f in factories)
        described = factories[0].describe() if factories else peer
    return results, f"{described}; {jobs} at once, {starts} server starts"


def baseline_exit(args: argparse.Namespace, results: Sequence[CaseResult], out: TextIO | None = None) -> int | None:
    """Handle ``--write-baseline`` and ``--baseline`` after a run.

    Prints the comparison (regressions, XPASS, changed, new) to ``out``
    (stdout by default). Returns None without ``--baseline`` (the caller keeps
    its usual exit code), else 1 when a case regressed and 0 otherwise: with a
    baseline only regressions fail a run.

    Raises:
        BaselineError: the baseline file is missing or malformed.
        OSError: the baseline to write cannot be written.
    """
    stream = out if out is not None else sys.stdout
    target = getattr(args, "peer", None) or ("server" if getattr(args, "server", None) else f"model:{args.profile}")
    if getattr(args, "driver", None):
        target = f"driver:{args.driver}"
    if getattr(args, "write_baseline", None):
        meta = {"generated_by": f"gearsim run --write-baseline {args.write_baseline}"}
        write_baseline(Path(args.write_baseline), baseline_from_results(results, target, args.profile, meta))
    if not getattr(args, "baseline", None):
        return None
    baseline = read_baseline(Path(args.baseline))
    if baseline.profile != args.profile:
        print(
            f"gearsim run: note: baseline {args.baseline} is for profile {baseline.profile}, not {args.profile}",
            file=stream,
        )
    cmp: Comparison = compare(baseline, results)
    stream.write(format_comparison(cmp))
    return 0 if cmp.ok else _EXIT_REGRESSION


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gearsim.cli.matrix matrix ...``: the matrix command on its own (same exit codes as gearsim).

    Never raises for gearsim errors: they print one line on stderr and give exit code 3.
    """
    from gearsim.errors import GearsimError

    parser = argparse.ArgumentParser(prog="gearsim")
    add_matrix_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (GearsimError, OSError) as exc:
        print(f"gearsim {args.command}: {exc}", file=sys.stderr)
        return 3
    return code


if __name__ == "__main__":
    sys.exit(main())
