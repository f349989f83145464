"""Where the bundled spec/ and vectors/ folders are (an I/O edge: it looks at files).

In a wheel they are inside the package, under ``gearsim/_data``; in a checkout
(or an editable install) they sit at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The bundled folder ``name`` (``spec`` or ``vectors``).

    Raises:
        FileNotFoundError: neither the installed copy nor a checkout has it.
    """
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"gearsim's bundled {name}/ folder is missing (looked in {_PACKAGE})")
