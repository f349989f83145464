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

from typing import NamedTuple

import pytest

from gearsim import files as loading
from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.play import MutantFactory
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import Verdict, at_level
from gearsim.run.runner import run_case
from gearsim.vectors.parse import Case, VectorFile


class Named(NamedTuple):
    mutant: str
    case: str
    rule: str


NAMED = [
    # spec profile: a server that ends the job on WORK_EXCEPTION but tells the option-less listener nothing
    # passed at --level must, taken for Perl's job-kept silence (a SHOULD, GM-WORK-009)
    Named("exception-fails-nobody", "server/exceptions.yaml::option-and-no-option-listeners", "GM-WORK-010"),
    # gearmand-1.1: garbage where gearmand has its NUL; the model's own verdict is KNOWN_DEFECT here
    Named("exception-fail-garbage", "server/exceptions.yaml::option-and-no-option-listeners", "GM-WORK-011"),
    Named("exception-fail-garbage", "server/exceptions.yaml::no-option-gets-fail", "GM-WORK-011"),
    # the rest failed at must before, but at the failing step named another rule (or none)
    Named("anyone-reports", "server/forwarding.yaml::non-owner-worker", "GM-WORK-001"),
    Named("data-late", "server/forwarding.yaml::intermediate-then-complete", "GM-WORK-006"),
    Named("can-do-ignored", "worker/abilities.yaml::cant-do-removes-all", "GM-WORKER-001"),
    Named("reset-ignored", "worker/abilities.yaml::reset-abilities", "GM-WORKER-005"),
    Named("held-job-given-again", "worker/grab.yaml::held-job-not-given-twice", "GM-WORKER-011"),
    Named("noop-per-job", "worker/sleep.yaml::one-noop-per-sleep", "GM-SLEEP-003"),
    Named("high-is-normal", "server/priority.yaml::high-normal-low", "GM-PRIO-001"),
    Named("timeout-in-seconds", "worker/timeout.yaml::timeout-requeues", "GM-TIMEOUT-001"),
    Named("timeout-zero-is-a-second", "worker/timeout.yaml::timeout-zero-none", "GM-TIMEOUT-002"),
    Named("late-result-accepted", "worker/timeout.yaml::timeout-requeues", "GM-TIMEOUT-005"),
    Named("requeue-loses-listeners", "server/disconnect.yaml::worker-disconnect-requeues", "GM-DISC-003"),
    Named("gone-client-still-listens", "server/disconnect.yaml::listener-gone-not-counted", "GM-DISC-005"),
    Named("restart-keeps-registrations", "server/restart.yaml::worker-registers-again", "GM-RESTART-002"),
    Named("restart-keeps-uniques", "server/restart.yaml::unique-after-restart", "GM-RESTART-003"),
]

#: the model's verdicts that a mutant's FAIL differs from
_NOT_FAILED = frozenset({Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT})


@pytest.fixture(scope="module")
def registry() -> dict[str, Requirement]:
    return dict(loading.load_requirements())


def _case(ref: str) -> tuple[VectorFile, Case]:
    name, case_id = ref.split("::")
    (vf,) = loading.select([name]).files
    return vf, next(c for c in vf.cases if c.id == case_id)


@pytest.mark.parametrize("row", NAMED, ids=[f"{r.mutant}-{r.case.split('::')[1]}" for r in NAMED])
def test_mutant_fails_at_must_naming_its_rule(row: Named, registry: dict[str, Requirement]) -> None:
    m = mutation(row.mutant)
    assert m.rule == row.rule
    assert registry[row.rule].level == "MUST"
    vf, case = _case(row.case)
    model = run_case(vf, case, MutantFactory(None, m.profile), m.profile, level="must")
    assert at_level(model, "must", registry).verdict in _NOT_FAILED, model.reason
    result = at_level(run_case(vf, case, MutantFactory(m, m.profile), m.profile, level="must"), "must", registry)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason, result.notes)
    assert row.rule in result.rules, (result.step, result.rules, result.reason)
