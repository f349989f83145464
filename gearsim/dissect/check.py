"""Judge a capture's servers against the reference model, as concurrency: some order must explain each reply.

This module owns ``gearsim check``'s logic at the edge: the capture's events
become one observed history per server (``gearsim.dissect.observe``), and
``gearsim.lincheck`` decides whether some order in which the server could
have acted on its connections' requests (each connection in its own order,
each reply after its request) makes the reference model under the profile
send exactly what the server sent. Handles are mapped, never compared as
literals. Each difference no order explains breaks the rule that governs it,
once; what depends on history the capture did not see is ``unknown``, what a
TCP gap hides ``inconclusive``, and a partition whose search ran out of
budget ``undecided``.

Every server packet is also checked on its own with
``gearsim.protocol.validate``. Admin text replies (fd numbers, hash order)
are compared for information only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gearsim.dissect.capture import read_capture
from gearsim.dissect.events import Event, EventKind
from gearsim.dissect.observe import histories_and_replies
from gearsim.lincheck.verdict import BROKEN, DEFAULT_BUDGET, UNDECIDED, judge, state_budget
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.packets import Message, Packet, Role
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import Direction
from gearsim.protocol.validate import check

__all__ = ["BATCH", "ConnReport", "Finding", "check_capture", "check_events", "in_batches", "render_check"]

_S2C = Direction.S2C.value
#: events each stage of a check (reading, judging peers, checking server packets, building histories) takes
#: in one go before the next stage takes them: stages that alternated event by event kept evicting each
#: other's working set from the CPU caches (about a fifth of reading, judging peers and building histories
#: on tools/bench/pcap.py's capture, at the same instruction count)
BATCH: Final[int] = 8192


def in_batches(events: Iterable[Event], size: int = BATCH) -> Iterator[list[Event]]:
    """``events`` in capture order, as lists of ``size`` (the last may be shorter, never empty)."""
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule a server reply breaks (or may break: ``status`` unknown, inconclusive, undecided), and where."""

    requirement: str
    frame: int
    reason: str
    status: str = BROKEN


@dataclass(slots=True)
class ConnReport:
    """What one connection's server replies met and broke."""

    conn: int
    endpoints: str
    met: Counter[str] = field(default_factory=Counter)
    broken: list[Finding] = field(default_factory=list)
    #: findings the capture cannot settle (unknown, inconclusive, undecided)
    unsettled: list[Finding] = field(default_factory=list)
    #: differences that are not failures (admin listings, consequences of a finding)
    notes: list[str] = field(default_factory=list)


def check_events(
    events: Iterable[Event], profile: str = DEFAULT_PROFILE, budget: int = DEFAULT_BUDGET
) -> list[ConnReport]:
    """Judge every server in ``events``; one report per connection.

    ``budget``: the states each partition's search may explore before its
    divergences are reported ``undecided``.

    Raises:
        KeyError: ``profile`` is not a known profile (raised by the model).
    """
    reports: dict[int, ConnReport] = {}
    invalid: list[tuple[int, Packet, Finding]] = []

    def watched() -> Iterator[Event]:
        for batch in in_batches(events):
            for event in batch:
                kind = event.kind
                if kind == EventKind.OPEN:
                    reports[event.conn] = ConnReport(event.conn, event.note)
                elif kind == EventKind.MESSAGE:
                    message = event.message
                    if type(message) is Packet and event.direction == _S2C:
                        for violation in check(message, Role.SERVER):
                            why = f"{message.name}: {violation.reason}"
                            invalid.append((event.conn, message, Finding(violation.requirement, event.frame, why)))
                elif kind in EventKind.PROBLEMS:
                    report = reports.get(event.conn)
                    if report is not None:
                        where = f"[{event.offset}, {event.end}) in {event.direction}"
                        report.notes.append(f"frame {event.frame}: {kind} {where}")
            yield from batch

    agreed: set[tuple[int, int, Message]] = set()
    undecided: set[tuple[int, int]] = set()
    for history, replies in histories_and_replies(watched()).values():
        verdict = judge(history, profile, budget=state_budget(budget), answered=replies)
        if invalid:  # only a packet breaking a rule on its own is looked up
            agreed |= verdict.agreed
        undecided |= verdict.undecided
        for conn, met in verdict.met.items():
            if conn in reports:
                reports[conn].met.update(met)
        for conn, notes in verdict.notes.items():
            if conn in reports:
                reports[conn].notes.extend(notes)
        for found in verdict.findings:
            report = reports.get(found.conn)
            if report is None:
                continue
            finding = Finding(found.requirement, found.frame, found.reason, found.status)
            if found.status == BROKEN:
                report.broken.append(finding)
            else:
                report.unsettled.append(
                    Finding(found.requirement, found.frame, f"{found.reason} [{found.part}]", found.status)
                )
    # (type, rule) -> a frame where the profile's model sent a packet of that type breaking that rule
    recorded: dict[tuple[int, str], int] = {}
    for conn, message, finding in invalid:
        if (conn, finding.frame, message) in agreed:
            recorded.setdefault((int(message.type), finding.requirement), finding.frame)
    for conn, message, finding in invalid:
        report = reports.get(conn)
        if report is None:
            continue
        if (conn, finding.frame, message) in agreed:
            # the profile's model sends the same bytes: a deviation the profile records, not a new defect
            report.notes.append(f"frame {finding.frame}: {finding.requirement}: {finding.reason} (as the profile does)")
            continue
        like = recorded.get((int(message.type), finding.requirement))
        if like is not None and (conn, finding.frame) in undecided:
            # the search that would say whether the model sends these bytes here ran out of budget, and the
            # model sends such a packet elsewhere in this capture: the recorded deviation, or a new defect
            why = f"{finding.reason} (the profile sends such a {message.name} at frame {like}; undecided here)"
            report.unsettled.append(Finding(finding.requirement, finding.frame, why, UNDECIDED))
        else:
            report.broken.append(finding)
    for report in reports.values():
        report.broken.sort(key=lambda f: f.frame)
    return [reports[k] for k in sorted(reports)]


def check_capture(path: str | Path, ports: Iterable[int], profile: str = DEFAULT_PROFILE) -> list[ConnReport]:
    """``check_events`` over a capture file.

    Raises:
        CaptureError: the capture is damaged (after the part before the damage was read).
        OSError: the file cannot be read.
        KeyError: unknown profile.
    """
    return check_events(read_capture(path, tuple(ports)), profile)


def render_check(reports: list[ConnReport], requirements: Mapping[str, Requirement] | None = None) -> str:
    """The text report: per connection, ids met (with counts), ids broken with the frame that broke each.

    Findings the capture cannot settle are listed with their status. With
    ``requirements`` it ends with the sentence of every rule broken.
    """
    lines: list[str] = []
    for r in reports:
        verdict = "BROKEN" if r.broken else "unsettled" if r.unsettled else "ok"
        lines.append(f"c{r.conn} {r.endpoints}: {verdict}")
        if r.met:
            lines.append("  met: " + ", ".join(f"{k} x{v}" for k, v in sorted(r.met.items())))
        for f in r.broken:
            lines.append(f"  broke {f.requirement} at frame {f.frame}: {f.reason}")
        for f in r.unsettled:
            lines.append(f"  {f.status} {f.requirement} at frame {f.frame}: {f.reason}")
        for note in r.notes:
            lines.append(f"  note: {note}")
    broken = sum(len(r.broken) for r in reports)
    if requirements and broken:
        lines.append("rules broken:")
        for rid in sorted({f.requirement for r in reports for f in r.broken}):
            rule = requirements.get(rid)
            lines.append(f"  {rid} ({rule.level}): {rule.text}" if rule else f"  {rid}: (not in the registry)")
    unsettled = Counter(f.status for r in reports for f in r.unsettled)
    tail = "".join(f", {n} {status}" for status, n in sorted(unsettled.items()))
    lines.append(f"{len(reports)} connections, {broken} broken requirements{tail}")
    return "\n".join(lines) + "\n"
