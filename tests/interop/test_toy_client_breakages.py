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

The sweep over the remaining client and worker MUSTs found four more: a
worker that strips trailing whitespace from its workload passed every case (no
worker case had such a workload: worker-job-with-updates now sends one); a
client that reports a background submission made when the server closed the
connection before JOB_CREATED was charged with GM-LIB-002 instead of
GM-LIB-006 (the judge now reads an ERROR or a close before any JOB_CREATED as
a failure not reported); a client that takes each read as one whole packet was
charged with GM-LIB-003 (pipelined) and GM-LIB-002 (byte by byte), and a
worker that does so with GM-SLEEP-008, because the steps of those delivery
cases cited nothing of their own; and a client that fails a request on ERROR
only for gearmand's upper-case code words was charged with GM-LIB-006 alone,
though the case answers it with Perl's lower-case word to check GM-ERROR-003.
GM-ADMIN-014 cannot be broken through a driver (``NOT_BREAKABLE`` says why).
worker-replies-pipelined cannot catch a worker that drops what a read brings
after its first packet: a worker asks and is answered one packet at a time,
so nothing it is sent ever shares a write.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from toys import CLIENT, FAULTS, LIBRARY_BREAKS, WORKER, client_driver, client_driver_alone, gearsim

from gearsim.files import load_requirements

pytestmark = pytest.mark.interop


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
    Breakage("lowercase-handle", "GM-LIB-002", (CLIENT + "seed-background-status-poll",)),
    Breakage("status-swapped", "GM-LIB-004", (CLIENT + "seed-background-status-poll",)),
    # passed every bundled case until worker-job-with-updates gave its workload a trailing newline
    Breakage("strip-payload", "GM-LIB-008", (WORKER + "worker-job-with-updates",)),
    # charged with GM-LIB-002 (a submission no JOB_CREATED answered) until the judge read the close before it
    Breakage("closed-as-submitted", "GM-LIB-006", (FAULTS + "server-closes-on-submission",)),
    # charged with GM-LIB-003 (pipelined) and GM-LIB-002 (byte by byte) until their steps cited GM-LIB-005
    Breakage("one-read-one-packet", "GM-LIB-005", (FAULTS + "replies-pipelined", FAULTS + "replies-byte-by-byte")),
    Breakage("rebuilds-handle", "GM-FIELD-006", (CLIENT + "status-of-unknown-handle",)),
    # charged with GM-LIB-006 alone until the step answered by a lower-case code word cited GM-ERROR-003
    Breakage("error-code-case", "GM-ERROR-003", (FAULTS + "error-reply-to-foreground-submit",)),
]

#: each live client, worker or peer MUST no switch of the toy breaks, and why it cannot be broken through a driver
NOT_BREAKABLE = {
    "GM-ADMIN-014": "it binds readers of admin replies, and spec/driver.md has no admin operation (nor does any "
    "program case run an admin tool): the only reader gearsim meets is its own admin matching, which keeps it",
}


def test_each_switch_breaks_a_client_or_worker_must_and_the_table_here_names_it() -> None:
    registry = load_requirements()
    assert {b.name: b.rule for b in BREAKAGES} == {name: rule for name, (rule, _) in LIBRARY_BREAKS.items()}
    for rule, _ in LIBRARY_BREAKS.values():
        assert registry[rule].level == "MUST", rule
        assert registry[rule].subject in ("client", "worker", "sender"), rule


def test_every_live_client_or_worker_must_is_broken_by_a_switch_or_said_unbreakable() -> None:
    """A new client-, worker- or peer-side MUST needs a switch here proving the cases catch it, or a reason."""
    live = {
        rid
        for rid, r in load_requirements().items()
        if r.level == "MUST" and r.subject in ("client", "worker", "peer") and r.status != "retired"
    }
    broken = {b.rule for b in BREAKAGES}
    assert live - broken - NOT_BREAKABLE.keys() == set(), "no switch breaks these, and none is said unbreakable"
    assert not NOT_BREAKABLE.keys() & broken, "said unbreakable, yet a switch breaks it"
    assert NOT_BREAKABLE.keys() <= live, "said unbreakable, but not a live client, worker or peer MUST"


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda b: b.name)
def test_a_toy_library_breaking_one_must_fails_naming_that_rule(breakage: Breakage) -> None:
    done = gearsim("run", "--driver", client_driver("--break", breakage.name), *breakage.cases)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"rule broken: {breakage.rule} (MUST)" in done.stdout, done.stdout


def test_the_unbroken_toy_library_passes_those_cases() -> None:
    cases = sorted({case for b in BREAKAGES for case in b.cases})
    done = gearsim("run", "--driver", client_driver(), *cases)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(cases)} passed, 0 failed, 0 inconclusive" in done.stdout


def test_an_unknown_switch_is_refused_rather_than_ignored() -> None:
    done = client_driver_alone("--break", "no-such-thing")
    assert done.returncode != 0 and "unknown --break" in done.stderr
