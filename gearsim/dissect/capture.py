"""Gearman conversations out of a capture file: the fast path (no scapy).

This module owns the flow table: which TCP connections are Gearman (one end
on a Gearman port), which end is the server, connection numbering, and the
ordered stream of ``Event`` values (messages, gaps, damage, opens and closes)
produced by reading the file once, front to back. File formats are
``pcapfile``'s, headers ``netparse``'s, TCP order ``reassembly``'s and Gearman
framing ``gearstream``'s; this module only wires them together.

Memory is bounded by the connections open at one time: a connection's state
is dropped as soon as both directions have finished (FIN or RST).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

from gearsim.dissect.gearstream import GearmanHalf, Item, Problem
from gearsim.dissect.netparse import ACK, FIN, RST, SYN, format_endpoint, parse_segment
from gearsim.dissect.pcapfile import CaptureError, Frame, read_frames
from gearsim.dissect.reassembly import Gap, HalfStream, Piece
from gearsim.protocol.packets import Message
from gearsim.protocol.trace import Direction

__all__ = ["DEFAULT_PORTS", "ConnInfo", "Connection", "Event", "EventKind", "read_capture", "read_events"]

#: the IANA port for Gearman
DEFAULT_PORTS: Final[tuple[int, ...]] = (4730,)


class EventKind:
    """The ``kind`` values of an Event."""

    MESSAGE = "message"
    OPEN = "open"
    CLOSE = "close"
    #: Problem kinds: gap, lost, skipped, error, truncated
    PROBLEMS = frozenset({"gap", "lost", "skipped", "error", "truncated"})


@dataclass(slots=True)
class Connection:
    """One Gearman TCP connection seen in the capture."""

    id: int
    client: str
    server: str
    first_ns: int
    #: True when the capture joined the connection after its SYN
    midstream: bool
    last_ns: int = 0
    halves: dict[str, tuple[HalfStream, GearmanHalf]] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)


class ConnInfo(NamedTuple):
    """Who a connection joins: the client (or worker) end, the server end, how it was seen."""

    client: str
    server: str
    #: True when the capture joined the connection after its SYN
    midstream: bool


class Event(NamedTuple):
    """One thing read from the capture, in capture order.

    ``direction`` is ``c>s`` (to the Gearman port: from a client or worker),
    ``s>c`` or empty for open and close. ``offset``/``end`` are stream byte
    offsets of that direction (``end`` only for problems). ``frame`` is the
    1-based frame number that completed the event.
    """

    time_ns: int
    frame: int
    conn: int
    direction: str
    kind: str
    offset: int
    end: int
    message: Message | None
    note: str
    #: set on ``open`` events only
    info: ConnInfo | None = None


_C2S: Final[str] = Direction.C2S.value
_S2C: Final[str] = Direction.S2C.value


class _Flows:
    """The flow table and the conversion of frames to events."""

    def __init__(self, ports: Iterable[int]) -> None:
        self.ports = frozenset(ports)
        self.open: dict[tuple[bytes, int, bytes, int], Connection] = {}
        self.connections: list[Connection] = []
        self.next_id = 1

    def frame(self, frame: Frame) -> list[Event]:
        seg = parse_segment(frame.linktype, frame.data)
        if seg is None:
            return []
        ports = self.ports
        if seg.dport in ports:
            key = (seg.src, seg.sport, seg.dst, seg.dport)
            direction = _C2S
        elif seg.sport in ports:
            key = (seg.dst, seg.dport, seg.src, seg.sport)
            direction = _S2C
        else:
            return []
        flags = seg.flags
        conn = self.open.get(key)
        out: list[Event] = []
        if conn is None or (flags & SYN and not flags & ACK and direction in conn.done):
            if not (flags & SYN or seg.payload):
                return []  # a stray ACK, FIN or RST of a connection already gone
            if conn is not None:
                out.extend(self._finish(conn, key, frame))
            conn = self._new(key, frame, midstream=not flags & SYN)
            info = ConnInfo(conn.client, conn.server, conn.midstream)
            note = f"{conn.client} > {conn.server}" + (" (joined mid-stream)" if conn.midstream else "")
            out.append(Event(frame.time_ns, frame.number, conn.id, "", EventKind.OPEN, 0, 0, None, note, info))
        conn.last_ns = frame.time_ns
        stream = conn.halves[direction][0]
        if flags & SYN:
            stream.syn(seg.seq)
        pieces = stream.segment(seg.seq, seg.payload, bool(flags & FIN)) if (seg.payload or flags & FIN) else []
        if flags & ACK:
            other = _S2C if direction == _C2S else _C2S
            back = conn.halves[other][0].ack(seg.ack)
            if back:
                out.extend(self._pieces(conn, other, back, frame))
        if pieces:
            out.extend(self._pieces(conn, direction, pieces, frame))
        if flags & RST:
            out.extend(self._finish(conn, key, frame))
        elif stream.fin is not None and stream.next >= stream.fin and not stream.pending:
            conn.done.add(direction)
            if len(conn.done) == 2:
                out.extend(self._finish(conn, key, frame))
        return out

    def _new(self, key: tuple[bytes, int, bytes, int], frame: Frame, midstream: bool) -> Connection:
        conn = Connection(
            id=self.next_id,
            client=format_endpoint(key[0], key[1]),
            server=format_endpoint(key[2], key[3]),
            first_ns=frame.time_ns,
            midstream=midstream,
        )
        self.next_id += 1
        for direction in (_C2S, _S2C):
            conn.halves[direction] = (HalfStream(), GearmanHalf(midstream=midstream))
        self.open[key] = conn
        self.connections.append(conn)
        return conn

    def _pieces(self, conn: Connection, direction: str, pieces: list[Piece], frame: Frame) -> list[Event]:
        gear = conn.halves[direction][1]
        items: list[Item] = []
        for piece in pieces:
            if isinstance(piece, Gap):
                items.extend(gear.gap(piece.start, piece.end))
            else:
                items.extend(gear.feed(piece[0], piece[1]))
        return self._events(conn, direction, items, frame)

    def _events(self, conn: Connection, direction: str, items: list[Item], frame: Frame) -> list[Event]:
        t, n, cid = frame.time_ns, frame.number, conn.id
        out: list[Event] = []
        for item in items:
            if isinstance(item, Problem):
                last = out[-1] if out else None
                if last is not None and last.kind == item.kind == "skipped" and last.end == item.start:
                    out[-1] = last._replace(end=item.end)  # one report for one run of skipped bytes
                    continue
                out.append(Event(t, n, cid, direction, item.kind, item.start, item.end, None, item.note))
            else:
                out.append(Event(t, n, cid, direction, EventKind.MESSAGE, item[0], item[0], item[1], ""))
        return out

    def _finish(self, conn: Connection, key: tuple[bytes, int, bytes, int], frame: Frame) -> list[Event]:
        out: list[Event] = []
        for direction in (_C2S, _S2C):
            stream, gear = conn.halves[direction]
            items: list[Item] = []
            for piece in stream.flush():
                if isinstance(piece, Gap):
                    items.extend(gear.gap(piece.start, piece.end))
                else:
                    items.extend(gear.feed(piece[0], piece[1]))
            items.extend(gear.eof())
            out.extend(self._events(conn, direction, items, frame))
        out.append(Event(frame.time_ns, frame.number, conn.id, "", EventKind.CLOSE, 0, 0, None, ""))
        if self.open.get(key) is conn:
            del self.open[key]
        conn.halves.clear()
        return out

    def finish_all(self, last: Frame) -> list[Event]:
        out: list[Event] = []
        for key, conn in sorted(self.open.items(), key=lambda kv: (kv[1].last_ns, kv[1].id)):
            out.extend(self._finish(conn, key, last._replace(time_ns=conn.last_ns)))
        return out


def read_events(frames: Iterable[Frame], ports: Iterable[int] = DEFAULT_PORTS) -> Iterator[Event]:
    """Events of every Gearman connection in ``frames``, in capture order.

    Connections still open when the frames end are closed at their last
    packet's time, after the events of the whole capture.
    """
    flows = _Flows(ports)
    last: Frame | None = None
    try:
        for frame in frames:
            last = frame
            events = flows.frame(frame)
            if events:
                yield from events
    except CaptureError:
        # a damaged file: report what was read, then the error
        if last is not None:
            yield from flows.finish_all(last)
        raise
    if last is not None:
        yield from flows.finish_all(last)


def read_capture(path: str | Path, ports: Iterable[int] = DEFAULT_PORTS) -> Iterator[Event]:
    """Events of every Gearman connection in the capture file at ``path``.

    Raises:
        CaptureError: the file is not a capture, or is corrupt or truncated (after
            the events read up to that point have been yielded).
        OSError: the file cannot be read.
    """
    yield from read_events(read_frames(path), ports)
