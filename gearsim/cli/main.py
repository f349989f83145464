"""The ``gearsim`` console script: the parser of every command, and how a command's end becomes an exit code.

Each command lives in its own module under gearsim.cli and adds itself to the
parser here. This module owns what every command shares at its edges: an
unknown ``--profile`` is refused before the command runs; an input or harness
error (a GearsimError, an unreadable file) is one line on stderr and exit 3,
never a traceback; a bug in gearsim (GearsimBug, or any other exception) is
its traceback, a request to report it, and exit 4. Exit codes are
gearsim.cli.common's.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from gearsim.cli.common import EXIT_BUG, EXIT_INPUT, Parser
from gearsim.errors import REPORT_BUGS, GearsimBug, GearsimError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from gearsim.cli.capture import add_capture_commands
    from gearsim.cli.clients import add_clients_command
    from gearsim.cli.fmt import add_fmt_command
    from gearsim.cli.fuzz import add_fuzz_command
    from gearsim.cli.lint import add_lint_command
    from gearsim.cli.matrix import add_matrix_command
    from gearsim.cli.run import add_run_command
    from gearsim.cli.serve import add_serve_command
    from gearsim.cli.simulate import add_simulate_command
    from gearsim.cli.spec import add_spec_commands

    parser = Parser(prog="gearsim", description="Gearman conformance kit")
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_command(sub)
    add_fuzz_command(sub)
    add_lint_command(sub)
    add_fmt_command(sub)
    add_capture_commands(sub)
    add_serve_command(sub)
    add_simulate_command(sub)
    add_spec_commands(sub)
    add_matrix_command(sub)
    add_clients_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gearsim`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "profile", None) is not None:
            from gearsim.run.runner import check_profile

            check_profile(args.profile)
        return func(args)
    except GearsimBug as exc:
        return _bug(args.command, exc)
    except GearsimError as exc:
        print(f"gearsim {args.command}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (OSError, UnicodeDecodeError) as exc:
        print(f"gearsim {args.command}: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _bug(args.command, exc)


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
