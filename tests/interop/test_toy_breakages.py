"""A server broken in one MUST of the job lifecycle fails the bundled vector for that rule, and names it.

The server is tests/interop/toy_server.py, which gearsim's vectors were not
written for, run through ``gearsim run --server-command`` as a user would.
Each ``--break NAME`` of the toy breaks one MUST rule of spec/requirements.yaml
(its ``BREAKS`` table says which and how). For each, the run of the few cases
that test that rule exits 1, and the report names that rule as the one broken
at the failing step, even at ``--level must``; the same cases against the
unbroken toy fail nothing, so each failure is the breakage's doing.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gearsim.files import load_requirements

TOY = Path(__file__).with_name("toy_server.py")
sys.path.insert(0, str(TOY.parent))
from toy_server import BREAKS  # noqa: E402  (a script beside this test, not a package)


@dataclass(frozen=True)
class Breakage:
    name: str
    rule: str
    cases: tuple[str, ...]


#: each switch of the toy, the MUST it breaks, and the bundled cases that must catch it
BREAKAGES = [
    Breakage("swap-progress", "GM-WORK-003", ("server/forwarding.yaml::intermediate-then-complete",)),
    Breakage("status-not-running", "GM-STATUS-004", ("server/status.yaml::running-job-progress",)),
    Breakage("background-listens", "GM-SUBMIT-004", ("server/forwarding.yaml::background-forwards-nothing",)),
    Breakage("no-wake", "GM-SLEEP-002", ("worker/sleep.yaml::all-sleepers-woken",)),
    # no bundled case noticed this one until server/submit.yaml::handle-not-reused was written for it
    Breakage("reuse-handles", "GM-LIMIT-005", ("server/submit.yaml::handle-not-reused",)),
]


def toy_command(*flags: str) -> str:
    return " ".join([sys.executable, str(TOY), "--port", "{port}", *flags])


def gearsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearsim", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_each_switch_breaks_a_must_of_the_spec_and_the_table_here_names_it() -> None:
    registry = load_requirements()
    assert {b.name: b.rule for b in BREAKAGES}.items() <= {n: r for n, (r, _) in BREAKS.items()}.items()
    assert all(registry[rule].level == "MUST" for rule, _ in BREAKS.values())


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.name)
def test_a_toy_breaking_one_must_fails_naming_that_rule_at_the_failing_step(breakage: Breakage) -> None:
    done = gearsim("run", *breakage.cases, "--level", "must", "--server-command", toy_command("--break", breakage.name))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"rule broken: {breakage.rule} (MUST)" in done.stdout, done.stdout


def test_the_unbroken_toy_fails_none_of_those_cases() -> None:
    cases = sorted({case for b in BREAKAGES for case in b.cases})
    done = gearsim("run", *cases, "--server-command", toy_command())
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(cases)} passed, 0 failed, 0 inconclusive" in done.stdout
