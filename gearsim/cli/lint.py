"""``gearsim lint``: check vector files (glue: arguments, files, exit codes).

Schema, canonical form, hex against structured form, requirement ids
(gearsim.vectors.lint). Prints one line per finding and a summary; exits 1
when anything was found, 3 when a path does not exist or a folder holds no
``*.yaml`` file.
"""

from __future__ import annotations

import argparse
from typing import Any

from gearsim.cli.common import EXIT_FAIL, EXIT_OK, counted, vector_files
from gearsim.errors import VectorError
from gearsim.files import load_requirements, load_schema_text, read_input_text, vector_root
from gearsim.vectors.lint import lint_text

__all__ = ["add_lint_command"]


def _cmd_lint(args: argparse.Namespace) -> int:
    files = vector_files(args.paths or [str(vector_root())], "lint")
    schema, reqs = load_schema_text(), load_requirements()
    findings: list[str] = []
    cases = 0
    for f in files:
        try:
            text = read_input_text(f, str(f))  # bounded: a huge file is one finding, not gigabytes read
        except VectorError as exc:
            findings.append(str(exc))
            continue
        vf, found = lint_text(text, str(f), schema, reqs)
        cases += len(vf.cases) if vf else 0
        findings += found
    for line in findings:
        print(line)
    print(f"gearsim lint: {counted(len(files), 'file')}, {counted(cases, 'case')}, {counted(len(findings), 'finding')}")
    return EXIT_FAIL if findings else EXIT_OK


def add_lint_command(subparsers: Any) -> None:
    """Add ``gearsim lint`` to the main parser's subcommands."""
    lint = subparsers.add_parser("lint", help="check vector files: schema, canonical form, hex vs structure")
    lint.add_argument("paths", nargs="*", help="files or folders (default: the bundled vectors)")
    lint.set_defaults(func=_cmd_lint)
