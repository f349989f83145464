"""Requirement coverage: which vector cases check each rule, how each profile fares, and which mutants die.

PURE: parsed vector files, the requirement registry and (optionally) runner
results and mutation outcomes in; rows out. ``gearsim spec coverage`` prints
them and tools/build_spec.py puts them beside each rule of the rendered spec.

Citation alone proves little: a case may cite a rule it cannot fail on. The
mutation rows say, per rule, whether some vector fails when the reference
model breaks that rule (gearsim.run.mutants): *killed*, *surviving* (with the
reason; a MUST's mutant that only the default level kills survives, since a
server with that defect passes ``--level must``), a *client* rule (it binds
clients, workers or readers, which library and program cases judge; no server
mutant can break it), *untestable* (with the reason), or *none* (no mutant:
MAY rules). Each mutant also says whether its kills name its rule at the
failing step (``naming``).

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
from gearsim.run.mutants.play import MUST_LEVEL, MutationOutcome
from gearsim.run.mutants.registry import CLIENT_RULES, UNTESTABLE
from gearsim.run.runner import CaseResult, Verdict
from gearsim.vectors.parse import VectorFile
from gearsim.vectors.rules import cited_ids

__all__ = [
    "CoverageRow",
    "MutationRow",
    "ProfileVerdict",
    "case_ref",
    "cited_ids",
    "compute_coverage",
    "coverage_from_json",
    "coverage_to_json",
    "format_coverage",
    "format_mutation",
    "mutation_rows",
    "mutation_summary",
    "mutation_to_json",
    "naming",
    "surviving_musts",
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


# --------------------------------------------------------------------------- mutation


#: a rule's standing against the mutants, worst first
MUTATION_STATES: Final[tuple[str, ...]] = ("error", "surviving", "killed", "client", "untestable", "none")


@dataclass(frozen=True, slots=True)
class MutationRow:
    """One requirement against the mutants that break it."""

    id: str
    level: str
    #: one of MUTATION_STATES
    state: str
    #: the cases citing the rule
    cited: tuple[str, ...]
    #: mutation id -> the cases that killed it (empty: it survived)
    mutations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: mutation id -> ``naming`` of its outcome: whether the kills name the rule, or that it survives at --level must
    naming: Mapping[str, str] = field(default_factory=dict)
    #: why a rule is not killed: the surviving mutants, a client rule's or an untestable rule's reason
    reason: str = ""


def _client_reason(req: Requirement) -> str:
    if req.id in CLIENT_RULES:
        return CLIENT_RULES[req.id]
    if req.area == "library":
        return "binds client libraries (library cases judge it)"
    return ""


#: how many of the rules a mutant's kills name instead of its own ``naming`` lists (the JSON of spec mutate has all)
_NAMES_SHOWN: Final = 5


def naming(outcome: MutationOutcome) -> str:
    """What the kills of a mutant tell a maintainer, one phrase ("" when it was not killed or raised).

    "named by FILE::CASE": a killing FAIL names the mutant's rule at its
    failing step; "names GM-X instead": the kills send the reader to other
    rules; "SURVIVES at --level must": a MUST's mutant only the default level
    kills; "FAILS at --level must": a SHOULD's or MAY's mutant that a must-level
    run fails (played exhaustively only). The level the kills were judged at is
    said when it is "must".
    """
    if outcome.error or not outcome.killed:
        return ""
    if outcome.survives_at_must:
        return "SURVIVES at --level must"
    if outcome.failed_at_must:
        # a SHOULD's or MAY's mutant: a server breaking that rule alone is told it broke a MUST
        shown, more = outcome.failed_at_must[:_NAMES_SHOWN], len(outcome.failed_at_must) - _NAMES_SHOWN
        return f"FAILS at --level must (a false FAIL): {', '.join(shown)}{f' and {more} more' if more > 0 else ''}"
    where = f"at --level {outcome.level}: " if outcome.level == MUST_LEVEL else ""
    if outcome.named_by is not None:
        return f"{where}named by {outcome.named_by}"
    if outcome.names_instead:
        shown, more = outcome.names_instead[:_NAMES_SHOWN], len(outcome.names_instead) - _NAMES_SHOWN
        return f"{where}names {', '.join(shown)}{f' and {more} more' if more > 0 else ''} instead"
    return f"{where}names no rule"


def mutation_rows(
    files: Iterable[VectorFile], requirements: Mapping[str, Requirement], outcomes: Sequence[MutationOutcome]
) -> list[MutationRow]:
    """One row per active registry id, in registry order, from the outcomes of ``run_mutation``.

    A rule is killed when every mutant that breaks it was killed, surviving
    when one was not, or when a MUST's mutant was not killed at --level must
    (the reason names the survivors), and "error" when a mutant raised instead
    of being judged (a bug in the mutation).
    """
    cited: dict[str, list[str]] = {rid: [] for rid in requirements}
    for vf in files:
        for case in vf.cases:
            for rid in cited_ids(case):
                if rid in cited:
                    cited[rid].append(case_ref(vf.name, case.id))
    by_rule: dict[str, list[MutationOutcome]] = {}
    for outcome in outcomes:
        by_rule.setdefault(outcome.mutation.rule, []).append(outcome)
    rows: list[MutationRow] = []
    for rid, req in requirements.items():
        if req.status != "active":
            continue
        mine = by_rule.get(rid, [])
        mutations = {o.mutation.id: o.killed_by for o in mine}
        named = {o.mutation.id: naming(o) for o in mine}
        broken = [o for o in mine if o.error]
        survivors = [o for o in mine if (not o.killed or o.survives_at_must) and not o.error]
        client = _client_reason(req)
        if broken:
            state, reason = "error", "; ".join(f"{o.mutation.id}: {o.error}" for o in broken)
        elif survivors:
            state = "surviving"
            reason = "no case fails against " + "; ".join(
                f"{o.mutation.id} ({o.mutation.what})" + (" at --level must" if o.killed else "") for o in survivors
            )
        elif mine:
            state, reason = "killed", ""
        elif client:
            state, reason = "client", client
        elif rid in UNTESTABLE:
            state, reason = "untestable", UNTESTABLE[rid]
        else:
            state, reason = "none", ""
        rows.append(MutationRow(rid, req.level, state, tuple(cited[rid]), mutations, named, reason))
    return rows


def surviving_musts(rows: Iterable[MutationRow]) -> list[MutationRow]:
    """MUST rows a server mutant breaks without a vector noticing (or whose mutant raised)."""
    return [r for r in rows if r.level == "MUST" and r.state in ("surviving", "error")]


def mutation_summary(rows: Sequence[MutationRow]) -> dict[str, dict[str, int]]:
    """Per level: how many rules are in each state, and how many in all."""
    summary: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = summary.setdefault(r.level, {"rules": 0, **{s: 0 for s in MUTATION_STATES}})
        counts["rules"] += 1
        counts[r.state] += 1
    return summary


def mutation_to_json(rows: Sequence[MutationRow]) -> dict[str, Any]:
    """A JSON-ready document: the summary and one object per rule."""
    return {
        "schema": "gearsim-mutation/1",
        "summary": mutation_summary(rows),
        "rules": [
            {
                "id": r.id,
                "level": r.level,
                "state": r.state,
                "cited": len(r.cited),
                "mutations": {m: list(cases) for m, cases in r.mutations.items()},
                "naming": dict(r.naming),
                "reason": r.reason,
            }
            for r in rows
        ],
        "surviving_musts": [r.id for r in surviving_musts(rows)],
    }


def format_mutation(rows: Sequence[MutationRow], *, show_killed: bool = True) -> str:
    """A text table: id, level, cases citing it, state, then the mutants and what killed them or why not."""
    lines = [f"{'id':<14} {'level':<6} {'cited':>5}  state"]
    for r in rows:
        if not show_killed and r.state in ("killed", "none"):
            continue
        lines.append(f"{r.id:<14} {r.level:<6} {len(r.cited):>5}  {r.state}")
        for mutation_id, cases in r.mutations.items():
            named = r.naming.get(mutation_id, "")
            lines.append(
                f"    {mutation_id}: "
                + (f"killed by {cases[0]}" if cases else "survived")
                + (f"; {named}" if named else "")
            )
        if r.reason:
            lines.append(f"    {r.reason}")
    lines.append("")
    summary = mutation_summary(rows)
    for level in ("MUST", "SHOULD", "MAY"):
        counts = summary.get(level)
        if counts is None:
            continue
        tested = counts["rules"] - counts["client"] - counts["untestable"] - counts["none"]
        lines.append(
            f"{level}: {counts['killed']}/{tested} killed by mutation"
            f" ({counts['surviving']} surviving, {counts['error']} broken mutants);"
            f" {counts['client']} client rules, {counts['untestable']} untestable, {counts['none']} without a mutant"
        )
    missing = surviving_musts(rows)
    if missing:
        lines.append("MUST ids no vector kills: " + ", ".join(r.id for r in missing))
    return "\n".join(lines) + "\n"
