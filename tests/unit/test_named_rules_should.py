"""Mutants of SHOULD rules fail, at the default level, naming their own rule at the failing step.

Each row is a mutant of the reference model (one SHOULD rule broken), the case
written to check that rule, and the rule. Played under the mutant's profile at
``gearsim run``'s default level and judged by ``at_level`` as the run judges
it, the case must FAIL with the rule among the failing step's rules
(``CaseResult.rules``, the report's "rule broken"), while the unmutated model
is not failed by it. Before these steps named their rule, the failure named
only a neighbour: the maxqueue refusal (GM-QUEUE-001), a generic worker rule
(GM-WORKER-007/009), the submission rules or the request's own rules, and a
maintainer read the wrong sentence of the spec.

At ``--level must`` none of them is a FAIL: each behaviour breaks its SHOULD
alone, and the MUSTs these steps once named beside it were false FAILs there
(test_should_at_must_disc.py, test_should_at_must_admin.py,
test_should_at_must_limit.py judge each at both levels).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from gearsim import files as loading
from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.play import MutantFactory
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import CaseResult, Verdict, at_level
from gearsim.run.runner import run_case
from gearsim.vectors.parse import Case, VectorFile


class Named(NamedTuple):
    mutant: str
    case: str
    rule: str


NAMED = [
    # maxqueue answers OK but keeps no limit: the refusal it owes shows first as a JOB_CREATED
    Named("no-maxqueue", "server/maxqueue.yaml::limits-per-priority", "GM-ADMIN-010"),
    # gearmand-1.1: a number where gearmand's code word stands
    Named("error-words-numbered", "client/session.yaml::unknown-options", "GM-ERROR-002"),
    Named("error-words-numbered", "server/reduce.yaml::reduce-long-reducer", "GM-ERROR-002"),
    # a 511-byte function name refused with ERROR, as a server with a shorter limit refuses it
    Named("function-255", "server/limits.yaml::function-name-511-bytes", "GM-LIMIT-003"),
    # a body over 64 KiB closes the connection, as a server with a lower bound on bodies closes it
    Named("bodies-64k", "server/limits.yaml::echo-1-mib", "GM-LIMIT-004"),
    Named("bodies-64k", "server/limits.yaml::job-of-1-mib", "GM-LIMIT-004"),
    # '-' taken literally: y coalesces onto x, and the worker finds no job y
    Named("dash-literal", "server/coalesce.yaml::dash-unique-keys-on-payload", "GM-COAL-010"),
    Named("abandoned-jobs-run", "server/disconnect.yaml::client-disconnect-queued", "GM-DISC-006"),
    # a running job not counted: the submission that should be refused is accepted
    Named("limit-counts-queued", "server/maxqueue.yaml::limit-one", "GM-QUEUE-004"),
]

#: gearsim run's default --level
_DEFAULT_LEVEL = "may"
#: the model's verdicts that a mutant's FAIL differs from
_NOT_FAILED = frozenset({Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT})


@pytest.fixture(scope="module")
def registry() -> dict[str, Requirement]:
    return dict(loading.load_requirements())


def _case(ref: str) -> tuple[VectorFile, Case]:
    name, case_id = ref.split("::")
    (vf,) = loading.select([name]).files
    return vf, next(c for c in vf.cases if c.id == case_id)


def _judged(row: Named, mutant: bool, level: str, registry: dict[str, Requirement]) -> CaseResult:
    m = mutation(row.mutant)
    vf, case = _case(row.case)
    factory = MutantFactory(m if mutant else None, m.profile)
    return at_level(run_case(vf, case, factory, m.profile, level=level), level, registry)


@pytest.mark.parametrize("row", NAMED, ids=[f"{r.mutant}-{r.case.split('::')[1]}" for r in NAMED])
def test_mutant_fails_naming_its_rule(row: Named, registry: dict[str, Requirement]) -> None:
    assert mutation(row.mutant).rule == row.rule
    assert registry[row.rule].level == "SHOULD"
    assert row.rule in _case(row.case)[1].requirements  # the case was written to check the rule
    model = _judged(row, False, _DEFAULT_LEVEL, registry)
    assert model.verdict in _NOT_FAILED, model.reason
    result = _judged(row, True, _DEFAULT_LEVEL, registry)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason, result.notes)
    assert row.rule in result.rules, (result.step, result.rules, result.reason)


@pytest.mark.parametrize("row", NAMED, ids=[f"{r.mutant}-{r.case.split('::')[1]}" for r in NAMED])
def test_no_fail_at_level_must(row: Named, registry: dict[str, Requirement]) -> None:
    result = _judged(row, True, "must", registry)
    assert result.verdict is not Verdict.FAIL, (result.step, result.rules, result.reason)
