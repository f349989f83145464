"""Vector files: schema errors name file, case and step; the formatter is canonical."""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.errors import VectorError
from gearsim.lint import lint_text
from gearsim.loading import load_requirements, load_schema_text
from gearsim.vectors import Capture, Ref, dump_vector_file, parse_vector_text

GOOD = """\
schema: gearsim-vectors/1
area: server
title: example
header:
- Example.
notes: {}
cases:
- id: submit-then-status
  comment: a handle captured and used again
  requirements: [GM-FRAME-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: SUBMIT_JOB_BG, args: [reverse, '', this is a test]}}
  - {expect: c1, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: c1, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - {expect: c1, packet: {type: STATUS_RES, args: [{ref: H}, '1', '0', '0', '0']}}
"""


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_vector_text(text, "example.yaml", load_schema_text())


def test_a_good_file_parses_into_typed_steps() -> None:
    vf = parse(GOOD)
    case = vf.case("submit-then-status")
    assert [s.action for s in case.steps] == ["connect", "send", "expect", "send", "expect"]
    assert case.steps[2].packet is not None and case.steps[2].packet.args == (Capture("H"),)
    assert case.steps[3].packet is not None and case.steps[3].packet.args == (Ref("H"),)


def test_the_canonical_form_of_a_canonical_file_is_itself() -> None:
    vf = parse(GOOD)
    assert dump_vector_file(vf.raw) == GOOD


def test_lint_reports_a_file_that_is_not_canonical() -> None:
    text = GOOD.replace("- Example.", "- 'Example.'")
    _, findings = lint_text(text, "x.yaml", load_schema_text(), load_requirements())
    assert findings == ["x.yaml: not in canonical form (run: gearsim fmt x.yaml)"]


def test_a_schema_error_names_the_file_the_case_and_the_step() -> None:
    bad = GOOD.replace("{connect: c1}", "{connect: c1, ms: oops}")
    with pytest.raises(VectorError) as err:
        parse(bad)
    assert "example.yaml::submit-then-status step 1" in str(err.value)


def test_a_ref_before_its_capture_is_refused_with_the_step() -> None:
    bad = GOOD.replace("{capture: H}", "{any: true}")
    with pytest.raises(VectorError, match=r"::submit-then-status step 4: ref 'H' before any capture"):
        parse(bad)


def test_an_unknown_packet_name_is_refused_with_the_case() -> None:
    with pytest.raises(VectorError, match=r"::submit-then-status step 2: unknown name 'SUBMIT_JOB_BGX'"):
        parse(GOOD.replace("type: SUBMIT_JOB_BG", "type: SUBMIT_JOB_BGX"))


def test_an_undeclared_actor_is_refused() -> None:
    with pytest.raises(VectorError, match="actor 'c2' is not declared"):
        parse(GOOD.replace("{connect: c1}", "{connect: c2}"))


def test_an_unexplained_flag_is_refused() -> None:
    with pytest.raises(VectorError, match="flag 'Odd' is not explained"):
        parse(GOOD.replace("result: valid", "flags: [Odd]\n  result: valid"))


def test_broken_yaml_is_a_vector_error_with_a_line() -> None:
    with pytest.raises(VectorError, match=r"example.yaml: not valid YAML line \d+"):
        parse(GOOD + "  - {oops\n")


def test_an_unknown_requirement_id_is_a_lint_finding() -> None:
    text = GOOD.replace("GM-FRAME-001", "GM-FRAME-999")
    _, findings = lint_text(text, "x.yaml", load_schema_text(), load_requirements())
    assert findings == ["x.yaml::submit-then-status: unknown requirement id GM-FRAME-999"]


def test_every_bundled_vector_file_lints_clean() -> None:
    root = Path(__file__).resolve().parents[2] / "vectors"
    findings = []
    for path in sorted(root.rglob("*.yaml")):
        findings += lint_text(path.read_text(), str(path), load_schema_text(), load_requirements())[1]
    assert findings == []
