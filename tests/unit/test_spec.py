"""The normative spec: registry, prose, generated tables, coverage and the rendered HTML."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from gearsim import files as loading
from gearsim.cli.spec import add_spec_commands
from gearsim.protocol.requirements import SUBJECTS, Requirement, parse_requirements
from gearsim.report.coverage import (
    compute_coverage,
    coverage_from_json,
    coverage_to_json,
    format_coverage,
    uncovered_musts,
)
from gearsim.run.runner import CaseResult, Verdict
from gearsim.vectors.parse import Case, Step, VectorFile

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "spec" / "requirements.yaml"
SPEC_MD = ROOT / "spec" / "gearman.md"
ID_FORM = re.compile(r"^GM-[A-Z]+-\d{3}$")
AMBIGUITIES = range(1, 25)  # protocol-facts.md section (e) lists 24 questions

#: per id prefix, the highest number issued when this test was last updated.
#: Ids are never renumbered or deleted: every id up to the floor must still be
#: in the registry (active or retired). Raise a floor when you add ids.
ID_FLOOR = {
    "GM-FRAME": 16, "GM-FIELD": 6, "GM-ADMIN": 20, "GM-ECHO": 2, "GM-OPTION": 6, "GM-ERROR": 5,
    "GM-LIMIT": 6, "GM-SERVER": 4, "GM-SUBMIT": 14, "GM-COAL": 11, "GM-STATUS": 13, "GM-WORK": 14,
    "GM-WORKER": 15, "GM-SLEEP": 8, "GM-PRIO": 4, "GM-TIMEOUT": 5, "GM-DISC": 9, "GM-QUEUE": 5, "GM-LIB": 11,
    "GM-RESTART": 6,
}  # fmt: skip


def _load_build_spec() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_spec", ROOT / "tools" / "build_spec.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_spec"] = module
    spec.loader.exec_module(module)
    return module


build_spec = _load_build_spec()
# loading build_spec put tools/ on sys.path: its siblings import by name
import build_spec_html  # noqa: E402
import build_spec_markdown  # noqa: E402
import build_spec_rules  # noqa: E402


@pytest.fixture(scope="module")
def raw_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))["requirements"]
    return rows


@pytest.fixture(scope="module")
def registry() -> dict[str, Requirement]:
    return dict(parse_requirements(REGISTRY.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def prose() -> str:
    return SPEC_MD.read_text(encoding="utf-8")


def _rule_lines(text: str) -> Iterator[re.Match[str]]:
    for line in text.splitlines():
        m = build_spec_rules.RULE_LINE.match(line)
        if m:
            yield m


# --------------------------------------------------------------------------- registry


def test_ids_are_well_formed_and_unique(raw_rows: list[dict[str, object]]) -> None:
    ids = [str(r["id"]) for r in raw_rows]
    assert len(ids) == len(set(ids)), "duplicate ids"
    bad = [i for i in ids if not ID_FORM.match(i)]
    assert not bad, f"ids not of the form GM-AREA-NNN: {bad}"
    for row in raw_rows:
        assert row["level"] in ("MUST", "SHOULD", "MAY"), row["id"]
        assert set(row) <= {"id", "level", "area", "subject", "text", "status", "retired", "settles", "reason"}, row[
            "id"
        ]
        assert row.get("subject") in SUBJECTS, f"{row['id']}: subject, whom the rule binds, is one of {SUBJECTS}"
        text = str(row["text"])
        assert text.endswith("."), f"{row['id']}: a rule is one sentence ending in a full stop"


def test_each_prefix_has_one_area(raw_rows: list[dict[str, object]]) -> None:
    areas: dict[str, set[str]] = {}
    for row in raw_rows:
        prefix = str(row["id"]).rsplit("-", 1)[0]
        areas.setdefault(prefix, set()).add(str(row["area"]))
    assert {p: a for p, a in areas.items() if len(a) > 1} == {}


def test_ids_are_never_renumbered_or_removed(registry: dict[str, Requirement]) -> None:
    missing = [
        f"{prefix}-{n:03d}"
        for prefix, floor in ID_FLOOR.items()
        for n in range(1, floor + 1)
        if f"{prefix}-{n:03d}" not in registry
    ]
    assert not missing, f"ids removed from the registry (retire them instead): {missing}"
    for rid in registry:
        prefix, number = rid.rsplit("-", 1)
        assert prefix in ID_FLOOR, f"new prefix {prefix}: add it to ID_FLOOR"
        # numbers are issued in order: no gaps within a prefix
        assert all(f"{prefix}-{n:03d}" in registry for n in range(1, int(number))), rid


def test_retired_ids_carry_a_reason_and_stay_listed(raw_rows: list[dict[str, object]], prose: str) -> None:
    listed = {m["id"]: m for m in _rule_lines(prose)}
    for row in raw_rows:
        if row.get("status", "active") == "active":
            continue
        assert row["status"] == "retired", row["id"]
        assert row.get("retired"), f"{row['id']}: a retired id says why (retired: ...)"
        m = listed.get(str(row["id"]))
        assert m is not None and m["old"] == row["level"], f"{row['id']} is not listed as retired in the spec"


def test_settlements_cover_every_ambiguity(raw_rows: list[dict[str, object]], prose: str) -> None:
    settled: dict[int, list[str]] = {}
    for row in raw_rows:
        value = row.get("settles", [])
        numbers = value if isinstance(value, list) else [value]
        for n in numbers:
            assert isinstance(n, int) and n in AMBIGUITIES, f"{row['id']}: settles {n}, not an ambiguity of section (e)"
            if row.get("status", "active") == "active":
                settled.setdefault(n, []).append(str(row["id"]))
    assert sorted(settled) == list(AMBIGUITIES)
    for n in AMBIGUITIES:
        assert re.search(rf"^### \(e\){n} ", prose, re.M), f"no settlement section for (e){n}"
        assert f"<!-- begin:settles {n} -->" in prose


# --------------------------------------------------------------------------- prose


def test_spec_is_not_stale(prose: str) -> None:
    """Tables and rule lines in spec/gearman.md equal what their data generates."""
    assert build_spec.build(prose) == prose, "spec/gearman.md is stale: run python tools/build_spec.py"


def test_build_spec_check_exit_codes(tmp_path: Path, prose: str) -> None:
    assert build_spec.main(["--check"]) == 0
    stale = tmp_path / "gearman.md"
    stale.write_text(prose.replace("<!-- begin:table errors -->\n", "<!-- begin:table errors -->\nstale row\n"))
    assert build_spec.main(["--check", "--spec", str(stale)]) == 1


def test_prose_rules_match_the_registry(prose: str, registry: dict[str, Requirement]) -> None:
    seen: list[str] = []
    for m in _rule_lines(prose):
        rid = m["id"]
        assert rid in registry, f"{rid} in the prose is not in the registry"
        req = registry[rid]
        assert m["text"] == req.text, f"{rid}: prose sentence differs from the registry"
        assert (m["level"] or m["old"]) == req.level, rid
        assert (m["old"] is not None) == (req.status == "retired"), rid
        seen.append(rid)
    assert len(seen) == len(set(seen)), "a rule is stated twice in the prose"
    assert set(seen) == set(registry), f"registry ids missing from the prose: {sorted(set(registry) - set(seen))}"


def test_every_id_mentioned_in_the_prose_exists(prose: str, registry: dict[str, Requirement]) -> None:
    mentioned = set(re.findall(r"GM-[A-Z]+-\d{3}", prose))
    assert mentioned - set(registry) == set()


def test_generated_tables_follow_the_data() -> None:
    """Changing the packet data changes the prose table: the two cannot drift apart silently."""
    ctx = build_spec_rules.load_context()
    table = build_spec_markdown.gen_packets(ctx)
    for packet in ctx.packets["packets"]:
        assert f"`{packet['name']}`" in table
    errors = build_spec_markdown.gen_errors(ctx)
    assert all(e["code"] in errors for e in ctx.packets["errors"])
    admin = build_spec_markdown.gen_admin(ctx)
    assert all(f"`{a['name']}`" in admin for a in ctx.packets["admin"])
    packets = dict(ctx.packets)
    packets["errors"] = [*ctx.packets["errors"], {"code": "NEW_CODE", "text": "t", "trigger": "x"}]
    changed = build_spec_rules.Context(ctx.rules, packets, ctx.profiles)
    text = SPEC_MD.read_text(encoding="utf-8")
    assert build_spec_markdown.expand(text, changed) != text


def test_retired_rules_render_apart() -> None:
    rules = build_spec_rules.load_rules(
        "requirements:\n"
        "  - {id: GM-X-001, level: MUST, area: x, text: 'Old rule.', status: retired, retired: 'superseded.'}\n"
        "  - {id: GM-X-002, level: MAY, area: x, text: 'New rule.', settles: [3], reason: 'because.'}\n"
    )
    ctx = build_spec_rules.Context(rules, {}, None)
    assert (
        build_spec_markdown.gen_rules(ctx, "x")
        == "- [GM-X-002] **MAY**: New rule.\n  _Why:_ because. _Settles:_ (e)3.\n"
    )
    retired = build_spec_markdown.gen_rules(ctx, "retired")
    assert retired.startswith("- [GM-X-001] ~~MUST~~ retired: Old rule.\n")
    assert build_spec_rules.RULE_LINE.match(retired.splitlines()[0])["old"] == "MUST"


# --------------------------------------------------------------------------- coverage


def _registry() -> dict[str, Requirement]:
    return {
        "GM-T-001": Requirement("GM-T-001", "MUST", "t", "One."),
        "GM-T-002": Requirement("GM-T-002", "MUST", "t", "Two."),
        "GM-T-003": Requirement("GM-T-003", "SHOULD", "t", "Three."),
        "GM-T-004": Requirement("GM-T-004", "MUST", "t", "Four.", "retired"),
        "GM-T-005": Requirement("GM-T-005", "MUST", "t", "Five."),
    }


def _files() -> list[VectorFile]:
    a = Case("a", "", ("GM-T-001",), "valid", steps=(Step(1, "send", "c", requirements=("GM-T-003",)),))
    b = Case("b", "", ("GM-T-001", "GM-T-002"), "valid")
    c = Case("c", "", (), "invalid", wire=b"", violations=("GM-T-005",))
    return [VectorFile("v.yaml", "server", "t", (), {}, {}, (a, b, c), {})]


def _results() -> dict[str, list[CaseResult]]:
    def r(case: str, ids: tuple[str, ...], verdict: Verdict, rules: tuple[str, ...] = ()) -> CaseResult:
        return CaseResult("v.yaml", case, "server", verdict, ids, rules=rules)

    return {
        "p1": [r("a", ("GM-T-001",), Verdict.PASS), r("b", ("GM-T-001", "GM-T-002"), Verdict.PASS)],
        "p2": [
            r("a", ("GM-T-001",), Verdict.ACCEPTABLE),
            r("b", ("GM-T-001", "GM-T-002"), Verdict.FAIL, ("GM-T-002",)),
        ],
    }


def test_coverage_rows_cite_cases_steps_and_violations() -> None:
    rows = {r.id: r for r in compute_coverage(_files(), _registry())}
    assert rows["GM-T-001"].cases == ("v.yaml::a", "v.yaml::b")
    assert rows["GM-T-002"].cases == ("v.yaml::b",)
    assert rows["GM-T-003"].cases == ("v.yaml::a",)  # cited by a step
    assert rows["GM-T-005"].cases == ("v.yaml::c",)  # an expected violation
    assert rows["GM-T-004"].cases == () and not rows["GM-T-004"].needs_vector  # retired
    assert all(not r.verdicts for r in rows.values())


def test_uncovered_musts_are_reported() -> None:
    registry = _registry()
    registry["GM-T-006"] = Requirement("GM-T-006", "MUST", "t", "Six.")
    registry["GM-T-007"] = Requirement("GM-T-007", "MAY", "t", "Seven.")
    rows = compute_coverage(_files(), registry)
    assert [r.id for r in uncovered_musts(rows)] == ["GM-T-006"]
    text = format_coverage(rows, [])
    assert "MUST ids without a vector: GM-T-006" in text


def test_coverage_verdicts_per_profile() -> None:
    rows = {r.id: r for r in compute_coverage(_files(), _registry(), _results())}
    one = rows["GM-T-001"]
    assert one.verdicts["p1"].summary == "pass"
    # b failed at a step citing GM-T-002 only: it speaks neither for nor against GM-T-001
    assert dict(one.verdicts["p2"].cases) == {"v.yaml::a": "acceptable"}
    assert one.verdicts["p2"].summary == "acceptable"
    assert rows["GM-T-002"].verdicts["p2"].summary == "fail"
    assert rows["GM-T-005"].verdicts["p1"].summary == ""  # its case did not run
    text = format_coverage(list(rows.values()), ["p1", "p2"])
    assert "v.yaml::b  (p1=pass, p2=fail)" in text


def test_coverage_json_round_trip() -> None:
    rows = compute_coverage(_files(), _registry(), _results())
    doc = json.loads(json.dumps(coverage_to_json(rows, ["p1", "p2"])))
    assert doc["uncovered_musts"] == []
    profiles, back = coverage_from_json(doc)
    assert profiles == ["p1", "p2"]
    assert [(r.id, r.cases, {p: v.summary for p, v in r.verdicts.items()}) for r in back] == [
        (r.id, r.cases, {p: v.summary for p, v in r.verdicts.items()}) for r in rows
    ]


def test_a_failure_with_no_cited_step_counts_for_every_case_id() -> None:
    results = {"p": [CaseResult("v.yaml", "b", "server", Verdict.FAIL, ("GM-T-001", "GM-T-002"))]}
    rows = {r.id: r for r in compute_coverage(_files(), _registry(), results)}
    assert rows["GM-T-001"].verdicts["p"].summary == "fail"
    assert rows["GM-T-002"].verdicts["p"].summary == "fail"


# --------------------------------------------------------------------------- cli


VECTOR = """\
schema: gearsim-vectors/1
area: server
title: tiny
header: [a test file]
notes: {}
source: {author: test}
cases:
- id: echo
  comment: echo round trip
  requirements: [GM-ECHO-001, GM-T-001]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: ECHO_REQ, args: [hi]}}
  - {expect: c1, packet: {type: ECHO_RES, args: [hi]}}
"""


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gearsim")
    sub = parser.add_subparsers(dest="command", required=True)
    add_spec_commands(sub)
    args = parser.parse_args(argv)
    rc: int = args.func(args)
    return rc


def test_cli_coverage_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vector = tmp_path / "tiny.yaml"
    vector.write_text(VECTOR, encoding="utf-8")
    small = {
        "GM-ECHO-001": Requirement("GM-ECHO-001", "MUST", "echo", "Echo."),
        "GM-T-001": Requirement("GM-T-001", "MUST", "t", "One."),
    }
    monkeypatch.setattr(loading, "load_requirements", lambda: small)
    assert _cli(["spec", "coverage", str(vector), "--run", "--profiles", "gearmand-1.1,gear-0.16"]) == 0
    out = capsys.readouterr().out
    # gear ignores ECHO_REQ: its recorded defect unimplemented-ignored
    assert re.search(r"GM-ECHO-001 +MUST +active +1 +pass +known-defect", out), out
    small["GM-T-002"] = Requirement("GM-T-002", "MUST", "t", "Two.")
    out_file = tmp_path / "cov.json"
    assert _cli(["spec", "coverage", str(vector), "--json", "--out", str(out_file)]) == 1
    assert json.loads(out_file.read_text())["uncovered_musts"] == ["GM-T-002"]
    assert "GM-T-002" in capsys.readouterr().err


def test_every_active_must_has_a_vector(registry: dict[str, Requirement]) -> None:
    rows = compute_coverage(loading.select([]).files, registry)
    assert [r.id for r in uncovered_musts(rows)] == []


# --------------------------------------------------------------------------- html


def test_html_is_one_self_contained_file(tmp_path: Path) -> None:
    rows = compute_coverage(loading.select([]).files, dict(loading.load_requirements()))
    cov = tmp_path / "cov.json"
    cov.write_text(json.dumps(coverage_to_json(rows, [])), encoding="utf-8")
    out = tmp_path / "spec.html"
    assert build_spec.main(["--html", str(out), "--coverage", str(cov)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I), "external reference"
    assert "<link" not in page and "<script" not in page and "@import" not in page
    assert 'id="GM-COAL-001"' in page and 'href="#GM-COAL-001"' in page
    assert "<table>" in page and "<pre><code>" in page


def test_html_shows_verdicts_beside_rules(tmp_path: Path) -> None:
    reqs = dict(loading.load_requirements())
    results = {"gearmand-1.1": [CaseResult("x.yaml", "k", "server", Verdict.FAIL, ("GM-ECHO-001",))]}
    files = [VectorFile("x.yaml", "server", "t", (), {}, {}, (Case("k", "", ("GM-ECHO-001",), "valid"),), {})]
    cov = tmp_path / "cov.json"
    cov.write_text(json.dumps(coverage_to_json(compute_coverage(files, reqs, results), ["gearmand-1.1"])))
    out = tmp_path / "spec.html"
    assert build_spec.main(["--html", str(out), "--coverage", str(cov)]) == 0
    page = out.read_text(encoding="utf-8")
    block = page[page.index('id="GM-ECHO-001"') :]
    block = block[: block.index('<div class="rule', 10)]
    assert "gearmand-1.1: fail" in block and "x.yaml::k" in block


def test_inline_markup_is_escaped() -> None:
    assert build_spec_html.inline("a <b> & `<c>` **d** [GM-X-001]") == (
        'a &lt;b&gt; &amp; <code>&lt;c&gt;</code> <strong>d</strong> <a class="rid" href="#GM-X-001">[GM-X-001]</a>'
    )


# --------------------------------------------------------------------------- evidence

_TAG = re.compile(r"\b(B-[PUSWKLA]\d+|PERL-\d+|GEAR-\d+)\b")


def _evidence_entries() -> dict[str, str]:
    text = (ROOT / "spec" / "evidence.md").read_text(encoding="utf-8")
    parts = re.split(r"^### (\S+)$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_evidence_tag_resolves_in_the_repository() -> None:
    """Each B-xx, PERL-n and GEAR-n tag cited anywhere has an entry in spec/evidence.md."""
    entries = _evidence_entries()
    unresolved: dict[str, str] = {}
    for pattern in (
        "spec/**/*.md",
        "spec/**/*.yaml",
        "vectors/**/*.yaml",
        "gearsim/**/*.py",
        "tools/**/*.py",
        "docs/*.md",
        "README.md",
    ):
        for path in ROOT.glob(pattern):
            if path.name == "evidence.md":
                continue
            for tag in _TAG.findall(path.read_text(encoding="utf-8", errors="replace")):
                if tag not in entries:
                    unresolved.setdefault(tag, str(path.relative_to(ROOT)))
    assert unresolved == {}


def test_every_evidence_entry_names_its_source_and_probe() -> None:
    for tag, body in _evidence_entries().items():
        if not tag.startswith(("B-", "PERL-", "GEAR-")):
            continue
        assert "Source:" in body, tag
        assert "Probe:" in body or "*Source only*" in body, tag


def test_every_settled_question_has_its_section_and_evidence() -> None:
    spec_text = (ROOT / "spec" / "gearman.md").read_text(encoding="utf-8")
    evidence = (ROOT / "spec" / "evidence.md").read_text(encoding="utf-8")
    for n in range(1, 25):
        assert f"### (e){n} " in spec_text, n
        assert re.search(rf"^\| \(e\){n} .*\| .*B-|^\| \(e\){n} .*(PERL|GEAR)-", evidence, re.M), n
    assert "protocol-facts" not in spec_text and "peer-lab" not in spec_text


def _observed_ids(kind: str) -> set[str]:
    """The probe ids recorded in ``spec/observed/*-{kind}.yaml`` (codec: ``cases``, spec: ``probes``)."""
    ids: set[str] = set()
    for path in (ROOT / "spec" / "observed").glob(f"*-{kind}.yaml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        ids.update(str(entry["id"]) for entry in doc["cases" if kind == "codec" else "probes"])
    return ids


def _vector_case_ids() -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT / "vectors")): {str(c["id"]) for c in yaml.safe_load(path.read_text())["cases"]}
        for path in (ROOT / "vectors").glob("**/*.yaml")
    }


def test_every_probe_evidence_cites_is_in_the_repository() -> None:
    """``codec:ID``, ``spec:ID`` and ``FILE::CASE`` (``::CASE`` continuing the last file) all resolve."""
    text = (ROOT / "spec" / "evidence.md").read_text(encoding="utf-8")
    probes = {"codec": _observed_ids("codec"), "spec": _observed_ids("spec")}
    cases = _vector_case_ids()
    unresolved: list[str] = []
    for kind, ident in re.findall(r"`(codec|spec):([^`*]+)`", text):
        if ident != "ID" and ident not in probes[kind]:
            unresolved.append(f"{kind}:{ident}")
    last_file = ""
    for file, case in re.findall(r"`([\w/.-]*\.yaml|)::([\w.-]+)`", text):
        last_file = file or last_file
        if case not in cases.get(last_file, set()):
            unresolved.append(f"{last_file}::{case}")
    assert unresolved == []
    assert len(probes["spec"]) >= 20 and len(probes["codec"]) >= 70  # the files were read, not skipped


def test_every_question_cited_is_one_the_spec_settles() -> None:
    """A ``(e)N`` anywhere in spec/ or the vectors names one of the 24 settled questions; none is left open."""
    cited: set[int] = set()
    for path in [*ROOT.glob("spec/**/*.md"), *ROOT.glob("spec/**/*.yaml"), *ROOT.glob("vectors/**/*.yaml")]:
        text = path.read_text(encoding="utf-8")
        cited.update(int(n) for n in re.findall(r"\(e\)(\d+)", text))
        assert not re.search(r"\bopen questions?\b|\bquestion (is|remains) open\b|\bunresolved\b", text, re.I), path
    assert cited and cited <= set(AMBIGUITIES)
