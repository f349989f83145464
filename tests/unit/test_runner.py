"""The runner's verdicts, judged by playing small vectors against the model in virtual time."""

from __future__ import annotations

import pytest

from gearsim.files import load_schema_text
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.vectors.parse import parse_vector_text

HEAD = """\
schema: gearsim-vectors/1
area: server
title: runner behaviour
header:
- Runner tests.
notes: {}
cases:
- id: c
  comment: a case
  requirements: [GM-ECHO-001]
  result: valid
"""


def run(body: str, profile: str = "gearmand-1.1") -> CaseResult:
    vf = parse_vector_text(HEAD + body, "runner.yaml", load_schema_text())
    return run_case(vf, vf.cases[0], ModelPeerFactory(profile=profile), profile)


def test_a_conversation_that_goes_as_written_passes() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [hello]}}
""")
    assert result.verdict is Verdict.PASS, result.reason


def test_a_wrong_reply_fails_with_the_step_and_both_sides() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hello]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [bye]}}
""")
    assert result.verdict is Verdict.FAIL
    assert result.step == 3
    assert "argument 1 is b'hello', expected b'bye'" in result.reason
    assert "ECHO_RES [b'bye']" in result.expected
    assert "ECHO_RES [b'hello']" in result.actual
    assert "ECHO_RES" in result.trace


def test_a_missing_reply_fails_after_the_wait() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: PRE_SLEEP}}
  - {expect: c1, packet: {type: NOOP}, within: 500}
""")
    assert result.verdict is Verdict.FAIL
    assert "got 0 of 1 packets within 500 ms" in result.reason


def test_an_unexpected_message_at_the_end_fails_the_case() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
""")
    assert result.verdict is Verdict.FAIL
    assert "unexpected" in result.reason and "ECHO_RES" in result.reason


def test_a_captured_handle_must_come_back_the_same() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u1, x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u2, x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
""")
    assert result.verdict is Verdict.FAIL
    assert "but H was" in result.reason


ALTERNATIVE = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u1, x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - expect: c1
    packet: {type: STATUS_RES, args: [{ref: H}, '1', '0', '', '']}
    accept:
    - profiles: [%s]
      packet: {type: STATUS_RES, args: [{ref: H}, '1', '0', '0', '0']}
      note: zeros for no progress
"""


def test_an_alternative_allowed_for_the_profile_under_test_is_acceptable() -> None:
    result = run(ALTERNATIVE % "gearmand-1.1")
    assert result.verdict is Verdict.ACCEPTABLE
    assert result.notes == ("step 5: gearmand-1.1 behaviour (zeros for no progress)",)


def test_an_alternative_of_another_profile_still_fails_and_says_whose_it_is() -> None:
    result = run(ALTERNATIVE % "perl-1.130")
    assert result.verdict is Verdict.FAIL
    assert "matches the step 5: perl-1.130 behaviour" in result.reason


def test_expect_close_sees_the_server_close_on_bad_magic() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, wire: 0058595a 00000010 00000000}
  - {expect_close: c1}
""")
    assert result.verdict is Verdict.PASS, result.reason


def test_expect_silence_fails_on_any_reply() -> None:
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
  - {expect_silence: c1, ms: 1000}
""")
    assert result.verdict is Verdict.FAIL
    assert result.step == 3


@pytest.mark.parametrize(
    ("profiles", "verdict"), [("[gear-0.16]", Verdict.NOT_APPLICABLE), ("[gearmand-1.1]", Verdict.PASS)]
)
def test_a_case_for_other_profiles_is_not_applicable(profiles: str, verdict: Verdict) -> None:
    body = f"""\
  profiles: {profiles}
  actors: {{c1: client}}
  steps:
  - {{connect: c1}}
"""
    assert run(body).verdict is verdict


def test_advance_costs_no_wall_time_and_moves_virtual_time() -> None:
    import time

    start = time.perf_counter()
    result = run("""\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {advance: 3600000}
  - {send: c1, packet: {type: ECHO_REQ, args: [late]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [late]}}
""")
    assert result.verdict is Verdict.PASS
    assert time.perf_counter() - start < 1.0  # an hour of virtual time
