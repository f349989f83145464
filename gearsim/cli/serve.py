"""The ``gearsim serve`` command and the ``gearsim run --programs/--client`` helper (glue).

``add_serve_commands(subparsers)`` registers ``serve`` on the ``gearsim``
parser; ``add_client_options(run_parser)`` adds ``--programs``, ``--client``,
``--within-floor`` and ``--time-limit`` to ``gearsim run``, and
``run_client_vectors(args)`` carries out such a run (the caller of ``gearsim
run`` checks ``args.programs or args.client`` first) and ``gearsim run``
reports the results. Program cases (vectors with ``programs``) run only so:
a plain ``gearsim run`` finds them not applicable and launches nothing.

Exit codes as ``gearsim``: 0 pass, 1 a failure, 2 inconclusive, 3 a harness or
input error printed as one line on stderr (a port in use, an unknown profile,
a log file that cannot be opened). ``serve`` itself exits 0 when stopped, or 1
when a peer broke a rule while it ran (each violation was printed on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from gearsim.errors import Fault, GearsimError
from gearsim.run.runner import CaseResult

__all__ = [
    "add_client_options",
    "add_serve_commands",
    "build_server",
    "run_client_vectors",
]

EXIT_INPUT = 3
#: serve stopped after a peer broke a rule
EXIT_VIOLATIONS = 1


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def build_server(
    profile: str,
    *,
    node: str | None = None,
    exceptions: bool = False,
    job_retries: int = 0,
    worker_wakeup: int = 0,
    epoch0: int | None = None,
) -> Any:
    """The reference model ``Server`` for ``profile`` with gearmand-like options.

    ``epoch0`` is the Unix time of tick 0 (None: the model's fixed default).

    Raises:
        GearsimError: ``profile`` is not a known profile (a one-line message).
    """
    from gearsim.model import Server, ServerOptions
    from gearsim.model.profiles import PROFILES

    if profile not in PROFILES:
        raise _InputError(f"unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
    extra: dict[str, Any] = {}
    if node is not None:
        extra["node"] = node
    if epoch0 is not None:
        extra["epoch0"] = epoch0
    options = ServerOptions(exceptions=exceptions, job_retries=job_retries, worker_wakeup=worker_wakeup, **extra)
    return Server(profile, options)


class _InputError(GearsimError):
    """Bad command-line input."""

    fault = Fault.INPUT


def _cmd_serve(args: argparse.Namespace) -> int:
    from gearsim.io.serve import ServeLimits, serve_forever
    from gearsim.io.serve_log import ServeLog

    epoch0 = int(time.time()) if args.epoch == "now" else int(args.epoch)
    node = build_server(
        args.profile,
        node=args.node,
        exceptions=args.exceptions,
        job_retries=args.job_retries,
        worker_wakeup=args.worker_wakeup,
        epoch0=epoch0,
    )
    stream: TextIO | None = None
    earlier = 0
    if args.log == "-":
        stream = sys.stderr
    elif args.log:
        path = Path(args.log)
        try:
            earlier = path.stat().st_size if path.is_file() else 0
            stream = path.open("a", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise _InputError(f"cannot open log file {args.log}: {exc.strerror or exc}") from None
    fmt = args.log_format or ("jsonl" if str(args.log or "").endswith(".jsonl") else "text")
    log = ServeLog(stream, fmt) if stream is not None else None
    header: dict[str, object] = {
        "version": _version(),
        "profile": args.profile,
        "epoch0": epoch0,
        "check": not args.no_check,
        "idle_timeout": args.idle_timeout,
        "message_timeout": args.message_timeout,
        "log_held_bytes_before": earlier,
    }
    limits = ServeLimits(idle_timeout=args.idle_timeout, message_timeout=args.message_timeout)
    try:
        _fast_event_loop()
        shell = asyncio.run(
            serve_forever(
                node, args.host, args.port, log=log, header=header, check=not args.no_check,
                alerts=sys.stderr, limits=limits, tick0_wall=epoch0,
            )
        )  # fmt: skip
    finally:
        if stream is not None and stream is not sys.stderr:
            stream.close()
    seen = shell.observer.violations if shell.observer is not None else {}
    if seen:
        rules = ", ".join(f"{rule} x{n}" for rule, n in sorted(seen.items()))
        print(f"gearsim serve: {sum(seen.values())} violations by peers ({rules})", file=sys.stderr)
        return EXIT_VIOLATIONS
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gearsim")
    except PackageNotFoundError:
        return "unknown"


def _epoch(text: str) -> str:
    if text != "now" and not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected 'now' or Unix seconds, got {text!r}")
    return text


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e9:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def add_serve_commands(subparsers: Any) -> None:
    """Register ``serve`` on the ``gearsim`` sub-command parsers (``parser.add_subparsers()``)."""
    serve = subparsers.add_parser(
        "serve",
        help="run the reference model as a real TCP job server (client under test)",
        description="Run the reference model as a Gearman job server on a real socket. Prints "
        "'listening on HOST:PORT' first; every message is logged with --log.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=_port, default=4730, help="port (default 4730; 0 picks a free one)")
    serve.add_argument("--profile", default="gearmand-1.1", help="implementation profile (default gearmand-1.1)")
    serve.add_argument(
        "--log",
        metavar="FILE",
        help="log every message and violation, one line each ('-' for stderr); appended after a run header",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "jsonl"),
        help="text (canonical trace lines) or jsonl (one JSON object a line); default: jsonl for *.jsonl",
    )
    serve.add_argument(
        "--no-check",
        action="store_true",
        help="do not judge what peers send (by default every packet is checked for its sender's role, and each "
        "violation is printed on stderr with its rule id; serve then exits 1)",
    )
    serve.add_argument(
        "--epoch",
        type=_epoch,
        default="now",
        help="Unix seconds the model's clock starts at (default 'now': SUBMIT_JOB_EPOCH jobs wait for their "
        "wall-clock time)",
    )
    serve.add_argument("--epoch-now", dest="epoch", action="store_const", const="now", help="same as --epoch now")
    serve.add_argument(
        "--idle-timeout",
        type=_seconds,
        metavar="S",
        help="close a connection that sends nothing for S seconds (default: never, as gearmand; sleeping "
        "workers are idle too)",
    )
    serve.add_argument(
        "--message-timeout",
        type=_seconds,
        metavar="S",
        help="close a connection whose message (header, body or admin line) is unfinished S seconds after its "
        "first byte (slow headers; default: never)",
    )
    serve.add_argument("--node", help="host part of job handles, H:<node>:<n> (default: the model's)")
    serve.add_argument("--exceptions", action="store_true", help="as gearmand --exceptions")
    serve.add_argument("--job-retries", type=_count, default=0, help="as gearmand --job-retries (0: no limit)")
    serve.add_argument("--worker-wakeup", type=_count, default=0, help="as gearmand --worker-wakeup (0: all)")
    serve.set_defaults(func=_cmd_serve)


def _fast_event_loop() -> None:
    """Use uvloop's event loop when it is installed: the shell's cost is mostly the loop's.

    gearsim serve runs the same sans-IO model either way; uvloop only moves
    bytes faster (tools/bench/serve.py measures both peers and gearsim).
    """
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def add_client_options(run: argparse.ArgumentParser) -> None:
    """Add ``--programs``, ``--client COMMAND`` (repeatable), ``--within-floor``, ``--time-limit`` to ``run``."""
    run.add_argument(
        "--programs",
        action="store_true",
        help="run the program cases (default: client/) with the commands their vectors give, launching real "
        "client and worker programs against the model served on 127.0.0.1",
    )
    run.add_argument(
        "--client",
        action="append",
        metavar="COMMAND",
        help="run the program cases with this program instead of the vectors' commands ({host}, {port} and "
        "{python} are substituted); give it once per program actor, in the order of the case's programs, or once "
        "for all",
    )
    run.add_argument(
        "--within-floor",
        type=_count,
        default=10_000,
        metavar="MS",
        help="least ms a program step waits (default 10000)",
    )
    run.add_argument(
        "--time-limit",
        type=_count,
        default=180,
        metavar="S",
        help="seconds a program case may take before its programs are stopped and it fails (default 180)",
    )


def run_client_vectors(args: argparse.Namespace) -> tuple[list[CaseResult], str]:
    """``gearsim run --programs`` / ``--client``: play the selected program cases; return the results and a target.

    Uses ``args.client`` (None or empty: each vector's commands),
    ``args.vectors`` (default ``client``), ``args.profile``,
    ``args.within_floor`` and ``args.time_limit``; ``gearsim run`` writes the
    report. Cases that are not program cases are NOT_APPLICABLE.

    Raises:
        GearsimError: a selector matches nothing or a vector file is invalid.
    """
    from gearsim.files import select
    from gearsim.io.programs import run_program_cases

    selection = select(args.vectors or ["client"])
    commands: list[str] = list(args.client or [])
    results = run_program_cases(
        selection,
        commands or None,
        profile=args.profile,
        within_floor=args.within_floor,
        time_limit=float(args.time_limit),
    )
    programs = f"program(s) {' + '.join(repr(c) for c in commands)}" if commands else "the vectors' programs"
    target = f"{programs} against the reference model served on 127.0.0.1"
    return results, target
