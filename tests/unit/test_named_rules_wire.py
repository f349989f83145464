"""A mutant of one MUST fails the case written for that rule naming it at the failing step.

The model broken in one rule (gearsim.run.mutants) is played on the bundled
case that cites the rule, at ``--level must`` under the mutant's profile. The
case must fail, and the failing step's rules (``CaseResult.rules``, what a
report prints as the rule broken) must name the mutant's rule: before, each of
these failed naming another rule (GM-ADMIN-011, GM-SERVER-004, GM-WORK-004,
GM-COAL-001, ...), sending the maintainer of a server with that defect to the
wrong sentence of the spec.

Where the reply itself is malformed on the wire (a JOB_CREATED framed with
\\0REQ, a STATUS_RES with a NUL after its last argument), the framing rule
its bytes break comes first, before the step's own (gearsim.run.framing).

Three rules of the same group are named by other rules on purpose, each for a
reason the test records: their bytes cannot be told from another packet's.
"""

from __future__ import annotations

import pytest

from gearsim.files import select
from gearsim.protocol.packets import Magic, Packet, PacketType
from gearsim.run.batch import selected_cases
from gearsim.run.framing import frame_breaks
from gearsim.run.mutants import MutantFactory, Mutation, mutation
from gearsim.run.mutants.building import on_args
from gearsim.run.runner import CaseResult, Verdict, run_case

#: (mutant id, the case written for its rule, the step where the mutant first shows)
NAMED = [
    ("empty-result-without-nul", "server/forwarding.yaml::empty-complete", 9),
    ("admin-after-binary-ignored", "admin/commands.yaml::binary-and-text-mixed", 6),
    ("busy-worker-no-echo", "client/session.yaml::echo-from-busy-worker", 9),
    ("option-forgotten", "server/exceptions.yaml::option-after-submit", 11),
    ("worker-option-ignored", "server/exceptions.yaml::option-from-worker", 4),
    ("unique-cut-to-62", "server/coalesce.yaml::unique-63-bytes-coalesces", 9),
    ("empty-unique-found", "server/status.yaml::unique-empty-never-found", 5),
    ("sched-runs", "server/reduce.yaml::sched-refused", 3),
    # 'create function lsC\r\r\n' must create 'lsC\r': the status listing shows the CR kept
    ("every-cr-dropped", "admin/listings.yaml::create-function-newline-bug", 9),
]


def _play(mutant_id: str | None, case_ref: str, profile: str) -> CaseResult:
    selection = select([case_ref])
    [(vf, case)] = selected_cases(selection.files, selection.chosen)
    factory = MutantFactory(mutation(mutant_id) if mutant_id else None, profile)
    return run_case(vf, case, factory, profile, level="must")


@pytest.mark.parametrize(("mutant_id", "case_ref", "step"), NAMED)
def test_the_mutant_fails_its_rule_s_case_naming_that_rule(mutant_id: str, case_ref: str, step: int) -> None:
    m = mutation(mutant_id)
    assert _play(None, case_ref, m.profile).verdict in (Verdict.PASS, Verdict.ACCEPTABLE)
    result = _play(mutant_id, case_ref, m.profile)
    assert result.verdict is Verdict.FAIL, result.reason
    assert result.step == step, result.reason
    assert m.rule in result.rules, (result.rules, result.reason)


def test_version_cr_cr_lf_alone_cannot_tell_a_dropped_cr_from_a_prefix_match() -> None:
    # 'version\r\r\n' answered as version is accepted under the SHOULD GM-ADMIN-020 (a prefix match takes
    # 'version\r'); the same answer from a server that drops every CR must still fail at --level must, which
    # is why create-function-newline-bug keeps a CR inside a name
    m = mutation("every-cr-dropped")
    assert _play(m.id, "codec/framing.yaml::version-cr-cr-lf", m.profile).verdict is Verdict.ACCEPTABLE
    result = _play(m.id, "admin/listings.yaml::create-function-newline-bug", m.profile)
    assert result.verdict is Verdict.FAIL and result.rules == ("GM-ADMIN-001",), (result.rules, result.reason)
    assert "lsC\\t0" in result.reason, result.reason


@pytest.mark.parametrize(
    ("mutant_id", "case_ref", "cited"),
    [
        # the reply framed with \0REQ: before, the step's GM-SUBMIT-001 came first and GM-FRAME-002 not at all
        ("created-with-req-magic", "codec/packets.yaml::submit-job-req-client", "with magic \\0REQ"),
        # a NUL after STATUS_RES's last argument: before, the step's GM-STATUS-006 alone
        ("status-extra-argument", "codec/packets.yaml::get-status-req-client", "ends in a NUL after its last"),
    ],
)
def test_a_reply_malformed_on_the_wire_names_the_framing_rule_first(mutant_id: str, case_ref: str, cited: str) -> None:
    m = mutation(mutant_id)
    assert _play(None, case_ref, m.profile).verdict is Verdict.PASS
    result = _play(mutant_id, case_ref, m.profile)
    assert result.verdict is Verdict.FAIL and result.step == 3, result.reason
    assert result.rules[0] == m.rule, (result.rules, result.reason)
    assert cited in result.reason and m.rule in result.reason, result.reason


def test_only_the_framing_rules_the_bytes_break_are_named() -> None:
    status = [b"H:sim:1", b"0", b"0", b"0"]
    # a conforming reply breaks none, whatever the step expected of it
    assert frame_breaks(None, [Packet(Magic.RES, PacketType.STATUS_RES, (*status, b"1"))], {}, frozenset()) == []
    # a NUL inside the last argument may be one inside it: the validator's GM-FRAME-005 alone
    inside = Packet(Magic.RES, PacketType.STATUS_RES, (*status, b"1\0x"))
    assert [rule for rule, _ in frame_breaks(None, [inside], {}, frozenset())] == ["GM-FRAME-005"]
    # after the last argument, the body holds a NUL GM-FRAME-004 forbids; a rule the reaction declares is left out
    after = Packet(Magic.RES, PacketType.STATUS_RES, (*status, b"1\0"))
    assert [rule for rule, _ in frame_breaks(None, [after], {}, frozenset())] == ["GM-FRAME-004", "GM-FRAME-005"]
    assert [rule for rule, _ in frame_breaks(None, [after], {}, frozenset({"GM-FRAME-004"}))] == ["GM-FRAME-005"]


def test_a_bare_work_complete_names_the_empty_argument_rule_first() -> None:
    # the sender rule the bytes break comes before the step's forwarding rule, and the reason says why
    result = _play("empty-result-without-nul", "server/forwarding.yaml::empty-complete", "spec")
    assert result.rules == ("GM-FRAME-006", "GM-WORK-004")
    assert "NUL before the empty last argument" in result.reason


def test_a_dropped_result_that_was_not_empty_is_no_framing_slip() -> None:
    # WORK_COMPLETE cut to its handle where the result has bytes: the result is lost, not a NUL
    dropped = Mutation("GM-WORK-004", "result-dropped", "", on_args(PacketType.WORK_COMPLETE, lambda a: a[:1]))
    selection = select(["server/forwarding.yaml::intermediate-then-complete"])
    [(vf, case)] = selected_cases(selection.files, selection.chosen)
    result = run_case(vf, case, MutantFactory(dropped, "spec"), "spec", level="must")
    assert result.verdict is Verdict.FAIL, result.reason
    assert "GM-FRAME-006" not in result.rules and "GM-WORK-004" in result.rules, result.rules


def test_a_server_that_never_coalesces_still_breaks_only_the_should() -> None:
    # the 63-byte case coalesces a short unique first: without coalescing at all, GM-LIMIT-001 is not in play
    result = _play("no-coalescing", "server/coalesce.yaml::unique-63-bytes-coalesces", "spec")
    assert result.verdict is Verdict.FAIL and result.step == 5
    assert result.rules == ("GM-COAL-001",)


@pytest.mark.parametrize(
    ("mutant_id", "case_ref", "named"),
    [
        # a NUL inside the unique decodes as a shorter unique and a workload holding the rest: a valid
        # JOB_ASSIGN_UNIQ carrying another unique, which is what GM-WORKER-009 says
        ("assigned-unique-with-nul", "server/coalesce.yaml::unique-63-bytes-coalesces", "GM-WORKER-009"),
        # ECHO_RES announcing one byte more takes the next reply's first byte: a valid ECHO_RES echoing other
        # data (GM-ECHO-001), the length's error shown by no byte received
        ("echo-length-one-long", "codec/framing.yaml::several-packets-one-buffer", "GM-ECHO-001"),
    ],
)
def test_the_rules_left_to_another_sentence_fail_naming_it(mutant_id: str, case_ref: str, named: str) -> None:
    m = mutation(mutant_id)
    result = _play(mutant_id, case_ref, m.profile)
    assert result.verdict is Verdict.FAIL, result.reason
    assert named in result.rules, result.rules
    assert m.rule not in result.rules, result.rules
