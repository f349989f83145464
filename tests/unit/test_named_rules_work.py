"""Mutants of MUST rules fail at ``--level must`` naming their own rule at the failing step.

Each row is a mutant of the reference model (one rule broken), the case
written to check that rule, and the rule. Played at ``level="must"`` under the
mutant's profile and then judged by ``at_level`` as ``gearsim run --level
must`` judges it, the case must FAIL with the rule among the failing step's
rules (``CaseResult.rules``, the report's "rule broken"), while the unmutated
model is not failed by it. A FAIL naming another rule sends a maintainer to
the wrong sentence of the spec; a mutant that is not failed at all is a
server with that defect passing ``gearsim run --level must``.
"""

from __future__ import annotations

import pytest
from mutant_judging import NOT_FAILED, Row, judged_row, row_ids

from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import Verdict

NAMED = [
    # spec profile: a server that ends the job on WORK_EXCEPTION but tells the option-less listener nothing
    # passed at --level must, taken for Perl's job-kept silence (a SHOULD, GM-WORK-009)
    Row("exception-fails-nobody", "server/exceptions.yaml::option-and-no-option-listeners", "GM-WORK-010"),
    # gearmand-1.1: garbage where gearmand has its NUL; the model's own verdict is KNOWN_DEFECT here
    Row("exception-fail-garbage", "server/exceptions.yaml::option-and-no-option-listeners", "GM-WORK-011"),
    Row("exception-fail-garbage", "server/exceptions.yaml::no-option-gets-fail", "GM-WORK-011"),
    # the rest failed at must before, but at the failing step named another rule (or none)
    Row("anyone-reports", "server/forwarding.yaml::non-owner-worker", "GM-WORK-001"),
    Row("data-late", "server/forwarding.yaml::intermediate-then-complete", "GM-WORK-006"),
    Row("can-do-ignored", "worker/abilities.yaml::cant-do-removes-all", "GM-WORKER-001"),
    Row("reset-ignored", "worker/abilities.yaml::reset-abilities", "GM-WORKER-005"),
    Row("held-job-given-again", "worker/grab.yaml::held-job-not-given-twice", "GM-WORKER-011"),
    Row("noop-per-job", "worker/sleep.yaml::one-noop-per-sleep", "GM-SLEEP-003"),
    Row("high-is-normal", "server/priority.yaml::high-normal-low", "GM-PRIO-001"),
    Row("timeout-in-seconds", "worker/timeout.yaml::timeout-requeues", "GM-TIMEOUT-001"),
    Row("timeout-zero-is-a-second", "worker/timeout.yaml::timeout-zero-none", "GM-TIMEOUT-002"),
    Row("late-result-accepted", "worker/timeout.yaml::timeout-requeues", "GM-TIMEOUT-005"),
    Row("requeue-loses-listeners", "server/disconnect.yaml::worker-disconnect-requeues", "GM-DISC-003"),
    Row("gone-client-still-listens", "server/disconnect.yaml::listener-gone-not-counted", "GM-DISC-005"),
    Row("restart-keeps-registrations", "server/restart.yaml::worker-registers-again", "GM-RESTART-002"),
    Row("restart-keeps-uniques", "server/restart.yaml::unique-after-restart", "GM-RESTART-003"),
]


@pytest.mark.parametrize("row", NAMED, ids=row_ids(NAMED))
def test_mutant_fails_at_must_naming_its_rule(row: Row, registry: dict[str, Requirement]) -> None:
    m = mutation(row.mutant)
    assert m.rule == row.rule
    assert registry[row.rule].level == "MUST"
    model = judged_row(row, False, "must")
    assert model.verdict in NOT_FAILED, model.reason
    result = judged_row(row, True, "must")
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason, result.notes)
    assert row.rule in result.rules, (result.step, result.rules, result.reason)
