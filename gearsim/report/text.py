"""Text, JSON and JUnit reports of runner verdicts (PURE: results in, text out).

A failure names the rules it is about in one order everywhere (these reports,
the HTML page, the pytest plugin): the rules the failing step checks first
(``CaseResult.rules``: "rule broken"), then the case's other citations ("also
cites"); a failure with no step rules lists the case's citations ("rule").
:func:`failure_rules` owns that order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import terminal_text
from gearsim.run.runner import CaseResult, Verdict

__all__ = ["failure_rules", "json_report", "junit_report", "rule_text", "text_report"]

#: the verdicts in report order (the order Verdict declares them)
_COLUMNS = tuple(Verdict)


def rule_text(rid: str, requirements: Mapping[str, Requirement]) -> str:
    """``ID (LEVEL): sentence``, or the id and a note when the registry does not have it."""
    req = requirements.get(rid)
    return str(req) if req is not None else f"{rid} (not in the registry)"


def failure_rules(result: CaseResult, requirements: Mapping[str, Requirement]) -> list[tuple[str, str]]:
    """What a failure says about rules, in order: (label, ``ID (LEVEL): sentence``).

    Labels: ``rule broken`` for each rule the failing step checks, then ``also
    cites`` for the case's other citations; ``rule`` for each citation when
    the failing step checks none gearsim knows of.
    """
    if not result.rules:
        return [("rule", rule_text(rid, requirements)) for rid in result.requirements]
    out = [("rule broken", rule_text(rid, requirements)) for rid in result.rules]
    return out + [("also cites", rule_text(rid, requirements)) for rid in result.also_cited]


def text_report(
    results: Sequence[CaseResult],
    requirements: Mapping[str, Requirement],
    title: str,
    *,
    repro: Callable[[CaseResult], str] | None = None,
) -> str:
    """A per-area summary table, then every failure and inconclusive case in full.

    Control characters but newline and tab, bidi controls and other invisible
    format characters are shown escaped (``\\x1b``, ``\\u202e``), see
    :func:`gearsim.protocol.trace.terminal_text`.

    ``repro`` gives the one-line command that reproduces a case; each failure
    prints it.
    """
    lines = [title, ""]
    areas = sorted({r.area for r in results})
    counts = {a: Counter(r.verdict for r in results if r.area == a) for a in areas}
    header = f"{'area':<12}" + "".join(f"{v.value:>14}" for v in _COLUMNS)
    lines.append(header)
    for area in areas:
        lines.append(f"{area:<12}" + "".join(f"{counts[area][v]:>14}" for v in _COLUMNS))
    total = Counter(r.verdict for r in results)
    lines.append(f"{'total':<12}" + "".join(f"{total[v]:>14}" for v in _COLUMNS))
    bad = [r for r in results if r.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE)]
    for r in bad:
        step = f" step {r.step}" if r.step else ""
        lines += ["", f"{r.verdict.value.upper()} {r.id}{step}", f"  {r.reason}"]
        if r.vector_sha256:
            lines.append(f"  vector sha256: {r.vector_sha256}")
        if repro is not None:
            lines.append(f"  reproduce: {repro(r)}")
        for label, rule in failure_rules(r, requirements):
            lines.append(f"  {label}: {rule}")
        if r.expected:
            lines.append(f"  expected: {r.expected}")
        if r.actual:
            lines.append(f"  actual:   {r.actual}")
        for note in r.notes:
            lines.append(f"  note: {note}")
        if r.trace:
            lines.append("  trace (last records):")
            lines += [f"    {t}" for t in r.trace.splitlines()]
    defects = [r for r in results if r.verdict is Verdict.KNOWN_DEFECT]
    if defects:
        lines += ["", "known defects (rules this implementation breaks, as its profile records):"]
        lines += [f"  {r.id}: {r.reason}" for r in defects]
    acceptable = [r for r in results if r.verdict is Verdict.ACCEPTABLE]
    if acceptable:
        lines += ["", "acceptable (allowed alternatives taken):"]
        lines += [f"  {r.id}: {'; '.join(r.notes)}" for r in acceptable]
    lines.append("")
    passed = total[Verdict.PASS] + total[Verdict.ACCEPTABLE]
    known = f", {total[Verdict.KNOWN_DEFECT]} known defects" if total[Verdict.KNOWN_DEFECT] else ""
    # n/a named too, so that the line adds up to the cases run (268 + 26 known defects left 56 of 350 unsaid)
    na = f", {total[Verdict.NOT_APPLICABLE]} n/a" if total[Verdict.NOT_APPLICABLE] else ""
    lines.append(
        f"{passed} passed{known}, {total[Verdict.FAIL]} failed, {total[Verdict.INCONCLUSIVE]} inconclusive{na}"
    )
    # reasons, notes, traces and the title carry a peer's own words (a driver's stderr and library name, a
    # server's log tail and version): an ESC or CR there must not reach the reader's terminal as one
    return terminal_text("\n".join(lines) + "\n")


def _json_rules(result: CaseResult, requirements: Mapping[str, Requirement]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for rid in result.cited:
        req = requirements.get(rid)
        rows.append(
            {
                "id": rid,
                "level": req.level if req else None,
                "text": req.text if req else None,
                "at_step": rid in result.rules,
            }
        )
    return rows


def json_report(
    results: Sequence[CaseResult], meta: Mapping[str, object], requirements: Mapping[str, Requirement] | None = None
) -> str:
    """The results as one JSON document: ``meta`` plus one object per case.

    Each case has ``requirements`` (the ids it cites) and ``step_rules`` (the
    ids its failing step checks); with ``requirements`` given, a failure or
    inconclusive case also has ``rules``: every id it names, the failing
    step's first, each with its level, sentence and ``at_step``.
    """
    import json

    bad = (Verdict.FAIL, Verdict.INCONCLUSIVE)
    rows = []
    for r in results:
        row: dict[str, object] = {
            "id": r.id,
            "file": r.file,
            "case": r.case,
            "area": r.area,
            "verdict": r.verdict.value,
            "requirements": list(r.requirements),
            "step_rules": list(r.rules),
            "reason": r.reason,
            "step": r.step,
            "expected": r.expected,
            "actual": r.actual,
            "notes": list(r.notes),
            "trace": r.trace,
        }
        if requirements is not None and r.verdict in bad:
            row["rules"] = _json_rules(r, requirements)
        rows.append(row)
    summary = Counter(r.verdict.value for r in results)
    return json.dumps({"meta": dict(meta), "summary": dict(summary), "results": rows}, indent=2) + "\n"


def junit_report(results: Sequence[CaseResult], requirements: Mapping[str, Requirement], suite: str) -> str:
    """JUnit XML: one testsuite per vector file, one testcase per case.

    FAIL is a <failure>, INCONCLUSIVE an <error>, n/a a <skipped>; a known
    defect is a <skipped type="known-defect"> (pytest writes an xfail so);
    ACCEPTABLE passes with its notes in <system-out>.
    """
    from xml.etree import ElementTree as ET

    root = ET.Element("testsuites", name=suite)
    by_file: dict[str, list[CaseResult]] = {}
    for r in results:
        by_file.setdefault(r.file, []).append(r)
    for name, rows in by_file.items():
        counts = Counter(r.verdict for r in rows)
        ts = ET.SubElement(
            root,
            "testsuite",
            name=name,
            tests=str(len(rows)),
            failures=str(counts[Verdict.FAIL]),
            errors=str(counts[Verdict.INCONCLUSIVE]),
            # a known defect is a <skipped> too: counting n/a alone made CI's totals disagree with the cases
            skipped=str(counts[Verdict.NOT_APPLICABLE] + counts[Verdict.KNOWN_DEFECT]),
        )
        for r in rows:
            tc = ET.SubElement(ts, "testcase", classname=name, name=r.case)
            detail = "\n".join(
                [r.reason, *(f"{label}: {x}" for label, x in failure_rules(r, requirements))]
                + ([f"expected: {r.expected}", f"actual:   {r.actual}"] if r.expected or r.actual else [])
                + ([f"trace:\n{r.trace}"] if r.trace else [])
            )
            if r.verdict is Verdict.FAIL:
                ET.SubElement(tc, "failure", message=r.reason[:200]).text = detail
            elif r.verdict is Verdict.INCONCLUSIVE:
                ET.SubElement(tc, "error", message=r.reason[:200]).text = detail
            elif r.verdict is Verdict.NOT_APPLICABLE:
                ET.SubElement(tc, "skipped", message=r.reason[:200])
            elif r.verdict is Verdict.KNOWN_DEFECT:
                ET.SubElement(tc, "skipped", type="known-defect", message=r.reason[:200])
            elif r.notes:
                ET.SubElement(tc, "system-out").text = "\n".join(r.notes)
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    # a peer's own words (a driver's library name, a program's output, a server's log) may hold bytes XML 1.0
    # forbids (NUL, ESC): ElementTree writes them as they are and CI's parser refuses the whole report
    return '<?xml version="1.0" encoding="utf-8"?>\n' + _NOT_XML.sub(_escaped, text) + "\n"


#: the characters XML 1.0 does not allow anywhere in a document (controls but tab and line ends, surrogates...)
_NOT_XML: Final[re.Pattern[str]] = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _escaped(match: re.Match[str]) -> str:
    """A character XML cannot hold, as the escape a trace would show (``\\x1b``, ``\\ufffe``)."""
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
