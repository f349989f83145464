"""A vector that contradicts itself is an input error on every path that runs vectors, never a verdict.

A codec case whose ``wire`` bytes and ``messages`` disagree, a case citing a
requirement id or a profile that does not exist, an expectation that the
server send a packet no server sends: each used to be played and reported as
a FAIL of the implementation under test. ``gearsim lint`` names each (file,
case, step, byte offset); ``gearsim run`` (any target), ``matrix``,
``clients``, ``gearsim.select`` and ``run_case`` refuse the vector with that
same line (exit 3 for the commands), before anything runs or is written.
Mere style findings (canonical form, ``expect_silence`` without ``ms``) are
lint's alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gearsim
from gearsim.cli.main import main
from gearsim.errors import VectorError
from gearsim.files import load_requirements, load_schema_text
from gearsim.vectors.lint import lint_text

HEAD = """\
schema: gearsim-vectors/1
area: codec
title: codec cases
header:
- Made for the test.
notes: {}
cases:
"""

GOOD_CODEC = """\
- id: echo-fine
  comment: an echo request, bytes and messages alike
  requirements: [GM-ECHO-001]
  result: valid
  sender: client
  wire: 00524551 00000010 00000002 6869
  messages:
  - {packet: {type: ECHO_REQ, args: [hi]}}
  violations: []
  server:
    replies:
    - {packet: {type: ECHO_RES, args: [hi]}}
    then: open
"""

# the last byte of the wire says "hi", the messages say "ho": byte offset 13 differs
LYING_CODEC = GOOD_CODEC.replace("echo-fine", "wire-lies").replace(
    "- {packet: {type: ECHO_REQ, args: [hi]}}", "- {packet: {type: ECHO_REQ, args: [ho]}}"
)

WIRE_LIES = (
    "wire-lies: wire and messages disagree at byte offset 13 (message 1 of 1; 14 bytes): "
    "messages encode to 005245510000001000000002686f, wire is 0052455100000010000000026869"
)

LIFECYCLE = """\
schema: gearsim-vectors/1
area: server
title: lifecycle cases
header:
- Made for the test.
notes: {}
cases:
- id: echo
  comment: an echo
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hi]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [hi]}}
  - {expect_silence: c1, ms: 100}
"""

# (what is changed in LIFECYCLE, into what, the one error naming where)
CONTRADICTIONS = {
    "unknown-requirement-id": (
        "{expect: c1, packet: {type: ECHO_RES, args: [hi]}}",
        "{expect: c1, packet: {type: ECHO_RES, args: [hi]}, requirements: [GM-ECHO-099]}",
        "::echo step 3: unknown requirement id GM-ECHO-099",
    ),
    "unknown-profile": (
        "{expect: c1, packet: {type: ECHO_RES, args: [hi]}}",
        "expect: c1\n    packet: {type: ECHO_RES, args: [hi]}\n    accept:\n    - profiles: [gearmand-9]\n"
        "      packet: {type: ECHO_RES, args: [ho]}",
        "::echo step 3: unknown profile 'gearmand-9' (known: gearmand-1.1, gearmand-2.0, perl-1.130, gear-0.16, spec)",
    ),
    "request-expected-from-server": (
        "{expect: c1, packet: {type: ECHO_RES, args: [hi]}}",
        "{expect: c1, packet: {type: ECHO_REQ, args: [hi]}}",
        "::echo step 3: expects the server to send ECHO_REQ, which the packet table has no server send "
        "(sent by: client and worker)",
    ),
    "unrecorded-defect": (
        "{expect: c1, packet: {type: ECHO_RES, args: [hi]}}",
        "expect: c1\n    packet: {type: ECHO_RES, args: [ho]}\n    accept:\n    - profiles: [gearmand-1.1]\n"
        "      defect: made-up-defect\n      breaks: [GM-ECHO-001]\n      packet: {type: ECHO_RES, args: [hi]}",
        "::echo step 3: profile gearmand-1.1 records no defect 'made-up-defect'",
    ),
    "wrong-argument-count": (
        "{expect: c1, packet: {type: ECHO_RES, args: [hi]}}",
        "{expect: c1, packet: {type: JOB_CREATED, args: [a, b]}}",
        "::echo step 3: expects the server to send JOB_CREATED, with 2 arguments; the packet table gives it 1 (handle)",
    ),
}


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def lint_findings(text: str) -> list[str]:
    return lint_text(text, "x.yaml", load_schema_text(), load_requirements())[1]


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the command; it must exit 3 with one line on stderr and no report on stdout."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 3, out + err
    assert out == ""  # nothing ran: no summary, no verdict
    lines = err.splitlines()
    assert len(lines) == 1, err  # one line, no traceback
    return lines[0]


def test_lint_names_the_byte_offset_where_wire_and_messages_part() -> None:
    assert lint_findings(HEAD + GOOD_CODEC) == []
    assert lint_findings(HEAD + GOOD_CODEC + LYING_CODEC)[0] == f"x.yaml::{WIRE_LIES}"


@pytest.mark.parametrize(
    "target",
    [[], ["--server", "127.0.0.1:9"], ["--client", "true"], ["--driver", "true"], ["--programs"]],
    ids=["model", "server", "client", "driver", "programs"],
)
def test_gearsim_run_refuses_a_codec_case_whose_wire_and_messages_disagree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: list[str]
) -> None:
    """It was a FAIL of the implementation under test; the good case beside it does not run either."""
    path = write(tmp_path, HEAD + GOOD_CODEC + LYING_CODEC)
    assert refused(capsys, ["run", str(path), *target]) == f"gearsim run: {path}::{WIRE_LIES}"


def test_a_refused_run_loses_no_report_already_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, HEAD + GOOD_CODEC + LYING_CODEC)
    report = write(tmp_path, "the last report\n", "report.json")
    refused(capsys, ["run", str(path), "--format", "json", "--out", str(report)])
    assert report.read_text(encoding="utf-8") == "the last report\n"


@pytest.mark.parametrize(
    "argv", [["matrix", "--no-model", "--peers", ""], ["matrix", "--profiles", "spec"], ["clients", "--driver", "true"]]
)
def test_matrix_and_clients_refuse_it_too(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    path = write(tmp_path, HEAD + GOOD_CODEC + LYING_CODEC)
    out_md = tmp_path / "matrix.md"
    line = refused(capsys, [*argv, str(path), "--out-md", str(out_md)])
    assert line == f"gearsim {argv[0]}: {path}::{WIRE_LIES}"
    assert not out_md.exists()


def test_the_python_api_raises_instead_of_judging(tmp_path: Path) -> None:
    """gearsim.select refuses the file; run_case refuses a case parsed without it, never returning a FAIL."""
    text = HEAD + GOOD_CODEC + LYING_CODEC
    path = write(tmp_path, text)
    with pytest.raises(VectorError, match="byte offset 13"):
        gearsim.select([str(path)])
    vf = gearsim.parse_vector_text(text, "x.yaml", load_schema_text())
    factory = gearsim.ModelPeerFactory(profile="gearmand-1.1", seed=0)
    assert gearsim.run_case(vf, vf.case("echo-fine"), factory, "gearmand-1.1").verdict.value == "pass"
    with pytest.raises(VectorError) as caught:
        gearsim.run_case(vf, vf.case("wire-lies"), factory, "gearmand-1.1")
    assert str(caught.value) == f"x.yaml::{WIRE_LIES}"
    assert (caught.value.file, caught.value.case) == ("x.yaml", "wire-lies")


def test_fmt_still_rewrites_a_broken_vector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """fmt only rewrites text; lint says what is wrong."""
    path = write(tmp_path, (HEAD + GOOD_CODEC + LYING_CODEC).replace("[GM-ECHO-001]", "['GM-ECHO-001']"))
    assert main(["fmt", str(path)]) == 0
    assert "['GM-ECHO-001']" not in path.read_text(encoding="utf-8")


def test_the_clean_lifecycle_file_runs() -> None:
    assert lint_findings(LIFECYCLE) == []


@pytest.mark.parametrize("name", sorted(CONTRADICTIONS))
def test_a_self_contradictory_lifecycle_case_is_refused_where_lint_finds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Each was played: a FAIL of the server (step 3: ECHO_RES "hi" is not what it expects), or for the defect
    its profile does not record, "known defect made-up-defect of gearmand-1.1 ... as its profile records"."""
    old, new, where = CONTRADICTIONS[name]
    text = LIFECYCLE.replace(old, new)
    assert text != LIFECYCLE
    assert lint_findings(text) == [f"x.yaml{where}"]
    path = write(tmp_path, text)
    assert refused(capsys, ["run", str(path)]) == f"gearsim run: {path}{where}"


def test_a_style_finding_is_not_a_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """expect_silence without ms and a file out of canonical form: lint's findings, yet the case runs."""
    text = LIFECYCLE.replace("{expect_silence: c1, ms: 100}", "{expect_silence: c1}").replace(
        "[GM-ECHO-001]", "['GM-ECHO-001']"
    )
    assert len(lint_findings(text)) == 2
    assert main(["run", str(write(tmp_path, text))]) == 0
    assert "1 passed" in capsys.readouterr().out
