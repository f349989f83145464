"""A table, or a run, in which no case could be judged is inconclusive (exit 2), never a green 0.

``gearsim clients`` and ``gearsim matrix`` tabulate other people's verdicts:
a FAIL in their table exits 0. But a column in which every case is
inconclusive (a driver that never answers hello, a server that never starts)
measured nothing, and exited 0 too: CI went green on nothing. Now such a
column exits 2 with one line on stderr naming the cause; a column with at
least one judged case keeps the old exit, FAILs and all. ``gearsim run``
exits 2 for it too, also with a ``--baseline`` that recorded the same
inconclusive verdicts.

Here the driver ``true`` exits at once, before it reads the hello request,
and the server command ``true {port}`` exits during start-up; the toy
library of tests/data/toy_client is judged (its broken build FAILs).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gearsim.cli.common import unjudged
from gearsim.cli.main import main
from gearsim.run.result import CaseResult, Verdict

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
TOY = f"{{python}} {ROOT / 'tests' / 'data' / 'toy_client' / 'toy_driver.py'}"
CASES = "client/library-client.yaml::status-*"
SILENT = "true"  # exits before reading its hello request
# ("before it read the hello request" or "without replying to hello": whether the request was written first)
HELLO = re.compile(
    r"driver died: driver true \(PID \d+, actor c\) exited \(status 0\) "
    r"(before it read the hello request|without replying to hello)"
)


def stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def result(verdict: Verdict, reason: str = "") -> CaseResult:
    return CaseResult("f.yaml", "c", "server", verdict, (), reason=reason)


def test_the_rule_nothing_judged_means_no_verdict_but_inconclusive_and_n_a() -> None:
    na, stuck = result(Verdict.NOT_APPLICABLE), result(Verdict.INCONCLUSIVE, "driver died:\n  no hello")
    assert unjudged([]) == ""
    assert unjudged([na]) == ""  # nothing asked of it that it offers: not inconclusive
    assert (
        unjudged([na, stuck]) == "no case could be judged (1 of 2 inconclusive), e.g. f.yaml::c: driver died: no hello"
    )
    for verdict in (Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT, Verdict.FAIL):
        assert unjudged([stuck, result(verdict)]) == ""


def test_clients_with_a_driver_that_never_answers_hello_exits_2_naming_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md = tmp_path / "clients.md"
    assert main(["clients", CASES, "--driver", SILENT, "--out-md", str(md)]) == 2
    why = [line for line in stderr_lines(capsys) if "no case could be judged" in line]
    assert len(why) == 1 and why[0].startswith("gearsim clients: driver:driver1: no case could be judged (2 of 2"), why
    assert HELLO.search(why[0]), why[0]
    assert md.read_text(encoding="utf-8").startswith("# Client compatibility matrix")  # the table is still written


def test_clients_exits_2_even_against_baselines_that_recorded_the_same_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base"
    assert main(["clients", CASES, "--driver", SILENT, "--write-baselines", str(base)]) == 2
    assert main(["clients", CASES, "--driver", SILENT, "--baselines", str(base)]) == 2
    assert "0 regressions" in capsys.readouterr().out


def test_a_judged_column_with_failures_keeps_exit_0_and_an_unjudged_column_beside_it_is_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken_toy = TOY + " --broken"
    assert main(["clients", CASES, "--driver", broken_toy]) == 0
    first = capsys.readouterr()
    assert "fail" in first.out  # the toy's FAIL is a verdict in the table, not the command's
    # the counts once, in the summary: the progress line (stderr) says only that the driver is done
    assert re.fullmatch(r"gearsim clients: driver1 done in \d+\.\d s \(1 of 1\)\n", first.err), first.err
    assert main(["clients", CASES, "--driver", broken_toy, "--driver", SILENT]) == 2
    assert any(line.startswith("gearsim clients: driver:driver2: no case") for line in stderr_lines(capsys))


def test_matrix_with_a_server_that_never_starts_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["matrix", "server/seed.yaml", "--peers", "", "--server-command", "true {port}"]
    assert main([*argv, "--no-model"]) == 2
    why = [line for line in stderr_lines(capsys) if "no case could be judged" in line]
    assert len(why) == 1 and why[0].startswith("gearsim matrix: true: no case could be judged"), why
    assert "exited with status 0 during start-up" in why[0]
    assert main([*argv, "--profiles", "gearmand-1.1"]) == 2  # a judged model column does not hide it
    assert main(["matrix", "server/seed.yaml", "--peers", "", "--profiles", "gearmand-1.1"]) == 0


def test_gearsim_run_with_every_case_inconclusive_exits_2_with_or_without_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b.json"
    assert main(["run", "--driver", SILENT, CASES, "--write-baseline", str(base)]) == 2
    out, err = capsys.readouterr()
    assert "0 passed, 0 failed, 2 inconclusive" in out
    assert err.startswith("gearsim run: no case could be judged (2 of 2 inconclusive)") and HELLO.search(err), err
    assert main(["run", "--driver", SILENT, CASES, "--baseline", str(base)]) == 2
    out, err = capsys.readouterr()
    assert "0 regressions" in out
    assert err.startswith("gearsim run: no case could be judged (2 of 2 inconclusive)") and HELLO.search(err), err


def test_the_help_of_clients_and_matrix_states_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("clients", "matrix"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "2 when a" in text and "no case that could be judged" in text, text
