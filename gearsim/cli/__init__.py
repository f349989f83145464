"""The ``gearsim`` command: one module per command, shared exit codes and parsers in one.

Glue only: arguments, files, terminals and exit codes. The work is in the
packages below it.
"""

from gearsim.cli.main import main

__all__ = ["main"]
