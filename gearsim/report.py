"""Readable text reports of runner verdicts (PURE: results in, text out)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from gearsim.requirements import Requirement
from gearsim.runner import CaseResult, Verdict

__all__ = ["exit_code", "text_report"]

_COLUMNS = (Verdict.PASS, Verdict.ACCEPTABLE, Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE)


def exit_code(results: Sequence[CaseResult]) -> int:
    """0 all pass or acceptable, 1 a failure, 2 inconclusive (and no failure)."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return 1
    if Verdict.INCONCLUSIVE in verdicts:
        return 2
    return 0


def _cited(result: CaseResult, requirements: Mapping[str, Requirement]) -> list[str]:
    ids = [n.removeprefix("cites ") for n in result.notes if n.startswith("cites ")] or list(result.requirements)
    return [str(requirements[i]) if i in requirements else i for i in ids]


def text_report(results: Sequence[CaseResult], requirements: Mapping[str, Requirement], title: str) -> str:
    """A per-area summary table, then every failure and inconclusive case in full."""
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
        for rule in _cited(r, requirements):
            lines.append(f"  rule: {rule}")
        if r.expected:
            lines.append(f"  expected: {r.expected}")
        if r.actual:
            lines.append(f"  actual:   {r.actual}")
        for note in r.notes:
            if not note.startswith("cites "):
                lines.append(f"  note: {note}")
        if r.trace:
            lines.append("  trace (last records):")
            lines += [f"    {t}" for t in r.trace.splitlines()]
    acceptable = [r for r in results if r.verdict is Verdict.ACCEPTABLE]
    if acceptable:
        lines += ["", "acceptable (allowed alternatives taken):"]
        lines += [f"  {r.id}: {'; '.join(r.notes)}" for r in acceptable]
    lines.append("")
    passed = total[Verdict.PASS] + total[Verdict.ACCEPTABLE]
    lines.append(f"{passed} passed, {total[Verdict.FAIL]} failed, {total[Verdict.INCONCLUSIVE]} inconclusive")
    return "\n".join(lines) + "\n"
