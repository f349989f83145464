"""gearsim.report.baseline: the file format round-trips, and a comparison sorts every difference into its kind."""

from __future__ import annotations

import json

import pytest

from gearsim.report.baseline import (
    SCHEMA,
    Baseline,
    BaselineError,
    Change,
    Expected,
    baseline_from_results,
    compare,
    dump_baseline,
    format_comparison,
    known_failures,
    one_line_reason,
    parse_baseline,
)
from gearsim.report.text import json_report
from gearsim.run.runner import CaseResult, Verdict

P, A, F, INC, NA = Verdict.PASS, Verdict.ACCEPTABLE, Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE


def _r(case: str, verdict: Verdict, reason: str = "", notes: tuple[str, ...] = ()) -> CaseResult:
    return CaseResult("server/x.yaml", case, "server", verdict, ("GM-X-001",), reason=reason, notes=notes)


def _baseline(**cases: tuple[Verdict, str]) -> Baseline:
    return Baseline(
        "gearmand-c", "gearmand-1.1", {f"server/x.yaml::{k}": Expected(v, r) for k, (v, r) in cases.items()}
    )


def test_dump_then_parse_gives_the_same_baseline() -> None:
    results = [_r("b", F, "c1: got 0 of 1\npackets"), _r("a", P), _r("c", A, notes=("step 3: perl-1.130 behaviour",))]
    baseline = baseline_from_results(results, "gearmand-c", "gearmand-1.1", {"version": "1.1.20+ds"})
    text = dump_baseline(baseline)
    assert parse_baseline(text) == baseline
    assert list(json.loads(text)["cases"]) == ["server/x.yaml::a", "server/x.yaml::b", "server/x.yaml::c"]
    assert json.loads(text)["cases"]["server/x.yaml::b"] == {"verdict": "fail", "reason": "c1: got 0 of 1 packets"}
    assert text.count("\n") == 4 + 3 + 4  # one case per line
    assert dump_baseline(parse_baseline(text)) == text


def test_empty_baseline_round_trips() -> None:
    empty = Baseline("gear", "gear-0.16", {})
    assert parse_baseline(dump_baseline(empty)) == empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"schema": "other/1", "cases": {}}', "schema is 'other/1'"),
        (f'{{"schema": "{SCHEMA}", "cases": []}}', "'cases' must be an object"),
        (f'{{"schema": "{SCHEMA}", "cases": {{"a::b": {{"verdict": "great"}}}}}}', "verdict 'great' is not one of"),
        (f'{{"schema": "{SCHEMA}", "cases": {{"a::b": "pass"}}}}', "expected an object"),
        (f'{{"schema": "{SCHEMA}", "peer": 3, "cases": {{}}}}', "'peer' must be a string"),
        (f'{{"schema": "{SCHEMA}", "meta": {{"v": 1}}, "cases": {{}}}}', "'meta' must map names to strings"),
    ],
)
def test_malformed_baselines_are_refused(text: str, message: str) -> None:
    with pytest.raises(BaselineError, match=message):
        parse_baseline(text, "b.json")


def test_one_line_reason_by_verdict() -> None:
    assert one_line_reason(_r("a", P, "ignored")) == ""
    assert one_line_reason(_r("a", A, "x", notes=("n1", "n2"))) == "n1; n2"
    assert one_line_reason(_r("a", F, "line one\n  line two")) == "line one line two"
    long = one_line_reason(_r("a", F, "x" * 500))
    assert len(long) == 200 and long.endswith("...")


def test_comparison_sorts_each_kind_of_difference() -> None:
    baseline = _baseline(
        same=(F, "c1: got 0 of 1 packets within 1000 ms"),
        worse=(P, ""),
        na_to_fail=(NA, "only for perl"),
        inc_to_fail=(INC, "harness: x"),
        better=(F, "boom"),
        inc_to_pass=(INC, "harness: y"),
        fail_to_inc=(F, "boom"),
        to_na=(P, ""),
        flip=(P, ""),
        renumbered=(F, "argument 1 is b'H:vm:3'"),
        reworded=(F, "expected JOB_CREATED"),
        gone=(P, ""),
    )
    results = [
        _r("same", F, "c1: got 0 of 1 packets within 1000 ms"),
        _r("worse", F, "now broken"),
        _r("na_to_fail", F, "x"),
        _r("inc_to_fail", F, "y"),
        _r("better", P),
        _r("inc_to_pass", A, notes=("alt",)),
        _r("fail_to_inc", INC, "harness: z"),
        _r("to_na", NA, "only for gear"),
        _r("flip", A, notes=("timing",)),
        _r("renumbered", F, "argument 1 is b'H:vm:17'"),
        _r("reworded", F, "expected NO_JOB"),
        _r("brand_new_ok", P),
        _r("brand_new_bad", F, "new and failing"),
    ]
    cmp = compare(baseline, results)

    def ids(changes: tuple[Change, ...]) -> list[str]:
        return sorted(c.case.split("::")[1] for c in changes)

    assert ids(cmp.regressions) == ["brand_new_bad", "inc_to_fail", "na_to_fail", "worse"]
    assert ids(cmp.xpasses) == ["better", "inc_to_pass"]
    assert ids(cmp.changed) == ["fail_to_inc", "to_na"]
    assert ids(cmp.new) == ["brand_new_ok"]
    assert ids(cmp.missing) == ["gone"]
    assert ids(cmp.alternatives) == ["flip"]
    assert ids(cmp.reasons) == ["reworded"]  # numbers alone do not count
    assert cmp.same == 3  # same, renumbered, reworded
    assert not cmp.ok and not cmp.exact()


def test_ok_and_exact() -> None:
    baseline = _baseline(a=(P, ""), b=(F, "boom"), c=(P, ""))
    flip = compare(baseline, [_r("a", A), _r("b", F, "boom"), _r("c", P)])
    assert flip.ok and flip.exact(complete=True)
    subset = compare(baseline, [_r("a", P)])
    assert subset.ok and subset.exact() and not subset.exact(complete=True)
    xpass = compare(baseline, [_r("a", P), _r("b", P), _r("c", P)])
    assert xpass.ok and not xpass.exact()


def test_format_comparison_shows_every_difference() -> None:
    baseline = _baseline(a=(P, ""), b=(F, "boom"), gone=(P, ""))
    text = format_comparison(compare(baseline, [_r("a", F, "broke"), _r("b", P), _r("n", P)]), show_missing=True)
    assert text.splitlines()[0].startswith("baseline gearmand-c (gearmand-1.1): 0 same, 1 regressions, 1 XPASS")
    assert "  REGRESSION server/x.yaml::a: pass -> fail: broke" in text
    assert "  XPASS server/x.yaml::b: fail -> pass [baseline: boom]" in text
    assert "  NEW server/x.yaml::n: (not in baseline) -> pass" in text
    assert "  NOT RUN server/x.yaml::gone: pass -> (not run)" in text
    assert "--write-baselines" in text


def test_known_failures_read_all_three_forms() -> None:
    text = "# known failures\nserver/a.yaml::x  # OPS-1\nadmin/*\n\n"
    assert known_failures(text) == {"server/a.yaml::x": "OPS-1", "admin/*": "known failure"}
    results = [
        CaseResult("s.yaml", "ok", "server", Verdict.PASS, ()),
        CaseResult("s.yaml", "bad", "server", Verdict.FAIL, (), reason="boom"),
        CaseResult("s.yaml", "odd", "server", Verdict.INCONCLUSIVE, (), reason="harness: gone"),
    ]
    baseline = dump_baseline(baseline_from_results(results, "gear", "gear-0.16"))
    assert known_failures(baseline) == {"s.yaml::bad": "fail: boom", "s.yaml::odd": "inconclusive: harness: gone"}
    report = json_report(results, {})
    assert known_failures(report) == {
        "s.yaml::bad": "baseline: fail: boom",
        "s.yaml::odd": "baseline: inconclusive: harness: gone",
    }
    with pytest.raises(BaselineError, match="neither a gearsim-baseline/1 file nor a gearsim run"):
        known_failures('{"cases": []}', "b.json")
