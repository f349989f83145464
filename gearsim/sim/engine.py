"""The simulator's engine: connections, deliveries, cuts, partitions, restarts and server timers.

PURE. Internal to ``gearsim.sim.simulator`` (import ``Simulator`` from there):
this module owns ``Engine``, which holds the simulator's ``random.Random``,
trace, servers and connections (the records of ``gearsim.sim.records``), and
the handlers that events run: transmitting a write through its link,
delivering pieces to a node or a client decoder, connects, closes and server
timers. A plain link's writes take the handlers of the
``gearsim.sim.plain.PlainPath`` it owns (``plain``). Time and the event queue
are the ``gearsim.sim.events.EventLoop`` it owns; cuts, partitions and
restarts are the ``gearsim.sim.faults.Faults`` it owns. The ``Simulator`` owns
one ``Engine`` and is its public face: it checks arguments, then calls the
methods here. The theory of operation is in ``gearsim.sim.simulator``'s
docstring.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from typing import Final

from gearsim.errors import DecodeError, HarnessError
from gearsim.protocol.codec import encode, encode_many
from gearsim.protocol.node import Close, ConnId, Output, Send, ServerNode
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.protocol.trace import Direction, Kind, Trace, TraceRecord
from gearsim.sim.events import KEYS, NORMAL, TIMER, URGENT, EventLoop
from gearsim.sim.faults import Faults
from gearsim.sim.links import LinkConfig, draw_delay, draws_loss, merges, split_write
from gearsim.sim.plain import PlainPath
from gearsim.sim.records import Connection, Delivery, Pipe, Received, ServerSide, ServerSlot

__all__ = ["Engine"]

# Plain strings on the hot path; they equal the Direction and Kind members.
_C2S: Final[str] = Direction.C2S.value
_S2C: Final[str] = Direction.S2C.value
_EVENT: Final[str] = Direction.EVENT.value
_SEND: Final[str] = Kind.SEND.value
_DELIVER: Final[str] = Kind.DELIVER.value
_DISCARD: Final[str] = Kind.DISCARD.value

_PENDING: Final = ServerSide.PENDING
_OPEN: Final = ServerSide.OPEN
_GONE: Final = ServerSide.GONE

_new = tuple.__new__  # builds NamedTuples without keyword handling (hot path)
_heappush = heapq.heappush


class Engine:
    """The simulator's servers, connections and the handlers events run (time is ``loop``'s).

    ``gearsim.sim.simulator.Simulator`` owns one and is its public face; it checks
    arguments and calls the public methods here, which assume them checked.
    """

    def __init__(self, rng: random.Random, default_link: LinkConfig, trace_deliveries: bool) -> None:
        self.trace = Trace()
        self.records = self.trace.raw
        self.rng = rng
        self.default_link = default_link
        self._trace_deliveries = trace_deliveries
        #: the clock and the event queue
        self.loop = EventLoop(self.trace.tail)
        # bound once: events are scheduled per write
        self.push = self.loop.push
        self.buckets = self.loop.buckets
        self.keys = self.loop.keys
        self.servers: dict[str, ServerSlot] = {}
        self.conns: dict[ConnId, Connection] = {}
        self._next_conn = 1
        # bound once: an attribute lookup per write instead of a new bound method
        self._deliver_cs_h: Callable[[Delivery], None] = self._deliver_cs
        self._deliver_sc_h: Callable[[Delivery], None] = self._deliver_sc
        #: the plain-link hot path (its handlers are bound once there)
        self.plain = plain = PlainPath(self, trace_deliveries)
        self._plain_cs_h = plain.cs_h
        self._plain_sc_h = plain.sc_h
        self._plain_cs_messages_h = plain.cs_messages_h
        self._plain_sc_send_h = plain.sc_send_h
        #: cuts, partitions and restarts
        self.faults = Faults(self)

    # ------------------------------------------------- what the API asks for

    def add_server(self, name: str, node: ServerNode) -> None:
        """Add a server slot and arm its node's timer."""
        srv = ServerSlot(name, node)
        self.servers[name] = srv
        self.arm(srv)

    def open(
        self,
        srv: ServerSlot,
        link: LinkConfig,
        peer: str,
        label: str,
        on_receive: Callable[[ConnId], None] | None,
        on_messages: Callable[[ConnId, Sequence[Message]], None] | None = None,
    ) -> ConnId:
        """A new client connection to ``srv`` (refused at once while it is partitioned)."""
        cid = self._next_conn
        self._next_conn += 1
        c = Connection(cid, srv, link, peer, label)
        c.watch = on_receive
        c.hand = on_messages
        self.conns[cid] = c
        srv.conns.append(c)
        self.event(c, Kind.CONNECT, f"to {srv.name} from {peer}")
        if self.faults.partitioned(srv):
            c.reason = "refused"
            c.cut = True
            c.s_state = _GONE
            self.event(c, Kind.REFUSED, "partition")
            return cid
        self.control(c, c.cs, self.accept)
        if link.cut_at is not None:
            self.push(max(link.cut_at, self.loop.now), URGENT, self.faults.cut_at, c)
        return cid

    def send(self, c: Connection, data: bytes) -> None:
        """Trace and transmit a client write on ``c``, which the client has not closed."""
        if c.reason is not None:
            self.record_bytes(c, _C2S, _DISCARD, data, f"connection closed ({c.reason})")
            return
        if not data:
            return
        tdec = c.tdec
        if tdec is not None:
            try:
                messages = tdec.feed(data)
            except DecodeError as exc:
                c.tdec = None
                c.tpartial = False
                self.record_bytes(c, _C2S, _SEND, data, f"undecodable: {exc}")
            else:
                c.tpartial = tdec.buffered > 0
                records = self.records
                now = self.loop.now
                conn = c.id
                for m in messages:
                    records.append((now, conn, c.label, _C2S, _SEND, m, b"", ""))
        else:
            self.record_bytes(c, _C2S, _SEND, data, "")
        self.transmit_cs(c, data)

    def send_messages(self, c: Connection, messages: tuple[Message, ...]) -> None:
        """``send`` of the encoded ``messages``, tracing them as given.

        Raises:
            ValueError: a message that cannot be encoded.
        """
        if c.reason is not None or c.tpartial:
            self.send(c, encode_many(list(messages)))  # the general path keeps the trace aligned
            return
        if c.plain and messages:
            for m in messages:  # encodable: legal magics and table types (encode_many cannot raise)
                if type(m) is Packet:
                    if type(m._magic) is not Magic or type(m._type) is not PacketType:  # Packet's own slots
                        break
                elif type(m) is not AdminLine:
                    break
            else:
                # a plain link hands the messages on as they are: the server end
                # takes them without their bytes when it can (see PlainPath._plain_cs_messages)
                records = self.records
                now = self.loop.now
                label = c.label
                conn = c.id
                for m in messages:
                    records.append((now, conn, label, _C2S, _SEND, m, b"", ""))
                tick = now + c.latency
                c.cs.last = tick
                self.push(tick, NORMAL, self._plain_cs_messages_h, (c, messages))
                return
        if len(messages) == 1 and type(messages[0]) is Packet:
            data = encode(messages[0])
        else:
            data = encode_many(list(messages))
            if not data:
                return
        records = self.records
        now = self.loop.now
        label = c.label
        conn = c.id
        for m in messages:
            records.append((now, conn, label, _C2S, _SEND, m, b"", ""))
        self.transmit_cs(c, data)

    def close(self, c: Connection) -> None:
        """The client closes ``c``; the node hears of it after every byte sent before."""
        if c.reason is not None:
            return
        c.reason = "client"
        if c.tpartial and c.tdec is not None:
            self.record_bytes(c, _C2S, _SEND, b"", f"{c.tdec.buffered} bytes of an incomplete message")
        self.event(c, Kind.CLOSE, "by client")
        if not c.cut:
            self.control(c, c.cs, self.eof_at_server)

    # ------------------------------------------------------------ internals

    def event(self, c: Connection, kind: str, note: str = "", data: bytes = b"") -> None:
        records = self.records
        records.append(_new(TraceRecord, (self.loop.now, len(records), c.id, c.label, _EVENT, kind, None, data, note)))

    def server_event(self, srv: ServerSlot, kind: str, note: str = "") -> None:
        records = self.records
        records.append(_new(TraceRecord, (self.loop.now, len(records), 0, srv.name, _EVENT, kind, None, b"", note)))

    def record_bytes(self, c: Connection, direction: str, kind: str, data: bytes, note: str) -> None:
        records = self.records
        now = self.loop.now
        records.append(_new(TraceRecord, (now, len(records), c.id, c.label, direction, kind, None, data, note)))

    def transmit_cs(self, c: Connection, data: bytes) -> None:
        """Schedule the delivery of one client write (``_transmit`` toward the server)."""
        if c.plain:
            # a plain link delivers each write whole after the latency: no draws, no
            # coalescing, and the tick never falls below the pipe's last one
            tick = self.loop.now + c.latency
            c.cs.last = tick
            self.push(tick, NORMAL, self._plain_cs_h, (c, data))
        else:
            self._transmit(c, c.cs, data, self._deliver_cs_h)

    def _transmit_sc(self, c: Connection, data: bytes) -> None:
        """Schedule the delivery of one server write (``_transmit`` toward the client)."""
        if c.plain:
            tick = self.loop.now + c.latency
            c.sc.last = tick
            self.push(tick, NORMAL, self._plain_sc_h, (c, data))
        else:
            self._transmit(c, c.sc, data, self._deliver_sc_h)

    def _transmit(self, c: Connection, pipe: Pipe, data: bytes, handler: Callable[[Delivery], None]) -> None:
        """Schedule the delivery of one write through a link that jitters, re-chunks or loses."""
        now = self.loop.now
        link = c.link
        rng = self.rng
        limit = link.max_chunk
        first = c.coalesce
        for piece in split_write(link, data, rng):
            tick = now + draw_delay(link, rng)
            if tick < pipe.last:
                tick = pipe.last
            pending = pipe.pending
            if (
                first
                and pending is not None
                and pending.tick == tick
                and (limit is None or pending.size + len(piece) <= limit)
                and merges(link, rng)
            ):
                pending.add(piece)
            else:
                d = Delivery(c, piece, tick)
                pipe.pending = d
                pipe.last = tick
                self.push(tick, NORMAL, handler, d)
            first = False

    def control(self, c: Connection, pipe: Pipe, handler: Callable[[Connection], None]) -> None:
        """Schedule a connect or close on a pipe, in order with its data."""
        tick = self.loop.now + (c.link.latency if c.plain else draw_delay(c.link, self.rng))
        if tick < pipe.last:
            tick = pipe.last
        pipe.last = tick
        pipe.pending = None
        self.push(tick, NORMAL, handler, c)

    def accept(self, c: Connection) -> None:
        if c.cut:
            return
        srv = c.server
        c.s_state = _OPEN
        self.event(c, Kind.ACCEPT, srv.name)
        outputs = srv.node.connect(c.id, self.loop.now, c.peer)
        if outputs:
            self.apply(srv, outputs)
        self.arm(srv)

    def _deliver_cs(self, d: Delivery) -> None:
        c = d.conn
        if c.cs.pending is d:
            c.cs.pending = None
        if c.cut:
            return
        self._receive_at_server(c, d.payload())

    def _receive_at_server(self, c: Connection, data: bytes) -> None:
        if c.s_state is not _OPEN:
            self.record_bytes(c, _C2S, _DISCARD, data, "the server closed the connection")
            return
        if c.drop and draws_loss(c.link, self.rng):
            self.faults.cut(c, "drop", notify=True)
            return
        now = self.loop.now
        if self._trace_deliveries:
            records = self.records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _C2S, _DELIVER, None, data, "")))
        srv = c.server
        outputs = srv.node.receive(c.id, data, now)
        if outputs:
            self.apply(srv, outputs)
        self.arm(srv)

    def _deliver_sc(self, d: Delivery) -> None:
        c = d.conn
        if c.sc.pending is d:
            c.sc.pending = None
        if c.cut:
            return
        self._receive_at_client(c, d.payload())

    def _receive_at_client(self, c: Connection, data: bytes) -> None:
        if c.reason is not None:
            self.record_bytes(c, _S2C, _DISCARD, data, f"the client end is closed ({c.reason})")
            return
        if c.drop and draws_loss(c.link, self.rng):
            self.faults.cut(c, "drop", notify=True)
            return
        now = self.loop.now
        if self._trace_deliveries:
            records = self.records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _S2C, _DELIVER, None, data, "")))
        try:
            messages = c.decoder.feed(data)
        except DecodeError as exc:
            self.decode_error(c, exc, data)
            return
        if messages and c.hand is not None:
            c.hand(c.id, messages)
        elif messages:
            inbox = c.inbox
            for m in messages:
                inbox.append(_new(Received, (now, m)))
            if c.watch is not None:
                c.watch(c.id)

    def decode_error(self, c: Connection, exc: DecodeError, data: bytes) -> None:
        c.reason = "decode-error"
        self.event(c, Kind.DECODE_ERROR, str(exc), data)
        self.control(c, c.cs, self.eof_at_server)
        if c.watch is not None:
            c.watch(c.id)

    def eof_at_server(self, c: Connection) -> None:
        if c.cut or c.s_state is not _OPEN:
            return
        c.s_state = _GONE
        self.event(c, Kind.EOF, "at server")
        srv = c.server
        outputs = srv.node.disconnect(c.id, self.loop.now)
        if outputs:
            self.apply(srv, outputs)
        self.arm(srv)

    def _eof_at_client(self, c: Connection) -> None:
        if c.cut or c.reason is not None:
            return
        c.reason = "server"
        self.event(c, Kind.EOF, "at client")
        if c.watch is not None:
            c.watch(c.id)

    def apply(self, srv: ServerSlot, outputs: list[Output]) -> None:
        """Carry out a node's outputs: Send bytes down the pipe, Close the connection."""
        conns = self.conns
        records = self.records
        now = self.loop.now
        for out in outputs:
            c = conns.get(out.conn)
            if c is None or c.server is not srv or c.s_state is not _OPEN:
                raise HarnessError(
                    f"server {srv.name!r} at tick {now} output {out!r} for connection {out.conn}, "
                    "which it does not hold open\n" + self.trace.tail(10)
                )
            if type(out) is Send or isinstance(out, Send):  # the exact type first: once per output
                messages = out.messages
                if messages:
                    conn = c.id
                    label = c.label
                    for m in messages:
                        records.append((now, conn, label, _S2C, _SEND, m, b"", ""))
                    if c.plain and out.from_messages:
                        tick = now + c.latency
                        c.sc.last = tick
                        # EventLoop.push, inlined (per output)
                        key = tick * KEYS + NORMAL
                        bucket = self.buckets.get(key)
                        if bucket is None:
                            self.buckets[key] = [(self._plain_sc_send_h, (c, out))]
                            _heappush(self.keys, key)
                        else:
                            bucket.append((self._plain_sc_send_h, (c, out)))
                        continue
                elif out.data:
                    self.record_bytes(c, _S2C, _SEND, out.data, "")
                if out.data:
                    self._transmit_sc(c, out.data)
            elif isinstance(out, Close):
                c.s_state = _GONE
                self.event(c, Kind.CLOSE, f"by server: {out.reason}" if out.reason else "by server")
                self.control(c, c.sc, self._eof_at_client)
            else:
                raise HarnessError(f"server {srv.name!r} returned {out!r}, which is not a Send or Close")

    def arm(self, srv: ServerSlot) -> None:
        """Keep one timer event armed at the node's earliest deadline."""
        deadline = srv.node.next_deadline()
        if deadline is None:
            return
        armed = srv.timer_at
        if armed is None or deadline < armed:
            if deadline < self.loop.now:
                deadline = self.loop.now
            srv.timer_at = deadline
            self.push(deadline, TIMER, self.fire_timer, srv)

    def fire_timer(self, srv: ServerSlot) -> None:
        now = self.loop.now
        if srv.timer_at == now:
            srv.timer_at = None
        node = srv.node
        deadline = node.next_deadline()
        if deadline is not None and deadline <= now:
            self.server_event(srv, Kind.TIMER)
            outputs = node.advance(now)
            if outputs:
                self.apply(srv, outputs)
        self.arm(srv)
