"""A peer's bidi controls and invisible characters are shown, not obeyed, in reports people read.

A right-to-left override (U+202E) in a driver's library name or stderr, a
server's log tail or a reason made a text report line read in an order other
than its content's (Trojan Source, CVE-2021-42574): ``\\u202eLIAF`` showed as
"FAIL" read backwards, and isolates, marks and zero-width characters hid text
or reordered what followed. The text report, the pytest plugin's failure text,
the HTML report and the matrix's Markdown and HTML show each as an escape
(``\\u202e``); the JSON and JUnit reports are data and keep the peer's words
exactly (JSON as ``\\u`` escapes, XML as characters).
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from gearsim.cli.main import main
from gearsim.protocol.trace import terminal_text
from gearsim.report.html import ReportRun, render_html
from gearsim.report.matrix import Implementation, build_matrix, matrix_html, matrix_markdown
from gearsim.report.text import text_report
from gearsim.run.result import CaseResult, Verdict
from gearsim.testing.pytest_plugin import format_failure

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "drivers" / "bad_driver.py"
#: what bad_driver.py's ``bidi`` mode names its library and writes to stderr
BIDI = "\u202eLIAF\u202c \u2066\u2067\u2068x\u2069 \u200e\u200f\u061c\u202a\u202b\u202d\u200b\ufeff\U000e0041"
SHOWN = (
    "\\u202eLIAF\\u202c \\u2066\\u2067\\u2068x\\u2069 "
    "\\u200e\\u200f\\u061c\\u202a\\u202b\\u202d\\u200b\\ufeff\\U000e0041"
)
#: the bidi controls of Unicode's Bidi_Control property: embeddings, overrides, isolates and marks
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

ONE_SUBMIT = """schema: gearsim-vectors/1
area: client
title: t
header: [h]
notes: {}
cases:
- id: one-submit
  comment: one background submission
  requirements: [GM-LIB-002]
  result: valid
  actors: {c: client}
  library:
    actors: [c]
  steps:
  - {call: c, op: submit, args: {function: f, payload: x, background: true}, timeout: 300, reply: {handle: {any: true}}}
"""


def _invisible(text: str) -> list[str]:
    """Every bidi control, format character, line or paragraph separator left raw in ``text``."""
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cf", "Zl", "Zp")]


def _assert_shown(text: str) -> None:
    assert _invisible(text) == [], text
    assert SHOWN in text, text


def test_terminal_text_escapes_every_bidi_control_and_keeps_right_to_left_letters() -> None:
    assert terminal_text(BIDI) == SHOWN
    assert terminal_text(BIDI_CONTROLS) == "".join(f"\\u{ord(c):04x}" for c in BIDI_CONTROLS)
    kept = "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 caf\u00e9 \u2713 \U0001f600\n\tback\\slash"
    assert terminal_text(kept) == kept  # Hebrew and Arabic letters are letters; only controls are escaped
    assert terminal_text(terminal_text(BIDI)) == SHOWN  # escapes are printable ASCII: a second pass is a no-op


def test_terminal_text_escapes_every_format_character_this_python_knows() -> None:
    """The escaped set is written out (no table built at import); this checks it against unicodedata."""
    every = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp"))
    assert _invisible(terminal_text(every)) == []


def test_terminal_text_escapes_a_lone_surrogate_instead_of_failing_to_print_it() -> None:
    assert terminal_text("a\udcff b") == "a\\udcff b"
    terminal_text("a\udcff b").encode("utf-8")


def _bidi_result(verdict: Verdict) -> CaseResult:
    said = f"driver for c: bad{BIDI}, PID 7; stderr: {BIDI}"
    return CaseResult(
        "client/x.yaml", "c", "client", verdict, (), reason=f"died; stderr: {BIDI}", notes=(said,), trace=said
    )


@pytest.mark.parametrize("verdict", [Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT])
def test_a_text_report_shows_bidi_controls_as_escapes(verdict: Verdict) -> None:
    _assert_shown(text_report([_bidi_result(verdict)], {}, f"against {BIDI}"))


def test_the_pytest_plugin_s_failure_text_shows_bidi_controls_as_escapes() -> None:
    _assert_shown(format_failure(_bidi_result(Verdict.FAIL), {}, "driver bad"))


def test_the_html_report_shows_bidi_controls_as_escapes_so_they_cannot_reorder_the_page() -> None:
    page = render_html([ReportRun(f"run {BIDI}", [_bidi_result(Verdict.FAIL)], target=BIDI)], {}, f"t {BIDI}")
    _assert_shown(page)


def test_the_matrix_markdown_and_html_show_a_library_name_s_bidi_controls_as_escapes() -> None:
    impl = Implementation("driver:bad", f"bad{BIDI}", "driver", "gearmand-1.1", note=BIDI)
    matrix = build_matrix([(impl, [_bidi_result(Verdict.FAIL)])], {"title": f"t {BIDI}"})
    for page in (matrix_markdown(matrix), matrix_html(matrix)):
        assert _invisible(page) == [], page
        assert "\\u202eLIAF" in page


def _run(tmp_path: Path, *options: str) -> None:
    vectors = tmp_path / "one.yaml"
    vectors.write_text(ONE_SUBMIT, encoding="utf-8")
    assert main(["run", "--driver", f"{{python}} {BAD} bidi", str(vectors), *options]) == 2  # it died


def test_gearsim_run_shows_a_driver_s_bidi_controls_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(tmp_path)
    out = capsys.readouterr().out
    _assert_shown(out)
    assert f"stderr: bad driver: {SHOWN}" in out


def test_gearsim_run_s_html_report_shows_a_driver_s_bidi_controls_as_escapes(tmp_path: Path) -> None:
    _run(tmp_path, "--format", "html", "--out", str(tmp_path / "r.html"))
    _assert_shown((tmp_path / "r.html").read_text(encoding="utf-8"))


def test_gearsim_run_s_json_and_junit_keep_a_driver_s_words_exactly(tmp_path: Path) -> None:
    """Data outputs are not reports to read: a consumer gets the peer's characters, not gearsim's escapes."""
    _run(tmp_path, "--format", "json", "--out", str(tmp_path / "r.json"))
    (row,) = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["results"]
    assert f"bad driver: {BIDI}" in row["reason"]
    _run(tmp_path, "--format", "junit", "--out", str(tmp_path / "r.xml"))
    (error,) = ET.parse(tmp_path / "r.xml").getroot().iter("error")
    assert f"bad driver: {BIDI}" in (error.get("message") or "") + (error.text or "")
