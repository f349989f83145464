"""A client or worker library broken in one MUST fails the bundled library case for that rule, and names it.

The library is tests/data/toy_client/toy_gearman.py, which gearsim's vectors
were not written for, run through ``gearsim run --driver`` as a user would.
Each ``--break NAME`` of its driver breaks one client- or worker-side MUST of
spec/requirements.yaml (toy_gearman's ``BREAKS`` table says which and how).
For each, the run of the few library cases that exercise it exits 1 and the
report names that rule as broken; the same cases with the unbroken toy pass,
so each failure is the breakage's doing.

Four of them were not caught, or caught under another rule, before this sweep:
a client that leaves the unique out of SUBMIT_JOB_BG was charged with
GM-FRAME-006 (a missing NUL before an empty workload, though its caller's
workload was not empty); a worker that never sends CANT_DO passed
worker-unregisters (the model, as gearmand, offers the newest registration's
job first, so the dropped function's older job was never offered); a worker
that gives up after a NOOP answered by NO_JOB was charged with GM-LIB-008 (the
job it reported) instead of GM-LIB-010; and a client whose generated unique
holds a NUL was charged, in foreground cases, with the server rule
GM-WORKER-008, because a nowait submission that was never answered was not
judged.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gearsim.files import load_requirements

pytestmark = pytest.mark.interop

TOY_DIR = Path(__file__).resolve().parents[1] / "data" / "toy_client"
sys.path.insert(0, str(TOY_DIR))
from toy_gearman import BREAKS  # noqa: E402  (a script folder, not a package)

CLIENT = "client/library-client.yaml::"
WORKER = "client/library-worker.yaml::"


@dataclass(frozen=True)
class Breakage:
    name: str
    rule: str
    cases: tuple[str, ...]


#: each switch of the toy, the MUST it breaks, and the bundled library cases that must catch it
BREAKAGES = [
    Breakage("wrong-handle", "GM-LIB-009", (WORKER + "worker-empty-result",)),
    Breakage("report-after-end", "GM-WORK-014", (WORKER + "worker-fails-job",)),
    Breakage("long-unique", "GM-FIELD-002", (CLIENT + "seed-background-status-poll",)),
    Breakage("fail-as-success", "GM-LIB-003", (CLIENT + "foreground-fail",)),
    Breakage("low-as-normal", "GM-LIB-001", (CLIENT + "background-priorities",)),
    # charged with the server rule GM-WORKER-008 until unanswered nowait submissions were judged
    Breakage("nul-unique", "GM-LIB-001", (CLIENT + "foreground-fail",)),
    # charged with GM-FRAME-006 (the NUL before an empty workload) until the caller's non-empty workload
    # was let reread the packet
    Breakage("no-unique-arg", "GM-FRAME-004", (CLIENT + "seed-background-status-poll",)),
    # charged with GM-LIB-008 until the await step of worker-spurious-noop cited GM-LIB-010
    Breakage("noop-gives-up", "GM-LIB-010", (WORKER + "worker-spurious-noop",)),
    # passed every bundled case until worker-unregisters queued only the dropped function's job first
    Breakage("no-cant-do", "GM-LIB-011", (WORKER + "worker-unregisters",)),
]


def driver(*flags: str) -> str:
    return " ".join([sys.executable, str(TOY_DIR / "toy_driver.py"), *flags])


def gearsim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearsim", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_each_switch_breaks_a_client_or_worker_must_and_the_table_here_names_it() -> None:
    registry = load_requirements()
    assert {b.name: b.rule for b in BREAKAGES} == {name: rule for name, (rule, _) in BREAKS.items()}
    for rule, _ in BREAKS.values():
        assert registry[rule].level == "MUST", rule
        assert registry[rule].subject in ("client", "worker", "sender"), rule


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.name)
def test_a_toy_library_breaking_one_must_fails_naming_that_rule(breakage: Breakage) -> None:
    done = gearsim("run", "--driver", driver("--break", breakage.name), *breakage.cases)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"rule broken: {breakage.rule} (MUST)" in done.stdout, done.stdout


def test_the_unbroken_toy_library_passes_those_cases() -> None:
    cases = sorted({case for b in BREAKAGES for case in b.cases})
    done = gearsim("run", "--driver", driver(), *cases)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(cases)} passed, 0 failed, 0 inconclusive" in done.stdout


def test_an_unknown_switch_is_refused_rather_than_ignored() -> None:
    done = subprocess.run(
        [sys.executable, str(TOY_DIR / "toy_driver.py"), "--break", "no-such-thing"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0 and "unknown --break" in done.stderr
