"""Captured conversations turned into vector files (``gearsim record``).

This module owns the mapping from capture events to the steps of a vector
case: each binary connection becomes an actor (worker if it sent a worker-only
packet, else client); what it sent becomes ``send`` steps and what the server
sent ``expect`` steps, in capture order; handles become captured values (the
first time the server shows one, ``{capture: H1}``; afterwards ``{ref: H1}``),
so the vector replays against servers that name jobs differently; a pause of
``PAUSE_MS`` or more between two steps becomes an ``advance`` step. Admin text
connections are left out (their listings hold fd numbers and orders that
differ between servers). The output is in canonical form, so it lints clean.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from gearsim.dissect.capture import read_capture
from gearsim.dissect.check import check_events
from gearsim.dissect.events import Event, EventKind
from gearsim.protocol.packets import SPECS, Magic, Packet, Role
from gearsim.protocol.trace import Direction
from gearsim.vectors.parse import dump_vector_file, format_bytes

__all__ = ["PAUSE_MS", "record_events", "record_vector", "slug"]

#: pauses at least this long (ms) become advance steps
PAUSE_MS: Final[int] = 50
_C2S: Final[str] = Direction.C2S.value


def _role(events: list[Event]) -> str:
    for e in events:
        if isinstance(e.message, Packet) and e.direction == _C2S:
            spec = SPECS.get(int(e.message.type))
            if spec is not None and Role.WORKER in spec.req and Role.CLIENT not in spec.req:
                return "worker"
    return "client"


class _Handles:
    """Captured handles -> capture names, in the order the server first showed them."""

    def __init__(self) -> None:
        self.names: dict[bytes, str] = {}

    def arg(self, value: bytes, learn: bool) -> Any:
        name = self.names.get(value)
        if name is not None:
            return {"ref": name}
        if learn:
            name = self.names[value] = f"H{len(self.names) + 1}"
            return {"capture": name}
        return format_bytes(value)


def _packet(packet: Packet, direction: str, handles: _Handles) -> dict[str, Any]:
    out: dict[str, Any] = {}
    usual = Magic.REQ if direction == _C2S else Magic.RES
    if packet.magic != usual:
        out["magic"] = packet.magic.name if isinstance(packet.magic, Magic) else {"hex": bytes(packet.magic).hex()}
    out["type"] = packet.name if int(packet.type) in SPECS else int(packet.type)
    spec = SPECS.get(int(packet.type))
    names = spec.args if spec is not None else ()
    args: list[Any] = []
    for index, value in enumerate(packet.args):
        if index < len(names) and names[index] == "handle" and value:
            args.append(handles.arg(value, learn=direction != _C2S))
        else:
            args.append(format_bytes(value))
    if args:
        out["args"] = args
    return out


def record_events(events: Iterable[Event], *, title: str, case_id: str, conns: list[int] | None = None) -> str:
    """The canonical text of a vector file with one case replaying ``events``.

    Raises:
        ValueError: nothing to record (no binary conversation in the events), or a ``conns`` id not in them.
    """
    all_events = list(events)
    by_conn: dict[int, list[Event]] = {}
    for e in all_events:
        by_conn.setdefault(e.conn, []).append(e)
    unknown = sorted(set(conns or ()) - set(by_conn))
    if unknown:  # a mistyped --conn was dropped in silence, or made it "no conversation": name it
        there = f"connections {min(by_conn)} to {max(by_conn)}" if by_conn else "no connection"
        raise ValueError(f"--conn {', '.join(map(str, unknown))}: not in the capture, which holds {there}")
    binary = {
        c for c, evs in by_conn.items() if any(isinstance(e.message, Packet) for e in evs) and (not conns or c in conns)
    }
    if not binary:
        raise ValueError("no binary Gearman conversation to record")
    actors = {f"c{c}": _role(by_conn[c]) for c in sorted(binary)}
    handles = _Handles()
    steps: list[dict[str, Any]] = []
    last_ms: int | None = None
    origin = all_events[0].time_ns
    for e in all_events:
        if e.conn not in binary:
            continue
        actor = f"c{e.conn}"
        now = (e.time_ns - origin) // 1_000_000
        step: dict[str, Any] | None = None
        if e.kind == EventKind.OPEN:
            step = {"connect": actor}
        elif e.kind == EventKind.CLOSE:
            step = {"disconnect": actor}
        elif isinstance(e.message, Packet):
            verb = "send" if e.direction == _C2S else "expect"
            step = {verb: actor, "packet": _packet(e.message, e.direction, handles)}
        if step is None:
            continue
        if last_ms is not None and now - last_ms >= PAUSE_MS:
            steps.append({"advance": now - last_ms})
        last_ms = now
        steps.append(step)
    met = sorted({rid for r in check_events(all_events) if r.conn in binary for rid in r.met})
    case = {
        "id": case_id,
        "comment": f"recorded by gearsim record: {len(binary)} connections, {len(steps)} steps",
        "requirements": met or ["GM-FRAME-001"],
        "result": "valid",
        "actors": actors,
        "steps": steps,
    }
    raw = {
        "schema": "gearsim-vectors/1",
        "area": "server",
        "title": title,
        "header": [
            "Recorded from a capture by gearsim record: the server's replies as captured become expectations;",
            "handles are captured values and pauses advance steps, so the case replays against other servers.",
        ],
        "notes": {},
        "source": {"author": "gearsim record", "checked": "replayed against the reference model when recorded"},
        "cases": [case],
    }
    return dump_vector_file(raw)


def slug(text: str) -> str:
    """A case id made of ``text``: lower case, every other character a dash."""
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return out or "capture"


def record_vector(
    path: str | Path, ports: Iterable[int] | None = None, *, name: str = "", conns: list[int] | None = None
) -> str:
    """The vector file text for a capture (see ``record_events``).

    Raises:
        CaptureError: the capture is damaged.
        OSError: the file cannot be read.
        ValueError: the capture holds no binary Gearman conversation.
    """
    stem = name or Path(path).stem
    events = read_capture(path, ports)
    return record_events(events, title=f"recorded from {Path(path).name}", case_id=slug(stem), conns=conns)
