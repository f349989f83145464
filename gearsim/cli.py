"""The ``gearsim`` command (glue: argument parsing, files, exit codes)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gearsim`` console script."""
    print("gearsim: under construction", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
