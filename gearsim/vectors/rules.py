"""Which rules each expectation of a case checks, so that a failure names the rule broken at its step (PURE).

A vector cites requirement ids per case; a failure should name the rule the
implementation broke at the step that failed, and only then the case's other
citations. This module owns how an expect step gets its rule ids
(``Step.rules``), in this order:

1. the step's own ``requirements`` in the vector, when it gives them (the
   authority: a vector author pins a step's rule this way);
2. else the case's citations whose sentence is about what the step expects:
   a packet type the step (or an accepted alternative) expects, named
   verbatim; for admin text the case's admin rules; for an expected close
   its rules about closing; for an expected silence its rules about not
   answering;
3. else, for an expected packet, the registry's active rules whose sentence
   names both that packet type and the request the same actor sent last
   (verbatim, or as "submission" for any SUBMIT_* type): the rule of that
   exchange, such as GM-ECHO-001 for ECHO_REQ then ECHO_RES;
4. else none, and reports show the case's citations.

The registry's sentences name packet types verbatim (``JOB_CREATED``), which
is what makes 2 and 3 possible without a second table to keep in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from gearsim.protocol.packets import type_name
from gearsim.protocol.requirements import Requirement
from gearsim.vectors.cases import Case, PacketPattern, Step, VectorFile

__all__ = ["step_rules", "with_step_rules"]

_NAME: Final = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")
_SUBMISSION: Final = re.compile(r"\bsubmission", re.IGNORECASE)
_CLOSE: Final = re.compile(r"\bclos(e|es|ed|ing)\b", re.IGNORECASE)
_QUIET: Final = re.compile(
    r"no reply|without a reply|not answer|no answer|nothing|silen|ignor|sends no|does not send", re.IGNORECASE
)
#: what a sentence naming "submission" is about
_SUBMISSIONS: Final = "SUBMIT_*"


def _names(text: str) -> frozenset[str]:
    """The packet type names (and the submission family) a rule's sentence speaks of."""
    found = set(_NAME.findall(text))
    if _SUBMISSION.search(text):
        found.add(_SUBMISSIONS)
    return frozenset(found)


def _request_names(request: str) -> frozenset[str]:
    return frozenset({request, _SUBMISSIONS}) if request.startswith("SUBMIT_") else frozenset({request})


def _expected_types(step: Step) -> frozenset[str]:
    patterns: list[PacketPattern | None] = [step.packet, *step.packets]
    for alt in step.accept:
        patterns += [alt.packet, *alt.packets]
    return frozenset(type_name(p.type) for p in patterns if p is not None)


def step_rules(
    case: Case,
    step: Step,
    registry: Mapping[str, Requirement],
    last_request: str | None = None,
    *,
    names: Mapping[str, frozenset[str]] | None = None,
) -> tuple[str, ...]:
    """The rule ids ``step`` of ``case`` checks, by the order in the module docstring. Never raises.

    ``last_request`` is the packet type name the step's actor sent last (None
    if none); ``names`` caches each registry id's named packet types.
    """
    if step.requirements:
        return step.requirements
    if not step.action.startswith("expect"):
        return ()
    named = names if names is not None else {rid: _names(r.text) for rid, r in registry.items()}
    cited = [(rid, registry[rid]) for rid in case.requirements if rid in registry]
    expected = _expected_types(step)
    if expected:
        hits = tuple(rid for rid, _ in cited if named[rid] & expected)
        if hits or last_request is None:
            return hits
        asked = _request_names(last_request)
        return tuple(
            rid for rid, r in registry.items() if r.status == "active" and named[rid] & expected and named[rid] & asked
        )
    if step.admin is not None:
        return tuple(rid for rid, r in cited if r.area == "admin")
    if step.action == "expect_close":
        return tuple(rid for rid, r in cited if _CLOSE.search(r.text))
    if step.action == "expect_silence":
        return tuple(rid for rid, r in cited if _QUIET.search(r.text))
    return ()


def _case_with_rules(case: Case, registry: Mapping[str, Requirement], names: Mapping[str, frozenset[str]]) -> Case:
    if case.is_codec:
        return case
    last: dict[str, str] = {}
    steps: list[Step] = []
    for step in case.steps:
        if step.action == "send" and step.packet is not None:
            last[step.actor] = type_name(step.packet.type)
        rules = step_rules(case, step, registry, last.get(step.actor), names=names)
        steps.append(replace(step, rules=rules) if rules != step.rules else step)
    return replace(case, steps=tuple(steps))


def with_step_rules(vf: VectorFile, registry: Mapping[str, Requirement]) -> VectorFile:
    """``vf`` with every expect step's ``rules`` filled in from ``registry``. Never raises."""
    names = {rid: _names(r.text) for rid, r in registry.items()}
    return replace(vf, cases=tuple(_case_with_rules(c, registry, names) for c in vf.cases))
