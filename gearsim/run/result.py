"""Verdicts on cases, and the one way a failure, a harness error or a gearsim bug becomes one (PURE).

This module owns ``Verdict``, ``CaseResult`` and how a case that did not pass
is turned into a result. Every player of cases (the runner against a server
peer, ``gearsim.io.programs`` against client programs) raises
:class:`StepFailed` for an expectation not met and builds its result with
:func:`failed`, so every FAIL carries the same things: reason, failing step,
expected and actual, the trace around it, the whole conversation, the rule
ids the failing step checks as data (``CaseResult.rules``), never as text in
the notes, and the actor and messages the failure is about as data
(``CaseResult.actor``, ``CaseResult.received``), never read back from the
reason or ``actual``.

What is not a verdict: an exception gearsim did not expect (a ``KeyError``, a
``TypeError``) is a gearsim bug. :func:`bug` wraps it in
``gearsim.errors.GearsimBug`` naming the case and step, which the players
raise and the command line prints as a traceback with a request to report it.

It also owns ``--level``: :func:`at_level` keeps a failure only when it breaks
a rule of the chosen strength.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from gearsim.errors import GearsimBug
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import TraceRecord

if TYPE_CHECKING:  # only annotations: importing gearsim.vectors loads jsonschema, ~0.25 s every command paid
    from gearsim.protocol.packets import Message
    from gearsim.vectors.cases import Step

__all__ = ["LEVELS", "CaseResult", "StepFailed", "Verdict", "at_level", "bug", "failed", "inconclusive"]


class Verdict(enum.Enum):
    """PASS as written; ACCEPTABLE an alternative the profile allows; KNOWN_DEFECT a rule broken the way the
    profile records (expected of it, never acceptable); FAIL; INCONCLUSIVE the harness broke; n/a."""

    # declared in the order reports list them
    PASS = "pass"
    ACCEPTABLE = "acceptable"
    KNOWN_DEFECT = "known-defect"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The verdict on one case, with enough to understand a failure."""

    file: str
    case: str
    area: str
    verdict: Verdict
    #: the requirement ids the case cites
    requirements: tuple[str, ...]
    reason: str = ""
    step: int | None = None
    expected: str = ""
    actual: str = ""
    trace: str = ""
    #: free-text notes: alternatives taken, what programs did
    notes: tuple[str, ...] = ()
    #: sha256 of the vector file's canonical text, so a report names exactly what ran
    vector_sha256: str = ""
    #: the whole conversation, for reports that draw it (empty for codec-only checks)
    records: tuple[TraceRecord, ...] = field(default=(), repr=False, compare=False)
    #: on a FAIL, the rule ids the failing step checks (gearsim.vectors.rules); reports print these first
    rules: tuple[str, ...] = ()
    #: on a FAIL, the actor whose messages the failure is about (``StepFailed.actor``), "" when none; and the
    #: messages that actor received at the failing step (``StepFailed.received``). Data for reports that draw
    #: the conversation (the HTML chart marks those messages), so they never read ``reason`` and ``actual``
    #: back; not written by the text, JSON or JUnit reports, nor compared
    actor: str = field(default="", repr=False, compare=False)
    received: tuple[Message | bytes, ...] = field(default=(), repr=False, compare=False)
    #: the server died at a step in a way the case records for the profile (its ``crash`` outcome was met):
    #: whoever finds the server dead after the case knows it from this, not from the reason's words
    crash_met: bool = field(default=False, repr=False, compare=False)
    #: for a library case, the library its driver named in its hello (the driver's words, not gearsim's), ""
    #: when no driver said hello: what the client matrix and its baselines name the column's library by
    library: str = field(default="", repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.file}::{self.case}"

    @property
    def cited(self) -> tuple[str, ...]:
        """Every rule id this result speaks of: the failing step's first, then the case's others."""
        return self.rules + tuple(r for r in self.requirements if r not in self.rules)

    @property
    def also_cited(self) -> tuple[str, ...]:
        """The case's citations that are not the failing step's rules."""
        return tuple(r for r in self.requirements if r not in self.rules)


class StepFailed(Exception):
    """An expectation not met while a case was played: the data of a FAIL verdict.

    ``step`` is None for a finding after the last step (a stray message, a
    program's exit). ``rules`` defaults to the rules the step checks.
    ``declared``: the messages are an alternative the vector wrote out and
    ``rules`` the rules it declares that behaviour breaks, so the runner adds
    none of its own guesses at what a missing reply means.

    ``received``: the messages ``actual`` shows (bytes: what a player could
    not decode), as data. Whoever judges a failure further (was it an ERROR,
    with which code word; an ERR line) reads them, never ``actual``, which is
    display text: a code word cut past 40 bytes, or quoted with ``"`` because
    it holds a ``'``, reads back as something else. Whoever raises a failure
    with ``actual`` made from messages passes them here too, and whoever
    re-raises one with a new reason carries them over.

    ``actor``: the actor whose messages the failure is about, as data (the
    HTML chart draws the expected reply to its lane and marks ``received``
    there): by default the step's; given for a finding after the last step
    or about another actor; "" for a failure about no actor (a time limit).
    """

    def __init__(
        self,
        step: Step | None,
        reason: str,
        expected: str = "",
        actual: str = "",
        rules: Sequence[str] | None = None,
        *,
        declared: bool = False,
        received: Sequence[Message | bytes] = (),
        actor: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.expected = expected
        self.actual = actual
        self.rules = tuple(rules) if rules is not None else (step.rules if step is not None else ())
        self.declared = declared
        self.received = tuple(received)
        self.actor = actor if actor is not None else (step.actor if step is not None else "")

    @property
    def first(self) -> Message | bytes | None:
        """The first message received at the failing step, or None when nothing came."""
        return self.received[0] if self.received else None


def failed(
    base: CaseResult,
    failure: StepFailed,
    *,
    trace: str,
    records: tuple[TraceRecord, ...],
    notes: Sequence[str] = (),
    prefix: str = "",
) -> CaseResult:
    """``base`` as a FAIL for ``failure``; ``prefix`` goes before the reason (``"server reaction: "``)."""
    return replace(
        base,
        verdict=Verdict.FAIL,
        reason=prefix + failure.reason,
        step=failure.step.index if failure.step is not None else None,
        expected=failure.expected,
        actual=failure.actual,
        trace=trace,
        notes=tuple(notes),
        records=records,
        rules=failure.rules,
        actor=failure.actor,
        received=failure.received,
    )


def inconclusive(
    base: CaseResult,
    problem: object,
    *,
    trace: str = "",
    records: tuple[TraceRecord, ...] = (),
    notes: Sequence[str] = (),
) -> CaseResult:
    """``base`` as INCONCLUSIVE: the harness (not the implementation) could not go on."""
    return replace(
        base,
        verdict=Verdict.INCONCLUSIVE,
        reason=f"harness: {problem}",
        trace=trace,
        records=records,
        notes=tuple(notes),
    )


def bug(base: CaseResult, step: Step | None, exc: BaseException) -> GearsimBug:
    """The GearsimBug to raise for an unexpected ``exc`` while ``base``'s case was at ``step``."""
    where = base.id + (f" step {step.index}" if step is not None else "")
    error = GearsimBug(where, exc)
    error.__cause__ = exc
    return error


# --------------------------------------------------------------------------- --level

#: the values of ``--level``, strictest first: a run at a level is failed only by rules of that level or stricter
LEVELS: Final[tuple[str, ...]] = ("must", "should", "may")


def at_level(result: CaseResult, level: str, registry: Mapping[str, Requirement]) -> CaseResult:
    """``result`` judged at ``--level level``: a FAIL that breaks only weaker rules is n/a, saying so.

    The rules a failure breaks are its step's (``rules``), else the case's
    citations. A failure counts when any of them is at ``level`` or stricter,
    when one is not in the registry, or when it names none at all: a failure
    is never dropped for lack of knowledge. Other verdicts are unchanged.

    Raises:
        ValueError: ``level`` is not one of :data:`LEVELS`.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; levels: {', '.join(LEVELS)}")
    if result.verdict is not Verdict.FAIL:
        return result
    ids = result.rules or result.requirements
    allowed = {lv.upper() for lv in LEVELS[: LEVELS.index(level) + 1]}
    found = [registry.get(rid) for rid in ids]
    if not ids or any(req is None or req.level in allowed for req in found):
        return result
    broken = ", ".join(f"{req.level} {req.id}" for req in found if req is not None)
    reason = f"not judged at --level {level}: the failure breaks only {broken} ({result.reason})"
    return replace(result, verdict=Verdict.NOT_APPLICABLE, reason=reason)
