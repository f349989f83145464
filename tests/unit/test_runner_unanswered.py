"""A request a profile's defect leaves unanswered: that known defect under the profile, a FAIL under spec."""

from __future__ import annotations

from gearsim.files import load_requirements, load_schema_text
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.run.unanswered import (
    core_refused,
    refused_defect,
    refused_optional,
    request_names,
    silent_admin_rules,
    unanswered_defect,
)
from gearsim.vectors.parse import parse_vector_text
from gearsim.vectors.rules import with_step_rules

HEAD = """\
schema: gearsim-vectors/1
area: server
title: unanswered requests
header:
- Runner tests.
notes: {}
cases:
- id: c
  comment: a case
  requirements: [GM-WORKER-008]
  result: valid
"""

GRAB = """\
  actors: {c1: client, w1: worker}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [f]}}
  - {send: w1, packet: {type: GRAB_JOB}}
  - {expect: w1, packet: {type: JOB_ASSIGN, args: [{ref: H}, f, x]}}
  - {send: w1, packet: {type: WORK_COMPLETE, args: [{ref: H}, '']}}
"""


def run(body: str, profile: str, model: str | None = None, cites: str = "GM-WORKER-008") -> CaseResult:
    """``body`` judged under ``profile`` against the model playing ``model`` (default: the same profile)."""
    text = HEAD.replace("GM-WORKER-008", cites) + body
    vf = with_step_rules(parse_vector_text(text, "unanswered.yaml", load_schema_text()), load_requirements())
    return run_case(vf, vf.cases[0], ModelPeerFactory(profile=model or profile), profile)


def test_a_grab_job_gear_ignores_is_its_known_defect_and_ends_the_case() -> None:
    result = run(GRAB, "gear-0.16")
    assert result.verdict is Verdict.KNOWN_DEFECT
    assert "step 7: known defect unimplemented-ignored of gear-0.16" in result.reason
    assert "the server ignored w1's GRAB_JOB" in result.reason


def test_under_spec_the_same_silence_fails_at_the_step_with_its_rule() -> None:
    assert run(GRAB, "spec").verdict is Verdict.PASS  # the spec model answers GRAB_JOB
    gear = run(GRAB, "spec", model="gear-0.16")
    assert gear.verdict is Verdict.FAIL
    assert gear.step == 7
    assert "GM-WORKER-008" in gear.rules


def test_a_request_answered_earlier_is_not_blamed_for_a_later_failure() -> None:
    # ECHO_REQ is unanswered by gear, but a later step waits for a JOB_CREATED that never comes
    # from a SUBMIT_JOB gear does answer: still a plain FAIL, judged on its own step
    body = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [H:vm:1]}}
"""
    result = run(body, "gear-0.16")
    assert result.verdict is Verdict.FAIL
    assert "known defect" not in result.reason


def test_request_names_walk_headers_name_a_wrong_magic_and_stop_at_text() -> None:
    echo = bytes.fromhex("00524551 00000010 00000001 78".replace(" ", ""))
    grab = bytes.fromhex("00524551 00000009 00000000".replace(" ", ""))
    res = bytes.fromhex("00524553 00000010 00000000".replace(" ", ""))
    bad = bytes.fromhex("0058595a 00000010 00000000".replace(" ", ""))
    assert request_names(echo + grab + res + bad + b"status\n") == ["ECHO_REQ", "GRAB_JOB", "RES-magic", "bad-magic"]
    assert request_names(b"version\n") == []


def test_only_a_named_profile_with_such_a_defect_excuses_the_silence() -> None:
    assert unanswered_defect("spec", ["GRAB_JOB"]) is None
    assert unanswered_defect("gearmand-1.1", ["GRAB_JOB"]) is None
    assert unanswered_defect("gear-0.16", ["SUBMIT_JOB"]) is None
    magic = unanswered_defect("gear-0.16", ["RES-magic"])
    assert magic is not None and magic[0].id == "magic-unchecked"
    found = unanswered_defect("gear-0.16", ["GRAB_JOB"])
    assert found is not None and found[0].id == "unimplemented-ignored" and found[1] == "GRAB_JOB"


ADMIN = """\
  actors: {a1: admin}
  steps:
  - {connect: a1}
  - {send: a1, admin: getpid}
  - {expect: a1, admin: {lines: ['4242'], eol: "\\r\\n"}}
"""


def test_an_admin_command_gear_lacks_is_not_applicable_under_its_profile_naming_the_rule() -> None:
    result = run(ADMIN, "gear-0.16")
    assert result.verdict is Verdict.NOT_APPLICABLE
    assert "gear-0.16 has no 'getpid' admin command" in result.reason and "GM-ADMIN-006" in result.reason


def test_under_spec_an_unanswered_admin_line_breaks_the_unknown_command_rule_not_the_line_end_rule() -> None:
    # the case cites the line-end rule (as codec/admin.yaml::getpid does); the silence breaks another
    result = run(ADMIN, "spec", model="gear-0.16", cites="GM-ADMIN-001")
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-ADMIN-006",)


def test_silent_admin_rules_name_the_command_s_own_rule() -> None:
    assert silent_admin_rules(b"version") == ("GM-ADMIN-009", "GM-ADMIN-006")
    assert silent_admin_rules(b"status") == ("GM-ADMIN-012",)
    assert silent_admin_rules(b"STATUS") == ("GM-ADMIN-003", "GM-ADMIN-006")
    assert silent_admin_rules(b"getpid") == ("GM-ADMIN-006",)
    assert silent_admin_rules(b"") == ("GM-ADMIN-006",)


def test_a_server_whose_admin_lines_end_in_lf_meets_a_vector_written_with_cr_lf() -> None:
    body = """\
  actors: {a1: admin}
  steps:
  - {connect: a1}
  - {send: a1, admin: cancel job H:nosuch}
  - {expect: a1, admin: {lines: [ERR UNKNOWN_JOB], eol: "\\r\\n"}}
"""
    assert run(body, "gear-0.16").verdict is Verdict.PASS
    assert run(body, "gearmand-1.1", model="gear-0.16").verdict is Verdict.FAIL


COALESCE = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u1, one]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, u1, two]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{ref: H}]}}
"""


def test_a_submission_not_coalesced_breaks_only_the_should_whatever_the_case_cites() -> None:
    result = run(COALESCE, "spec", model="gear-0.16", cites="GM-SUBMIT-004")
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-COAL-001",)
    assert run(COALESCE, "spec").verdict is Verdict.PASS


def test_under_a_profile_that_never_coalesces_the_case_is_not_applicable() -> None:
    result = run(COALESCE, "gear-0.16")
    assert result.verdict is Verdict.NOT_APPLICABLE
    assert "gear-0.16 does not coalesce submissions" in result.reason and "GM-COAL-001" in result.reason


def test_gear_ignores_can_do_timeout_so_a_job_of_that_function_is_never_given() -> None:
    body = """\
  actors: {c1: client, w1: worker}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO_TIMEOUT, args: [f, '1000']}}
  - {send: w1, packet: {type: GRAB_JOB_UNIQ}}
  - {expect: w1, packet: {type: JOB_ASSIGN_UNIQ, args: [{ref: H}, f, '', x]}}
"""
    result = run(body, "gear-0.16")
    assert result.verdict is Verdict.KNOWN_DEFECT
    assert "the server ignored w1's CAN_DO_TIMEOUT" in result.reason


def test_under_spec_silence_to_a_request_that_always_has_a_reply_names_the_must() -> None:
    body = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_REDUCE_JOB_BACKGROUND, args: [f, u, r, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
"""
    result = run(body, "spec", model="gear-0.16", cites="GM-COAL-001")
    assert result.verdict is Verdict.FAIL
    assert result.rules == ("GM-SERVER-004", "GM-COAL-001")


LOW = """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_LOW_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
"""


def test_a_request_perl_refuses_with_error_is_its_core_requests_defect() -> None:
    result = run(LOW, "perl-1.130", cites="GM-SUBMIT-001")
    assert result.verdict is Verdict.KNOWN_DEFECT
    assert "known defect core-requests-missing of perl-1.130 (breaks GM-SERVER-001)" in result.reason
    assert "refused c1's SUBMIT_JOB_LOW_BG with ERROR" in result.reason


def test_the_same_refusal_under_spec_or_gearmand_s_profile_fails() -> None:
    spec = run(LOW, "spec", model="perl-1.130", cites="GM-SUBMIT-001")
    assert spec.verdict is Verdict.FAIL
    assert spec.rules[:2] == ("GM-SERVER-001", "GM-SUBMIT-001")
    gearmand = run(LOW, "gearmand-1.1", model="perl-1.130", cites="GM-SUBMIT-001")
    assert gearmand.verdict is Verdict.FAIL and "known defect" not in gearmand.reason


def test_refusals_are_looked_up_per_profile_and_request() -> None:
    assert refused_defect("spec", ["SUBMIT_JOB_LOW"]) is None
    assert refused_defect("gear-0.16", ["SUBMIT_JOB_LOW"]) is None
    assert refused_defect("perl-1.130", ["SUBMIT_JOB"]) is None
    found = refused_defect("perl-1.130", ["CAN_DO", "GRAB_JOB_ALL"])
    assert found is not None and found[0].id == "grab-all-and-status-unique-missing" and found[1] == "GRAB_JOB_ALL"
    assert refused_optional("spec", ["SUBMIT_JOB_EPOCH"]) == "SUBMIT_JOB_EPOCH"
    assert refused_optional("perl-1.130", ["SUBMIT_REDUCE_JOB"]) == "SUBMIT_REDUCE_JOB"
    assert refused_optional("gearmand-1.1", ["SUBMIT_JOB_EPOCH"]) is None  # gearmand implements it
    assert refused_optional("gear-0.16", ["SUBMIT_JOB_EPOCH"]) is None  # gear ignores, never refuses
    assert core_refused("spec", ["CAN_DO", "GRAB_JOB_UNIQ"]) == ("GM-SERVER-001", "GRAB_JOB_UNIQ")
    assert core_refused("perl-1.130", ["SUBMIT_JOB"]) is None  # Perl implements it
    assert core_refused("spec", ["OPTION_REQ"]) is None
