"""Real client and worker programs against the served reference model, checked by program vectors.

Each case of vectors/client/{php,gearman-cli,gear,perl}.yaml is played with
its program from tests/data/clients/ (or the gearman tool) by
``gearsim.io.client_under_test``: the model runs behind ``ServeShell`` on
127.0.0.1, the program is launched in its own session and stopped by its PID,
and everything it sends is matched against the case. A missing tool skips,
or fails under GEARSIM_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gearsim.io.client_under_test import is_program_case, run_program_case
from gearsim.io.peer_fixtures import REQUIRE_ENV, peers_required
from gearsim.loading import read_vector_file, vector_root
from gearsim.runner import Verdict

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "tests" / "data" / "clients"
PY = sys.executable


@functools.cache
def _missing(tool: str) -> str | None:
    """None when ``tool`` works here, else why not."""
    if tool == "php-gearman":
        if shutil.which("php") is None:
            return "php not found (apt-get install php-cli php-gearman)"
        mods = subprocess.run(["php", "-m"], capture_output=True, text=True, timeout=30, check=False).stdout
        if "gearman" not in mods.split():
            return "the php gearman extension is missing (apt-get install php-gearman)"
        return None
    if tool == "perl-gearman":
        if shutil.which("perl") is None:
            return "perl not found"
        done = subprocess.run(
            ["perl", "-MGearman::Client", "-MGearman::Worker", "-e", "1"], capture_output=True, timeout=30, check=False
        )
        if done.returncode != 0:
            return "Gearman::Client/Worker missing (apt-get install libgearman-client-perl)"
        return None
    if tool == "gearman-cli":
        if shutil.which("gearman") is None:
            return "the gearman tool is missing (apt-get install gearman-tools)"
        return None if shutil.which("rev") else "rev is missing (util-linux)"
    if tool == "gear":
        done = subprocess.run([PY, "-c", "import gear"], capture_output=True, timeout=30, check=False)
        return None if done.returncode == 0 else f"gear is not importable by {PY} (pip install gear==0.16.0)"
    raise ValueError(tool)


def _require(tool: str) -> None:
    reason = _missing(tool)
    if reason is None:
        return
    if peers_required():
        pytest.fail(f"{tool}: {reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(f"{tool}: {reason}")


# (file, case, tool, command, text the program prints)
CASES: list[tuple[str, str, str, str, str]] = [
    (
        "php.yaml",
        "php-client-background",
        "php-gearman",
        f"php {CLIENTS}/php_client.php {{host}} {{port}} bg",
        "known: 1 running: 0 0/0",
    ),
    (
        "php.yaml",
        "php-client-foreground",
        "php-gearman",
        f"php {CLIENTS}/php_client.php {{host}} {{port}} fg",
        "result: olleh",
    ),
    (
        "php.yaml",
        "php-worker-grab-all",
        "php-gearman",
        f"php {CLIENTS}/php_worker.php {{host}} {{port}} all 1",
        "worked: 1",
    ),
    (
        "php.yaml",
        "php-worker-grab-job",
        "php-gearman",
        f"php {CLIENTS}/php_worker.php {{host}} {{port}} plain 1",
        "worked: 1",
    ),
    ("gearman-cli.yaml", "cli-background", "gearman-cli", "gearman -h {host} -p {port} -b -f reverse hello", ""),
    ("gearman-cli.yaml", "cli-foreground", "gearman-cli", "gearman -h {host} -p {port} -f reverse hello", "olleh"),
    ("gearman-cli.yaml", "cli-worker", "gearman-cli", "gearman -h {host} -p {port} -w -c 1 -f reverse -- rev", ""),
    (
        "gear.yaml",
        "gear-client-background",
        "gear",
        f"{PY} {CLIENTS}/gear_client.py {{host}} {{port}} bg",
        "handle: H:",
    ),
    (
        "gear.yaml",
        "gear-client-foreground",
        "gear",
        f"{PY} {CLIENTS}/gear_client.py {{host}} {{port}} fg",
        "result: olleh",
    ),
    ("gear.yaml", "gear-worker", "gear", f"{PY} {CLIENTS}/gear_worker.py {{host}} {{port}} 1", "worked: 1"),
    (
        "perl.yaml",
        "perl-client-background",
        "perl-gearman",
        f"perl {CLIENTS}/perl_client.pl {{host}} {{port}} bg",
        "known: 1 running: 0",
    ),
    (
        "perl.yaml",
        "perl-client-foreground",
        "perl-gearman",
        f"perl {CLIENTS}/perl_client.pl {{host}} {{port}} fg",
        "result: olleh",
    ),
    ("perl.yaml", "perl-worker", "perl-gearman", f"perl {CLIENTS}/perl_worker.pl {{host}} {{port}} 1", "worked: 1"),
]


@pytest.mark.parametrize(("file", "case_id", "tool", "command", "prints"), CASES, ids=[c[1] for c in CASES])
def test_program_sends_what_the_vector_says(file: str, case_id: str, tool: str, command: str, prints: str) -> None:
    _require(tool)
    vf = read_vector_file(vector_root() / "client" / file, f"client/{file}")
    result, programs = run_program_case(vf, vf.case(case_id), [command])
    detail = "\n".join([result.reason, result.expected, result.actual, result.trace, *result.notes])
    assert result.verdict == Verdict.PASS, detail
    assert [p.returncode for p in programs] == [0], detail
    assert prints in programs[0].stdout.decode(), detail


def test_every_program_case_has_a_command_here() -> None:
    """A program case without a command in CASES (or in test_seed_php) is never played."""
    covered = {(f, c) for f, c, *_ in CASES} | {
        ("seed-programs.yaml", "seed-status-poll"),
        ("seed-programs.yaml", "seed-user-note-dedup"),
    }
    found: set[tuple[str, str]] = set()
    for path in sorted((vector_root() / "client").glob("*.yaml")):
        vf = read_vector_file(path, f"client/{path.name}")
        found |= {(path.name, case.id) for case in vf.cases if is_program_case(case)}
    assert found == covered


def test_a_program_that_sends_something_else_fails_with_the_step() -> None:
    """The plain-GRAB_JOB worker against the GRAB_JOB_ALL case: FAIL at the grab, the worker stopped."""
    _require("php-gearman")
    vf = read_vector_file(vector_root() / "client" / "php.yaml", "client/php.yaml")
    command = f"php {CLIENTS}/php_worker.php {{host}} {{port}} plain 1"
    result, programs = run_program_case(vf, vf.case("php-worker-grab-all"), [command], within_floor=3000)
    assert result.verdict == Verdict.FAIL
    assert result.reason == "prog: expected GRAB_JOB_ALL, got GRAB_JOB"
    assert result.step == 5
    assert programs and programs[0].returncode is not None


def test_a_program_that_cannot_start_is_inconclusive() -> None:
    vf = read_vector_file(vector_root() / "client" / "php.yaml", "client/php.yaml")
    result, _ = run_program_case(vf, vf.case("php-client-background"), ["/nonexistent/program {host} {port}"])
    assert result.verdict == Verdict.INCONCLUSIVE
    assert "cannot run /nonexistent/program" in result.reason
