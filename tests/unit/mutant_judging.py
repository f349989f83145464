"""A bundled case played against the reference model, mutated or not, and judged at a level as ``gearsim run`` judges.

The common ground of the tests that hold a mutant (one rule broken,
gearsim.run.mutants) to the case written for its rule: test_named_rules_*.py
(the failing step names the mutant's rule) and test_should_at_must_*.py (a
SHOULD's mutant is no FAIL at ``--level must``). Each row of theirs is a
``Row``; ``judged`` plays it under the mutant's profile and applies
``at_level`` with the bundled registry, as the run's report does.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from gearsim import files as loading
from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.mutants.play import MutantFactory
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import CaseResult, Verdict, at_level
from gearsim.run.runner import run_case
from gearsim.vectors.parse import Case, VectorFile

#: gearsim run's default --level
DEFAULT_LEVEL = "may"
#: the model's verdicts that a mutant's FAIL differs from
NOT_FAILED = frozenset({Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT})


class Row(NamedTuple):
    """A mutant, a bundled case (``file::id``) and the rule the mutant breaks (empty: the mutant's own)."""

    mutant: str
    case: str
    rule: str = ""


def row_ids(rows: Iterable[Row]) -> list[str]:
    """pytest ids for ``rows``: mutant-caseid."""
    return [f"{r.mutant}-{r.case.split('::')[1]}" for r in rows]


@functools.cache
def requirements() -> Mapping[str, Requirement]:
    """The bundled requirement registry."""
    return dict(loading.load_requirements())


@functools.cache
def bundled_case(ref: str) -> tuple[VectorFile, Case]:
    """The bundled case ``file::id``.

    Raises:
        LookupError: the file holds no case of that id.
    """
    name, case_id = ref.split("::")
    (vf,) = loading.select([name]).files
    for case in vf.cases:
        if case.id == case_id:
            return vf, case
    raise LookupError(f"{name} has no case {case_id!r}")


def judged(m: Mutation | None, vf: VectorFile, case: Case, level: str, profile: str | None = None) -> CaseResult:
    """``case`` played against the model (broken by ``m``, if given) and judged at ``level``.

    Under ``profile``, else the mutant's (the spec profile without a mutant).
    """
    chosen = profile if profile is not None else (m.profile if m is not None else "spec")
    return at_level(run_case(vf, case, MutantFactory(m, chosen), chosen, level=level), level, requirements())


def judged_row(row: Row, mutated: bool, level: str) -> CaseResult:
    """The row's case under its mutant's profile: played against that mutant, or (``mutated`` false) the model."""
    m = mutation(row.mutant)
    vf, case = bundled_case(row.case)
    return judged(m if mutated else None, vf, case, level, m.profile)
