"""``gearsim run``: play vectors against a target and report the verdicts (glue: arguments, files, exit codes).

This module is the whole command, in the order it happens:

1. **what to play**: vector selectors (paths, bundled names, globs,
   ``FILE::CASE-GLOB``), ``--exclude GLOB``, ``--shard K/N``;
2. **against what**: the reference model in virtual time (the default,
   ``--seed N``); a user's long-lived server (``--server HOST:PORT``, each
   case in a namespace of its own); servers gearsim starts itself, fresh per
   case unless reuse is safe: any server from its command line
   (``--server-command 'CMD ... {port} ...'``) and server description
   (``--server-description FILE``), or a built-in peer (``--peer NAME``),
   ``--jobs`` at once, ``--no-reuse``; client and worker programs against
   the served model (``--programs``, ``--client COMMAND``); or a client
   library through its driver (``--driver COMMAND``, library cases); any of
   the first three with every write re-chunked (``--chunking SEED``);
3. **judged how**: ``--profile NAME`` (refused before anything runs when
   unknown) and ``--level must|should|may`` (only rules of that strength or
   stricter can fail the run);
4. **reported how**: ``--format text|json|junit|html``, ``--out``,
   ``--trace`` (every case's trace), ``--pcap`` (model runs), and for every failure a line that reproduces it
   with the same target (gearsim.report.repro);
5. **compared with what**: ``--baseline`` (only regressions fail the run) and
   ``--write-baseline``.

Told to stop (SIGTERM, SIGHUP, Ctrl-C), it still reports the cases it had
finished (gearsim.cli.run_report, which makes the reports of steps 4 and 5).
The work is in gearsim.run (playing and judging), gearsim.io (servers and
programs) and gearsim.report (reports, baselines, reproduce lines). Exit codes
are gearsim.cli.common's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gearsim.cli.common import (
    EXIT_INCONCLUSIVE,
    Stopped,
    add_profile_argument,
    address,
    check_outputs,
    command,
    count,
    counted,
    exit_code,
    positive,
    say_notes,
    seconds,
    shard,
    unjudged,
    write_pcap,
)
from gearsim.cli.progress import progress
from gearsim.cli.run_report import (
    Played,
    baseline_exit,
    baseline_target,
    flag,
    report_stopped,
    title_tail,
    write_report,
)
from gearsim.errors import HarnessError, InputError, ServerSilent
from gearsim.files import load_requirements, read_baseline, replace_text, select
from gearsim.io.children import stopping
from gearsim.io.launch import LaunchError
from gearsim.io.managed import DEFAULT_JOBS, PEER_PROFILES, ManagedPeerFactory, UserServerFactory, run_cases
from gearsim.io.peers import PEERS, PeerError, peer_available, peer_description
from gearsim.io.serverdesc import ServerDescription, command_description, load_description
from gearsim.protocol.trace import terminal_text
from gearsim.report.repro import Target
from gearsim.run.batch import CaseRef, ClosingFactory, selected_cases
from gearsim.run.chunked import chunked_factory
from gearsim.run.chunking import expand
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.result import LEVELS, CaseResult, at_level
from gearsim.run.runner import default_profile, run_case

__all__ = ["add_run_command"]


def add_run_command(subparsers: Any) -> None:
    """Add ``gearsim run`` to the main parser's subcommands."""
    run = subparsers.add_parser(
        "run",
        help="run vectors (default: all bundled) against the reference model, a real server, client programs "
        "or a client library's driver",
    )
    run.add_argument("vectors", nargs="*", help="paths, bundled names or globs, optionally FILE::CASE-GLOB")
    run.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="leave out cases whose FILE::CASE matches"
    )
    run.add_argument("--shard", type=shard, metavar="K/N", help="run only the cases of shard K of N (CI matrix)")
    add_profile_argument(
        run, "gearmand-1.1 for the model, a --peer's own profile, spec against --server and --server-command"
    )
    run.add_argument(
        "--level",
        choices=LEVELS,
        help="only rules of this strength or stricter can fail the run (default may: every rule)",
    )
    run.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    target = run.add_argument_group("target (default: the reference model in virtual time)")
    target.add_argument("--server", type=address, metavar="HOST:PORT", help="run against a real server over TCP")
    target.add_argument(
        "--server-command",
        type=command,
        metavar="'CMD ... {port} ...'",
        help="start this server on 127.0.0.1 (a free port for {port}), fresh for each case; a case that needs a "
        "server option the command cannot take is n/a (spell options in --server-description)",
    )
    target.add_argument(
        "--server-description",
        type=command,
        metavar="FILE",
        help="a TOML server description (command, how each server option is spelled, ...); "
        "with --server-command, the command replaces the file's",
    )
    target.add_argument(
        "--peer",
        choices=sorted(PEERS),
        help="start this real server on 127.0.0.1 for the run, fresh for each case, with each case's options",
    )
    target.add_argument(
        "--jobs",
        type=positive,  # 0 and -3 were taken (and shown as 'jobs 0')
        default=DEFAULT_JOBS,
        help=f"with --peer/--server-command/--server-description: servers run at once (default {DEFAULT_JOBS})",
    )
    target.add_argument(
        "--no-reuse",
        action="store_true",
        help="with --peer/--server-command/--server-description: a fresh server even after stateless cases",
    )
    target.add_argument(
        "--programs",
        action="store_true",
        help="run the program cases (default: client/) with the commands their vectors give, launching real "
        "client and worker programs against the model served on 127.0.0.1",
    )
    target.add_argument(
        "--client",
        action="append",
        type=command,
        metavar="COMMAND",
        help="run the program cases with this program instead of the vectors' commands ({host}, {port} and "
        "{python} are substituted); give it once per program actor, in the order of the case's programs, or once "
        "for all",
    )
    target.add_argument(
        "--within-floor", type=count, default=10_000, metavar="MS", help="least ms a program step waits (default 10000)"
    )
    target.add_argument(
        "--time-limit",
        type=count,
        default=180,
        metavar="S",
        help="seconds a program case may take before its programs are stopped and it fails (default 180)",
    )
    target.add_argument(
        "--driver",
        type=command,
        metavar="COMMAND",
        help="run the library cases (default: every bundled one) with this driver (spec/driver.md): php, perl, "
        "gear, or a command line ({python} and {drivers} are substituted)",
    )
    target.add_argument(
        "--driver-time-limit",
        type=seconds,
        default=90.0,
        metavar="S",
        help="seconds a library case may take before its drivers are stopped (default 90)",
    )
    target.add_argument(
        "--chunking",
        type=count,  # chunking.expand raises on a negative seed: refuse it as a usage error
        metavar="SEED",
        help="re-send every vector's bytes re-chunked by this seed (0 bytewise, the middle of a write over 4 KiB "
        "whole; 1 header/body, 2 coalesced, 3 admin lines split mid-line, other seeds mixed); verdicts must not "
        "change",
    )
    report = run.add_argument_group("report")
    report.add_argument("--format", choices=("text", "json", "junit", "html"), default="text", help="report format")
    report.add_argument("--out", metavar="FILE", help="write the report here (the text report still goes to stdout)")
    report.add_argument("--trace", metavar="FILE", help="write the canonical text trace of every case")
    report.add_argument("--pcap", metavar="FILE", help="write every case's conversation as one capture (model runs)")
    report.add_argument(
        "--baseline",
        metavar="FILE",
        help="compare with this baseline; exit 1 only on regressions (2 still when no case could be judged)",
    )
    report.add_argument("--write-baseline", metavar="FILE", help="write the verdicts of this run as a baseline")
    run.set_defaults(func=_cmd_run)


# --------------------------------------------------------------------------- the command


def _cmd_run(args: argparse.Namespace) -> int:
    programs = bool(args.client or args.programs)
    command = bool(args.server_command or args.server_description)
    if sum(map(bool, (programs, args.server, args.peer, args.driver, command))) > 1:
        targets = "--client/--programs, --server, --server-command/--server-description, --peer and --driver"
        raise InputError(f"{targets} exclude each other")
    if args.pcap and (programs or args.server or args.peer or args.driver or command):
        # only the model's runs are simulated: against anything real no capture was made, and
        # writing none while exiting 0 let a user believe they had one
        raise InputError(
            "--pcap writes the built-in model's simulated conversations; against a real server or a client "
            "under test, capture the traffic (tcpdump -i lo -w FILE port PORT) and read it with gearsim decode"
        )
    # every output is checked before the run: written after it, a bad one took the verdicts with it
    check_outputs([("--out", args.out), ("--trace", args.trace), ("--pcap", args.pcap)])
    check_outputs([("--write-baseline", args.write_baseline)], make_folders=True)
    described = _description(args) if command else None
    # a described server, the built-in peers too, is judged under its own profile unless one is named
    own = described or (peer_description(args.peer) if args.peer else None)
    profile = args.profile or (own.profile if own is not None else "")
    profile = profile or default_profile(real_server=args.server is not None or command)
    target = _target(args, profile)
    specs = args.vectors or (["client"] if programs or args.driver else [])
    selection = select(specs).excluding(args.exclude)
    say_notes("run", selection.notes)
    if args.exclude and not selection.files:
        # as a selector matching nothing is refused: a mistyped --exclude must not pass a run that judged nothing
        chosen = " ".join(specs) if specs else "every bundled vector file"
        patterns = " ".join(f"--exclude {g!r}" for g in args.exclude)
        raise InputError(f"no case left to run: {patterns} excludes every case of the selection ({chosen})")
    refs = selected_cases(selection.files, selection.chosen)
    if args.driver and not args.vectors:
        refs = [(vf, c) for vf, c in refs if c.is_library]  # every bundled library case, nothing else
    if args.shard is not None:
        refs = [(vf, c) for vf, c in refs if args.shard.holds(f"{vf.name}::{c.id}")]
    if args.baseline:
        read_baseline(Path(args.baseline))  # a missing or broken baseline is refused before a long run, not after
    finished: _Finished = []
    try:
        played = _play(args, refs, profile, described, finished)
    except ServerSilent as silent:
        # as gearsim fuzz says it: nothing was judged, so inconclusive, and nothing was written
        print(terminal_text(f"stopped early: server down since first contact: {silent}; no case run"))
        return EXIT_INCONCLUSIVE
    except (KeyboardInterrupt, Stopped) as stop:
        # the verdicts reached so far are reported before main exits 128 + the signal: an hour's
        # run stopped by a CI timeout or a Ctrl-C kept none of them
        report_stopped(args, refs, finished, stop, len(selection.files), profile, target)
        raise
    requirements = load_requirements()
    results = played.results
    if args.level:
        results = [at_level(r, args.level, requirements) for r in results]
    title = f"gearsim run{flag(args)}: {counted(len(results), 'case')} against {played.described}, "
    title += title_tail(args, len(selection.files), profile)
    write_report(args, results, requirements, title, played, target)
    if played.footer:
        sys.stdout.write(terminal_text(played.footer) + "\n")  # names why the server went down, in its words
    if played.model is not None and args.trace:
        replace_text(Path(args.trace), played.model.trace_text())
    elif args.trace:
        from gearsim.cli.clients import write_case_traces

        write_case_traces(Path(args.trace), results)
    if played.model is not None and args.pcap:
        write_pcap([sim.trace for _, sim in played.model.traces()], args.pcap)
    code = baseline_exit(args, results, profile, baseline_target(args, profile, described))
    if code is not None:
        return code
    why = unjudged(results)
    if why:
        # as with --baseline and as matrix and clients do: one line naming the cause, not only 37 blocks saying it
        print(terminal_text(f"gearsim run: {why}"), file=sys.stderr)
    return exit_code(results)


def _play(
    args: argparse.Namespace,
    refs: Sequence[CaseRef],
    profile: str,
    described: ServerDescription | None,
    finished: _Finished,
) -> Played:
    """The cases played against the target the options name, each verdict kept in ``finished`` as it comes.

    Raises:
        ServerSilent: ``--server``'s address answers nothing at first contact.
        KeyboardInterrupt, Stopped: told to stop; ``finished`` holds what was judged before.
    """
    if args.driver:
        return _play_driver(args, refs, profile, finished)
    if args.client or args.programs:
        return _play_programs(args, refs, profile, finished)
    if args.server is not None:
        return _play_server(args, refs, profile, finished)
    if described is not None:
        return _play_managed(args, refs, profile, described, finished)
    if args.peer is not None:
        return _play_peers(args, refs, profile, finished)
    return _play_model(args, refs, profile, finished)


def _level(args: argparse.Namespace) -> str:
    """The level the runner judges a spec run's alternatives at (``should`` unless ``--level`` says)."""
    return str(args.level or "should")


def _target(args: argparse.Namespace, profile: str) -> Target:
    """The target as the user gave it, for reproduce lines."""
    server = f"{args.server[0]}:{args.server[1]}" if args.server else None
    started = args.server_command or args.server_description
    model = not (args.server or args.peer or args.client or args.programs or args.driver or started)
    return Target(
        profile=profile,
        seed=args.seed if model else None,
        server=server,
        server_command=args.server_command,
        server_description=args.server_description,
        peer=args.peer,
        programs=bool(args.programs),
        clients=tuple(args.client or ()),
        driver=args.driver,
        chunking=args.chunking,
        level=args.level,
    )


# --------------------------------------------------------------------------- targets


#: the verdicts of the cases finished so far, in the order they finished: what a stopped run reports
_Finished = list[CaseResult]


def _ticking(
    refs: Sequence[CaseRef], play: Callable[[Callable[[CaseResult], None]], list[CaseResult]], finished: _Finished
) -> list[CaseResult]:
    """``play(tick)`` under a progress bar that ``tick`` advances once per case; each verdict is kept in ``finished``.

    Not kept: a verdict reached once gearsim has begun to stop (a thread still
    inside a case when the signal came), as its server or program was stopped under it.
    """
    with progress("gearsim run", total=len(refs), unit="cases") as bar:

        def tick(result: CaseResult) -> None:
            if not stopping():
                finished.append(result)  # before the bar: a stop inside its drawing must not lose the verdict
            bar.advance()

        return play(tick)


def _chunked(args: argparse.Namespace, factory: ClosingFactory, *, wall_clock: bool) -> ClosingFactory:
    """``factory`` re-chunking every write when ``--chunking SEED`` is given."""
    return factory if args.chunking is None else chunked_factory(factory, args.chunking, wall_clock=wall_clock)


def _chunking_note(args: argparse.Namespace) -> str:
    return "" if args.chunking is None else f"; {expand(args.chunking).describe()}"


def _play_model(args: argparse.Namespace, refs: Sequence[CaseRef], profile: str, finished: _Finished) -> Played:
    model = ModelPeerFactory(profile=profile, seed=args.seed)
    factory = model if args.chunking is None else chunked_factory(model, args.chunking, wall_clock=False)

    def play(tick: Callable[[CaseResult], None]) -> list[CaseResult]:
        results = []
        for vf, case in refs:
            results.append(run_case(vf, case, factory, profile, level=_level(args)))
            tick(results[-1])
        return results

    described = f"the reference model (seed {args.seed}, virtual time){_chunking_note(args)}"
    return Played(_ticking(refs, play, finished), described, "virtual", model)


def _play_server(args: argparse.Namespace, refs: Sequence[CaseRef], profile: str, finished: _Finished) -> Played:
    """Every case, in order, on the user's one server, each in a namespace of its own.

    Cases that need a fresh server are n/a; once the server stops answering,
    the rest are INCONCLUSIVE and the report ends with "stopped early: server
    down since CASE".

    Raises:
        HarnessError: the server cannot be connected to at all.
        NotGearman: something other than a Gearman server answers there (gearsim.io.preflight).
        ServerSilent: it accepts connections and answers none of ECHO_REQ, GET_STATUS and 'version'.
    """
    host, port = args.server
    user = UserServerFactory(host, port)
    # probes the server once, before anything else asks it: nothing there, or no Gearman there, is exit 3;
    # a server that answers nothing is exit 2 (ServerSilent, below)
    user.sync  # noqa: B018
    identity = _identity(host, port)
    factory = _chunked(args, user, wall_clock=True)
    results = _ticking(
        refs,
        lambda tick: run_cases(refs, lambda _i: factory, profile, jobs=1, progress=tick, level=_level(args)),
        finished,
    )
    footer = ""
    down = user.down()
    if down is not None:
        skipped = sum(r.reason == f"{down}: not run" for r in results)
        footer = f"stopped early: {down}; {counted(skipped, 'case')} not run"
    return Played(results, f"{identity} ({user.describe()}){_chunking_note(args)}", "wall", footer=footer)


def _description(args: argparse.Namespace) -> ServerDescription:
    """The server of ``--server-command`` and/or ``--server-description``.

    Raises:
        DescriptionError: the file or the command is not usable (exit 3).
    """
    base = load_description(Path(args.server_description)) if args.server_description else None
    if args.server_command:
        return command_description(args.server_command, base)
    assert base is not None  # one of the two is given
    return base


def _play_managed(
    args: argparse.Namespace, refs: Sequence[CaseRef], profile: str, description: ServerDescription, finished: _Finished
) -> Played:
    """The cases on a described server gearsim starts itself, ``--jobs`` at once.

    Raises:
        LaunchError: the server's executable is missing, or a server could not be stopped.
    """
    missing = description.missing()
    if missing is not None:
        raise LaunchError(f"{description.name}: {missing}")
    return _play_started(args, refs, profile, description, finished)


def _identity(host: str, port: int) -> str:
    """'<its answer to admin version> at HOST:PORT', for reports."""
    from gearsim.fuzz.session import server_identity

    try:
        return server_identity(host, port)
    except HarnessError:
        return f"a server that does not answer 'version' at {host}:{port}"


def _play_peers(args: argparse.Namespace, refs: Sequence[CaseRef], profile: str, finished: _Finished) -> Played:
    """The cases on servers gearsim starts itself, ``--jobs`` at once.

    Raises:
        PeerError: the peer is not installed, or a server could not be stopped.
    """
    peer: str = args.peer
    missing = peer_available(peer)
    if missing is not None:
        raise PeerError(f"{peer}: {missing}")
    if profile != PEER_PROFILES[peer]:
        print(f"gearsim run: note: {peer} is usually judged under profile {PEER_PROFILES[peer]}", file=sys.stderr)
    return _play_started(args, refs, profile, peer_description(peer), finished)


def _play_started(
    args: argparse.Namespace, refs: Sequence[CaseRef], profile: str, description: ServerDescription, finished: _Finished
) -> Played:
    jobs = max(1, args.jobs)
    name = description.name
    with tempfile.TemporaryDirectory(prefix="gearsim-run-") as tmp:
        factories: list[ManagedPeerFactory] = []

        def make(i: int) -> ClosingFactory:
            f = ManagedPeerFactory(description, Path(tmp) / f"{name}-{i}", reuse=not args.no_reuse)
            factories.append(f)
            return _chunked(args, f, wall_clock=True)

        results = _ticking(
            refs, lambda tick: run_cases(refs, make, profile, jobs=jobs, progress=tick, level=_level(args)), finished
        )
        starts = sum(f.starts for f in factories)
        described = factories[0].describe() if factories else name
    started = counted(starts, "server start")
    return Played(results, f"{described}; {jobs} at once, {started}{_chunking_note(args)}", "wall")


def _play_programs(args: argparse.Namespace, refs: Sequence[CaseRef], profile: str, finished: _Finished) -> Played:
    """The program cases with the vectors' commands or ``--client``; other cases are n/a."""
    from gearsim.io.programs import run_program_cases

    commands: list[str] = list(args.client or [])
    results = _ticking(
        refs,
        lambda tick: run_program_cases(
            refs,
            commands or None,
            profile=profile,
            within_floor=args.within_floor,
            time_limit=float(args.time_limit),
            progress=tick,
        ),
        finished,
    )
    programs = f"program(s) {' + '.join(repr(c) for c in commands)}" if commands else "the vectors' programs"
    return Played(results, f"{programs} against the reference model served on 127.0.0.1", "wall")


def _play_driver(args: argparse.Namespace, refs: Sequence[CaseRef], profile: str, finished: _Finished) -> Played:
    """The library cases through the driver ``--driver``; other cases named on the command line are n/a.

    Raises:
        GearsimBug: a bug inside gearsim while a case played (never a verdict: main prints it, exit 4).
    """
    from gearsim.drivers import REFERENCE
    from gearsim.io.library_cases import run_library_case

    def play(tick: Callable[[CaseResult], None]) -> list[CaseResult]:
        results = []
        for vf, case in refs:
            results.append(run_library_case(vf, case, args.driver, profile=profile, time_limit=args.driver_time_limit))
            tick(results[-1])
        return results

    shown = f"the {REFERENCE[args.driver].library} driver" if args.driver in REFERENCE else f"driver {args.driver!r}"
    return Played(_ticking(refs, play, finished), f"{shown} against the reference model served on 127.0.0.1", "wall")
