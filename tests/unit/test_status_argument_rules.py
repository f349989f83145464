"""A wrong value in STATUS_RES fails naming the rule about that value, not GM-STATUS-001 (about the handle)."""

from __future__ import annotations

from gearsim.files import load_requirements, load_schema_text
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.vectors.parse import parse_vector_text
from gearsim.vectors.rules import with_step_rules

HEAD = """\
schema: gearsim-vectors/1
area: server
title: status arguments
header:
- Runner tests.
notes: {}
cases:
- id: c
  comment: a case
  requirements: [GM-STATUS-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
"""

UNKNOWN = """\
  - {send: c1, packet: {type: GET_STATUS, args: ['H:nope:1']}}
  - {expect: c1, packet: {type: STATUS_RES, args: ['H:nope:1', '0', '0', '0', '0']}}
"""

QUEUED_AS_RUNNING = """\
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - {expect: c1, packet: {type: STATUS_RES, args: [{ref: H}, '1', '1', '0', '0']}}
"""


def run(body: str, profile: str, model: str) -> CaseResult:
    vf = with_step_rules(parse_vector_text(HEAD + body, "status.yaml", load_schema_text()), load_requirements())
    return run_case(vf, vf.cases[0], ModelPeerFactory(profile=model), profile)


def test_empty_progress_numbers_break_the_should_about_them() -> None:
    result = run(UNKNOWN, "gearmand-1.1", "perl-1.130")  # Perl reports '' ''
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-FIELD-005",)
    assert run(UNKNOWN, "gearmand-1.1", "gearmand-1.1").verdict is Verdict.PASS


def test_a_wrong_running_flag_names_the_rule_of_the_state_the_vector_expects() -> None:
    # the vector (wrongly) expects the queued job held: the model's running 0 is judged by GM-STATUS-004
    result = run(QUEUED_AS_RUNNING, "gearmand-1.1", "gearmand-1.1")
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-STATUS-004",)
