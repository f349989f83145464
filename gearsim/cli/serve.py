"""``gearsim serve``: the reference model as a real job server on loopback, and a live checker (glue).

A client library under test connects to it like to gearmand; every packet a
peer sends is checked for its sender's role, each violation printed on stderr
with its rule id, and every message logged with ``--log`` (text or JSONL,
after a run header). Prints ``listening on HOST:PORT`` first. Exit codes are
gearsim.cli.common's: 0 when stopped, 1 when a peer broke a rule while it ran,
3 for a port in use, an unknown profile, a log file that cannot be opened (one
line on stderr). ``gearsim run --programs/--client`` serves the model the
same way, in process (gearsim.io.programs).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gearsim.cli.common import EXIT_FAIL, EXIT_OK, add_profile_argument, count, counted, node_name, port, seconds
from gearsim.errors import InputError
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.run.runner import check_profile

if TYPE_CHECKING:
    from gearsim.io.serve_log import ServeLog

__all__ = ["add_serve_command", "build_server"]


def build_server(
    profile: str,
    *,
    node: str | None = None,
    exceptions: bool = False,
    job_retries: int = 0,
    worker_wakeup: int = 0,
    epoch0: int | None = None,
    max_body: int | None = None,
) -> Any:
    """The reference model ``Server`` for ``profile`` with gearmand-like options.

    ``epoch0`` is the Unix time of tick 0 (None: the model's fixed default);
    ``max_body`` the largest body a header may announce (None: gearmand's, any).

    Raises:
        InputError: ``profile`` is not a known profile (a one-line message).
    """
    from gearsim.model import Server, ServerOptions

    check_profile(profile)
    extra: dict[str, Any] = {}
    if node is not None:
        extra["node"] = node
    if epoch0 is not None:
        extra["epoch0"] = epoch0
    if max_body is not None:
        extra["max_body"] = max_body
    options = ServerOptions(exceptions=exceptions, job_retries=job_retries, worker_wakeup=worker_wakeup, **extra)
    return Server(profile, options)


def _cmd_serve(args: argparse.Namespace) -> int:
    from gearsim.files import installed_version
    from gearsim.io.serve import ServeLimits, serve_forever
    from gearsim.io.serve_log import ServeLog

    epoch0 = int(time.time()) if args.epoch == "now" else int(args.epoch)
    profile = args.profile or DEFAULT_PROFILE
    node = build_server(
        profile,
        node=args.node,
        exceptions=args.exceptions,
        job_retries=args.job_retries,
        worker_wakeup=args.worker_wakeup,
        epoch0=epoch0,
        max_body=args.max_body,
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
            raise InputError(f"cannot open log file {args.log}: {exc.strerror or exc}") from None
    fmt = args.log_format or ("jsonl" if str(args.log or "").endswith(".jsonl") else "text")
    log = ServeLog(stream, fmt, args.log) if stream is not None else None
    header: dict[str, object] = {
        "version": installed_version(),
        "profile": profile,
        "epoch0": epoch0,
        "check": not args.no_check,
        "idle_timeout": args.idle_timeout,
        "message_timeout": args.message_timeout,
        "max_body": args.max_body,
        # the model's options as built, so a log says which server produced it (a handle's node included)
        "node": node.options.node,
        "exceptions": node.options.exceptions,
        "job_retries": node.options.job_retries,
        "worker_wakeup": node.options.worker_wakeup,
        "log_held_bytes_before": earlier,
    }
    limits = ServeLimits(idle_timeout=args.idle_timeout, message_timeout=args.message_timeout)
    # 'now': tick 0 is that wall second, so the model's epoch clock is the wall clock; a pinned epoch: tick 0 is
    # when serve starts, so the model's clock runs from that epoch (tick 0 at the pinned second would skip a past
    # epoch forward to the wall clock)
    tick0_wall = epoch0 if args.epoch == "now" else None
    try:
        # a loop of its own: setting uvloop's policy for the process (as this did) leaked into
        # whatever ran next in it (a test suite's driver threads then raced spawning processes)
        with asyncio.Runner(loop_factory=_fast_event_loop()) as runner:
            shell = runner.run(
                serve_forever(
                    node, args.host, args.port, log=log, header=header, check=not args.no_check,
                    alerts=sys.stderr, limits=limits, tick0_wall=tick0_wall,
                )
            )  # fmt: skip
    finally:
        if log is not None and log.stream is not sys.stderr:
            _close_log(log)
    seen = shell.observer.violations if shell.observer is not None else {}
    if seen:
        rules = ", ".join(f"{rule} x{n}" for rule, n in sorted(seen.items()))
        print(f"gearsim serve: {counted(sum(seen.values()), 'violation')} by peers ({rules})", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def _close_log(log: ServeLog) -> None:
    """Close the log file; a write that fails even now is named as the log's (``log.failed``).

    Raises:
        HarnessError: the last lines cannot be written (when no error is already on its way out).
    """
    try:
        log.stream.close()
    except OSError as exc:
        # after a failed write the lines are still buffered and close fails again: the first error is the one to tell
        # (the file is closed all the same)
        if sys.exc_info()[1] is None:
            raise log.failed(exc) from None


def _epoch(text: str) -> str:
    if text != "now" and not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected 'now' or Unix seconds, got {text!r}")
    return text


_SIZE_UNITS = {"": 1, "K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GIB": 1 << 30}


def _size(text: str) -> int:
    """Bytes from ``65536``, ``64K``, ``64MiB``, ``4G``: at most 4294967295 (what a header can announce)."""
    digits = text.rstrip("KkMmGgIiBb")
    unit = text[len(digits) :].upper()
    if not digits.isdigit() or unit not in _SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"expected a size such as 65536, 64K or 64MiB, got {text!r}")
    value = int(digits) * _SIZE_UNITS[unit]
    if value > 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is more than a header can announce (4294967295)")
    return value


def add_serve_command(subparsers: Any) -> None:
    """Add ``gearsim serve`` to the main parser's subcommands."""
    serve = subparsers.add_parser(
        "serve",
        help="run the reference model as a real TCP job server (client under test)",
        description="Run the reference model as a Gearman job server on a real socket. Prints "
        "'listening on HOST:PORT' first; every message is logged with --log.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=port, default=4730, help="port (default 4730; 0 picks a free one)")
    add_profile_argument(serve)
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
        "--max-body",
        type=_size,
        default=0xFFFFFFFF,
        metavar="BYTES",
        help="close a connection whose packet header announces a larger body, before buffering any of it "
        "(default 4294967295: anything, as gearmand; e.g. 64MiB)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=seconds,
        metavar="S",
        help="close a connection that sends nothing for S seconds (default: never, as gearmand; sleeping "
        "workers are idle too)",
    )
    serve.add_argument(
        "--message-timeout",
        type=seconds,
        metavar="S",
        help="close a connection whose message (header, body or admin line) is unfinished S seconds after its "
        "first byte (slow headers; default: never)",
    )
    serve.add_argument("--node", type=node_name, help="host part of job handles, H:<node>:<n> (default: the model's)")
    serve.add_argument("--exceptions", action="store_true", help="as gearmand --exceptions")
    serve.add_argument("--job-retries", type=count, default=0, help="as gearmand --job-retries (0: no limit)")
    serve.add_argument("--worker-wakeup", type=count, default=0, help="as gearmand --worker-wakeup (0: all)")
    serve.set_defaults(func=_cmd_serve)


def _fast_event_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop factory when it is installed (the shell's cost is mostly the loop's), else None.

    gearsim serve runs the same sans-IO model either way; uvloop only moves
    bytes faster (tools/bench/serve.py measures both peers and gearsim).
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
