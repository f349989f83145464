"""A client or worker library taking a choice the spec leaves open fails none of the library cases that meet it.

The library is tests/data/toy_client/toy_gearman.py, run through ``gearsim
run --driver`` as in test_toy_client_breakages.py. Each ``--habit NAME`` of
its driver (toy_gearman's ``HABITS`` table names the rule that allows it) is
a behaviour a real library has or may have: GRAB_JOB or GRAB_JOB_ALL instead
of GRAB_JOB_UNIQ, PRE_SLEEP before the first GRAB, a sleeping worker that
grabs again on a timer, RESET_ABILITIES and the functions kept instead of
CANT_DO, registrations and options held back and written with the next
request, a client id of its own on every connection, a generated unique, the
exceptions option asked on every connection, the servers tried last first,
every packet written in pieces.

All 37 library cases were run with each habit on, and with the habits
combined as the rows below combine them; what that found, fixed in the vectors:

* ``split-writes`` (a packet written in pieces: TCP keeps no message
  boundaries, and a receiver reads by the declared length, GM-FRAME-007)
  FAILed client/library-worker.yaml::worker-sleeps-and-wakes naming the
  server rule GM-STATUS-001: the case asked the job's status as soon as the
  worker's library had answered its caller, but a library may answer before
  the server has read its WORK_COMPLETE (TCP held the packet's last piece back
  some 40 ms, as Nagle's algorithm does with small writes). The case now waits
  for the WORK_COMPLETE on the wire before it asks.

Habits that touch different things share a run, to keep this file within
its time; the cases of each row are those its habits change the bytes of.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from toys import CLIENT, FAULTS, LIBRARY_BREAKS, LIBRARY_HABITS, WORKER, client_driver, client_driver_alone, verdicts

from gearsim.files import load_requirements

pytestmark = pytest.mark.interop


@dataclass(frozen=True)
class Row:
    habits: tuple[str, ...]
    cases: tuple[str, ...]

    @property
    def name(self) -> str:
        return "+".join(self.habits)


ROWS = [
    # the status after the worker's answer came before the server had read its WORK_COMPLETE: was FAIL at step
    # 10 naming GM-STATUS-001 ("argument 2 is b'1', expected b'0'")
    Row(("split-writes",), (WORKER + "worker-sleeps-and-wakes", WORKER + "worker-job-with-updates")),
    # registrations, the client id and CANT_DO go out with the first PRE_SLEEP; the job comes as JOB_ASSIGN_UNIQ
    Row(
        ("grab-job-all", "sleep-first", "lazy-register", "client-id-on-connect"),
        (
            WORKER + "worker-unregisters",
            WORKER + "worker-client-id",
            WORKER + "worker-can-do-timeout",
            WORKER + "worker-spurious-noop",
        ),
    ),
    # JOB_ASSIGN has no unique (its caller gets none); the worker grabs every 100 ms while asleep
    Row(
        ("grab-job", "regrab-timer", "reset-abilities"),
        (
            WORKER + "worker-unregisters",
            WORKER + "worker-can-do-timeout",
            WORKER + "worker-sleeps-and-wakes",
            WORKER + "worker-job-with-updates",
        ),
    ),
    # OPTION_REQ written with the submission; every connection, the second server first, asks for exceptions
    Row(
        ("generated-unique", "lazy-option", "servers-reversed", "option-at-connect"),
        (
            CLIENT + "foreground-exception-with-option",
            CLIENT + "foreground-exception-without-option",
            CLIENT + "seed-background-status-poll",
            FAULTS + "first-server-down",
            FAULTS + "used-server-dies",
        ),
    ),
]


def test_each_habit_names_a_rule_of_the_registry_and_a_row_here_runs_it() -> None:
    registry = load_requirements()
    assert all(rule in registry for rule, _ in LIBRARY_HABITS.values())
    assert {h for row in ROWS for h in row.habits} == LIBRARY_HABITS.keys()
    assert not LIBRARY_HABITS.keys() & LIBRARY_BREAKS.keys()


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_a_toy_library_with_legal_habits_fails_none_of_the_cases_they_touch(row: Row) -> None:
    flags = [word for habit in row.habits for word in ("--habit", habit)]
    for case, (verdict, reason) in verdicts(row.cases, "--driver", client_driver(*flags)).items():
        assert verdict == "pass", (case, verdict, reason)


def test_an_unknown_habit_is_refused_rather_than_ignored() -> None:
    done = client_driver_alone("--habit", "no-such-thing")
    assert done.returncode != 0 and "unknown --habit" in done.stderr
