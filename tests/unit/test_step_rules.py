"""Each expect step knows the rules it checks (gearsim.vectors.rules), so a failure can name the rule broken."""

from __future__ import annotations

from gearsim.files import load_requirements, load_schema_text, select
from gearsim.vectors.parse import Case, parse_vector_text
from gearsim.vectors.rules import with_step_rules

HEAD = """\
schema: gearsim-vectors/1
area: server
title: step rules
header:
- Step rule tests.
notes: {}
cases:
"""


def case(requirements: str, steps: str) -> Case:
    text = HEAD + f"- id: c\n  comment: a case\n  requirements: {requirements}\n  result: valid\n" + steps
    vf = with_step_rules(parse_vector_text(text, "rules.yaml", load_schema_text()), load_requirements())
    return vf.cases[0]


def rules_of(c: Case) -> dict[int, tuple[str, ...]]:
    return {s.index: s.rules for s in c.steps}


def test_a_step_that_names_its_requirements_keeps_them() -> None:
    c = case(
        "[GM-ECHO-001]",
        """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [a]}, requirements: [GM-FRAME-004]}
""",
    )
    assert rules_of(c) == {1: (), 2: (), 3: ("GM-FRAME-004",)}


def test_the_case_rules_that_name_the_expected_packet_are_the_steps() -> None:
    c = case(
        "[GM-STATUS-002, GM-ECHO-001]",
        """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [a]}}
  - {send: c1, packet: {type: GET_STATUS, args: ['H:x:1']}}
  - {expect: c1, packet: {type: STATUS_RES, args: ['H:x:1', '0', '0', '0', '0']}}
""",
    )
    assert rules_of(c)[3] == ("GM-ECHO-001",)
    assert rules_of(c)[5] == ("GM-STATUS-002",)


def test_without_a_case_rule_the_registry_rule_of_the_exchange_is_used() -> None:
    # the case cites an admin rule only; the echo exchange is GM-ECHO-001's, a submission's answer GM-SUBMIT-001's
    c = case(
        "[GM-ADMIN-005]",
        """\
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [a]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [a]}}
  - {send: c1, packet: {type: SUBMIT_JOB, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
""",
    )
    assert rules_of(c)[3] == ("GM-ECHO-001",)
    assert "GM-SUBMIT-001" in rules_of(c)[5]


def test_admin_close_and_silence_steps_take_the_case_rules_about_them() -> None:
    c = case(
        "[GM-FRAME-008, GM-ADMIN-005, GM-ECHO-001]",
        """\
  actors: {c1: client, a: admin}
  steps:
  - {connect: a}
  - {send: a, admin: status}
  - {expect: a, admin: .}
  - {connect: c1}
  - {send: c1, wire: 0052455800000010 00000000}
  - {expect_close: c1}
""",
    )
    assert rules_of(c)[3] == ("GM-ADMIN-005",)
    assert rules_of(c)[6] == ("GM-FRAME-008",)


def test_every_rule_a_bundled_step_checks_is_in_the_registry() -> None:
    registry = load_requirements()
    steps = [s for vf in select([]).files for c in vf.cases for s in c.steps if s.action.startswith("expect")]
    with_rules = [s for s in steps if s.rules]
    assert all(rid in registry for s in with_rules for rid in s.rules)
    # most expectations know their rule; the rest fall back to the case's citations
    assert len(with_rules) > 0.8 * len(steps), f"{len(with_rules)} of {len(steps)} expect steps have rules"


def test_each_status_reply_argument_names_its_own_rule() -> None:
    from gearsim.vectors.rules import argument_rules

    expected = [b"H:1", b"1", b"0", b"0", b"0"]
    assert argument_rules("STATUS_RES", 0, expected, b"H:2") == ("GM-STATUS-001",)
    assert argument_rules("STATUS_RES", 2, expected, b"1") == ("GM-STATUS-003",)  # queued: running 0
    assert argument_rules("STATUS_RES", 1, [b"H", b"0", b"0", b"0", b"0"], b"1") == ("GM-STATUS-002", "GM-STATUS-005")
    # a handle the server gave was a job: expected unknown, it has ended (was GM-STATUS-002 first for a toy
    # server that remembered ended jobs)
    ended = argument_rules("STATUS_RES", 1, [None, b"0", b"0", b"0", b"0"], b"1", issued=True)
    assert ended == ("GM-STATUS-005", "GM-STATUS-002")
    assert argument_rules("STATUS_RES", 1, [b"H", b"1", b"1", b"0", b"0"], b"0") == ("GM-STATUS-004",)
    assert argument_rules("STATUS_RES", 3, expected, b"") == ("GM-FIELD-005",)
    assert argument_rules("STATUS_RES", 4, expected, b"7") == ("GM-STATUS-006", "GM-STATUS-007")
    assert argument_rules("STATUS_RES", 2, [b"H", None, b"0", b"0", b"0"], b"1") == ()  # the state is not written
    assert argument_rules("STATUS_RES_UNIQUE", 0, [b"u", b"0", b"0", b"0", b"0", b"0"], b"v") == ("GM-STATUS-009",)
    assert argument_rules("STATUS_RES_UNIQUE", 5, [b"u", b"0", b"0", b"0", b"0", b"0"], b"1") == ("GM-STATUS-011",)
    assert argument_rules("JOB_ASSIGN", 0, [b"H"], b"X") == ()
