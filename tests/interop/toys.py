"""The two toys the interop tests break or give habits, and running ``gearsim run`` against them.

The toys are tests/data/toy_client (a client and worker library, toy_gearman.py,
with its driver, toy_driver.py) and tests/interop/toy_server.py (a server). The
tests that flip their switches (test_toy_breakages.py, test_toy_habits.py,
test_toy_client_breakages.py, test_toy_client_habits.py) build the toys'
commands, run gearsim as a user would and read its report in the same way, so
those pieces are written once, here: where the toys are, the bundled library
cases' files, the commands, and the two ways a report is read (its text, or
each case's verdict from ``--format json``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

#: the toy library's folder: a script folder, not a package, so its tables are imported from it by path
TOY_CLIENT_DIR = Path(__file__).resolve().parents[1] / "data" / "toy_client"
#: the toy server, beside this module (and so importable as ``toy_server`` by the tests beside it)
TOY_SERVER = Path(__file__).with_name("toy_server.py")

sys.path.insert(0, str(TOY_CLIENT_DIR))
from toy_gearman import BREAKS as LIBRARY_BREAKS  # noqa: E402
from toy_gearman import HABITS as LIBRARY_HABITS  # noqa: E402

__all__ = [
    "CLIENT",
    "FAULTS",
    "LIBRARY_BREAKS",
    "LIBRARY_HABITS",
    "TOY_CLIENT_DIR",
    "TOY_SERVER",
    "WORKER",
    "client_driver",
    "client_driver_alone",
    "gearsim",
    "server_command",
    "verdicts",
]

# the files of the bundled library cases: a case's id is its file's prefix followed by its name
CLIENT = "client/library-client.yaml::"
WORKER = "client/library-worker.yaml::"
FAULTS = "client/library-faults.yaml::"


def client_driver(*flags: str) -> str:
    """The toy library's driver with ``flags``, as ``gearsim run --driver`` takes it."""
    return " ".join([sys.executable, str(TOY_CLIENT_DIR / "toy_driver.py"), *flags])


def client_driver_alone(*flags: str) -> subprocess.CompletedProcess[str]:
    """The toy library's driver run with ``flags`` and no gearsim (nothing on its stdin), to its end."""
    return subprocess.run(
        [sys.executable, str(TOY_CLIENT_DIR / "toy_driver.py"), *flags],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def server_command(*flags: str) -> str:
    """The toy server with ``flags``, as ``gearsim run --server-command`` takes it (gearsim fills in the port)."""
    return " ".join([sys.executable, str(TOY_SERVER), "--port", "{port}", *flags])


def gearsim(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m gearsim ARGS`` run to its end, its exit status and output kept for the test to read."""
    return subprocess.run(
        [sys.executable, "-m", "gearsim", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def verdicts(cases: Sequence[str], *options: str) -> dict[str, tuple[str, str]]:
    """Each case's verdict and reason from ``gearsim run CASES OPTIONS --format json``.

    The run must exit 0 and report exactly ``cases``: what is left to check is
    which verdicts its caller allows.
    """
    done = gearsim("run", *cases, *options, "--format", "json", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    found = {r["id"]: (r["verdict"], r["reason"]) for r in json.loads(done.stdout)["results"]}
    assert found.keys() == set(cases), done.stdout
    return found
