"""Requirement coverage: which vector cases check each rule, and how each profile fares.

PURE: parsed vector files, the requirement registry and (optionally) runner
results in; rows out. ``gearsim spec coverage`` prints them and
tools/build_spec.py puts them beside each rule of the rendered spec.

A case covers an id when it cites it: in its ``requirements``, in a codec
case's expected ``violations``, or in a step's ``requirements``. A retired id
never needs coverage (and lint refuses vectors that cite it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from gearsim.protocol.requirements import Requirement
from gearsim.run.runner import CaseResult, Verdict
from gearsim.vectors.parse import Case, VectorFile

__all__ = [
    "CoverageRow",
    "ProfileVerdict",
    "case_ref",
    "cited_ids",
    "compute_coverage",
    "coverage_from_json",
    "coverage_to_json",
    "format_coverage",
    "uncovered_musts",
]

#: the worst verdict wins when one id has several cases
_SEVERITY: Final[tuple[str, ...]] = (
    Verdict.FAIL.value,
    Verdict.INCONCLUSIVE.value,
    Verdict.KNOWN_DEFECT.value,
    Verdict.ACCEPTABLE.value,
    Verdict.PASS.value,
    Verdict.NOT_APPLICABLE.value,
)


def case_ref(vf_name: str, case_id: str) -> str:
    """How a case is named in coverage rows: ``FILE::CASE``."""
    return f"{vf_name}::{case_id}"


def cited_ids(case: Case) -> list[str]:
    """Every id a case cites (case, expected violations, steps), first mention first."""
    ids = list(case.requirements) + list(case.violations or ())
    for step in case.steps:
        ids.extend(step.requirements)
    return list(dict.fromkeys(ids))


@dataclass(frozen=True, slots=True)
class ProfileVerdict:
    """What the cases citing one id did under one profile."""

    #: case ref -> verdict value ("pass", "fail", ...)
    cases: Mapping[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> Mapping[str, int]:
        return dict(Counter(self.cases.values()))

    @property
    def summary(self) -> str:
        """The worst verdict among the cases, or "" when none ran."""
        present = set(self.cases.values())
        return next((v for v in _SEVERITY if v in present), "")


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One requirement with the cases citing it and, per profile, their verdicts."""

    id: str
    level: str
    area: str
    text: str
    status: str
    cases: tuple[str, ...]
    verdicts: Mapping[str, ProfileVerdict] = field(default_factory=dict)

    @property
    def covered(self) -> bool:
        return bool(self.cases)

    @property
    def needs_vector(self) -> bool:
        """An active MUST that no case cites: CI fails on these."""
        return self.level == "MUST" and self.status == "active" and not self.cases


def _attributed(result: CaseResult, rid: str) -> bool:
    """Does this result speak for ``rid``?

    A failure whose failing step checks ids speaks only for those ids: the case
    stopped there, so its other ids were neither confirmed nor refuted.
    """
    if result.verdict is not Verdict.FAIL:
        return True
    return not result.rules or rid in result.rules


def compute_coverage(
    files: Iterable[VectorFile],
    requirements: Mapping[str, Requirement],
    results: Mapping[str, Sequence[CaseResult]] | None = None,
) -> list[CoverageRow]:
    """One row per registry id, in registry order.

    ``results`` maps a profile name to the runner's results for it; ids cited
    by vectors but missing from the registry are ignored here (lint reports them).
    """
    cases_of: dict[str, list[str]] = {rid: [] for rid in requirements}
    for vf in files:
        for case in vf.cases:
            ref = case_ref(vf.name, case.id)
            for rid in cited_ids(case):
                if rid in cases_of:
                    cases_of[rid].append(ref)
    by_case: dict[str, dict[str, CaseResult]] = {}
    for profile, rows in (results or {}).items():
        by_case[profile] = {case_ref(r.file, r.case): r for r in rows}
    out: list[CoverageRow] = []
    for rid, req in requirements.items():
        refs = tuple(cases_of[rid])
        verdicts: dict[str, ProfileVerdict] = {}
        for profile, found in by_case.items():
            seen = {ref: found[ref] for ref in refs if ref in found}
            verdicts[profile] = ProfileVerdict({ref: r.verdict.value for ref, r in seen.items() if _attributed(r, rid)})
        out.append(CoverageRow(rid, req.level, req.area, req.text, req.status, refs, verdicts))
    return out


def uncovered_musts(rows: Iterable[CoverageRow]) -> list[CoverageRow]:
    """The active MUST rows that no case cites."""
    return [r for r in rows if r.needs_vector]


def coverage_to_json(rows: Sequence[CoverageRow], profiles: Sequence[str]) -> dict[str, Any]:
    """A JSON-ready document: profiles, one object per id, and the uncovered MUST ids."""
    return {
        "schema": "gearsim-coverage/1",
        "profiles": list(profiles),
        "requirements": [
            {
                "id": r.id,
                "level": r.level,
                "area": r.area,
                "status": r.status,
                "text": r.text,
                "cases": list(r.cases),
                "verdicts": {
                    p: {"summary": v.summary, "counts": dict(v.counts), "cases": dict(v.cases)}
                    for p, v in r.verdicts.items()
                },
            }
            for r in rows
        ],
        "uncovered_musts": [r.id for r in uncovered_musts(rows)],
    }


def coverage_from_json(data: Mapping[str, Any]) -> tuple[list[str], list[CoverageRow]]:
    """Read back what ``coverage_to_json`` wrote: (profiles, rows).

    Raises:
        KeyError, TypeError: the document is not a gearsim coverage document.
    """
    rows = [
        CoverageRow(
            id=str(item["id"]),
            level=str(item["level"]),
            area=str(item["area"]),
            text=str(item["text"]),
            status=str(item["status"]),
            cases=tuple(str(c) for c in item["cases"]),
            verdicts={
                str(p): ProfileVerdict({str(k): str(v) for k, v in body["cases"].items()})
                for p, body in item["verdicts"].items()
            },
        )
        for item in data["requirements"]
    ]
    return [str(p) for p in data["profiles"]], rows


def format_coverage(rows: Sequence[CoverageRow], profiles: Sequence[str], *, show_cases: bool = True) -> str:
    """A text table: id, level, status, case count, one verdict column per profile, then the cases."""
    width = max((len(p) for p in profiles), default=0)
    width = max(width, len("inconclusive"))
    head = f"{'id':<14} {'level':<6} {'status':<7} {'cases':>5}"
    head += "".join(f"  {p:<{width}}" for p in profiles)
    lines = [head]
    for r in rows:
        line = f"{r.id:<14} {r.level:<6} {r.status:<7} {len(r.cases):>5}"
        for p in profiles:
            verdict = r.verdicts.get(p)
            word = verdict.summary if verdict is not None and verdict.summary else "-"
            line += f"  {word:<{width}}"
        lines.append(line.rstrip())
        if show_cases and r.cases:
            for ref in r.cases:
                marks = []
                for p in profiles:
                    verdict = r.verdicts.get(p)
                    if verdict is not None and ref in verdict.cases:
                        marks.append(f"{p}={verdict.cases[ref]}")
                lines.append(f"    {ref}" + (f"  ({', '.join(marks)})" if marks else ""))
    missing = uncovered_musts(rows)
    active = [r for r in rows if r.status == "active"]
    musts = [r for r in active if r.level == "MUST"]
    lines.append("")
    lines.append(
        f"{len(active)} active ids ({len(rows) - len(active)} retired); "
        f"{sum(1 for r in active if r.covered)} cited by a vector; "
        f"{len(musts) - len(missing)}/{len(musts)} MUSTs covered"
    )
    if missing:
        lines.append("MUST ids without a vector: " + ", ".join(r.id for r in missing))
    return "\n".join(lines) + "\n"
