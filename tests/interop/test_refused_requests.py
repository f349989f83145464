"""A request a server refuses with ERROR because it does not implement it: the rule that breaks, or the spec's leave.

The server is tests/interop/toy_server.py told to refuse one packet type
(``--refuse TYPE``), as Perl Gearman::Server refuses SUBMIT_JOB_LOW, WORK_DATA
and the other requests it has no handler for. Judged under perl-1.130, a
refusal that profile's defect records is that known defect; the same
refusal of a request Perl does implement, or judged under spec, fails, naming
GM-SERVER-001 (the server must act on it) before the step's own rules. A
request a server MAY leave out (SUBMIT_JOB_EPOCH) refused is n/a, except under
a profile whose server implements it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gearsim.files import load_requirements, load_schema_text, select
from gearsim.io.managed import ManagedPeerFactory, run_cases
from gearsim.io.serverdesc import ServerDescription, command_description
from gearsim.run.batch import selected_cases
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.result import CaseResult
from gearsim.run.runner import Verdict, run_case
from gearsim.vectors.parse import VectorFile, parse_vector_text
from gearsim.vectors.rules import with_step_rules

TOY = Path(__file__).with_name("toy_server.py")

CASES = """schema: gearsim-vectors/1
area: server
title: requests a server refuses
header: [written for tests/interop/test_refused_requests.py]
notes: {}
cases:
- id: low
  comment: a low-priority submission gets its handle
  requirements: [GM-SUBMIT-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_LOW, args: [t-low, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
- id: normal
  comment: a normal submission gets its handle
  requirements: [GM-SUBMIT-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB, args: [t-normal, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
- id: epoch
  comment: an epoch submission gets its handle
  requirements: [GM-SUBMIT-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_EPOCH, args: [t-epoch, '', '0', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
- id: data
  comment: the worker's WORK_DATA reaches the client
  requirements: [GM-WORK-003]
  result: valid
  actors: {c1: client, w1: worker}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB, args: [t-data, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [t-data]}}
  - {send: w1, packet: {type: GRAB_JOB}}
  - {expect: w1, packet: {type: JOB_ASSIGN, args: [{ref: H}, t-data, x]}}
  - {send: w1, packet: {type: WORK_DATA, args: [{ref: H}, part]}}
  - {expect: c1, packet: {type: WORK_DATA, args: [{ref: H}, part]}}
- id: data-unawaited
  comment: a background job's WORK_DATA goes nowhere, and nothing comes back to the worker
  requirements: [GM-SUBMIT-004]
  result: valid
  actors: {c1: client, w1: worker}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [t-bgdata, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [t-bgdata]}}
  - {send: w1, packet: {type: GRAB_JOB}}
  - {expect: w1, packet: {type: JOB_ASSIGN, args: [{ref: H}, t-bgdata, x]}}
  - {send: w1, packet: {type: WORK_DATA, args: [{ref: H}, part]}}
  - {send: w1, packet: {type: WORK_COMPLETE, args: [{ref: H}, done]}}
- id: data-then-wrong-echo
  comment: the worker's WORK_DATA is refused, and then the client's echo comes back wrong (the vector expects b)
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client, w1: worker}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [t-echo, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO, args: [t-echo]}}
  - {send: w1, packet: {type: GRAB_JOB}}
  - {expect: w1, packet: {type: JOB_ASSIGN, args: [{ref: H}, t-echo, x]}}
  - {send: w1, packet: {type: WORK_DATA, args: [{ref: H}, part]}}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [b]}}
"""


@pytest.fixture(scope="module")
def cases() -> VectorFile:
    return with_step_rules(parse_vector_text(CASES, "refused.yaml", load_schema_text()), load_requirements())


def toy(*flags: str) -> ServerDescription:
    return command_description(f"{sys.executable} {TOY} --port {{port}} {' '.join(flags)}")


def judge(cases: VectorFile, case: str, profile: str, tmp_path: Path, *flags: str) -> CaseResult:
    factory = ManagedPeerFactory(toy(*flags), tmp_path / f"{case}-{profile}")
    (result,) = run_cases([(cases, cases.case(case))], lambda _i: factory, profile, jobs=1)
    return result


def test_a_refusal_the_perl_profile_records_is_its_known_defect(cases: VectorFile, tmp_path: Path) -> None:
    result = judge(cases, "low", "perl-1.130", tmp_path, "--refuse SUBMIT_JOB_LOW")
    assert result.verdict is Verdict.KNOWN_DEFECT, result.reason
    assert "known defect core-requests-missing of perl-1.130 (breaks GM-SERVER-001)" in result.reason
    assert "refused c1's SUBMIT_JOB_LOW with ERROR" in result.reason


def test_under_spec_the_same_refusal_fails_naming_the_core_requests_rule_first(
    cases: VectorFile, tmp_path: Path
) -> None:
    result = judge(cases, "low", "spec", tmp_path, "--refuse SUBMIT_JOB_LOW")
    assert result.verdict is Verdict.FAIL
    assert result.rules[:2] == ("GM-SERVER-001", "GM-SUBMIT-001"), result.rules


def test_a_refusal_of_a_request_perl_implements_still_fails_under_its_profile(
    cases: VectorFile, tmp_path: Path
) -> None:
    result = judge(cases, "normal", "perl-1.130", tmp_path, "--refuse SUBMIT_JOB")
    assert result.verdict is Verdict.FAIL, result.reason
    assert "known defect" not in result.reason
    assert result.rules == ("GM-SUBMIT-001",)  # Perl has SUBMIT_JOB: the refusal is judged by the step's rule


def test_a_worker_s_refused_work_data_is_the_defect_behind_its_client_s_missing_packet(
    cases: VectorFile, tmp_path: Path
) -> None:
    perl = judge(cases, "data", "perl-1.130", tmp_path, "--refuse WORK_DATA")
    assert perl.verdict is Verdict.KNOWN_DEFECT, perl.reason
    assert "refused w1's WORK_DATA with ERROR" in perl.reason
    spec = judge(cases, "data", "spec", tmp_path, "--refuse WORK_DATA")
    assert spec.verdict is Verdict.FAIL
    assert spec.rules[:2] == ("GM-SERVER-001", "GM-WORK-003"), spec.rules
    # the same toy without the refusal sends it on
    assert judge(cases, "data", "perl-1.130", tmp_path).verdict is Verdict.PASS


def test_a_refused_request_a_server_may_leave_out_is_not_applicable_unless_the_profile_has_it(
    cases: VectorFile, tmp_path: Path
) -> None:
    # the toy has no SUBMIT_JOB_EPOCH: it answers ERROR, as Perl does
    for profile in ("spec", "perl-1.130"):
        result = judge(cases, "epoch", profile, tmp_path)
        assert result.verdict is Verdict.NOT_APPLICABLE, (profile, result.reason)
        assert "GM-SERVER-003" in result.reason
    gearmand = judge(cases, "epoch", "gearmand-1.1", tmp_path)
    assert gearmand.verdict is Verdict.FAIL  # gearmand implements it: its refusal is a failure


UNKNOWN_TYPES = ["codec/framing.yaml::unknown-type-43", "codec/framing.yaml::type-0"]


def test_perl_s_recorded_error_to_an_unknown_type_is_acceptable_but_a_malformed_one_fails(tmp_path: Path) -> None:
    selection = select(UNKNOWN_TYPES)
    cases = selected_cases(selection.files, selection.chosen)
    good = ManagedPeerFactory(toy(), tmp_path / "good")
    results = run_cases(cases, lambda _i: good, "perl-1.130", jobs=1)
    assert [r.verdict for r in results] == [Verdict.ACCEPTABLE] * len(UNKNOWN_TYPES), [r.reason for r in results]
    # an ERROR without its text (GM-FRAME-004) is not the ERROR Perl's alternative records
    bare = ManagedPeerFactory(toy("--bare-unknown-error"), tmp_path / "bare")
    results = run_cases(cases, lambda _i: bare, "perl-1.130", jobs=1)
    assert [r.verdict for r in results] == [Verdict.FAIL] * len(UNKNOWN_TYPES), [r.reason for r in results]


def test_a_rule_an_alternative_declares_broken_is_its_verdict_not_a_failed_match() -> None:
    # the model playing Perl answers 'fn\0u9' with an ERROR whose text holds that NUL (GM-FRAME-005)
    selection = select(["codec/framing.yaml::submit-job-one-nul"])
    cases = selected_cases(selection.files, selection.chosen)
    perl = [run_case(vf, case, ModelPeerFactory(profile="perl-1.130"), "perl-1.130") for vf, case in cases]
    assert [r.verdict for r in perl] == [Verdict.KNOWN_DEFECT], [r.reason for r in perl]
    assert "error-text-echoes-body" in perl[0].reason
    spec = [run_case(vf, case, ModelPeerFactory(profile="perl-1.130"), "spec") for vf, case in cases]
    assert [r.verdict for r in spec] == [Verdict.FAIL] and spec[0].rules == ("GM-FRAME-005",), spec


def test_a_stray_error_for_a_refused_request_is_perl_s_defect_and_under_spec_names_the_core_rule(
    cases: VectorFile, tmp_path: Path
) -> None:
    perl = judge(cases, "data-unawaited", "perl-1.130", tmp_path, "--refuse WORK_DATA")
    assert perl.verdict is Verdict.KNOWN_DEFECT, perl.reason
    assert "after the last step: known defect core-requests-missing" in perl.reason
    spec = judge(cases, "data-unawaited", "spec", tmp_path, "--refuse WORK_DATA")
    assert spec.verdict is Verdict.FAIL
    assert spec.rules == ("GM-SERVER-001",) and "it refused w1's WORK_DATA" in spec.reason, spec.reason
    assert judge(cases, "data-unawaited", "spec", tmp_path).verdict is Verdict.PASS


def test_another_actor_s_refusal_does_not_excuse_a_failure_it_cannot_have_caused(
    cases: VectorFile, tmp_path: Path
) -> None:
    result = judge(cases, "data-then-wrong-echo", "perl-1.130", tmp_path, "--refuse WORK_DATA")
    assert result.verdict is Verdict.FAIL, result.reason
    assert "known defect" not in result.reason and result.rules == ("GM-ECHO-001",), (result.reason, result.rules)
