"""Mutants of the SHOULD rules on limits, coalescing, GET_STATUS_UNIQUE and code words are no FAIL at --level must.

``gearsim run --level must`` promises that only MUST violations fail. Each row
is a mutant of the reference model that breaks one SHOULD rule, and a case it
used to FAIL at that level naming a MUST the behaviour does not break: a
64-byte unique kept whole (the mutant cut it as gearmand does, whose cut also
sends a malformed JOB_ASSIGN_UNIQ), a 511-byte function name refused, a body
over 64 KiB closing the connection, GET_STATUS_UNIQUE refused with ERROR, no
coalescing under a full queue, '-' taken as a literal unique, and gearmand's
ERROR code words replaced by numbers. Played under the mutant's profile, the
case is not FAIL at --level must, and FAILs at the default level naming the
mutant's SHOULD at the failing step (``CaseResult.rules``), while the
unmutated model is not failed by it.
"""

from __future__ import annotations

import pytest
from mutant_judging import DEFAULT_LEVEL, NOT_FAILED, Row, judged_row, row_ids

from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import Verdict

ROWS = [
    Row("unique-64-accepted", "server/coalesce.yaml::unique-64-bytes-never-coalesces", "GM-LIMIT-002"),
    Row("function-255", "server/limits.yaml::function-name-511-bytes", "GM-LIMIT-003"),
    Row("bodies-64k", "server/limits.yaml::echo-1-mib", "GM-LIMIT-004"),
    Row("bodies-64k", "server/limits.yaml::job-of-1-mib", "GM-LIMIT-004"),
    Row("no-get-status-unique", "codec/packets.yaml::get-status-unique-req-client", "GM-SERVER-002"),
    Row("no-coalescing", "server/maxqueue.yaml::limit-one", "GM-COAL-001"),
    Row("dash-literal", "server/coalesce.yaml::dash-unique-keys-on-payload", "GM-COAL-010"),
    # gearmand-1.1 held to its words: the ERROR is the right answer under another word, in each kind of case
    Row("error-words-numbered", "admin/commands.yaml::drop-function-with-queued-job", "GM-ERROR-002"),
    Row("error-words-numbered", "client/session.yaml::unknown-options", "GM-ERROR-002"),
    Row("error-words-numbered", "codec/framing.yaml::res-magic-on-request", "GM-ERROR-002"),
    Row("error-words-numbered", "codec/packets.yaml::work-complete-req-worker", "GM-ERROR-002"),
    Row("error-words-numbered", "codec/packets.yaml::submit-job-sched-req-client", "GM-ERROR-002"),
    Row("error-words-numbered", "codec/packets.yaml::error-as-request", "GM-ERROR-002"),
    Row("error-words-numbered", "server/coalesce.yaml::unique-65-bytes-refused", "GM-ERROR-002"),
    Row("error-words-numbered", "server/disconnect.yaml::resubmitted-after-abandoned", "GM-ERROR-002"),
    Row("error-words-numbered", "server/exceptions.yaml::option-and-no-option-listeners", "GM-ERROR-002"),
    Row("error-words-numbered", "server/maxqueue.yaml::limit-one", "GM-ERROR-002"),
    Row("error-words-numbered", "server/reduce.yaml::reduce-long-reducer", "GM-ERROR-002"),
    Row("error-words-numbered", "worker/timeout.yaml::timeout-requeues", "GM-ERROR-002"),
]

_IDS = row_ids(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_no_fail_at_level_must(row: Row, registry: dict[str, Requirement]) -> None:
    assert mutation(row.mutant).rule == row.rule
    assert registry[row.rule].level == "SHOULD"
    assert judged_row(row, False, "must").verdict in NOT_FAILED
    result = judged_row(row, True, "must")
    assert result.verdict is not Verdict.FAIL, (result.step, result.rules, result.reason)


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_fails_naming_its_should_at_the_default_level(row: Row, registry: dict[str, Requirement]) -> None:
    model = judged_row(row, False, DEFAULT_LEVEL)
    assert model.verdict in NOT_FAILED, model.reason
    result = judged_row(row, True, DEFAULT_LEVEL)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason, result.notes)
    assert row.rule in result.rules, (result.step, result.rules, result.reason)
    # no MUST named beside it: the behaviour breaks the SHOULD alone
    assert all(registry[r].level != "MUST" for r in result.rules), result.rules
