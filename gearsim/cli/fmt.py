"""``gearsim fmt``: rewrite vector files in canonical form (glue: arguments, files, exit codes).

A folder stands for every ``*.yaml`` file in it, as for ``gearsim lint``. With
``--check`` it only reports the files not in canonical form and exits 1 when
there is one.
"""

from __future__ import annotations

import argparse
from typing import Any

from gearsim.cli.common import EXIT_FAIL, EXIT_OK, vector_files
from gearsim.files import read_input_text, read_vector_file, replace_text
from gearsim.vectors.parse import dump_vector_file

__all__ = ["add_fmt_command"]


def _cmd_fmt(args: argparse.Namespace) -> int:
    changed = 0
    for path in vector_files(args.paths, "fmt"):
        vf = read_vector_file(path, refuse=False)  # a broken vector may be rewritten: lint names what is wrong
        text = dump_vector_file(vf.raw)
        if read_input_text(path) != text:
            changed += 1
            if args.check:
                print(f"{path}: not in canonical form")
            else:
                replace_text(path, text)  # whole or not at all: ^C never leaves half a vector file
                print(f"{path}: rewritten")
    return EXIT_FAIL if args.check and changed else EXIT_OK


def add_fmt_command(subparsers: Any) -> None:
    """Add ``gearsim fmt`` to the main parser's subcommands."""
    fmt = subparsers.add_parser("fmt", help="rewrite vector files in canonical form")
    fmt.add_argument("paths", nargs="+", help="vector files or folders (a folder: its *.yaml)")
    fmt.add_argument(
        "--check", action="store_true", help="only report files not in canonical form (exit 1 when there is one)"
    )
    fmt.set_defaults(func=_cmd_fmt)
