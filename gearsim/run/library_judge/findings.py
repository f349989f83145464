"""What the judge of a client or worker under test works with and gives: findings, call records, the verdict.

PURE. This module owns ``Finding`` (one rule broken by an actor under test),
``CallRecord`` (a driver call as played), ``show`` (how a value appears in a
finding) and ``judged`` (the verdict, where a broken rule outranks the step
failures it causes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gearsim.protocol.trace import TraceRecord
from gearsim.run.result import CaseResult, StepFailed, Verdict, failed


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule broken by an actor under test: the rule id, why, and where in the records."""

    requirement: str
    reason: str
    actor: str
    seq: int

    def __str__(self) -> str:
        return f"{self.actor}: {self.reason} ({self.requirement})"


@dataclass(frozen=True)
class CallRecord:
    """A driver call as played: its resolved arguments, where it began in the records, and its reply.

    ``args`` are in judge terms: ``function``, ``unique``, ``handle`` as bytes
    (``unique`` None when the caller gave none), ``payload`` bytes,
    ``background`` bool, ``priority`` str, ``epoch`` int or None, ``behaviour``
    as (action, value) pairs. ``reply`` is ``decode_reply``'s values, None for
    an error reply or no reply.
    """

    actor: str
    op: str
    args: Mapping[str, Any]
    seq: int
    reply: Mapping[str, Any] | None = None
    #: the driver's capabilities (what it reports may be partial)
    capabilities: frozenset[str] = frozenset()


def show(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value) if len(value) <= 48 else f"{len(value)} bytes starting {value[:24]!r}"
    return repr(value)


def judged(
    base: CaseResult,
    findings: Sequence[Finding],
    failure: StepFailed | None,
    *,
    passed: Verdict,
    trace: str,
    records: tuple[TraceRecord, ...],
    notes: Sequence[str] = (),
) -> CaseResult:
    """The verdict on a client, program or library under test, from rule findings and the step failure (if any).

    A broken rule is the root cause whatever step failed after it: the result
    names the first finding, carries every broken rule's id as its ``rules``,
    and lists the step failure after the other findings. Without findings a
    step failure is an ordinary FAIL; without either, ``passed``.
    """
    if not findings:
        if failure is not None:
            return failed(base, failure, trace=trace, records=records, notes=notes)
        return replace(base, verdict=passed, notes=tuple(notes), records=records)
    rules = tuple(dict.fromkeys(f.requirement for f in findings))
    extra = [str(f) for f in findings[1:6]]
    if len(findings) > 6:
        extra.append(f"and {len(findings) - 6} more")
    step = failure.step if failure is not None else None
    if failure is not None:
        extra.append(f"then step {step.index if step is not None else '(end)'}: {failure.reason}")
    expected, actual = (failure.expected, failure.actual) if failure is not None else ("", "")
    received = failure.received if failure is not None else ()
    # the failure is about the first finding's actor (its reason names it), with the failed step's messages
    found = StepFailed(step, str(findings[0]), expected, actual, rules, received=received, actor=findings[0].actor)
    return failed(base, found, trace=trace, records=records, notes=[*extra, *notes])
