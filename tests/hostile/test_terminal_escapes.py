"""A peer's own words reach a maintainer's terminal escaped: no raw ESC or CR from a driver or a server.

A driver's library name and stderr, a server's log tail, a program's output
are quoted in ``gearsim run``'s text report, ``gearsim clients``' summary,
``--trace`` files and the pytest plugin's failure text. A peer that wrote
``ESC [2J`` there cleared the reader's screen, and ``\\rFAKE PASS``
overwrote the line it was on. Each is now shown as a trace shows bytes
(``\\x1b[2J\\rFAKE PASS``); newlines and tabs are kept, so a log tail of
many lines stays readable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.io.launch import _tail
from gearsim.protocol.trace import terminal_text
from gearsim.report.baseline import Baseline, Expected, compare, format_comparison
from gearsim.report.text import text_report
from gearsim.run.result import CaseResult, Verdict
from gearsim.testing.pytest_plugin import format_failure

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "drivers" / "bad_driver.py"
HOSTILE = "\x1b[2J\rFAKE PASS"
SHOWN = "\\x1b[2J\\rFAKE PASS"

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


def _assert_escaped(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text, repr(text)
    assert SHOWN in text, text


def test_terminal_text_escapes_what_a_terminal_acts_on_and_keeps_the_rest() -> None:
    assert terminal_text(f"a{HOSTILE}") == f"a{SHOWN}"
    assert terminal_text("\0\x07\x08\x0b\x0c\x7f\x9b\x85") == "\\x00\\x07\\x08\\x0b\\x0c\\x7f\\x9b\\x85"
    kept = "line 1\n\tline 2: caf\u00e9 \u2713 back\\slash\n"
    assert terminal_text(kept) == kept


def _hostile_result(verdict: Verdict) -> CaseResult:
    said = f"driver for c: bad{HOSTILE}, PID 7; stderr: {HOSTILE}"
    return CaseResult(
        "client/x.yaml", "c", "client", verdict, (), reason=f"died; stderr: {HOSTILE}", notes=(said,), trace=said
    )


@pytest.mark.parametrize("verdict", [Verdict.INCONCLUSIVE, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT])
def test_a_text_report_shows_a_peer_s_escapes_instead_of_sending_them(verdict: Verdict) -> None:
    _assert_escaped(text_report([_hostile_result(verdict)], {}, f"against {HOSTILE}"))


def test_the_pytest_plugin_s_failure_text_shows_a_peer_s_escapes() -> None:
    _assert_escaped(format_failure(_hostile_result(Verdict.FAIL), {}, "driver bad"))


def test_a_baseline_comparison_shows_a_peer_s_escapes() -> None:
    baseline = Baseline("driver:bad", "gearmand-1.1", {"client/x.yaml::c": Expected(Verdict.PASS)})
    text = format_comparison(compare(baseline, [_hostile_result(Verdict.FAIL)]))
    assert "\x1b" not in text and "\r" not in text, repr(text)
    assert "stderr: \\x1b[2J FAKE PASS" in text  # a reason's whitespace, the CR too, is one space there


def test_a_log_tail_keeps_a_bare_cr_for_the_report_to_show(tmp_path: Path) -> None:
    """splitlines() broke the tail at the CR: 'FAKE PASS' stood on a line of its own, as if gearsim wrote it."""
    log = tmp_path / "server.log"
    log.write_bytes(b"one\r\ntwo\n" + HOSTILE.encode() + b"\n")
    assert _tail(log) == f"one\ntwo\n{HOSTILE}"  # CRLF line ends read as lines; the bare CR stays, to be escaped


def test_gearsim_run_and_its_trace_show_a_driver_s_escapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vectors = tmp_path / "one.yaml"
    vectors.write_text(ONE_SUBMIT, encoding="utf-8")
    trace = tmp_path / "trace.txt"
    driver = f"{{python}} {BAD} hostile"
    assert main(["run", "--driver", driver, str(vectors), "--trace", str(trace)]) == 2  # inconclusive: it died
    out = capsys.readouterr().out
    _assert_escaped(out)
    assert f"note: driver for c: bad (hostile){SHOWN}" in out  # the library it named in its hello
    assert f"stderr: bad driver: {SHOWN}" in out  # what it wrote before it died
    _assert_escaped(trace.read_text(encoding="utf-8"))


def test_gearsim_clients_shows_a_driver_s_library_name_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vectors = tmp_path / "one.yaml"
    vectors.write_text(ONE_SUBMIT, encoding="utf-8")
    # its one case is inconclusive (the driver dies on submit): nothing judged, exit 2, with the cause on stderr
    assert main(["clients", "--driver", f"{{python}} {BAD} hostile", str(vectors)]) == 2
    out, err = capsys.readouterr()
    _assert_escaped(out)
    assert f"(bad (hostile){SHOWN}, " in out
    _assert_escaped(err)  # the line naming the cause quotes the driver's stderr, escaped


def test_a_server_that_will_not_start_is_reported_with_its_log_tail_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = tmp_path / "server.py"
    server.write_text(f"import sys\nprint('starting')\nprint({HOSTILE!r})\nsys.exit(3)\n", encoding="utf-8")
    command = f"{sys.executable} {server} {{port}}"
    assert main(["run", "--server-command", command, "server/errors.yaml::type-43-closes"]) == 2
    out = capsys.readouterr().out
    _assert_escaped(out)
    assert f"starting\n{SHOWN}\n" in out  # the tail's lines stay lines; the CR inside one is shown, not obeyed
