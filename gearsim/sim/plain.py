"""The simulator's plain links: writes handed across whole, messages without their bytes.

PURE. Internal to ``gearsim.sim.engine``: this module owns ``PlainPath``, the
part of an ``Engine`` (which owns one, as ``engine.plain``) that carries writes
on a plain link (a fixed latency, no re-chunking, coalescing or loss:
``LinkConfig.plain``), the simulator's per-packet hot path. A client's
messages are traced and scheduled as they are (``send_messages_to``); at the
server end a ``MessageNode`` takes them without their bytes when its decoder
says they decode back to themselves, and a reply built from messages goes
back the same way to a client end that reads messages as given. Anything else
(bytes, a link that jitters, a node that reads only bytes) takes the engine's
general path, which ``PlainPath`` calls through the narrow ``EngineHooks``.
A part of its own so that each module stays readable: this one is inlined for
speed, the engine's is not.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

from gearsim.errors import DecodeError, HarnessError
from gearsim.protocol.codec import encode_many
from gearsim.protocol.node import ConnId, Output, Send
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.protocol.trace import Direction, Kind, RawRecord, TraceRecord
from gearsim.sim.events import KEYS, NORMAL, TIMER
from gearsim.sim.records import Connection, Received, ServerSide, ServerSlot

if TYPE_CHECKING:
    from gearsim.sim.events import EventLoop

__all__ = ["EngineHooks", "PlainPath"]

# Plain strings on the hot path; they equal the Direction and Kind members.
_C2S: Final[str] = Direction.C2S.value
_S2C: Final[str] = Direction.S2C.value
_SEND: Final[str] = Kind.SEND.value
_DELIVER: Final[str] = Kind.DELIVER.value
_DISCARD: Final[str] = Kind.DISCARD.value

_OPEN: Final = ServerSide.OPEN

_new = tuple.__new__  # builds NamedTuples without keyword handling (hot path)
_heappush = heapq.heappush


class EngineHooks(Protocol):
    """What ``PlainPath`` uses of the engine that owns it: its state and its general path."""

    conns: dict[ConnId, Connection]
    records: list[TraceRecord | RawRecord]
    loop: EventLoop

    def send_messages(self, c: Connection, messages: tuple[Message, ...]) -> None: ...

    def record_bytes(self, c: Connection, direction: str, kind: str, data: bytes, note: str) -> None: ...

    def apply(self, srv: ServerSlot, outputs: list[Output]) -> None: ...

    def fire_timer(self, srv: ServerSlot) -> None: ...

    def decode_error(self, c: Connection, exc: DecodeError, data: bytes) -> None: ...


class PlainPath:
    """The plain-link handlers of an engine: events run them, the engine owns one."""

    def __init__(self, engine: EngineHooks, trace_deliveries: bool) -> None:
        # the engine's state and hooks, bound once: the handlers run per write
        self.conns = engine.conns
        self.records = engine.records
        self.loop = engine.loop
        self.push = engine.loop.push
        self.buckets = engine.loop.buckets
        self.keys = engine.loop.keys
        self._trace_deliveries = trace_deliveries
        self.send_messages = engine.send_messages
        self.record_bytes = engine.record_bytes
        self.apply = engine.apply
        self._fire_timer = engine.fire_timer
        self._decode_error = engine.decode_error
        #: the handlers, bound once: events are scheduled per write
        self.cs_h: Callable[[tuple[Connection, bytes]], None] = self._plain_cs
        self.sc_h: Callable[[tuple[Connection, bytes]], None] = self._plain_sc
        self.cs_messages_h: Callable[[tuple[Connection, tuple[Message, ...]]], None] = self._plain_cs_messages
        self.sc_send_h: Callable[[tuple[Connection, Send]], None] = self._plain_sc_send

    def send_messages_to(self, conn: ConnId, *messages: Message) -> None:
        """``Simulator.send_messages`` whole: the checks, then :meth:`send_messages`.

        A plain link's write of encodable messages (legal magics, table types,
        admin lines) is traced and scheduled here, without the call: actors
        write several times per job.

        Raises:
            HarnessError: unknown connection, or the client already closed it.
            ValueError: a message that cannot be encoded.
        """
        c = self.conns.get(conn)
        if c is None:
            raise HarnessError(f"no connection {conn}")
        if c.reason is not None or c.tpartial or not c.plain or not messages:
            if c.reason == "client":
                raise HarnessError(f"send on connection {conn} after the client closed it")
            self.send_messages(c, messages)
            return
        # send_messages' plain-link path: each message is traced as it is checked,
        # and the records are taken back if one is not encodable as it is
        records = self.records
        start = len(records)
        now = self.loop.now
        label = c.label
        for m in messages:
            if type(m) is Packet:
                if type(m._magic) is not Magic or type(m._type) is not PacketType:  # Packet's own slots
                    break
            elif type(m) is not AdminLine:
                break
            records.append((now, conn, label, _C2S, _SEND, m, b"", ""))
        else:
            tick = now + c.latency
            c.cs.last = tick
            # EventLoop.push, inlined (per write)
            key = tick * KEYS + NORMAL
            bucket = self.buckets.get(key)
            if bucket is None:
                self.buckets[key] = [(self.cs_messages_h, (c, messages))]
                _heappush(self.keys, key)
            else:
                bucket.append((self.cs_messages_h, (c, messages)))
            return
        del records[start:]
        self.send_messages(c, messages)

    def _plain_cs(self, arg: tuple[Connection, bytes]) -> None:
        # _deliver_cs for a plain link (no pending piece, no loss), inlined: the hot path
        c, data = arg
        if c.cut:
            return
        if c.s_state is not _OPEN:
            self.record_bytes(c, _C2S, _DISCARD, data, "the server closed the connection")
            return
        now = self.loop.now
        if self._trace_deliveries:
            records = self.records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _C2S, _DELIVER, None, data, "")))
        srv = c.server
        node = srv.node
        outputs = node.receive(c.id, data, now)
        if outputs:
            self.apply(srv, outputs)
        # _arm, inlined
        deadline = node.next_deadline()
        if deadline is not None:
            armed = srv.timer_at
            if armed is None or deadline < armed:
                if deadline < self.loop.now:
                    deadline = self.loop.now
                srv.timer_at = deadline
                self.push(deadline, TIMER, self._fire_timer, srv)

    def _plain_cs_messages(self, arg: tuple[Connection, tuple[Message, ...]]) -> None:
        # _plain_cs for a write given as messages: the node takes them as they are
        # when it can (MessageNode), else their bytes; traced as the bytes would be
        c, messages = arg
        if c.cut:
            return
        data: bytes | None = None
        if c.s_state is not _OPEN:
            self.record_bytes(c, _C2S, _DISCARD, encode_many(list(messages)), "the server closed the connection")
            return
        now = self.loop.now
        if self._trace_deliveries:
            data = encode_many(list(messages))
            records = self.records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _C2S, _DELIVER, None, data, "")))
        srv = c.server
        node = srv.node
        take = srv.take_messages
        outputs = None if take is None else take(c.id, messages, now)
        if outputs is None:
            outputs = node.receive(c.id, encode_many(list(messages)) if data is None else data, now)
        if outputs:
            out = outputs[0]
            if len(outputs) == 1 and type(out) is Send and out.from_messages and out.conn == c.id:
                # apply's case for the usual answer, inlined (a write per job and more): messages
                # back to the connection that wrote, which is open and plain as apply requires
                replies = out.messages
                if replies:
                    conn = c.id
                    label = c.label
                    records = self.records
                    for m in replies:
                        records.append((now, conn, label, _S2C, _SEND, m, b"", ""))
                    tick = now + c.latency
                    c.sc.last = tick
                    # EventLoop.push, inlined
                    key = tick * KEYS + NORMAL
                    bucket = self.buckets.get(key)
                    if bucket is None:
                        self.buckets[key] = [(self.sc_send_h, (c, out))]
                        _heappush(self.keys, key)
                    else:
                        bucket.append((self.sc_send_h, (c, out)))
            else:
                self.apply(srv, outputs)
        # _arm, inlined
        deadline = node.next_deadline()
        if deadline is not None:
            armed = srv.timer_at
            if armed is None or deadline < armed:
                if deadline < now:
                    deadline = now
                srv.timer_at = deadline
                self.push(deadline, TIMER, self._fire_timer, srv)

    def _plain_sc_send(self, arg: tuple[Connection, Send]) -> None:
        # _plain_sc for a Send built from messages: the client end takes them as
        # they are when its decoder can (nothing partial held), else decodes the bytes
        c, send = arg
        if c.cut:
            return
        if c.reason is not None:
            self.record_bytes(c, _S2C, _DISCARD, send.data, f"the client end is closed ({c.reason})")
            return
        now = self.loop.now
        if self._trace_deliveries:
            records = self.records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _S2C, _DELIVER, None, send.data, "")))
        hand = c.hand
        if hand is not None:
            # a reader that reads no offsets is handed the messages as they are
            given = send.messages
            if c.decoder.take_messages(given):
                hand(c.id, given)
                return
            try:
                decoded = c.decoder.feed(send.data)
            except DecodeError as exc:
                self._decode_error(c, exc, send.data)
                return
            if decoded:
                hand(c.id, decoded)
            return
        messages = c.decoder.feed_messages(send.messages)
        if messages is None:
            try:
                messages = c.decoder.feed(send.data)
            except DecodeError as exc:
                self._decode_error(c, exc, send.data)
                return
        if messages:
            inbox = c.inbox
            for m in messages:
                inbox.append(_new(Received, (now, m)))
            if c.watch is not None:
                c.watch(c.id)

    def _plain_sc(self, arg: tuple[Connection, bytes]) -> None:
        # _deliver_sc for a plain link (no pending piece, no loss), inlined: the hot path
        c, data = arg
        if c.cut:
            return
        if c.reason is not None:
            self.record_bytes(c, _S2C, _DISCARD, data, f"the client end is closed ({c.reason})")
            return
        now = self.loop.now
        if self._trace_deliveries:
            records = self.records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _S2C, _DELIVER, None, data, "")))
        try:
            messages = c.decoder.feed(data)
        except DecodeError as exc:
            self._decode_error(c, exc, data)
            return
        if messages and c.hand is not None:
            c.hand(c.id, messages)
        elif messages:
            inbox = c.inbox
            for m in messages:
                inbox.append(_new(Received, (now, m)))
            if c.watch is not None:
                c.watch(c.id)
