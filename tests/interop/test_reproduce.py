"""A failure's reproduce line carries the target as given, and running it gives the same verdict.

``gearsim run`` prints ``reproduce: gearsim run FILE::CASE ...`` under every
failure. Before issue 12 the line dropped ``--peer`` (it replayed against the
model) and ``--programs``/``--client`` (it gave n/a and exit 0). These tests
run the printed line, word for word, and compare the verdict.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.testing.peer_fixtures import require_peer

BUNDLED_CLIENT_VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "client"

ECHO_WRONG = """\
schema: gearsim-vectors/1
area: server
title: reproduce
header: [a case every server fails]
notes: {}
cases:
- id: echo-wrong
  comment: expects an echo no server sends
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hi]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [bye]}}
"""


def _reproduce(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    """Run ``gearsim run`` with ``argv``; its exit code and the one reproduce line it printed."""
    code = main(["run", *argv])
    (line,) = re.findall(r"^  reproduce: (.*)$", capsys.readouterr().out, re.M)
    return code, line


def _verdicts(capsys: pytest.CaptureFixture[str], line: str) -> tuple[int, dict[str, str]]:
    """Run a printed reproduce line (as JSON); its exit code and verdicts."""
    words = shlex.split(line)
    assert words[:2] == ["gearsim", "run"]
    code = main([*words[1:], "--format", "json"])
    rows = json.loads(capsys.readouterr().out)["results"]
    return code, {row["id"]: row["verdict"] for row in rows}


@pytest.mark.interop
def test_a_peer_failure_reproduces_on_the_same_peer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    require_peer("gearmand-c")
    monkeypatch.chdir(tmp_path)
    Path("echo.yaml").write_text(ECHO_WRONG, encoding="utf-8")
    code, line = _reproduce(capsys, ["echo.yaml", "--peer", "gearmand-c", "--chunking", "2", "--jobs", "1"])
    assert code == 1
    assert line == "gearsim run echo.yaml::echo-wrong --peer gearmand-c --profile gearmand-1.1 --chunking 2"
    assert _verdicts(capsys, line) == (1, {"echo.yaml::echo-wrong": "fail"})


@pytest.mark.interop
def test_a_program_failure_reproduces_with_the_same_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("gear")
    monkeypatch.chdir(tmp_path)
    shutil.copy(BUNDLED_CLIENT_VECTORS / "gear.yaml", "gear.yaml")
    silent = f"{sys.executable} -c pass"  # a client that never connects: the case fails at its first step
    code, line = _reproduce(capsys, ["gear.yaml::gear-client-background", "--client", silent])
    assert code == 1
    case = "gear.yaml::gear-client-background"
    assert line == f"gearsim run {case} --client {shlex.quote(silent)} --profile gearmand-1.1"
    assert _verdicts(capsys, line) == (1, {"gear.yaml::gear-client-background": "fail"})
