"""A server that died during a case: FAIL "server crashed", unless the case met the crash its profile records.

Whether it did is data the runner sets (``CaseResult.crash_met``), never read
back from the words of the case's reason.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from mutant_judging import bundled_case

from gearsim.io.managed import _crash_result
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.result import CaseResult, Verdict
from gearsim.run.runner import run_case

DIED = "server crashed: gearmand-c exited with status 1 during this case"


def overflowing_timeout(profile: str) -> CaseResult:
    """worker/timeout.yaml::overflowing-timeout, whose crash outcome is gearmand-1.1's defect, on the model."""
    vf, case = bundled_case("worker/timeout.yaml::overflowing-timeout")
    return run_case(vf, case, ModelPeerFactory(profile), profile)


def test_the_runner_marks_a_case_that_met_its_recorded_crash() -> None:
    met = overflowing_timeout("gearmand-1.1")
    assert met.verdict is Verdict.KNOWN_DEFECT
    assert met.crash_met
    assert not overflowing_timeout("spec").crash_met  # the server refused it and went on


def test_a_death_the_case_recorded_stays_its_known_defect() -> None:
    met = overflowing_timeout("gearmand-1.1")
    judged = _crash_result(met, DIED, "SIGSEGV in gearmand_log_perror")
    assert judged.verdict is Verdict.KNOWN_DEFECT
    assert judged.reason == met.reason
    assert judged.notes[-1] == DIED


@pytest.mark.parametrize(
    "reason",
    [
        # another defect of the case, whose words happen to name the crash defect or say "crash"
        "step 3: known defect listener-attached-twice of gearmand-1.1 (breaks GM-WORK-007): timeout-overflow-crash",
        "step 3: known defect crash-prone-listing of gearmand-1.1 (breaks GM-ADMIN-001)",
    ],
)
def test_a_death_the_case_did_not_meet_is_fail_whatever_its_reason_says(reason: str) -> None:
    other = replace(overflowing_timeout("gearmand-1.1"), reason=reason, crash_met=False)
    judged = _crash_result(other, DIED, "")
    assert judged.verdict is Verdict.FAIL
    assert judged.reason == DIED
    assert judged.rules == ("GM-SERVER-005",)
