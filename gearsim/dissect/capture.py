"""Gearman conversations out of a capture file: the fast path (no scapy).

This module owns the flow table: which TCP connections are Gearman, which end
is the server, connection numbering, and the ordered stream of ``Event``
values (messages, gaps, damage, opens and closes; the values are
``gearsim.dissect.events``') produced by reading the file once, front to back.
File formats are ``pcapfile``'s, headers ``netparse``'s,
IP fragments ``ipfrag``'s, TCP order ``reassembly``'s and Gearman framing
``gearstream``'s; this module wires them together.

Which connections are Gearman: with ``ports`` given, exactly those whose one
end uses one of them (the user forces it). Without, port 4730 and every
server the stream itself proves to be Gearman: a connection whose first
bytes in one direction hold a binary header (``\\0REQ`` or ``\\0RES``, a
type from the table, a sane length; mid-stream, a header whose packet ends
where the data ends or another header starts) or, from the connecting side
at the start of the stream, an admin command word. Once one connection
proves an address and port to be a Gearman server, every connection to it
is read. ``CaptureStats`` says what was seen, so a caller can tell the user
that nothing was found, and where to look.

A message's ``time_ns`` and ``frame`` are those of the captured segment that
completed it: after reordering, bytes delivered when a hole filled keep the
time of the frame that carried them.

Each direction's end is a ``fin`` event (FIN reached in sequence order, or an
RST from that end), so readers can tell who closed first; after an RST the
connection stays open for one second of capture time, because segments sent
before the reset can be captured after it.

Memory is bounded by the connections open at one time: a connection's state
is dropped as soon as both directions have finished (FIN, or a second after
an RST).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gearsim.dissect.events import CaptureStats, ConnInfo, Event, EventKind
from gearsim.dissect.gearstream import GearmanHalf, Item, Problem
from gearsim.dissect.ipfrag import Defragmenter, Unassembled
from gearsim.dissect.netparse import (
    ACK,
    ETH_IPV4_TCP,
    FIN,
    LINKTYPE_ETHERNET,
    READABLE_LINKTYPES,
    RST,
    SYN,
    Fragment,
    Segment,
    format_endpoint,
    parse_segment,
    parse_tcp,
)
from gearsim.dissect.pcapfile import CaptureError, Frame, read_frames
from gearsim.dissect.reassembly import Chunk, Gap, HalfStream, Piece
from gearsim.protocol.codec import DEFAULT_MAX_BODY
from gearsim.protocol.packets import ADMIN_COMMANDS, SPECS
from gearsim.protocol.trace import Direction

__all__ = [
    "DEFAULT_PORTS",
    "CaptureStats",
    "ConnInfo",
    "Connection",
    "Event",
    "EventKind",
    "read_capture",
    "read_events",
]

#: the IANA port for Gearman, read without proof
DEFAULT_PORTS: Final[tuple[int, ...]] = (4730,)


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
    #: per direction: (start, end, time, frame) of recent chunks a held message began in
    spans: dict[str, list[tuple[int, int, int, int]]] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    #: capture time of an RST; segments still in flight are read for a moment after it
    reset_ns: int | None = None


_C2S: Final[str] = Direction.C2S.value
_S2C: Final[str] = Direction.S2C.value
_HEADER: Final = struct.Struct(">4sII")
_ON_WIRE: Final[frozenset[int]] = frozenset(n for n, s in SPECS.items() if s.on_wire)
_MESSAGE: Final[str] = EventKind.MESSAGE
_new: Final = tuple.__new__  # a message's Event built without NamedTuple's Python-level __new__
_ADMIN_WORDS: Final[frozenset[bytes]] = frozenset(a.name.split()[0].encode() for a in ADMIN_COMMANDS)
#: payload segments (or bytes) examined before a connection is judged not Gearman
_PROBE_SEGMENTS: Final[int] = 8
_PROBE_BYTES: Final[int] = 1 << 16
_MAX_SPANS: Final[int] = 64
#: capture time a reset connection stays open for segments captured after its RST
_RESET_LINGER_NS: Final[int] = 1_000_000_000

_Key = tuple[bytes, int, bytes, int]
#: TCP sequence numbers wrap at 2**32
_SEQ_MOD: Final[int] = 1 << 32


def _plausible_end(data: bytes, pos: int) -> int:
    """The end of the packet whose header is at ``pos`` (legal magic, known type, sane size), else -1."""
    if len(data) - pos < 12:
        return -1
    magic: bytes
    number: int
    size: int
    magic, number, size = _HEADER.unpack_from(data, pos)
    if magic not in (b"\0REQ", b"\0RES") or number not in _ON_WIRE or size > DEFAULT_MAX_BODY:
        return -1
    return pos + 12 + size


def sniff(payload: bytes, at_start: bool) -> bool | None:
    """Does ``payload`` prove Gearman? True: its sender is a client or worker; False: a server; None: no proof.

    ``at_start``: the payload is the first of its direction, from the side that
    opened the connection (only then does an admin word count).
    """
    limit = min(len(payload), 4096)
    pos = payload.find(b"\0RE", 0, limit)
    while pos >= 0:
        end = _plausible_end(payload, pos)
        if end > 0 and (pos == 0 or end == len(payload) or _plausible_end(payload, end) > 0):
            return payload[pos + 3] == 0x51  # "Q"
        pos = payload.find(b"\0RE", pos + 1, limit)
    if at_start and payload[:1] != b"\0":
        line = payload.split(b"\n", 1)
        if len(line) == 2 and len(line[0]) <= 512:
            words = line[0].rstrip(b"\r").split()
            if words and words[0].lower() in _ADMIN_WORDS:
                return True
    return None


@dataclass(slots=True)
class _Probe:
    """A TCP connection on no known Gearman port, held until its bytes prove it Gearman or not."""

    frames: list[tuple[Frame, Segment]] = field(default_factory=list)
    #: the endpoint (address, port) that sent a SYN without ACK, and its sequence number
    opener: tuple[bytes, int] | None = None
    isn: int = 0
    segments: int = 0
    size: int = 0


class _Flows:
    """The flow table and the conversion of frames to events."""

    def __init__(self, ports: Iterable[int] | None, stats: CaptureStats) -> None:
        self.forced = ports is not None
        self.ports = frozenset(DEFAULT_PORTS if ports is None else ports)
        self.stats = stats
        #: servers proven Gearman by their bytes: (address, port)
        self.servers: set[tuple[bytes, int]] = set()
        self.probes: dict[_Key, _Probe] = {}
        #: connections judged not Gearman, until they close
        self.rejected: set[_Key] = set()
        self.open: dict[_Key, Connection] = {}
        self.connections: list[Connection] = []
        self.next_id = 1
        self.defrag = Defragmenter()
        #: reset connections in RST order: (time, key, connection)
        self.resets: deque[tuple[int, _Key, Connection]] = deque()

    def frame(self, frame: Frame) -> list[Event]:
        data = frame.data
        seg: Segment | Fragment | None
        if frame.linktype == LINKTYPE_ETHERNET and len(data) >= 54:
            # the common frame (Ethernet, IPv4 with no options and not a fragment, TCP) read in one unpack,
            # as parse_segment reads it; a bare ACK of a known connection (half the frames of a capture)
            # is handled without making a Segment
            ethertype, vihl, total, frag, proto, src, dst, sport, dport, seq, ack, off, flags = (
                ETH_IPV4_TCP.unpack_from(data)
            )
            if ethertype == 0x0800 and vihl == 0x45 and proto == 6 and not frag & 0x3FFF:
                size = len(data)
                end = 14 + total if 20 <= total < size - 14 else size
                start = 34 + (off >> 4) * 4
                resets = self.resets  # _late_resets, inlined: asked of every frame
                late = bool(resets) and frame.time_ns - resets[0][0] >= _RESET_LINGER_NS
                if end <= start:
                    if flags & (ACK | SYN | FIN | RST) == ACK and not late:
                        done = self._bare_ack(src, sport, dst, dport, ack, frame)
                        if done is not None:
                            return done
                elif not flags & (SYN | FIN | RST) and not late:
                    done = self._in_order(src, sport, dst, dport, seq, data[start:end], frame)
                    if done is not None:
                        return done
                seg = _new(Segment, (src, sport, dst, dport, seq, ack, flags, data[start:end]))
            else:
                seg = parse_segment(frame.linktype, data)
        else:
            seg = parse_segment(frame.linktype, data)
        if seg is None:
            if frame.linktype not in READABLE_LINKTYPES:
                self.stats.unread_links[(frame.interface, frame.linktype)] += 1  # for the line that names it
            return []
        if self.resets and frame.time_ns - self.resets[0][0] >= _RESET_LINGER_NS:
            return [*self._close_resets(frame), *self.frame(frame)]
        if type(seg) is Fragment:
            return self._fragment(seg, frame)
        return self.segment(seg, frame)  # type: ignore[arg-type]

    def _bare_ack(self, src: bytes, sport: int, dst: bytes, dport: int, ack: int, frame: Frame) -> list[Event] | None:
        """A segment with ACK, no payload and no SYN, FIN or RST, as ``segment`` reads it; None: read it there.

        Only the peer's held-back bytes can move (an ACK past a hole); None for a
        connection on a port found by probing, or a half that has seen its FIN.
        """
        ports = self.ports
        if dport in ports:
            conn = self.open.get((src, sport, dst, dport))
            direction, other = _C2S, _S2C
        elif sport in ports:
            conn = self.open.get((dst, dport, src, sport))
            direction, other = _S2C, _C2S
        elif self.forced:
            return []
        else:
            return None
        if conn is None:
            return []  # a stray ACK of a connection already gone
        halves = conn.halves
        if halves[direction][0].fin is not None:
            return None
        conn.last_ns = frame.time_ns
        back_stream = halves[other][0]
        if back_stream.pending:
            back = back_stream.ack(ack, frame.time_ns)
            if back:
                return self._pieces(conn, other, back, frame)
        return []

    def _in_order(
        self, src: bytes, sport: int, dst: bytes, dport: int, seq: int, payload: bytes, frame: Frame
    ) -> list[Event] | None:
        """A data segment without SYN, FIN or RST, as ``segment`` reads it, when it is simply the next bytes.

        The other half of a capture's frames: a known connection on a Gearman
        port whose direction is in order (nothing held back either way, no FIN
        yet) and this segment starts exactly where it left off. Its bytes go
        straight to the Gearman framing, without a Segment and the reassembly
        call. None: read it in ``segment``.
        """
        ports = self.ports
        if dport in ports:
            conn = self.open.get((src, sport, dst, dport))
            direction, other = _C2S, _S2C
        elif sport in ports:
            conn = self.open.get((dst, dport, src, sport))
            direction, other = _S2C, _C2S
        else:
            return None
        if conn is None or conn.reset_ns is not None:
            return None
        halves = conn.halves
        stream = halves[direction][0]
        anchor = stream._anchor
        nxt = stream.next
        # HalfStream._offset(seq) == nxt exactly when seq is the sequence number of offset nxt
        if (
            anchor < 0
            or (seq - anchor - nxt) % _SEQ_MOD
            or stream.fin is not None
            or stream.pending
            or halves[other][0].pending
        ):
            return None
        time_ns = frame.time_ns
        conn.last_ns = time_ns
        stream.next = nxt + len(payload)
        out: list[Event] = []
        self._chunk(conn, direction, nxt, payload, time_ns, frame.number, out)
        return out

    def _fragment(self, frag: Fragment, frame: Frame) -> list[Event]:
        whole, proto, dropped = self.defrag.add(frag, frame.time_ns)
        out = [self._unassembled(u, frame) for u in dropped]
        if whole is not None:
            self.stats.datagrams_reassembled += 1
            seg = parse_tcp(frag.src, frag.dst, proto, whole)
            if seg is not None:
                out.extend(self.segment(seg, frame))
        return out

    def _unassembled(self, lost: Unassembled, frame: Frame) -> Event:
        self.stats.datagrams_unassembled += 1
        note = lost.describe()
        return Event(frame.time_ns, frame.number, 0, "", EventKind.UNASSEMBLED, 0, lost.received, None, note)

    def segment(self, seg: Segment, frame: Frame) -> list[Event]:
        src, sport, dst, dport, seq, ack, flags, payload = seg
        ports = self.ports
        if dport in ports:
            key = (src, sport, dst, dport)
            direction = _C2S
        elif sport in ports:
            key = (dst, dport, src, sport)
            direction = _S2C
        elif self.forced:
            return []
        elif (dst, dport) in self.servers:
            key = (src, sport, dst, dport)
            direction = _C2S
        elif (src, sport) in self.servers:
            key = (dst, dport, src, sport)
            direction = _S2C
        else:
            return self._probe(seg, frame)
        time_ns = frame.time_ns
        conn = self.open.get(key)
        out: list[Event] = []
        if conn is None or (flags & SYN and not flags & ACK and (direction in conn.done or conn.reset_ns is not None)):
            if not (flags & SYN or payload):
                return []  # a stray ACK, FIN or RST of a connection already gone
            if conn is not None:
                out.extend(self._finish(conn, key, frame))
            conn = self._new(key, frame, midstream=not flags & SYN)
            info = ConnInfo(conn.client, conn.server, conn.midstream)
            note = f"{conn.client} > {conn.server}" + (" (joined mid-stream)" if conn.midstream else "")
            out.append(Event(time_ns, frame.number, conn.id, "", EventKind.OPEN, 0, 0, None, note, info))
        conn.last_ns = time_ns
        halves = conn.halves
        stream = halves[direction][0]
        if flags & SYN:
            stream.syn(seq)
        pieces = (
            stream.segment(seq, payload, bool(flags & FIN), time_ns, frame.number) if (payload or flags & FIN) else None
        )
        if flags & ACK:
            other = _S2C if direction == _C2S else _C2S
            back_stream = halves[other][0]
            if back_stream.pending:  # only a hole the peer's ACK passes can change anything
                back = back_stream.ack(ack, time_ns)
                if back:
                    out.extend(self._pieces(conn, other, back, frame))
        if pieces:
            out.extend(self._pieces(conn, direction, pieces, frame))
        if flags & RST:
            if conn.reset_ns is None:
                conn.reset_ns = time_ns
                self.resets.append((time_ns, key, conn))
                if direction not in conn.done:
                    conn.done.add(direction)
                    out.append(Event(time_ns, frame.number, conn.id, direction, EventKind.FIN, 0, 0, None, "RST"))
        elif stream.fin is not None and stream.next >= stream.fin and not stream.pending and direction not in conn.done:
            conn.done.add(direction)
            out.append(Event(time_ns, frame.number, conn.id, direction, EventKind.FIN, 0, 0, None, "FIN"))
            if len(conn.done) == 2 and conn.reset_ns is None:
                out.extend(self._finish(conn, key, frame))
        return out

    def _close_resets(self, frame: Frame) -> list[Event]:
        """Finish the reset connections whose linger time has passed."""
        out: list[Event] = []
        while self.resets and frame.time_ns - self.resets[0][0] >= _RESET_LINGER_NS:
            when, key, conn = self.resets.popleft()
            if self.open.get(key) is conn:
                out.extend(self._finish(conn, key, frame._replace(time_ns=max(when, conn.last_ns))))
        return out

    # --- finding Gearman on other ports -------------------------------------

    def _probe(self, seg: Segment, frame: Frame) -> list[Event]:
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        key = (*a, *b) if a <= b else (*b, *a)
        flags = seg.flags
        if key in self.rejected:
            if flags & (FIN | RST):
                self.rejected.discard(key)
            return []
        probe = self.probes.get(key)
        if probe is None:
            if not (flags & SYN or seg.payload):
                return []
            probe = self.probes[key] = _Probe()
        probe.frames.append((frame, seg))
        if flags & SYN and not flags & ACK:
            probe.opener, probe.isn = a, seg.seq
        verdict: bool | None = None
        if seg.payload:
            probe.segments += 1
            probe.size += len(seg.payload)
            at_start = probe.opener == a and seg.seq == (probe.isn + 1) % (1 << 32)
            verdict = sniff(seg.payload, at_start)
        if verdict is None:
            if (
                flags & (FIN | RST)
                or probe.segments >= _PROBE_SEGMENTS
                or probe.size >= _PROBE_BYTES
                or len(probe.frames) >= 8 * _PROBE_SEGMENTS
            ):
                del self.probes[key]
                if not flags & (FIN | RST):
                    self.rejected.add(key)
                self._not_gearman(probe, seg)
            return []
        del self.probes[key]
        server = b if verdict else a
        self.servers.add(server)
        self.stats.detected_servers.append(format_endpoint(*server))
        # the other connections to the server held so far are Gearman too: their held frames (a handshake
        # before any bytes, say) go with them, or a connection whose SYN was captured would open at its
        # first data as one joined mid-stream
        held = probe.frames
        for other in [k for k in self.probes if k[:2] == server or k[2:] == server]:
            held = held + self.probes.pop(other).frames
        if len(held) > len(probe.frames):
            held.sort(key=lambda h: h[0].number)
        out: list[Event] = []
        for frame_held, held_seg in held:
            out.extend(self.segment(held_seg, frame_held))
        return out

    def _not_gearman(self, probe: _Probe, seg: Segment) -> None:
        """Count a connection looked at and found not Gearman, by its server's port.

        The server is the end the opener's SYN went to, else the lower port.
        """
        a, b = (seg.src, seg.sport), (seg.dst, seg.dport)
        server = b if probe.opener == a or (probe.opener is None and seg.sport > seg.dport) else a
        self.stats.tcp_connections += 1
        self.stats.other_ports[server[1]] += 1

    # --- connections --------------------------------------------------------

    def _new(self, key: _Key, frame: Frame, midstream: bool) -> Connection:
        conn = Connection(
            id=self.next_id,
            client=format_endpoint(key[0], key[1]),
            server=format_endpoint(key[2], key[3]),
            first_ns=frame.time_ns,
            midstream=midstream,
        )
        self.next_id += 1
        self.stats.gearman_connections += 1
        self.stats.tcp_connections += 1
        for direction in (_C2S, _S2C):
            conn.halves[direction] = (HalfStream(), GearmanHalf(midstream=midstream))
            conn.spans[direction] = []
        self.open[key] = conn
        self.connections.append(conn)
        return conn

    def _pieces(self, conn: Connection, direction: str, pieces: list[Piece], frame: Frame) -> list[Event]:
        gear = conn.halves[direction][1]
        spans = conn.spans[direction]
        cid = conn.id
        out: list[Event] = []
        for piece in pieces:
            if type(piece) is Gap:
                items = gear.gap(piece.start, piece.end)
                spans.clear()
                self._events(out, cid, direction, items, frame.time_ns, frame.number, spans)
                continue
            assert type(piece) is Chunk
            offset, data, t, n = piece
            self._chunk(conn, direction, offset, data, t, n, out)
        return out

    def _chunk(
        self, conn: Connection, direction: str, offset: int, data: bytes, t: int, n: int, out: list[Event]
    ) -> None:
        """In-order bytes at ``offset`` of ``direction``, captured at ``t`` in frame ``n``: their events to ``out``."""
        gear = conn.halves[direction][1]
        spans = conn.spans[direction]
        self._events(out, conn.id, direction, gear.feed(offset, data), t, n, spans)
        if gear.holding:
            spans.append((offset, offset + len(data), t, n))
            if len(spans) > _MAX_SPANS:
                (s0, _e0, t0, n0), (_s1, e1, t1, n1) = spans[0], spans[1]
                spans[0:2] = [(s0, e1, t0, n0) if t0 >= t1 else (s0, e1, t1, n1)]
        elif spans:
            spans.clear()

    @staticmethod
    def _events(
        out: list[Event],
        cid: int,
        direction: str,
        items: list[Item],
        t: int,
        n: int,
        spans: list[tuple[int, int, int, int]],
    ) -> None:
        for item in items:
            if type(item) is Problem:
                last = out[-1] if out else None
                if last is not None and last.kind == item.kind == "skipped" and last.end == item.start:
                    out[-1] = last._replace(end=item.end)  # one report for one run of skipped bytes
                    continue
                out.append(Event(t, n, cid, direction, item.kind, item.start, item.end, None, item.note))
                continue
            offset, message = item  # type: ignore[misc]
            mt, mn = t, n
            if spans:
                # the message began in earlier chunks: it is complete when its latest-captured byte is
                for _start, end, st, sn in spans:
                    if end > offset and st > mt:
                        mt, mn = st, sn
                while spans and spans[0][1] <= offset:
                    del spans[0]
            out.append(_new(Event, (mt, mn, cid, direction, _MESSAGE, offset, offset, message, "", None)))

    def _finish(self, conn: Connection, key: _Key, frame: Frame) -> list[Event]:
        out: list[Event] = []
        for direction in (_C2S, _S2C):
            stream, gear = conn.halves[direction]
            out.extend(self._pieces(conn, direction, stream.flush(), frame))
            self._events(out, conn.id, direction, gear.eof(), frame.time_ns, frame.number, [])
        out.append(Event(frame.time_ns, frame.number, conn.id, "", EventKind.CLOSE, 0, 0, None, ""))
        if self.open.get(key) is conn:
            del self.open[key]
        conn.halves.clear()
        conn.spans.clear()
        return out

    def finish_all(self, last: Frame) -> list[Event]:
        out: list[Event] = []
        for key, conn in sorted(self.open.items(), key=lambda kv: (kv[1].last_ns, kv[1].id)):
            out.extend(self._finish(conn, key, last._replace(time_ns=conn.last_ns)))
        out.extend(self._unassembled(u, last) for u in self.defrag.finish())
        # connections the capture ended on before their bytes said what they were were looked at too
        for probe in self.probes.values():
            self._not_gearman(probe, probe.frames[0][1])
        self.probes.clear()
        return out


def read_events(
    frames: Iterable[Frame], ports: Iterable[int] | None = None, stats: CaptureStats | None = None
) -> Iterator[Event]:
    """Events of every Gearman connection in ``frames``, in capture order.

    ``ports``: read exactly the connections on these server ports; None finds
    Gearman on any port (4730, and servers proven by their bytes). ``stats``,
    when given, is filled in as the frames are read.

    Connections still open when the frames end are closed at their last
    packet's time, after the events of the whole capture.
    """
    stats = stats if stats is not None else CaptureStats()
    flows = _Flows(None if ports is None else tuple(ports), stats)
    last: Frame | None = None
    try:
        for frame in frames:
            last = frame
            stats.frames += 1
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


def read_capture(
    path: str | Path, ports: Iterable[int] | None = None, stats: CaptureStats | None = None
) -> Iterator[Event]:
    """Events of every Gearman connection in the capture file at ``path`` (see ``read_events``).

    Raises:
        CaptureError: the file is not a capture, or is corrupt or truncated (after
            the events read up to that point have been yielded).
        OSError: the file cannot be read.
    """
    # the reader itself, not a generator around it: each generator between reader and consumer is resumed
    # once per event (the file is still opened on first use: read_frames is a generator)
    return read_events(read_frames(path), ports, stats)
