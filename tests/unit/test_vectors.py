"""Vector files: schema errors name file, case and step; the formatter is canonical."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gearsim.errors import VectorError
from gearsim.files import load_requirements, load_schema_text
from gearsim.vectors.lint import lint_text
from gearsim.vectors.parse import (
    Capture,
    ExitExpectation,
    OutputMatch,
    Program,
    Ref,
    dump_vector_file,
    parse_vector_text,
)

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


PROGRAM = """\
schema: gearsim-vectors/1
area: client
title: example
header:
- Example.
notes: {}
cases:
- id: unique-passed-on
  comment: a program client's unique reaches a program worker; the client prints its handle
  requirements: [GM-FRAME-001]
  result: valid
  actors: {w: worker, c: client}
  programs:
    w:
      command: php worker.php {host} {port} 1
    c:
      command: '{python} client.py {host} {port}'
      expect_exit:
        status: 0
        stdout:
        - {ref: H}
        - {match: 'numerator: [0-9]+'}
        - done!
        stdout_contains: [done]
  steps:
  - {connect: w}
  - {send: w, packet: {type: CAN_DO, args: [reverse]}}
  - {connect: c}
  - {send: c, packet: {type: SUBMIT_JOB_BG, args: [reverse, {capture: U}, hello]}}
  - {expect: c, packet: {type: JOB_CREATED, args: [{capture: H}]}}
  - {send: w, packet: {type: GRAB_JOB_UNIQ}}
  - {expect: w, packet: {type: JOB_ASSIGN_UNIQ, args: [{ref: H}, reverse, {ref: U}, hello]}}
"""


def test_programs_make_a_program_case_with_commands_and_exit_expectations() -> None:
    case = parse(PROGRAM).case("unique-passed-on")
    assert case.is_program and list(case.programs) == ["w", "c"]
    assert case.programs["w"] == Program("php worker.php {host} {port} 1")
    assert case.programs["w"].expect_exit == ExitExpectation(status=0, stdout=None, stdout_contains=())
    assert case.programs["c"].expect_exit == ExitExpectation(
        status=0, stdout=(Ref("H"), OutputMatch("numerator: [0-9]+"), "done!"), stdout_contains=("done",)
    )
    assert case.steps[3].packet is not None and case.steps[3].packet.args[1] == Capture("U")
    assert not parse(GOOD).case("submit-then-status").is_program


def test_a_program_case_is_canonical_with_programs_after_actors() -> None:
    assert dump_vector_file(parse(PROGRAM).raw) == PROGRAM
    block = "        status: 0\n        stdout:\n        - {ref: H}\n        - {match: 'numerator: [0-9]+'}\n"
    block += "        - done!\n        stdout_contains: [done]\n"
    flow = "        stdout_contains: [done]\n        stdout: [{ref: H}, {match: 'numerator: [0-9]+'}, done!]\n"
    flow += "        status: 0\n"
    shuffled = PROGRAM.replace(block, flow).replace("  programs:", "  steps: STEPS\n  programs:")
    steps = PROGRAM[PROGRAM.index("  steps:\n") :]
    shuffled = shuffled.replace(steps, "").replace("  steps: STEPS\n", steps)
    assert shuffled != PROGRAM
    assert dump_vector_file(parse(shuffled).raw) == PROGRAM


def test_a_program_actor_s_send_may_capture_a_scripted_one_s_may_not() -> None:
    c_block = PROGRAM[PROGRAM.index("    c:\n") : PROGRAM.index("  steps:\n")]
    c_scripted = PROGRAM.replace(c_block, "")
    with pytest.raises(VectorError, match=r"::unique-passed-on step 4: a send cannot capture"):
        parse(c_scripted)
    with pytest.raises(VectorError, match=r"::submit-then-status step 2: a send cannot capture"):
        parse(GOOD.replace("args: [reverse, '', this is a test]", "args: [reverse, {capture: U}, this is a test]"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("    w:\n      command", "    x:\n      command"), "program actor 'x' is not declared in actors"),
        (("- {ref: H}", "- {ref: Z}"), "c: expect_exit refs 'Z', which no step captures"),
        (("{match: 'numerator: [0-9]+'}", "{match: 'numerator: [0-9'}"), "bad regular expression"),
        (("command: php worker.php {host} {port} 1", "command: ''"), "schema: cases/0/programs/w/command"),
        (("        status: 0\n", "        status: 0\n        stderr: []\n"), "schema: cases/0/programs/c/expect_exit"),
        (("  programs:\n", "  programs: {}\n  x_programs:\n"), "schema: cases/0"),
    ],
    ids=["undeclared-actor", "ref-never-captured", "bad-regex", "empty-command", "unknown-exit-key", "empty"],
)
def test_a_bad_programs_field_is_refused_with_the_case(change: tuple[str, str], message: str) -> None:
    bad = PROGRAM.replace(*change)
    assert bad != PROGRAM
    with pytest.raises(VectorError, match=re.escape(message)) as err:
        parse(bad)
    assert "::unique-passed-on" in str(err.value) or "schema" in str(err.value)


def test_a_codec_case_cannot_have_programs() -> None:
    codec = """\
schema: gearsim-vectors/1
area: codec
title: example
header:
- Example.
notes: {}
cases:
- id: noop
  comment: a NOOP
  requirements: [GM-FRAME-001]
  result: valid
  sender: server
  wire: 00524553 00000006 00000000
  messages:
  - {packet: {type: NOOP}}
  programs:
    c: {command: x}
"""
    with pytest.raises(VectorError, match="schema"):
        parse(codec)
    parse(codec.replace("  programs:\n    c: {command: x}\n", ""))
