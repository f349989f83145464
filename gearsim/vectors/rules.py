"""Which rules each expectation of a case checks, so that a failure names the rule broken at its step (PURE).

A vector cites requirement ids per case; a failure should name the rule the
implementation broke at the step that failed, and only then the case's other
citations. This module owns how an expect step gets its rule ids
(``Step.rules``), in this order (and ``cited_ids``, every id a case cites):

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

Of a step's rules, ``Step.server_rules`` keeps those a server breaks by not
meeting the expectation: MUST and SHOULD rules whose registry ``subject`` is
the server (or any receiver). A MAY rule only permits, a client's or worker's
rule binds the test's own side, and a sender rule binds bytes that the
validator judges on the packets the server sent; a step resting only on such
rules expects one behaviour among those the spec leaves open. A codec case's
server reaction gets the same from the case's citations (``Case.server_rules``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from gearsim.protocol.packets import SPECS, Packet, type_name
from gearsim.protocol.requirements import Requirement
from gearsim.vectors.cases import Case, PacketPattern, Step, VectorFile

__all__ = ["argument_rules", "cited_ids", "reaction_rules", "server_rules", "step_rules", "with_step_rules"]

_NAME: Final = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")
_SUBMISSION: Final = re.compile(r"\bsubmission", re.IGNORECASE)
_CLOSE: Final = re.compile(r"\bclos(e|es|ed|ing)\b", re.IGNORECASE)
_QUIET: Final = re.compile(
    r"no reply|without a reply|not answer|no answer|nothing|silen|ignor|sends no|does not send", re.IGNORECASE
)
#: what a sentence naming "submission" is about
_SUBMISSIONS: Final = "SUBMIT_*"


def cited_ids(case: Case) -> list[str]:
    """Every id a case cites (case, expected violations, steps), first mention first."""
    ids = list(case.requirements) + list(case.violations or ())
    for step in case.steps:
        ids.extend(step.requirements)
    return list(dict.fromkeys(ids))


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


#: (known, running) a status reply states, and the rules that say when it is due
_STATES: Final = {
    (b"0", b"0"): ("GM-STATUS-002", "GM-STATUS-005"),
    (b"1", b"0"): ("GM-STATUS-003",),
    (b"1", b"1"): ("GM-STATUS-004",),
}
#: unknown stated for a handle the server gave: that job existed, so it has ended (GM-STATUS-005) first
_ENDED: Final = ("GM-STATUS-005", "GM-STATUS-002")


def argument_rules(
    type_: str, index: int, expected: Sequence[bytes | None], got: bytes, *, issued: bool = False
) -> tuple[str, ...]:
    """The rules about argument ``index`` (0-based) of a status reply, when it is not the expected value.

    A STATUS_RES carries five values, each with a rule of its own: the handle
    (GM-STATUS-001), known and running (the rule of the state the expected
    pair states: unknown or ended, queued, held), numerator and denominator
    (GM-STATUS-006 and GM-STATUS-007; GM-STATUS-006 alone where none is due,
    the job having no WORK_STATUS; the SHOULD GM-FIELD-005 for an empty
    number where 0 is expected). STATUS_RES_UNIQUE the same after its unique
    (GM-STATUS-009), with the listener count (GM-STATUS-010, GM-STATUS-011
    when nothing is known). ``expected`` holds the written values (None where
    a capture or reference stands). Empty for any other type: the step's rules
    stand. ``issued``: the handle asked about is one the server gave (a
    reference to a captured handle), so a job that existed: expected unknown,
    it has ended, and GM-STATUS-005 is named before GM-STATUS-002. Never raises.
    """
    if type_ == "STATUS_RES_UNIQUE":
        if index == 0:
            return ("GM-STATUS-009",)
        unknown = all(v == b"0" for v in expected[1:])
        return ("GM-STATUS-011",) if unknown else ("GM-STATUS-010",)
    if type_ != "STATUS_RES" or not 0 <= index < len(expected):
        return ()
    if index == 0:
        return ("GM-STATUS-001",)
    if index in (1, 2):
        known, running = expected[1], expected[2] if len(expected) > 2 else None
        if known is None or running is None:
            return ()
        if issued and (known, running) == (b"0", b"0"):
            return _ENDED
        return _STATES.get((known, running), ())
    if got == b"" and expected[index] == b"0":
        return ("GM-FIELD-005",)
    if expected[index] == b"":
        return ("GM-STATUS-006",)  # no WORK_STATUS to report: GM-STATUS-007 (the numbers a worker sent) is not in play
    return ("GM-STATUS-006", "GM-STATUS-007")


def server_rules(rules: tuple[str, ...], registry: Mapping[str, Requirement]) -> tuple[str, ...]:
    """Those of ``rules`` a server's behaviour can break (Requirement.server_can_break). Never raises.

    An id the registry does not know is kept: a failure is never excused for lack of knowledge.
    """
    return tuple(rid for rid in rules if rid not in registry or registry[rid].server_can_break)


def reaction_rules(
    case: Case, registry: Mapping[str, Requirement], names: Mapping[str, frozenset[str]]
) -> tuple[str, ...]:
    """The rules a server breaks by not reacting to a codec case's bytes as its ``server`` says. Never raises.

    A codec case cites the rules of its bytes (often the sender's framing
    rules), rarely those of the reply: its server-breakable citations, then
    the registry's server-breakable rules naming a request the bytes hold and
    a packet the reply expects (for no reply: about closing, or about not
    answering), else those naming the request at all. Empty when the bytes
    hold no defined request: what a server does then rests on the case's
    citations only.
    """
    assert case.server is not None  # only codec cases with a server reaction
    cited = server_rules(case.requirements, registry)
    asked: set[str] = set()
    for message in case.messages:
        if isinstance(message, Packet) and int(message.type) in SPECS:
            asked |= _request_names(type_name(message.type))
    replies = frozenset(type_name(r.type) for r in case.server.replies if isinstance(r, PacketPattern))
    about = [rid for rid, r in registry.items() if r.status == "active" and r.server_can_break and names[rid] & asked]
    if replies:
        derived = [rid for rid in about if names[rid] & replies]
    elif case.server.replies:  # admin lines: the case's citations say it all
        derived = []
    else:
        words = _CLOSE if case.server.then == "close" else _QUIET
        derived = [rid for rid in about if words.search(registry[rid].text)] or about
    return cited + tuple(rid for rid in derived if rid not in cited)


def _case_with_rules(case: Case, registry: Mapping[str, Requirement], names: Mapping[str, frozenset[str]]) -> Case:
    if case.is_codec:
        if case.server is None:
            return case
        return replace(case, server_rules=reaction_rules(case, registry, names))
    last: dict[str, str] = {}
    steps: list[Step] = []
    for step in case.steps:
        if step.action == "send" and step.packet is not None:
            last[step.actor] = type_name(step.packet.type)
        rules = step_rules(case, step, registry, last.get(step.actor), names=names)
        breakable = server_rules(rules, registry) if step.action.startswith("expect") else None
        steps.append(replace(step, rules=rules, server_rules=breakable))
    return replace(case, steps=tuple(steps))


def with_step_rules(vf: VectorFile, registry: Mapping[str, Requirement]) -> VectorFile:
    """``vf`` with every expect step's ``rules`` filled in from ``registry``. Never raises."""
    names = {rid: _names(r.text) for rid, r in registry.items()}
    return replace(vf, cases=tuple(_case_with_rules(c, registry, names) for c in vf.cases))
