"""Mutants of the SHOULD rules of status numbers and disconnects are not failed at ``--level must``.

Each row is a mutant of the reference model that breaks one SHOULD rule, and a
case that failed it at ``--level must`` naming a MUST it does not break (or no
rule at all): a server doing what the mutant does would have been told it
broke a MUST. Judged at ``must`` the case is now ACCEPTABLE (played to its
end, not cut short), and at the default level it still FAILs naming the SHOULD.

- status-numbers-empty (GM-FIELD-005, Perl and gear): a status reply with empty
  numbers where 0 0 is due failed naming the step's rules (GM-DISC-001/003,
  GM-STATUS-010, GM-TIMEOUT-001/004). The runner now judges a reply that
  differs from the expected one only so as breaking GM-FIELD-005 alone.
- lost-worker-fails (GM-DISC-002): the case written for the retry limit failed
  at the first WORK_FAIL naming no rule; it now has the failing server's branch.
  The mutant also failed a held job on CANT_DO and RESET_ABILITIES (GM-WORKER-006's
  matter, read as GM-STATUS-001/003): it now fails only a closed connection's jobs.
- retries-unbounded (GM-DISC-004): requeueing for ever is one of GM-DISC-001's
  two ways, not a lost job.
- abandoned-jobs-run (GM-DISC-006): one JOB_ASSIGN answers the GRAB_JOB, which
  GM-WORKER-007 asks for.
"""

from __future__ import annotations

import pytest
from mutant_judging import DEFAULT_LEVEL, Row, bundled_case, judged, row_ids

from gearsim import files as loading
from gearsim.protocol.packets import PacketType
from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.building import on_args
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import Verdict
from gearsim.vectors.parse import Case, VectorFile, parse_vector_text
from gearsim.vectors.rules import with_step_rules

ROWS = [
    Row("status-numbers-empty", "server/disconnect.yaml::worker-disconnect-requeues"),
    Row("status-numbers-empty", "server/disconnect.yaml::listener-gone-not-counted"),
    Row("status-numbers-empty", "server/status.yaml::unique-queued-background"),
    Row("status-numbers-empty", "worker/timeout.yaml::timer-bound-to-first-job"),
    Row("lost-worker-fails", "server/disconnect.yaml::retry-limit-reached"),
    Row("retries-unbounded", "server/disconnect.yaml::retry-limit-reached"),
    Row("abandoned-jobs-run", "server/disconnect.yaml::client-disconnect-queued"),
]


@pytest.mark.parametrize("row", ROWS, ids=row_ids(ROWS))
def test_the_should_mutant_is_acceptable_at_must(row: Row, registry: dict[str, Requirement]) -> None:
    m = mutation(row.mutant)
    assert registry[m.rule].level == "SHOULD"
    result = judged(m, *bundled_case(row.case), "must")
    assert result.verdict is Verdict.ACCEPTABLE, (result.verdict, result.step, result.rules, result.reason)


@pytest.mark.parametrize("row", ROWS, ids=row_ids(ROWS))
def test_the_should_mutant_fails_naming_its_rule_by_default(row: Row, registry: dict[str, Requirement]) -> None:
    m = mutation(row.mutant)
    vf, case = bundled_case(row.case)
    assert judged(None, vf, case, DEFAULT_LEVEL).verdict is Verdict.PASS
    result = judged(m, vf, case, DEFAULT_LEVEL)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason)
    assert m.rule in result.rules, (result.step, result.rules, result.reason)


@pytest.mark.parametrize(
    "ref", ["worker/abilities.yaml::cant-do-while-holding", "worker/abilities.yaml::reset-while-holding"]
)
def test_lost_worker_fails_leaves_a_dropped_function_s_held_job_alone(
    ref: str, registry: dict[str, Requirement]
) -> None:
    # the mutant failed the job here, where no connection closed, and the status read 0 0 (GM-STATUS-001/003)
    result = judged(mutation("lost-worker-fails"), *bundled_case(ref), DEFAULT_LEVEL)
    assert result.verdict is Verdict.PASS, (result.step, result.rules, result.reason)


_STATUS = """schema: gearsim-vectors/1
area: server
title: empty status numbers
header:
- Runner tests.
notes: {}
cases:
- id: queued
  comment: a queued job, then a held one, never a WORK_STATUS
  requirements: [GM-STATUS-003]
  result: valid
  actors: {c1: client, w1: worker}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - {expect: c1, packet: {type: STATUS_RES, args: [{ref: H}, '1', '0', '0', '0']}, requirements: [GM-STATUS-003]}
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [f]}}
  - {send: w1, packet: {type: GRAB_JOB}}
  - {expect: w1, packet: {type: JOB_ASSIGN, args: [{ref: H}, f, x]}}
  - {send: c1, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - {expect: c1, packet: {type: STATUS_RES, args: [{ref: H}, '1', '1', '0', '0']}, requirements: [GM-STATUS-004]}
- id: progress-zero
  comment: the worker reports 0 of 0
  requirements: [GM-STATUS-007]
  result: valid
  actors: {c1: client, w1: worker}
  steps:
  - {connect: c1}
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [f]}}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: w1, packet: {type: GRAB_JOB}}
  - {expect: w1, packet: {type: JOB_ASSIGN, args: [{ref: H}, f, x]}}
  - {send: w1, packet: {type: WORK_STATUS, args: [{ref: H}, '0', '0']}}
  - {send: c1, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - {expect: c1, packet: {type: STATUS_RES, args: [{ref: H}, '1', '1', '0', '0']}, requirements: [GM-STATUS-007]}
"""

#: a server whose STATUS_RES numbers are always empty, progress or not
_ALWAYS_EMPTY = Mutation(
    "always-empty",
    "GM-STATUS-007",
    "STATUS_RES numbers always empty",
    on_args(PacketType.STATUS_RES, lambda a: (*a[:3], b"", b"")),
)


def _inline(case_id: str, registry: dict[str, Requirement]) -> tuple[VectorFile, Case]:
    vf = with_step_rules(parse_vector_text(_STATUS, "status-empty.yaml", loading.load_schema_text()), registry)
    return vf, next(c for c in vf.cases if c.id == case_id)


def test_empty_numbers_for_no_progress_break_only_the_should_whatever_the_step_names(
    registry: dict[str, Requirement],
) -> None:
    vf, case = _inline("queued", registry)
    at_must = judged(mutation("status-numbers-empty"), vf, case, "must")
    assert at_must.verdict is Verdict.ACCEPTABLE, (at_must.step, at_must.rules, at_must.reason)
    assert [n for n in at_must.notes if "GM-FIELD-005" in n] and len(at_must.notes) == 2, at_must.notes
    by_default = judged(mutation("status-numbers-empty"), vf, case, DEFAULT_LEVEL)
    assert (by_default.verdict, by_default.step, by_default.rules) == (Verdict.FAIL, 5, ("GM-FIELD-005",))
    # the judge of the neutral profile only: a profile records its own server's bytes
    gearmand = judged(mutation("status-numbers-empty"), vf, case, "must", "gearmand-1.1")
    assert (gearmand.verdict, gearmand.rules) == (Verdict.FAIL, ("GM-STATUS-003",)), gearmand.reason


def test_empty_numbers_after_a_work_status_0_0_break_the_must_that_repeats_them(
    registry: dict[str, Requirement],
) -> None:
    vf, case = _inline("progress-zero", registry)
    assert judged(None, vf, case, "must").verdict is Verdict.PASS
    result = judged(_ALWAYS_EMPTY, vf, case, "must")
    assert (result.verdict, result.rules) == (Verdict.FAIL, ("GM-STATUS-007",)), result.reason
