"""gearsim.report.matrix renders verdicts side by side; gearsim matrix runs them and checks baselines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from gearsim.cli.matrix import add_matrix_command, baseline_key, model_implementation, run_matrix
from gearsim.files import select
from gearsim.protocol.requirements import Requirement
from gearsim.report.matrix import (
    Implementation,
    Matrix,
    build_matrix,
    cited_requirements,
    matrix_html,
    matrix_json,
    matrix_markdown,
)
from gearsim.run.runner import CaseResult, Verdict

MODEL = Implementation("model:gearmand-1.1", "model (gearmand-1.1)", "model", "gearmand-1.1")
REAL = Implementation("gear", 'gear <0.16> | "quoted"', "server", "gear-0.16", "0.16.0")


def _r(
    case: str, verdict: Verdict, reason: str = "", notes: tuple[str, ...] = (), rules: tuple[str, ...] = ()
) -> CaseResult:
    ids = ("GM-A-001", "GM-B-002")
    return CaseResult("server/x.yaml", case, "server", verdict, ids, reason=reason, notes=notes, rules=rules)


def _matrix() -> Matrix:
    model = [_r("a", Verdict.PASS), _r("b", Verdict.PASS)]
    real = [
        _r("a", Verdict.FAIL, "c1: got <script>alert(1)</script> | x", rules=("GM-B-002",)),
        _r("b", Verdict.ACCEPTABLE, notes=("step 2: gear-0.16 behaviour",)),
    ]
    return build_matrix([(MODEL, model), (REAL, real)], {"title": "t", "vectors": "2 cases"})


def test_cells_keep_verdict_reason_and_cited_requirements() -> None:
    m = build_matrix([(MODEL, [_r("a", Verdict.PASS)]), (REAL, [_r("a", Verdict.FAIL, "boom", rules=("GM-B-002",))])])
    assert [row.id for row in m.rows] == ["server/x.yaml::a"]
    cell = m.cell("server/x.yaml::a", "gear")
    assert cell is not None and cell.verdict is Verdict.FAIL and cell.reason == "boom"
    assert cell.requirements == ("GM-B-002",)
    model_cell = m.cell("server/x.yaml::a", "model:gearmand-1.1")
    assert model_cell is not None and model_cell.requirements == ()
    assert m.cell("server/x.yaml::zz", "gear") is None
    assert m.counts("gear")[Verdict.FAIL] == 1
    assert cited_requirements(_r("q", Verdict.FAIL)) == ("GM-A-001", "GM-B-002")


def test_json_lists_implementations_and_cells() -> None:
    doc = json.loads(matrix_json(_matrix()))
    assert doc["schema"] == "gearsim-matrix/1"
    assert [i["key"] for i in doc["implementations"]] == ["model:gearmand-1.1", "gear"]
    assert doc["implementations"][1]["summary"] == {"acceptable": 1, "fail": 1}
    a = doc["cases"][0]
    assert a["id"] == "server/x.yaml::a" and a["requirements"] == ["GM-A-001", "GM-B-002"]
    assert a["results"]["gear"] == {
        "verdict": "fail",
        "reason": "c1: got <script>alert(1)</script> | x",
        "requirements": ["GM-B-002"],
    }
    assert a["results"]["model:gearmand-1.1"] == {"verdict": "pass"}


def test_html_is_one_self_contained_escaped_page() -> None:
    page = matrix_html(_matrix())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page
    lowered = page.lower()
    for external in ("http://", "https://", "<script", "<link", "src=", "@import", "url("):
        assert external not in lowered, external
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "gear &lt;0.16&gt; | &quot;quoted&quot;" in page
    assert 'class="v fail"' in page and "[GM-B-002]" in page


def test_markdown_has_summary_area_table_and_failures() -> None:
    text = matrix_markdown(_matrix())
    assert text.startswith("# Compatibility matrix\n")
    assert "| case | model:gearmand-1.1 | gear |" in text
    assert "| `server/x.yaml::a` | pass | FAIL |" in text
    assert "| `server/x.yaml::b` | pass | acceptable |" in text
    assert 'gear &lt;0.16> \\| "quoted"' in text  # table cells cannot break
    assert "- `server/x.yaml::a` FAIL [GM-B-002]: c1: got &lt;script>alert(1)&lt;/script> \\| x" in text
    for line in text.splitlines():
        if line.startswith("| `"):
            assert line.count(" | ") == 2


def test_model_only_matrix_and_baselines(tmp_path: Path) -> None:
    selection = select(["server/seed.yaml", "codec/admin.yaml::version"])
    matrix, runs = run_matrix(selection, peers=[], models=["gearmand-1.1", "gear-0.16"])
    assert [impl.key for impl, _ in runs] == ["model:gearmand-1.1", "model:gear-0.16"]
    assert len(matrix.rows) == 3
    assert baseline_key(runs[0][0]) == "model-gearmand-1.1"
    assert all(r.verdict in (Verdict.PASS, Verdict.ACCEPTABLE) for r in runs[0][1])


def test_matrix_command_writes_outputs_and_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="gearsim")
    add_matrix_command(parser.add_subparsers(dest="command", required=True))
    out = {k: tmp_path / f"m.{k}" for k in ("json", "html", "md")}
    argv = ["matrix", "server/seed.yaml", "--peers", ""]
    argv += [f"--out-{k}={v}" for k, v in out.items()]
    args = parser.parse_args([*argv, "--write-baselines", str(tmp_path / "bl")])
    assert args.func(args) == 0
    assert json.loads(out["json"].read_text())["schema"] == "gearsim-matrix/1"
    assert "<style>" in out["html"].read_text() and out["md"].read_text().startswith("# Compatibility matrix")
    written = sorted(p.name for p in (tmp_path / "bl").iterdir())
    assert written == [f"model-{p}.json" for p in ("gear-0.16", "gearmand-1.1", "gearmand-2.0", "perl-1.130", "spec")]
    # the same run against the baselines it wrote: nothing differs, exit 0
    args = parser.parse_args([*argv, "--baselines", str(tmp_path / "bl")])
    assert args.func(args) == 0
    assert "0 regressions, 0 XPASS, 0 changed, 0 new" in capsys.readouterr().out


def test_model_columns_follow_the_profile_table() -> None:
    assert model_implementation("perl-1.130").key == "model:perl-1.130"


def test_markdown_and_html_end_with_the_sentence_of_each_rule_a_failure_cites() -> None:
    rules = {
        "GM-B-002": Requirement("GM-B-002", "MUST", "b", "A server answers B."),
        "GM-A-001": Requirement("GM-A-001", "SHOULD", "a", "Nobody cites this one."),
    }
    text = matrix_markdown(_matrix(), rules)
    assert "## Rules cited by failures" in text
    assert "- **GM-B-002** (MUST): A server answers B." in text
    assert "GM-A-001" not in text.split("## Rules cited by failures")[1]
    page = matrix_html(_matrix(), rules)
    assert "<li><b>GM-B-002</b> (MUST) A server answers B.</li>" in page
