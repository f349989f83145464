"""The ``gearsim`` console script: the parser of every command, and how a command's end becomes an exit code.

Each command lives in its own module under gearsim.cli and adds itself to the
parser here. This module owns what every command shares at its edges: an
unknown ``--profile`` is refused before the command runs; an input or harness
error (a GearsimError, an unreadable file) is one line on stderr and exit 3,
never a traceback; a bug in gearsim (GearsimBug, or any other exception) is
its traceback, a request to report it, and exit 4. Exit codes are
gearsim.cli.common's. Told to stop (SIGTERM, SIGHUP, Ctrl-C), a command first
stops the servers, drivers and programs it started (gearsim.io.children), which
run in sessions of their own and would otherwise outlive it, then exits 128 +
the signal's number.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from gearsim.cli.common import EXIT_BUG, EXIT_INPUT, Parser, Stopped, stop_name
from gearsim.errors import REPORT_BUGS, GearsimBug, GearsimError
from gearsim.io.children import stop_all
from gearsim.protocol.trace import terminal_text

__all__ = ["main"]


#: each command's module and the function that adds it (and its siblings) to the parser, in help order
_COMMANDS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("run",), "gearsim.cli.run", "add_run_command"),
    (("fuzz",), "gearsim.cli.fuzz", "add_fuzz_command"),
    (("lint",), "gearsim.cli.lint", "add_lint_command"),
    (("fmt",), "gearsim.cli.fmt", "add_fmt_command"),
    (("decode", "jobs", "check", "record"), "gearsim.cli.capture", "add_capture_commands"),
    (("serve",), "gearsim.cli.serve", "add_serve_command"),
    (("simulate",), "gearsim.cli.simulate", "add_simulate_command"),
    (("spec",), "gearsim.cli.spec", "add_spec_commands"),
    (("matrix",), "gearsim.cli.matrix", "add_matrix_command"),
    (("clients",), "gearsim.cli.clients", "add_clients_command"),
)


class _Version(argparse.Action):
    """``gearsim --version``: the installed version, looked up only when asked (it costs every command otherwise).

    Without it ``gearsim --version`` answered "the following arguments are required: command".
    """

    def __init__(self, option_strings: Sequence[str], dest: str, **_: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print gearsim's version")

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: object, values: object, option_string: str | None = None
    ) -> None:
        from gearsim.files import installed_version

        sys.stdout.write(f"gearsim {installed_version()}\n")  # stdout, as argparse's own version action writes
        parser.exit(0)


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the command ``argv`` names, or of every command when it names none.

    Only the named command's module is imported: the others' imports (matrix
    reads the server descriptions, simulate the model) would cost every
    command a quarter of a second. Help, a missing or an unknown command get
    the parser of all of them, so their output lists every command.
    """
    words = sys.argv[1:] if argv is None else argv
    named = words[0] if words else ""
    chosen = [entry for entry in _COMMANDS if named in entry[0]] or list(_COMMANDS)
    parser = Parser(prog="gearsim", description="Gearman conformance kit")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    for _names, module, add in chosen:
        getattr(importlib.import_module(module), add)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gearsim`` console script; returns the exit code."""
    args = _parser(argv).parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    with _stop_signals():
        try:
            if getattr(args, "profile", None) is not None:
                from gearsim.run.runner import check_profile

                check_profile(args.profile)
            return func(args)
        except GearsimBug as exc:
            return _bug(args.command, exc)
        except GearsimError as exc:
            # a server that would not start is named with its log tail: its words, shown without raw ESC or CR
            print(terminal_text(f"gearsim {args.command}: {exc}"), file=sys.stderr)
            return EXIT_INPUT
        except (OSError, UnicodeDecodeError) as exc:
            print(terminal_text(f"gearsim {args.command}: {exc}"), file=sys.stderr)
            return EXIT_INPUT
        except Stopped as stopped:
            also = f"; stopped the {stopped.stopped} processes it had started" if stopped.stopped else ""
            print(f"gearsim {args.command}: stopped by {stop_name(stopped)}{also}", file=sys.stderr)
            return 128 + stopped.signal
        except KeyboardInterrupt:
            stop_all()  # a Ctrl-C outside _stop_signals' reach (main() in a thread)
            return 128 + signal.SIGINT
        except Exception as exc:
            return _bug(args.command, exc)


def _stopped(signum: int, _frame: FrameType | None) -> None:
    # the children first: threads still inside a case then see their server, driver or
    # program gone and end at once, instead of holding up the exit until their time limits
    raise Stopped(signal.Signals(signum), stop_all())


@contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGTERM, SIGHUP and Ctrl-C stop the command (see ``_stopped``) while it runs; the old handlers come back after.

    SIGINT only when it has Python's own handler: a shell starts a background
    job with it ignored, and that stays so.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (main() called from a thread: a library use)
        return
    signals = [signal.SIGTERM, signal.SIGHUP]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signals.append(signal.SIGINT)
    old = {sig: signal.signal(sig, _stopped) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _bug(command: str, exc: BaseException) -> int:
    """Print a gearsim bug with its traceback and a request to report it; EXIT_BUG."""
    traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, GearsimBug):
        print(f"gearsim {command}: {exc}", file=sys.stderr)
    else:
        print(
            f"gearsim {command}: gearsim bug: {type(exc).__name__}: {exc}. Please report it to {REPORT_BUGS}.",
            file=sys.stderr,
        )
    return EXIT_BUG
