"""Judge a capture's server against the reference model, connection by connection.

This module owns ``gearsim check``'s logic: each server seen in the capture
gets a fresh reference model (``gearsim.model.Server`` under a profile); every
captured connection, byte and close is replayed into it at the captured time
(milliseconds since the first event); what the model says it would send is
compared, per connection and in order, with what the real server sent. The
model's handles are mapped to the captured ones as they first appear.

Each comparison meets or breaks the requirement that governs that reply
(JOB_CREATED: GM-SUBMIT-001, forwarded WORK_*: GM-WORK-003/004/005/008, ...);
every server packet is also checked with ``gearsim.protocol.validate``. Admin text
replies (fd numbers, hash order) are compared for information only.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gearsim.dissect.capture import Event, EventKind, read_capture
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.codec import encode_many
from gearsim.protocol.node import Close, Output, Send, ServerNode
from gearsim.protocol.packets import SPECS, AdminLine, Message, Packet, PacketType, Role
from gearsim.protocol.requirements import Requirement
from gearsim.protocol.trace import Direction, format_message
from gearsim.protocol.validate import check

__all__ = ["ConnReport", "Finding", "check_capture", "check_events", "render_check"]

T = PacketType
#: reply type -> the requirement a matching (or differing) reply meets (or breaks)
REPLY_RULES: Final[dict[int, str]] = {
    T.JOB_CREATED: "GM-SUBMIT-001",
    T.STATUS_RES: "GM-STATUS-001",
    T.STATUS_RES_UNIQUE: "GM-STATUS-009",
    T.ECHO_RES: "GM-ECHO-001",
    T.OPTION_RES: "GM-OPTION-001",
    T.ERROR: "GM-ERROR-003",
    T.NO_JOB: "GM-WORKER-007",
    T.JOB_ASSIGN: "GM-WORKER-008",
    T.JOB_ASSIGN_UNIQ: "GM-WORKER-009",
    T.JOB_ASSIGN_ALL: "GM-WORKER-010",
    T.NOOP: "GM-SLEEP-002",
    T.WORK_STATUS: "GM-WORK-003",
    T.WORK_DATA: "GM-WORK-003",
    T.WORK_WARNING: "GM-WORK-003",
    T.WORK_COMPLETE: "GM-WORK-004",
    T.WORK_FAIL: "GM-WORK-005",
    T.WORK_EXCEPTION: "GM-WORK-008",
}
_ADMIN_RULE: Final[str] = "GM-ADMIN-004"
_C2S: Final[str] = Direction.C2S.value


@dataclass(frozen=True, slots=True)
class Finding:
    """A broken requirement: which, where (frame), and what differed."""

    requirement: str
    frame: int
    reason: str


@dataclass(slots=True)
class ConnReport:
    """What one connection's server replies met and broke."""

    conn: int
    endpoints: str
    met: Counter[str] = field(default_factory=Counter)
    broken: list[Finding] = field(default_factory=list)
    #: differences that are not failures (admin listings)
    notes: list[str] = field(default_factory=list)


class _Replay:
    """One model server fed with the capture's traffic for one real server."""

    def __init__(self, node: ServerNode) -> None:
        self.node = node
        self.expected: dict[int, deque[Message]] = {}
        self.handles: dict[bytes, bytes] = {}  # model handle -> captured handle
        self.closed: set[int] = set()

    def apply(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Send):
                self.expected.setdefault(out.conn, deque()).extend(out.messages)
            elif isinstance(out, Close):
                self.closed.add(out.conn)

    def advance(self, now: int) -> None:
        deadline = self.node.next_deadline()
        while deadline is not None and deadline <= now:
            self.apply(self.node.advance(deadline))
            following = self.node.next_deadline()
            if following is not None and following <= deadline:
                break  # a model that does not move its deadline on: stop rather than spin
            deadline = following


def _same(expected: Packet, actual: Packet, handles: dict[bytes, bytes]) -> bool:
    if int(expected.type) != int(actual.type) or expected.magic != actual.magic:
        return False
    if len(expected.args) != len(actual.args):
        return False
    spec = SPECS.get(int(expected.type))
    names = spec.args if spec is not None else ()
    for index, (want, got) in enumerate(zip(expected.args, actual.args, strict=True)):
        if index < len(names) and names[index] == "handle":
            mapped = handles.get(want)
            if mapped is None:
                handles[want] = got
                continue
            want = mapped
        if want != got:
            return False
    return True


def _to_model(message: Message, handles: dict[bytes, bytes]) -> Message:
    """A captured request with captured handles replaced by the model's."""
    if not isinstance(message, Packet) or not handles:
        return message
    spec = SPECS.get(int(message.type))
    if spec is None or "handle" not in spec.args:
        return message
    index = spec.args.index("handle")
    if index >= len(message.args):
        return message
    back = {captured: model for model, captured in handles.items()}
    handle = back.get(message.args[index])
    if handle is None:
        return message
    args = (*message.args[:index], handle, *message.args[index + 1 :])
    return message._replace(args=args)


def check_events(events: Iterable[Event], profile: str = DEFAULT_PROFILE) -> list[ConnReport]:
    """Replay the events into one model per server and compare; one report per connection.

    Raises:
        KeyError: ``profile`` is not a known profile (raised by the model).
    """
    from gearsim.model import Server, ServerOptions

    replays: dict[str, _Replay] = {}
    server_of: dict[int, _Replay] = {}
    reports: dict[int, ConnReport] = {}
    origin: int | None = None
    for event in events:
        if origin is None:
            origin = event.time_ns
        now = (event.time_ns - origin) // 1_000_000
        if event.kind == EventKind.OPEN and event.info is not None:
            replay = replays.get(event.info.server)
            if replay is None:
                replay = replays[event.info.server] = _Replay(Server(profile, ServerOptions()))
            server_of[event.conn] = replay
            reports[event.conn] = ConnReport(event.conn, event.note)
            replay.advance(now)
            replay.apply(replay.node.connect(event.conn, now, event.info.client.rsplit(":", 1)[0]))
            continue
        replay = server_of.get(event.conn)
        if replay is None:
            continue
        report = reports[event.conn]
        replay.advance(now)
        if event.kind == EventKind.CLOSE:
            _leftover(replay, event.conn, report, event.frame)
            replay.apply(replay.node.disconnect(event.conn, now))
        elif event.kind in EventKind.PROBLEMS:
            report.notes.append(f"frame {event.frame}: {event.kind} [{event.offset}, {event.end}) in {event.direction}")
        elif event.message is not None and event.direction == _C2S:
            message = _to_model(event.message, replay.handles)
            replay.apply(replay.node.receive(event.conn, encode_many([message]), now))
        elif event.message is not None:
            _compare(replay, event, event.message, report)
    return [reports[k] for k in sorted(reports)]


def _compare(replay: _Replay, event: Event, actual: Message, report: ConnReport) -> None:
    queue = replay.expected.get(event.conn)
    expected = queue.popleft() if queue else None
    if isinstance(actual, AdminLine):
        if expected != actual:
            shown = format_message(expected) if expected is not None else "nothing"
            report.notes.append(f"frame {event.frame}: admin {format_message(actual)}, model {shown}")
        else:
            report.met[_ADMIN_RULE] += 1
        return
    for violation in check(actual, Role.SERVER):
        report.broken.append(Finding(violation.requirement, event.frame, f"{actual.name}: {violation.reason}"))
    if isinstance(expected, Packet) and _same(expected, actual, replay.handles):
        report.met[REPLY_RULES.get(int(actual.type), "GM-FRAME-003")] += 1
        return
    rule = REPLY_RULES.get(int(expected.type) if isinstance(expected, Packet) else int(actual.type), "GM-FRAME-003")
    want = format_message(expected, "s>c") if expected is not None else "nothing"
    report.broken.append(Finding(rule, event.frame, f"sent {format_message(actual, 's>c')}; the model sends {want}"))


def _leftover(replay: _Replay, conn: int, report: ConnReport, frame: int) -> None:
    for missing in replay.expected.pop(conn, deque()):
        if isinstance(missing, AdminLine):
            report.notes.append(f"frame {frame}: the model also sends admin {format_message(missing)}")
            continue
        rule = REPLY_RULES.get(int(missing.type), "GM-FRAME-003")
        report.broken.append(
            Finding(rule, frame, f"never sent {format_message(missing, 's>c')}, which the model sends")
        )


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

    With ``requirements`` it ends with the sentence of every rule broken.
    """
    lines: list[str] = []
    for r in reports:
        verdict = "BROKEN" if r.broken else "ok"
        lines.append(f"c{r.conn} {r.endpoints}: {verdict}")
        if r.met:
            lines.append("  met: " + ", ".join(f"{k} x{v}" for k, v in sorted(r.met.items())))
        for f in r.broken:
            lines.append(f"  broke {f.requirement} at frame {f.frame}: {f.reason}")
        for note in r.notes:
            lines.append(f"  note: {note}")
    broken = sum(len(r.broken) for r in reports)
    if requirements and broken:
        lines.append("rules broken:")
        for rid in sorted({f.requirement for r in reports for f in r.broken}):
            rule = requirements.get(rid)
            lines.append(f"  {rid} ({rule.level}): {rule.text}" if rule else f"  {rid}: (not in the registry)")
    lines.append(f"{len(reports)} connections, {broken} broken requirements")
    return "\n".join(lines) + "\n"
