"""The compatibility matrix: vectors x implementations, as JSON, HTML and Markdown.

PURE: results in, text out. ``gearsim matrix`` (gearsim.cli.matrix) runs the vectors (the model
under every profile, every installed real server under its profile) and hands
the results here.

A cell is one case's verdict on one implementation; a failing cell carries the
requirement ids it breaks (those the failing step cites, else the case's) and
a one-line reason. The HTML page is one self-contained file: inline CSS, no
scripts, no fetches.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import terminal_text
from gearsim.report.baseline import one_line_reason
from gearsim.run.runner import CaseResult, Verdict

__all__ = [
    "Cell",
    "Implementation",
    "Matrix",
    "Row",
    "build_matrix",
    "cited_requirements",
    "matrix_html",
    "matrix_json",
    "matrix_markdown",
]

MATRIX_SCHEMA = "gearsim-matrix/1"
#: the verdicts in report order (the order Verdict declares them)
_ORDER = tuple(Verdict)
_SHORT = {
    Verdict.PASS: "pass",
    Verdict.ACCEPTABLE: "acceptable",
    Verdict.KNOWN_DEFECT: "known defect",
    Verdict.FAIL: "FAIL",
    Verdict.INCONCLUSIVE: "inconclusive",
    Verdict.NOT_APPLICABLE: "n/a",
}


@dataclass(frozen=True, slots=True)
class Implementation:
    """One column: the model under a profile, or a real server under its profile."""

    key: str
    label: str
    kind: str
    profile: str
    version: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    """One case (a row of the matrix)."""

    id: str
    file: str
    case: str
    area: str
    requirements: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Cell:
    """One case on one implementation."""

    verdict: Verdict
    reason: str = ""
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Matrix:
    """Rows (cases, in run order), columns (implementations) and the cells between them."""

    implementations: tuple[Implementation, ...]
    rows: tuple[Row, ...]
    cells: Mapping[tuple[str, str], Cell]
    meta: Mapping[str, str] = field(default_factory=dict)

    def cell(self, row: str, impl: str) -> Cell | None:
        """The cell of case ``row`` on implementation ``impl``, None if it was not run there."""
        return self.cells.get((row, impl))

    def counts(self, impl: str) -> Counter[Verdict]:
        """How many cases got each verdict on ``impl``."""
        return Counter(c.verdict for (_, i), c in self.cells.items() if i == impl)


def cited_requirements(result: CaseResult) -> tuple[str, ...]:
    """The requirement ids a result is about: those its failing step checks, else the case's. Never raises."""
    return result.rules or result.requirements


def build_matrix(
    runs: Sequence[tuple[Implementation, Sequence[CaseResult]]], meta: Mapping[str, str] | None = None
) -> Matrix:
    """Put the results of several implementations side by side. Never raises.

    Rows are every case any implementation ran, in first-seen order.
    """
    rows: dict[str, Row] = {}
    cells: dict[tuple[str, str], Cell] = {}
    for impl, results in runs:
        for r in results:
            if r.id not in rows:
                rows[r.id] = Row(r.id, r.file, r.case, r.area, tuple(r.requirements))
            reqs = cited_requirements(r) if r.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE) else ()
            cells[(r.id, impl.key)] = Cell(r.verdict, one_line_reason(r), reqs)
    return Matrix(tuple(impl for impl, _ in runs), tuple(rows.values()), cells, dict(meta or {}))


# --------------------------------------------------------------------------- JSON


def matrix_json(matrix: Matrix) -> str:
    """The matrix as one JSON document (schema ``gearsim-matrix/1``). Never raises."""
    impls = [
        {
            "key": i.key,
            "label": i.label,
            "kind": i.kind,
            "profile": i.profile,
            "version": i.version,
            "note": i.note,
            "summary": {
                v.value: n for v, n in sorted(matrix.counts(i.key).items(), key=lambda kv: _ORDER.index(kv[0]))
            },
        }
        for i in matrix.implementations
    ]
    rows = []
    for row in matrix.rows:
        results: dict[str, object] = {}
        for impl in matrix.implementations:
            cell = matrix.cell(row.id, impl.key)
            if cell is None:
                continue
            entry: dict[str, object] = {"verdict": cell.verdict.value}
            if cell.reason:
                entry["reason"] = cell.reason
            if cell.requirements:
                entry["requirements"] = list(cell.requirements)
            results[impl.key] = entry
        rows.append(
            {
                "id": row.id,
                "area": row.area,
                "file": row.file,
                "case": row.case,
                "requirements": list(row.requirements),
                "results": results,
            }
        )
    doc = {"schema": MATRIX_SCHEMA, "meta": dict(matrix.meta), "implementations": impls, "cases": rows}
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    # bidi controls and invisible characters from a peer (a library's name, a reason) shown as escapes first
    text = terminal_text(text)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace("`", "'")


def _areas(matrix: Matrix) -> list[str]:
    seen: dict[str, None] = {}
    for row in matrix.rows:
        seen.setdefault(row.area, None)
    return list(seen)


def _bad(matrix: Matrix, impl: Implementation) -> list[tuple[Row, Cell]]:
    out = []
    for row in matrix.rows:
        cell = matrix.cell(row.id, impl.key)
        if cell is not None and cell.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE):
            out.append((row, cell))
    return out


def _known_defects(matrix: Matrix, impl: Implementation) -> list[tuple[Row, Cell]]:
    return [
        (row, cell)
        for row in matrix.rows
        if (cell := matrix.cell(row.id, impl.key)) is not None and cell.verdict is Verdict.KNOWN_DEFECT
    ]


def _cited_by_failures(matrix: Matrix) -> list[str]:
    """Every requirement id a failure or inconclusive cell cites, in registry order."""
    ids = {rid for impl in matrix.implementations for _, cell in _bad(matrix, impl) for rid in cell.requirements}
    return sorted(ids)


def matrix_markdown(matrix: Matrix, requirements: Mapping[str, Requirement] | None = None) -> str:
    """The matrix as Markdown: a summary, one table per area, then every failure with its reason. Never raises."""
    impls = matrix.implementations
    lines = ["# Compatibility matrix", ""]
    if "title" in matrix.meta:
        lines += [_md(matrix.meta["title"]), ""]
    for key in sorted(k for k in matrix.meta if k != "title"):
        lines.append(f"- {key}: {_md(matrix.meta[key])}")
    lines += [
        "",
        "Verdicts: **pass**; **acceptable** (an alternative the vector allows for this profile); **known "
        "defect** (the implementation breaks a rule in the way its profile records, with the defect's id "
        "below: expected of it, never acceptable, and a FAIL under the neutral profile `spec`); **FAIL** "
        "(with the requirement ids broken and a one-line reason below); **inconclusive** (the harness "
        "could not decide); **n/a** (the case is for other profiles, or needs the model's virtual clock).",
        "",
        "## Summary",
        "",
        "| implementation | profile | version | " + " | ".join(_SHORT[v] for v in _ORDER) + " |",
        "| --- | --- | --- | " + " | ".join("---:" for _ in _ORDER) + " |",
    ]
    for impl in impls:
        counts = matrix.counts(impl.key)
        note = f" ({_md(impl.note)})" if impl.note else ""
        lines.append(
            f"| {_md(impl.label)}{note} | {impl.profile} | {_md(impl.version)} | "
            + " | ".join(str(counts[v]) for v in _ORDER)
            + " |"
        )
    heads = " | ".join(_md(i.key) for i in impls)
    for area in _areas(matrix):
        lines += ["", f"## {area}", "", f"| case | {heads} |", "| --- | " + " | ".join("---" for _ in impls) + " |"]
        for row in matrix.rows:
            if row.area != area:
                continue
            marks = []
            for impl in impls:
                cell = matrix.cell(row.id, impl.key)
                marks.append("" if cell is None else _SHORT[cell.verdict])
            lines.append(f"| `{row.id}` | " + " | ".join(marks) + " |")
    lines += ["", "## Failures and inconclusive cases", ""]
    for impl in impls:
        bad = _bad(matrix, impl)
        lines += [f"### {_md(impl.label)} ({len(bad)})", ""]
        if not bad:
            lines += ["none", ""]
            continue
        for row, cell in bad:
            reqs = ", ".join(cell.requirements) or "-"
            lines.append(f"- `{row.id}` {_SHORT[cell.verdict]} [{reqs}]: {_md(cell.reason)}")
        lines.append("")
    defects = [(impl, row, cell) for impl in impls for row, cell in _known_defects(matrix, impl)]
    if defects:
        lines += ["## Known defects", "", "Rules each implementation breaks, as its profile records them:", ""]
        for impl, row, cell in defects:
            lines.append(f"- {_md(impl.label)}: `{row.id}`: {_md(cell.reason)}")
        lines.append("")
    if requirements:
        lines += ["## Rules cited by failures", ""]
        for rid in _cited_by_failures(matrix):
            rule = requirements.get(rid)
            text = f"({rule.level}): {_md(rule.text)}" if rule else ": (not in the registry)"
            lines.append(f"- **{rid}** {text}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2;position:sticky;top:0}
td.v{text-align:center;white-space:nowrap}
.pass{background:#d9f2d9}.acceptable{background:#e6f0ff}.fail{background:#f8d0d0;font-weight:bold}
.defect{background:#f3dcef}
.inconclusive{background:#fff0c0}.na{color:#999}
code{font-size:12px}.reason{font-size:12px;color:#444}
details{margin:.3em 0}summary{cursor:pointer;font-weight:bold}
"""
_CLASS = {
    Verdict.PASS: "pass",
    Verdict.ACCEPTABLE: "acceptable",
    Verdict.KNOWN_DEFECT: "defect",
    Verdict.FAIL: "fail",
    Verdict.INCONCLUSIVE: "inconclusive",
    Verdict.NOT_APPLICABLE: "na",
}


def _h(text: str) -> str:
    return html.escape(terminal_text(text), quote=True)  # bidi controls and invisible characters shown escaped


def matrix_html(matrix: Matrix, requirements: Mapping[str, Requirement] | None = None) -> str:
    """The matrix as one self-contained HTML page (inline CSS, no scripts, no external resources).

    Each cell's tooltip holds its reason and requirement ids; failures are also
    listed in full under the tables. Never raises.
    """
    impls = matrix.implementations
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>gearsim compatibility matrix</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>gearsim compatibility matrix</h1>",
    ]
    if matrix.meta:
        out.append("<ul>" + "".join(f"<li>{_h(k)}: {_h(v)}</li>" for k, v in sorted(matrix.meta.items())) + "</ul>")
    out.append("<h2>Summary</h2><table><tr><th>implementation</th><th>profile</th><th>version</th>")
    out.append("".join(f"<th>{_h(_SHORT[v])}</th>" for v in _ORDER) + "</tr>")
    for impl in impls:
        counts = matrix.counts(impl.key)
        note = f" <span class=reason>({_h(impl.note)})</span>" if impl.note else ""
        out.append(
            f"<tr><td>{_h(impl.label)}{note}</td><td>{_h(impl.profile)}</td><td>{_h(impl.version)}</td>"
            + "".join(f'<td class="v {_CLASS[v]}">{counts[v]}</td>' for v in _ORDER)
            + "</tr>"
        )
    out.append("</table>")
    for area in _areas(matrix):
        out.append(f"<h2>{_h(area)}</h2><table><tr><th>case</th>")
        out.append("".join(f"<th>{_h(i.key)}</th>" for i in impls) + "</tr>")
        for row in matrix.rows:
            if row.area != area:
                continue
            tds = []
            for impl in impls:
                cell = matrix.cell(row.id, impl.key)
                if cell is None:
                    tds.append('<td class="v na">-</td>')
                    continue
                tip = cell.reason + (f" [{', '.join(cell.requirements)}]" if cell.requirements else "")
                title = f' title="{_h(tip)}"' if tip else ""
                tds.append(f'<td class="v {_CLASS[cell.verdict]}"{title}>{_h(_SHORT[cell.verdict])}</td>')
            out.append(f"<tr><td><code>{_h(row.id)}</code></td>{''.join(tds)}</tr>")
        out.append("</table>")
    out.append("<h2>Failures and inconclusive cases</h2>")
    for impl in impls:
        bad = _bad(matrix, impl)
        out.append(f"<details{' open' if bad else ''}><summary>{_h(impl.label)} ({len(bad)})</summary><ul>")
        for row, cell in bad:
            reqs = ", ".join(cell.requirements) or "-"
            out.append(
                f'<li><code>{_h(row.id)}</code> <span class="{_CLASS[cell.verdict]}">{_h(_SHORT[cell.verdict])}'
                f"</span> [{_h(reqs)}]: <span class=reason>{_h(cell.reason)}</span></li>"
            )
        out.append("</ul></details>")
    if requirements:
        out.append("<h2>Rules cited by failures</h2><ul>")
        for rid in _cited_by_failures(matrix):
            rule = requirements.get(rid)
            text = f"({rule.level}) {rule.text}" if rule else "(not in the registry)"
            out.append(f"<li><b>{_h(rid)}</b> {_h(text)}</li>")
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
