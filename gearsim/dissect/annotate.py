"""Protocol findings for each decoded message of a capture, stateless and stateful.

This module owns judging captured messages one at a time: the per-packet
rules of ``gearsim.protocol.validate`` (magic for the direction, type for the sender,
argument count, NUL in a non-final argument, field limits), applied with the
sender's role inferred from the packet type, plus the rules that need a
connection's history: no WORK_* for a handle after its terminal packet on the
same connection (GM-WORK-014 for a worker, GM-WORK-007 for what a listener
receives). Ids are those of spec/requirements.yaml.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from gearsim.dissect.events import Event, EventKind
from gearsim.protocol.packets import SPECS, TERMINAL_TYPES, WORK_TYPES, Packet, PacketType, Role
from gearsim.protocol.trace import Direction
from gearsim.protocol.validate import Violation, check

__all__ = ["LIFECYCLE_RULES", "Annotator", "annotate"]

_WORK: Final[frozenset[int]] = frozenset(WORK_TYPES)
_TERMINAL: Final[frozenset[int]] = frozenset(TERMINAL_TYPES)
#: direction -> the rule a WORK_* after the handle's terminal packet breaks
LIFECYCLE_RULES: Final[dict[str, str]] = {
    Direction.C2S.value: "GM-WORK-014",  # a worker sends nothing for a job after its terminal packet
    Direction.S2C.value: "GM-WORK-007",  # a listener receives nothing for a job after its terminal packet
}
_STARTS: Final[frozenset[int]] = frozenset(
    {PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL, PacketType.JOB_CREATED}
)
_C2S: Final[str] = Direction.C2S.value


def _sender_role(packet: Packet, direction: str) -> Role:
    if direction != _C2S:
        return Role.SERVER
    spec = SPECS.get(int(packet.type))
    if spec is not None and Role.CLIENT not in spec.req and Role.WORKER in spec.req:
        return Role.WORKER
    return Role.CLIENT


class Annotator:
    """Findings for the messages of a capture, fed in capture order."""

    def __init__(self) -> None:
        # conn -> (direction, handle) -> the terminal packet type seen for it
        self._finished: dict[int, dict[tuple[str, bytes], int]] = {}

    def findings(self, event: Event) -> list[Violation]:
        """Every rule the message of ``event`` breaks (empty for other events)."""
        if event.kind == EventKind.CLOSE:
            self._finished.pop(event.conn, None)
            return []
        message = event.message
        if not isinstance(message, Packet):
            return []
        found = check(message, _sender_role(message, event.direction))
        number = int(message.type)
        if number in _WORK or number in _STARTS:
            found.extend(self._lifecycle(event, message, number))
        return found

    def _lifecycle(self, event: Event, packet: Packet, number: int) -> list[Violation]:
        if not packet.args:
            return []
        handle = packet.args[0]
        finished = self._finished.setdefault(event.conn, {})
        if number in _STARTS:
            # a (re)assignment or a new job with this handle: its history starts over
            for direction in (Direction.C2S.value, Direction.S2C.value):
                finished.pop((direction, handle), None)
            return []
        key = (event.direction, handle)
        before = finished.get(key)
        if before is not None:
            rule = LIFECYCLE_RULES[event.direction]
            name = PacketType(before).name
            return [Violation(rule, f"{packet.name} for handle {handle!r} after its terminal {name}", "handle")]
        if number in _TERMINAL:
            finished[key] = number
        return []


def annotate(events: Iterable[Event]) -> Iterator[tuple[Event, list[Violation]]]:
    """Each event with the findings about its message."""
    annotator = Annotator()
    for event in events:
        yield event, annotator.findings(event)
