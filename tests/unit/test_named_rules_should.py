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

import pytest
from mutant_judging import DEFAULT_LEVEL, NOT_FAILED, Row, bundled_case, judged_row, row_ids

from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import Verdict

NAMED = [
    # maxqueue answers OK but keeps no limit: the refusal it owes shows first as a JOB_CREATED
    Row("no-maxqueue", "server/maxqueue.yaml::limits-per-priority", "GM-ADMIN-010"),
    # gearmand-1.1: a number where gearmand's code word stands
    Row("error-words-numbered", "client/session.yaml::unknown-options", "GM-ERROR-002"),
    Row("error-words-numbered", "server/reduce.yaml::reduce-long-reducer", "GM-ERROR-002"),
    # a 511-byte function name refused with ERROR, as a server with a shorter limit refuses it
    Row("function-255", "server/limits.yaml::function-name-511-bytes", "GM-LIMIT-003"),
    # a body over 64 KiB closes the connection, as a server with a lower bound on bodies closes it
    Row("bodies-64k", "server/limits.yaml::echo-1-mib", "GM-LIMIT-004"),
    Row("bodies-64k", "server/limits.yaml::job-of-1-mib", "GM-LIMIT-004"),
    # '-' taken literally: y coalesces onto x, and the worker finds no job y
    Row("dash-literal", "server/coalesce.yaml::dash-unique-keys-on-payload", "GM-COAL-010"),
    Row("abandoned-jobs-run", "server/disconnect.yaml::client-disconnect-queued", "GM-DISC-006"),
    # a running job not counted: the submission that should be refused is accepted
    Row("limit-counts-queued", "server/maxqueue.yaml::limit-one", "GM-QUEUE-004"),
]


@pytest.mark.parametrize("row", NAMED, ids=row_ids(NAMED))
def test_mutant_fails_naming_its_rule(row: Row, registry: dict[str, Requirement]) -> None:
    assert mutation(row.mutant).rule == row.rule
    assert registry[row.rule].level == "SHOULD"
    assert row.rule in bundled_case(row.case)[1].requirements  # the case was written to check the rule
    model = judged_row(row, False, DEFAULT_LEVEL)
    assert model.verdict in NOT_FAILED, model.reason
    result = judged_row(row, True, DEFAULT_LEVEL)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason, result.notes)
    assert row.rule in result.rules, (result.step, result.rules, result.reason)


@pytest.mark.parametrize("row", NAMED, ids=row_ids(NAMED))
def test_no_fail_at_level_must(row: Row, registry: dict[str, Requirement]) -> None:
    result = judged_row(row, True, "must")
    assert result.verdict is not Verdict.FAIL, (result.step, result.rules, result.reason)
