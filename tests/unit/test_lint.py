"""``gearsim lint`` refuses the mistakes a vector author makes, naming file, case and step.

Each test breaks one thing in an otherwise clean file and checks the one
finding it yields (and, through the command, the exit status).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.files import load_requirements, load_schema_text
from gearsim.vectors.lint import lint_text

CLEAN = """\
schema: gearsim-vectors/1
area: server
title: example
header:
- Example.
notes: {}
cases:
- id: echo
  comment: an echo, then silence
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [f, '', x]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: ECHO_REQ, args: [x]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [x]}}
  - {expect_silence: c1, ms: 100}
- id: status
  comment: a status
  requirements: [GM-STATUS-002]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: GET_STATUS, args: ['H:x:1']}}
  - expect: c1
    packet: {type: STATUS_RES, args: ['H:x:1', '0', '0', '0', '0']}
    accept:
    - profiles: [perl-1.130, gear-0.16]
      breaks: [GM-FIELD-005]
      packet: {type: STATUS_RES, args: ['H:x:1', '0', '0', '', '']}
"""


def findings(text: str) -> list[str]:
    return lint_text(text, "x.yaml", load_schema_text(), load_requirements())[1]


def test_the_clean_file_has_no_finding() -> None:
    assert findings(CLEAN) == []


def test_lint_refuses_an_unknown_profile_name() -> None:
    text = CLEAN.replace("profiles: [perl-1.130, gear-0.16]", "profiles: [perl-1.130, gearmand-9]")
    assert findings(text) == [
        "x.yaml::status step 3: unknown profile 'gearmand-9' (known: gearmand-1.1, gearmand-2.0, perl-1.130, "
        "gear-0.16, spec)"
    ]


def test_lint_refuses_an_unknown_profile_name_on_a_case() -> None:
    text = CLEAN.replace(
        "[GM-STATUS-002]\n  result: valid\n", "[GM-STATUS-002]\n  result: valid\n  profiles: [gearman]\n"
    )
    assert findings(text) == [
        "x.yaml::status: unknown profile 'gearman' (known: gearmand-1.1, gearmand-2.0, perl-1.130, gear-0.16, spec)"
    ]


def test_lint_refuses_expect_silence_without_a_duration() -> None:
    assert findings(CLEAN.replace("{expect_silence: c1, ms: 100}", "{expect_silence: c1}")) == [
        "x.yaml::echo step 6: expect_silence needs a duration: ms > 0"
    ]


def test_lint_refuses_a_ref_never_captured() -> None:
    text = CLEAN.replace("[{capture: H}]", "[{any: true}]").replace(
        "args: [x]}}\n  - {expect: c1, packet: {type: ECHO_RES",
        "args: [{ref: H}]}}\n  - {expect: c1, packet: {type: ECHO_RES",
    )
    assert findings(text) == ["x.yaml::echo step 4: ref 'H' before any capture of it"]


def test_lint_refuses_an_undeclared_actor() -> None:
    assert findings(CLEAN.replace("{send: c1, packet: {type: ECHO_REQ", "{send: c2, packet: {type: ECHO_REQ")) == [
        "x.yaml::echo step 4: actor 'c2' is not declared in actors"
    ]


def test_lint_refuses_a_duplicate_case_id() -> None:
    assert findings(CLEAN.replace("- id: status", "- id: echo")) == ["x.yaml::echo: duplicate case id"]


def test_lint_refuses_an_unknown_requirement_id_at_its_step() -> None:
    text = CLEAN.replace("{expect_silence: c1, ms: 100}", "{expect_silence: c1, ms: 100, requirements: [GM-ECHO-099]}")
    assert findings(text) == ["x.yaml::echo step 6: unknown requirement id GM-ECHO-099"]


def test_lint_refuses_a_must_broken_as_an_acceptable_alternative() -> None:
    text = CLEAN.replace("breaks: [GM-FIELD-005]", "breaks: [GM-STATUS-001]")
    assert findings(text) == [
        "x.yaml::status step 3: this outcome breaks GM-STATUS-001 (MUST): name the defect it is (defect: ID), "
        "it cannot be acceptable"
    ]


def test_lint_refuses_a_defect_that_a_named_profile_does_not_record() -> None:
    text = CLEAN.replace("breaks: [GM-FIELD-005]", "defect: reads-past-body\n      breaks: [GM-FRAME-007]")
    assert findings(text) == [
        "x.yaml::status step 3: profile perl-1.130 records no defect 'reads-past-body'",
        "x.yaml::status step 3: profile gear-0.16 records no defect 'reads-past-body'",
    ]


def test_lint_refuses_a_crash_that_is_not_a_recorded_defect() -> None:
    text = CLEAN.replace(
        "      breaks: [GM-FIELD-005]\n      packet: {type: STATUS_RES, args: ['H:x:1', '0', '0', '', '']}",
        "      crash: true",
    )
    assert findings(text) == [
        "x.yaml::status step 3: a crash outcome must list breaks: [GM-SERVER-005]",
        "x.yaml::status step 3: this outcome breaks GM-SERVER-005 (MUST): name the defect it is (defect: ID), "
        "it cannot be acceptable",
    ]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("{expect_silence: c1, ms: 100}", "{expect_silence: c1}", "x.yaml::echo step 6:"),
        ("- id: status", "- id: echo", "x.yaml::echo:"),
        ("{send: c1, packet: {type: ECHO_REQ", "{send: c9, packet: {type: ECHO_REQ", "x.yaml::echo step 4:"),
    ],
)
def test_the_lint_command_prints_one_line_per_finding_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(CLEAN.replace(old, new), encoding="utf-8")
    assert main(["lint", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{tmp_path}/{where}") and out[-1].endswith("1 finding")
