"""Judging what a client or worker under test sent: each packet for its role, and the rules that span packets.

PURE. This module owns ``check_sent`` (every packet the actors under test
sent, checked by gearsim.protocol.validate for their role, and the rules that
span packets: a handle sent back as the server gave it (GM-FIELD-006), WORK_*
only for a held job and one terminal packet per job (GM-WORK-014), PRE_SLEEP
between NO_JOB and the next GRAB_* (GM-SLEEP-008)) and ``sent_violations``
(one packet's violations for a role).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from gearsim.protocol.packets import (
    ASSIGN_TYPES,
    GRAB_TYPES,
    SPECS,
    TERMINAL_TYPES,
    WORK_TYPES,
    Magic,
    Packet,
    PacketType,
    Role,
)
from gearsim.protocol.trace import Direction, Kind, TraceRecord
from gearsim.protocol.validate import Violation, check
from gearsim.run.library_judge.findings import Finding

#: the validator's rules for a packet the sender may not send at all (magic, type, direction)
_TYPE_RULES: Final[frozenset[str]] = frozenset({"GM-FRAME-002", "GM-FRAME-003"})


@dataclass
class _ConnState:
    held: set[bytes] = field(default_factory=set)
    ended: set[bytes] = field(default_factory=set)
    after_no_job: bool = False
    slept_flagged: bool = False


def check_sent(
    records: Sequence[TraceRecord],
    roles: Mapping[str, Role],
    given: Mapping[str, set[bytes]] | None = None,
) -> list[Finding]:
    """Every rule broken by what the actors in ``roles`` (record labels) sent, in record order.

    ``given`` adds, per actor, handles its caller handed it (a status call
    for a handle it never received is then no violation of GM-FIELD-006).
    """
    found: list[Finding] = []
    seen: dict[str, set[bytes]] = {actor: set(given.get(actor, ()) if given else ()) for actor in roles}
    conns: dict[int, _ConnState] = {}
    for r in records:
        role = roles.get(r.label)
        if role is None:
            continue
        state = conns.setdefault(r.conn, _ConnState())
        if r.direction == Direction.EVENT:
            if r.kind == Kind.DECODE_ERROR:
                rule = "GM-FRAME-002" if "magic" in r.note else "GM-FRAME-001"
                found.append(Finding(rule, f"sent bytes that do not frame: {r.note}", r.label, r.seq))
            continue
        if r.kind != Kind.SEND or not isinstance(r.message, Packet):
            continue
        packet = r.message
        if r.direction == Direction.S2C:
            _note_received(packet, state, seen[r.label])
            continue
        for v in sent_violations(packet, role):
            found.append(Finding(v.requirement, f"sent {_name(packet)}: {v.reason}", r.label, r.seq))
        found.extend(_stateful(packet, state, seen[r.label], r))
    return found


def sent_violations(packet: Packet, role: Role) -> list[Violation]:
    """The validator's findings on a packet ``role`` sent, but only the framing ones for a type it may not send.

    Shared by every judge of what clients and workers send (libraries,
    programs, captures), so one defect gets one rule everywhere.

    A packet of the wrong type (or direction) is one defect: its arguments,
    laid out for a type the sender should never have used, say nothing more.
    """
    found = check(packet, role)
    if not found:
        return found
    framing = [v for v in found if v.requirement in _TYPE_RULES]
    if framing:
        return framing
    return [_empty_last(packet, v) for v in found]


def _empty_last(packet: Packet, v: Violation) -> Violation:
    """One argument short where the last would be empty: the NUL before an empty last argument is missing."""
    spec = SPECS.get(int(packet.type))
    if v.requirement == "GM-FRAME-004" and spec is not None and len(packet.args) == len(spec.args) - 1:
        why = f"{spec.name} ends after its {spec.args[-2]}: an empty {spec.args[-1]} still needs the NUL before it"
        return Violation("GM-FRAME-006", why, spec.args[-1])
    return v


def _name(packet: Packet) -> str:
    magic = "" if bytes(packet.magic) == bytes(Magic.REQ) else f" framed {bytes(packet.magic)!r}"
    return packet.name + magic


def _note_received(packet: Packet, state: _ConnState, seen: set[bytes]) -> None:
    t = packet.type
    if t == PacketType.NO_JOB:
        state.after_no_job = True
    if not packet.args:
        return
    if t in ASSIGN_TYPES:
        state.held.add(packet.args[0])
        seen.add(packet.args[0])
    elif t in (PacketType.JOB_CREATED, PacketType.STATUS_RES) or t in WORK_TYPES:
        seen.add(packet.args[0])


def _stateful(packet: Packet, state: _ConnState, seen: set[bytes], r: TraceRecord) -> list[Finding]:
    t = packet.type
    out: list[Finding] = []
    if t == PacketType.GET_STATUS and packet.args and packet.args[0] not in seen:
        handle = packet.args[0]
        why = f"sent GET_STATUS for {handle!r}, a handle it never received"
        out.append(Finding("GM-FIELD-006", why, r.label, r.seq))
    elif t in WORK_TYPES and packet.args:
        handle = packet.args[0]
        if handle in state.ended:
            why = f"sent {packet.name} for {handle!r} after ending that job"
            out.append(Finding("GM-WORK-014", why, r.label, r.seq))
        elif handle not in state.held and handle not in seen:
            why = f"sent {packet.name} for {handle!r}, a handle the server never gave it"
            out.append(Finding("GM-FIELD-006", why, r.label, r.seq))
        elif t in TERMINAL_TYPES:
            state.held.discard(handle)
            state.ended.add(handle)
    elif t == PacketType.PRE_SLEEP:
        state.after_no_job = False
    elif t in GRAB_TYPES:
        if state.after_no_job and not state.slept_flagged:
            state.slept_flagged = True
            why = f"sent {packet.name} right after NO_JOB, without PRE_SLEEP"
            out.append(Finding("GM-SLEEP-008", why, r.label, r.seq))
        state.after_no_job = False
    return out
