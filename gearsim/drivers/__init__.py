"""The reference drivers shipped with gearsim: adapters for real Gearman client and worker libraries.

Each driver is one short program in its library's own language that speaks
the driver protocol (spec/driver.md) on stdin and stdout; a user copies the
nearest one as the template for their own library. ``REFERENCE`` names them
(``gearsim run --driver php`` is short for the command given here), and
``drivers_dir()`` is the folder that holds them, inside the installed package.

This module only names files; it starts nothing (gearsim.io.driver does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["REFERENCE", "ReferenceDriver", "drivers_dir"]


@dataclass(frozen=True)
class ReferenceDriver:
    """A bundled driver: its short name, command line, the library it drives and what it needs."""

    name: str
    command: str
    library: str
    #: the executable that must be on PATH
    needs: str
    #: a command whose success says the library is installed (argv, run with a short timeout)
    probe: tuple[str, ...]


def drivers_dir() -> Path:
    """The folder of the bundled driver programs (this package's folder)."""
    return Path(__file__).resolve().parent


REFERENCE: Final[dict[str, ReferenceDriver]] = {
    d.name: d
    for d in (
        ReferenceDriver(
            "php",
            "php {drivers}/php_gearman.php",
            "PHP extension gearman (pecl gearman on libgearman)",
            "php",
            ("php", "-r", "exit(extension_loaded('gearman') ? 0 : 1);"),
        ),
        ReferenceDriver(
            "perl",
            "perl {drivers}/perl_gearman.pl",
            "Perl Gearman::Client and Gearman::Worker",
            "perl",
            ("perl", "-MGearman::Client", "-MGearman::Worker", "-e", "1"),
        ),
        ReferenceDriver(
            "gear",
            "{python} {drivers}/python_gear.py",
            "Python gear (PyPI)",
            "python3",
            ("{python}", "-c", "import gear"),
        ),
    )
}
