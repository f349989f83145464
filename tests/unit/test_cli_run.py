"""``gearsim run`` end to end on the model: exit codes, --exclude, --level, baselines, reproduce lines, bugs."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.report.baseline import Expected, baseline_from_results, dump_baseline, parse_baseline
from gearsim.run.result import CaseResult, Verdict

VECTOR = """\
schema: gearsim-vectors/1
area: server
title: cli run
header: [cases for the command line tests]
notes: {}
cases:
- id: echo
  comment: an echo round trip that holds
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hi]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [hi]}}
- id: echo-wrong
  comment: expects an echo the model does not send (a MUST rule)
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hi]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [bye]}}
- id: should-only
  comment: a failing step that checks a SHOULD rule only
  requirements: [GM-ECHO-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hi]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [other]}, requirements: [GM-COAL-001]}
"""


@pytest.fixture
def vector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    Path("cli.yaml").write_text(VECTOR, encoding="utf-8")
    return "cli.yaml"


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, str]]:
    code = main(["run", *argv, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    return code, {row["id"]: row["verdict"] for row in doc["results"]}


def test_a_failure_exits_1_and_prints_the_rule_broken_first(vector: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", vector]) == 1
    out = capsys.readouterr().out
    assert out.startswith("gearsim run: 3 cases against the reference model (seed 0, virtual time), 1 file, profile")
    block = out.split("FAIL cli.yaml::echo-wrong step 3", 1)[1].split("\n\n", 1)[0]
    assert "  rule broken: GM-ECHO-001 (MUST): A server answers ECHO_REQ with ECHO_RES" in block
    block = out.split("FAIL cli.yaml::should-only step 3", 1)[1].split("\n\n", 1)[0]
    lines = [line.strip() for line in block.splitlines()]
    rules = [line for line in lines if line.startswith(("rule broken:", "also cites:"))]
    assert rules[0].startswith("rule broken: GM-COAL-001 (SHOULD)") and rules[1].startswith("also cites: GM-ECHO-001")


def test_json_junit_and_html_name_the_rule_of_the_failing_step(
    vector: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["run", vector, "--format", "json"])
    rows = {row["case"]: row for row in json.loads(capsys.readouterr().out)["results"]}
    first = rows["should-only"]["rules"][0]
    assert (first["id"], first["level"], first["at_step"]) == ("GM-COAL-001", "SHOULD", True)
    assert rows["should-only"]["rules"][1]["id"] == "GM-ECHO-001" and not rows["should-only"]["rules"][1]["at_step"]
    main(["run", vector, "--format", "junit", "--out", str(tmp_path / "r.xml")])
    xml = (tmp_path / "r.xml").read_text()
    assert xml.index("rule broken: GM-COAL-001") < xml.index("also cites: GM-ECHO-001")
    main(["run", vector, "--format", "html", "--out", str(tmp_path / "r.html")])
    page = (tmp_path / "r.html").read_text()
    assert page.index("rule broken <code>GM-COAL-001</code>") < page.index("also cites <code>GM-ECHO-001</code>")


def test_junit_suite_counts_agree_with_its_cases() -> None:
    """A known defect is written <skipped>; the suite's skipped= counted only n/a, so CI's totals disagreed."""
    from xml.etree import ElementTree

    from gearsim.report.text import junit_report

    results = [CaseResult("a.yaml", v.value, "server", v, ()) for v in Verdict]
    suite = ElementTree.fromstring(junit_report(results, {}, "gearsim x")).find("testsuite")
    assert suite is not None
    for attribute, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
        assert suite.get(attribute) == str(len(suite.findall(f"testcase/{tag}"))), attribute
    assert suite.get("tests") == str(len(Verdict)) and suite.get("skipped") == "2"


def test_exclude_drops_cases(vector: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdicts = _json(capsys, vector, "--exclude", "*::echo-wrong", "--exclude", "*should*")
    assert verdicts == {"cli.yaml::echo": "pass"} and code == 0


def test_level_must_lets_only_must_rules_fail_the_run(vector: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, verdicts = _json(capsys, vector, "--level", "must", "--exclude", "*::echo-wrong")
    assert verdicts == {"cli.yaml::echo": "pass", "cli.yaml::should-only": "n/a"} and code == 0
    assert main(["run", vector, "--level", "must", "--exclude", "*::echo-wrong"]) == 0
    # the last line adds up to the cases run: the n/a case is counted too
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed, 0 failed, 0 inconclusive, 1 n/a"
    code, verdicts = _json(capsys, vector, "--level", "should", "--exclude", "*::echo-wrong")
    assert verdicts["cli.yaml::should-only"] == "fail" and code == 1
    code, verdicts = _json(capsys, vector, "--level", "must")
    assert verdicts["cli.yaml::echo-wrong"] == "fail" and code == 1  # a MUST failure always counts


@pytest.mark.parametrize("command", [["run"], ["serve"], ["fuzz", "--server", "127.0.0.1:9"], ["matrix", "--profiles"]])
def test_an_unknown_profile_is_refused_before_anything_runs(
    command: list[str], vector: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*command, "nope"] if command[-1] == "--profiles" else [*command, "--profile", "nope"]
    assert main(argv) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert re.fullmatch(r"gearsim \w+: unknown profile 'nope'; known profiles: .*gearmand-1\.1.*perl-1\.130.*", line)


def test_usage_errors_exit_3_not_argparse_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--server", "localhost:99999"])
    assert info.value.code == 3
    assert "expected HOST:PORT with a port from 1 to 65535, got 'localhost:99999'" in capsys.readouterr().err


def test_a_printed_reproduce_line_gives_the_same_verdict(vector: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", vector, "--profile", "gearmand-2.0", "--seed", "7", "--chunking", "1", "--level", "should"]
    assert main(argv) == 1
    lines = re.findall(r"^  reproduce: (.*)$", capsys.readouterr().out, re.M)
    assert lines == [
        "gearsim run cli.yaml::echo-wrong --profile gearmand-2.0 --level should --seed 7 --chunking 1",
        "gearsim run cli.yaml::should-only --profile gearmand-2.0 --level should --seed 7 --chunking 1",
    ]
    for line in lines:
        words = shlex.split(line)
        code, verdicts = _json(capsys, *words[2:])
        assert code == 1 and verdicts == {words[2]: "fail"}


def test_baselines_fail_only_on_regressions(vector: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = tmp_path / "b.json"
    assert main(["run", vector, "--write-baseline", str(written)]) == 1
    baseline = parse_baseline(written.read_text())
    assert baseline.cases["cli.yaml::echo-wrong"].verdict is Verdict.FAIL
    capsys.readouterr()
    assert main(["run", vector, "--baseline", str(written)]) == 0  # the same failures: no regression
    # a baseline where echo-wrong passes: its failure is a regression
    better = {**baseline.cases, "cli.yaml::echo-wrong": Expected(Verdict.PASS)}
    written.write_text(dump_baseline(type(baseline)(baseline.peer, baseline.profile, better)), encoding="utf-8")
    assert main(["run", vector, "--baseline", str(written)]) == 1
    assert "REGRESSION cli.yaml::echo-wrong: pass -> fail" in capsys.readouterr().out
    # a baseline where echo fails: it passes now, an XPASS, which does not fail the run
    results = [CaseResult(vector, c, "server", Verdict.FAIL, ()) for c in ("echo", "echo-wrong", "should-only")]
    written.write_text(dump_baseline(baseline_from_results(results, "model:gearmand-1.1", "gearmand-1.1")))
    assert main(["run", vector, "--baseline", str(written)]) == 0
    assert "XPASS cli.yaml::echo" in capsys.readouterr().out


def test_a_bug_inside_gearsim_is_a_traceback_and_exit_4(
    vector: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gearsim.run.model_peer import SimPeer

    def broken(self: SimPeer, actor: str, data: bytes) -> None:
        raise KeyError("conn")

    monkeypatch.setattr(SimPeer, "send", broken)
    assert main(["run", f"{vector}::echo"]) == 4
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "KeyError: 'conn'" in err
    assert "gearsim bug while playing cli.yaml::echo step 2" in err and "please report it" in err


def test_reproduce_lines_carry_every_target_option() -> None:
    from gearsim.report.repro import Target, reproduce_run

    assert reproduce_run("a.yaml::x", Target(profile="spec", server="127.0.0.1:4730")) == (
        "gearsim run a.yaml::x --server 127.0.0.1:4730 --profile spec"
    )
    assert reproduce_run("client/php.yaml::c", Target(profile="gearmand-1.1", programs=True)) == (
        "gearsim run client/php.yaml::c --programs --profile gearmand-1.1"
    )
    two = Target(profile="gearmand-1.1", clients=("php w.php {port}", "php c.php {port}"))
    assert reproduce_run("c.yaml::x", two) == (
        "gearsim run c.yaml::x --client 'php w.php {port}' --client 'php c.php {port}' --profile gearmand-1.1"
    )
    command = Target(profile="spec", server_command="./myserver --port {port}")
    assert "--server-command './myserver --port {port}'" in reproduce_run("a.yaml::x", command)


def test_a_real_server_is_judged_by_the_spec_profile_unless_one_is_named() -> None:
    from gearsim.run.runner import default_profile

    assert default_profile(real_server=True) == "spec"
    assert default_profile(real_server=False) == "gearmand-1.1"  # the model models gearmand


def test_the_model_run_keeps_its_profile(vector: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", f"{vector}::echo"])
    assert "profile gearmand-1.1" in capsys.readouterr().out.splitlines()[0]
