"""The engine room of ``gearsim.sim.simulator``: connection state, pipes, deliveries, cuts, timers.

PURE. Internal to ``gearsim.sim.simulator`` (import ``Simulator`` from there): this
module owns the per-connection and per-server state records and ``SimCore``,
the base class holding the event heap, the simulator's ``random.Random`` and
the handlers that events run: transmitting a write through its link,
delivering pieces to a node or a client decoder, connects, closes, cuts,
partitions, restarts and server timers. ``gearsim.sim.simulator.Simulator`` adds the
public API on top; the theory of operation is in its module docstring.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from gearsim.errors import DecodeError, HarnessError
from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import Close, ConnId, Output, Send, ServerNode
from gearsim.protocol.packets import Message
from gearsim.protocol.trace import Direction, Kind, Trace, TraceRecord
from gearsim.sim.links import LinkConfig, draw_delay, draws_loss, merges, split_write

__all__ = [
    "DEFAULT_MAX_STEPS",
    "NORMAL",
    "TIMER",
    "URGENT",
    "Received",
    "SimCore",
]

#: same-tick order: cuts, partitions and restarts run before anything else
URGENT: Final[int] = 0
#: deliveries, connects, closes and scheduled callbacks
NORMAL: Final[int] = 1
#: server timers run after everything else due at the same tick
TIMER: Final[int] = 2

#: events one ``run`` call may process before it fails loudly (a livelock guard)
DEFAULT_MAX_STEPS: Final[int] = 1_000_000

# Plain strings on the hot path; they equal the Direction and Kind members.
_C2S: Final[str] = Direction.C2S.value
_S2C: Final[str] = Direction.S2C.value
_EVENT: Final[str] = Direction.EVENT.value
_SEND: Final[str] = Kind.SEND.value
_DELIVER: Final[str] = Kind.DELIVER.value
_DISCARD: Final[str] = Kind.DISCARD.value

# server-side states of a connection
_PENDING: Final[int] = 0
_OPEN: Final[int] = 1
_GONE: Final[int] = 2

_new = tuple.__new__  # builds NamedTuples without keyword handling (hot path)

# (tick, priority, seq, handler, argument); seq is unique, so handlers are never compared
_Event = tuple[int, int, int, Callable[[Any], None], Any]


class Received(NamedTuple):
    """A message the client side of a connection decoded, and the tick it arrived."""

    tick: int
    message: Message


class _Server:
    __slots__ = ("conns", "name", "node", "partitions", "timer_at")

    def __init__(self, name: str, node: ServerNode) -> None:
        self.name = name
        self.node = node
        self.conns: list[_Conn] = []
        self.timer_at: int | None = None
        self.partitions: list[tuple[int, int | None]] = []


class _Pipe:
    """Ordering state of one direction: the last scheduled tick, the coalescable piece."""

    __slots__ = ("last", "pending")

    def __init__(self) -> None:
        self.last = 0
        self.pending: _Delivery | None = None


class _Delivery:
    __slots__ = ("conn", "data", "more", "size", "tick")

    def __init__(self, conn: _Conn, data: bytes, tick: int) -> None:
        self.conn = conn
        self.data = data
        self.more: list[bytes] | None = None
        self.size = len(data)
        self.tick = tick

    def add(self, data: bytes) -> None:
        if self.more is None:
            self.more = [self.data]
        self.more.append(data)
        self.size += len(data)

    def payload(self) -> bytes:
        return self.data if self.more is None else b"".join(self.more)


class _Conn:
    __slots__ = (
        "coalesce",
        "cs",
        "cut",
        "decoder",
        "drop",
        "id",
        "inbox",
        "label",
        "link",
        "peer",
        "plain",
        "reason",
        "s_state",
        "sc",
        "server",
        "tdec",
        "watch",
    )

    def __init__(self, cid: ConnId, server: _Server, link: LinkConfig, peer: str, label: str) -> None:
        self.id = cid
        self.server = server
        self.link = link
        self.plain = link.plain
        self.coalesce = link.coalesces
        self.drop = link.drop
        self.peer = peer
        self.label = label
        self.cs = _Pipe()
        self.sc = _Pipe()
        self.decoder = Decoder()
        # decodes the client's writes for the trace only; None once they stop framing
        self.tdec: Decoder | None = Decoder()
        self.inbox: list[Received] = []
        self.s_state = _PENDING
        self.reason: str | None = None
        self.cut = False
        #: called with the connection id when the client end decodes messages or closes
        self.watch: Callable[[ConnId], None] | None = None


def _invoke(fn: Callable[[], None]) -> None:
    fn()


class SimCore:
    """State and event handlers of the simulator; ``gearsim.sim.simulator.Simulator`` is the public face."""

    def __init__(
        self,
        seed: int = 0,
        *,
        default_link: LinkConfig | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        trace_deliveries: bool = True,
    ) -> None:
        self.seed = seed
        self.max_steps = max_steps
        self.trace = Trace()
        self._records = self.trace.records
        self._rng = random.Random(seed)
        self._default_link = default_link if default_link is not None else LinkConfig()
        self._trace_deliveries = trace_deliveries
        self._now = 0
        self._seq = 0
        self._heap: list[_Event] = []
        self._servers: dict[str, _Server] = {}
        self._conns: dict[ConnId, _Conn] = {}
        self._next_conn = 1
        # bound once: an attribute lookup per write instead of a new bound method
        self._deliver_cs_h: Callable[[_Delivery], None] = self._deliver_cs
        self._deliver_sc_h: Callable[[_Delivery], None] = self._deliver_sc
        self._plain_cs_h: Callable[[tuple[_Conn, bytes]], None] = self._plain_cs
        self._plain_sc_h: Callable[[tuple[_Conn, bytes]], None] = self._plain_sc

    # ------------------------------------------------------------ internals

    def _push(self, tick: int, priority: int, handler: Callable[[Any], None], arg: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (tick, priority, self._seq, handler, arg))

    def _server(self, name: str) -> _Server:
        srv = self._servers.get(name)
        if srv is None:
            raise HarnessError(f"no server called {name!r} (have: {', '.join(self._servers) or 'none'})")
        return srv

    def _conn(self, conn: ConnId) -> _Conn:
        try:
            return self._conns[conn]
        except KeyError:
            raise HarnessError(f"no connection {conn}") from None

    def _event(self, c: _Conn, kind: str, note: str = "", data: bytes = b"") -> None:
        records = self._records
        records.append(_new(TraceRecord, (self._now, len(records), c.id, c.label, _EVENT, kind, None, data, note)))

    def _server_event(self, srv: _Server, kind: str, note: str = "") -> None:
        records = self._records
        records.append(_new(TraceRecord, (self._now, len(records), 0, srv.name, _EVENT, kind, None, b"", note)))

    def _bytes(self, c: _Conn, direction: str, kind: str, data: bytes, note: str) -> None:
        records = self._records
        records.append(_new(TraceRecord, (self._now, len(records), c.id, c.label, direction, kind, None, data, note)))

    def _partitioned(self, srv: _Server) -> bool:
        now = self._now
        return any(at <= now and (until is None or now < until) for at, until in srv.partitions)

    def _transmit_cs(self, c: _Conn, data: bytes) -> None:
        """Schedule the delivery of one client write (``_transmit`` toward the server)."""
        if c.plain:
            # a plain link delivers each write whole after the latency: no draws, no
            # coalescing, and the tick never falls below the pipe's last one
            tick = self._now + c.link.latency
            c.cs.last = tick
            self._seq += 1
            heapq.heappush(self._heap, (tick, NORMAL, self._seq, self._plain_cs_h, (c, data)))
        else:
            self._transmit(c, c.cs, data, self._deliver_cs_h)

    def _transmit_sc(self, c: _Conn, data: bytes) -> None:
        """Schedule the delivery of one server write (``_transmit`` toward the client)."""
        if c.plain:
            tick = self._now + c.link.latency
            c.sc.last = tick
            self._seq += 1
            heapq.heappush(self._heap, (tick, NORMAL, self._seq, self._plain_sc_h, (c, data)))
        else:
            self._transmit(c, c.sc, data, self._deliver_sc_h)

    def _transmit(self, c: _Conn, pipe: _Pipe, data: bytes, handler: Callable[[_Delivery], None]) -> None:
        """Schedule the delivery of one write through a link that jitters, re-chunks or loses."""
        now = self._now
        link = c.link
        rng = self._rng
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
                d = _Delivery(c, piece, tick)
                pipe.pending = d
                pipe.last = tick
                self._seq += 1
                heapq.heappush(self._heap, (tick, NORMAL, self._seq, handler, d))
            first = False

    def _control(self, c: _Conn, pipe: _Pipe, handler: Callable[[_Conn], None]) -> None:
        """Schedule a connect or close on a pipe, in order with its data."""
        tick = self._now + (c.link.latency if c.plain else draw_delay(c.link, self._rng))
        if tick < pipe.last:
            tick = pipe.last
        pipe.last = tick
        pipe.pending = None
        self._push(tick, NORMAL, handler, c)

    def _accept(self, c: _Conn) -> None:
        if c.cut:
            return
        srv = c.server
        c.s_state = _OPEN
        self._event(c, Kind.ACCEPT, srv.name)
        outputs = srv.node.connect(c.id, self._now, c.peer)
        if outputs:
            self._apply(srv, outputs)
        self._arm(srv)

    def _deliver_cs(self, d: _Delivery) -> None:
        c = d.conn
        if c.cs.pending is d:
            c.cs.pending = None
        if c.cut:
            return
        self._receive_at_server(c, d.payload())

    def _plain_cs(self, arg: tuple[_Conn, bytes]) -> None:
        # _deliver_cs for a plain link (no pending piece, no loss), inlined: the hot path
        c, data = arg
        if c.cut:
            return
        if c.s_state != _OPEN:
            self._bytes(c, _C2S, _DISCARD, data, "the server closed the connection")
            return
        now = self._now
        if self._trace_deliveries:
            records = self._records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _C2S, _DELIVER, None, data, "")))
        srv = c.server
        node = srv.node
        outputs = node.receive(c.id, data, now)
        if outputs:
            self._apply(srv, outputs)
        # _arm, inlined
        deadline = node.next_deadline()
        if deadline is not None:
            armed = srv.timer_at
            if armed is None or deadline < armed:
                if deadline < self._now:
                    deadline = self._now
                srv.timer_at = deadline
                self._seq += 1
                heapq.heappush(self._heap, (deadline, TIMER, self._seq, self._fire_timer, srv))

    def _receive_at_server(self, c: _Conn, data: bytes) -> None:
        if c.s_state != _OPEN:
            self._bytes(c, _C2S, _DISCARD, data, "the server closed the connection")
            return
        if c.drop and draws_loss(c.link, self._rng):
            self._cut(c, "drop", notify=True)
            return
        if self._trace_deliveries:
            records = self._records
            records.append(_new(TraceRecord, (self._now, len(records), c.id, c.label, _C2S, _DELIVER, None, data, "")))
        srv = c.server
        outputs = srv.node.receive(c.id, data, self._now)
        if outputs:
            self._apply(srv, outputs)
        self._arm(srv)

    def _deliver_sc(self, d: _Delivery) -> None:
        c = d.conn
        if c.sc.pending is d:
            c.sc.pending = None
        if c.cut:
            return
        self._receive_at_client(c, d.payload())

    def _plain_sc(self, arg: tuple[_Conn, bytes]) -> None:
        # _deliver_sc for a plain link (no pending piece, no loss), inlined: the hot path
        c, data = arg
        if c.cut:
            return
        if c.reason is not None:
            self._bytes(c, _S2C, _DISCARD, data, f"the client end is closed ({c.reason})")
            return
        now = self._now
        if self._trace_deliveries:
            records = self._records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _S2C, _DELIVER, None, data, "")))
        try:
            messages = c.decoder.feed(data)
        except DecodeError as exc:
            self._decode_error(c, exc, data)
            return
        if messages:
            inbox = c.inbox
            for m in messages:
                inbox.append(_new(Received, (now, m)))
            if c.watch is not None:
                c.watch(c.id)

    def _receive_at_client(self, c: _Conn, data: bytes) -> None:
        if c.reason is not None:
            self._bytes(c, _S2C, _DISCARD, data, f"the client end is closed ({c.reason})")
            return
        if c.drop and draws_loss(c.link, self._rng):
            self._cut(c, "drop", notify=True)
            return
        now = self._now
        if self._trace_deliveries:
            records = self._records
            records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _S2C, _DELIVER, None, data, "")))
        try:
            messages = c.decoder.feed(data)
        except DecodeError as exc:
            self._decode_error(c, exc, data)
            return
        if messages:
            inbox = c.inbox
            for m in messages:
                inbox.append(_new(Received, (now, m)))
            if c.watch is not None:
                c.watch(c.id)

    def _decode_error(self, c: _Conn, exc: DecodeError, data: bytes) -> None:
        c.reason = "decode-error"
        self._event(c, Kind.DECODE_ERROR, str(exc), data)
        self._control(c, c.cs, self._eof_at_server)
        if c.watch is not None:
            c.watch(c.id)

    def _eof_at_server(self, c: _Conn) -> None:
        if c.cut or c.s_state != _OPEN:
            return
        c.s_state = _GONE
        self._event(c, Kind.EOF, "at server")
        srv = c.server
        outputs = srv.node.disconnect(c.id, self._now)
        if outputs:
            self._apply(srv, outputs)
        self._arm(srv)

    def _eof_at_client(self, c: _Conn) -> None:
        if c.cut or c.reason is not None:
            return
        c.reason = "server"
        self._event(c, Kind.EOF, "at client")
        if c.watch is not None:
            c.watch(c.id)

    def _apply(self, srv: _Server, outputs: list[Output]) -> None:
        """Carry out a node's outputs: Send bytes down the pipe, Close the connection."""
        conns = self._conns
        records = self._records
        now = self._now
        for out in outputs:
            c = conns.get(out.conn)
            if c is None or c.server is not srv or c.s_state != _OPEN:
                raise HarnessError(
                    f"server {srv.name!r} at tick {now} output {out!r} for connection {out.conn}, "
                    "which it does not hold open\n" + self.trace.tail(10)
                )
            if isinstance(out, Send):
                if out.messages:
                    for m in out.messages:
                        records.append(_new(TraceRecord, (now, len(records), c.id, c.label, _S2C, _SEND, m, b"", "")))
                elif out.data:
                    self._bytes(c, _S2C, _SEND, out.data, "")
                if out.data:
                    self._transmit_sc(c, out.data)
            elif isinstance(out, Close):
                c.s_state = _GONE
                self._event(c, Kind.CLOSE, f"by server: {out.reason}" if out.reason else "by server")
                self._control(c, c.sc, self._eof_at_client)
            else:
                raise HarnessError(f"server {srv.name!r} returned {out!r}, which is not a Send or Close")

    def _cut(self, c: _Conn, why: str, *, notify: bool) -> None:
        """Cut both directions of ``c``; tell its node if ``notify`` and it holds it open."""
        if c.cut or (c.s_state == _GONE and c.reason is not None):
            return
        c.cut = True
        c.cs.pending = c.sc.pending = None
        self._event(c, Kind.CUT, why)
        told = c.reason is None
        if told:
            c.reason = f"cut:{why}"
        was_open = c.s_state == _OPEN
        c.s_state = _GONE
        if notify and was_open:
            srv = c.server
            outputs = srv.node.disconnect(c.id, self._now)
            if outputs:
                self._apply(srv, outputs)
            self._arm(srv)
        if told and c.watch is not None:
            c.watch(c.id)

    def _cut_at(self, c: _Conn) -> None:
        self._cut(c, "cut_at", notify=True)

    def _live_conns(self, srv: _Server) -> list[_Conn]:
        srv.conns = [c for c in srv.conns if not (c.cut or (c.s_state == _GONE and c.reason is not None))]
        return list(srv.conns)

    def _begin_partition(self, arg: tuple[_Server, int | None]) -> None:
        srv, until = arg
        self._server_event(srv, Kind.PARTITION, "for good" if until is None else f"until {until}")
        for c in self._live_conns(srv):
            self._cut(c, "partition", notify=True)

    def _end_partition(self, srv: _Server) -> None:
        self._server_event(srv, Kind.HEAL)

    def _restart(self, arg: tuple[_Server, ServerNode]) -> None:
        srv, node = arg
        self._server_event(srv, Kind.RESTART)
        for c in self._live_conns(srv):
            self._cut(c, "restart", notify=False)
        srv.conns = []
        srv.node = node
        srv.timer_at = None
        self._arm(srv)

    def _arm(self, srv: _Server) -> None:
        """Keep one timer event armed at the node's earliest deadline."""
        deadline = srv.node.next_deadline()
        if deadline is None:
            return
        armed = srv.timer_at
        if armed is None or deadline < armed:
            if deadline < self._now:
                deadline = self._now
            srv.timer_at = deadline
            self._push(deadline, TIMER, self._fire_timer, srv)

    def _fire_timer(self, srv: _Server) -> None:
        now = self._now
        if srv.timer_at == now:
            srv.timer_at = None
        node = srv.node
        deadline = node.next_deadline()
        if deadline is not None and deadline <= now:
            self._server_event(srv, Kind.TIMER)
            outputs = node.advance(now)
            if outputs:
                self._apply(srv, outputs)
        self._arm(srv)

    def _bound_error(self, bound: int) -> HarnessError:
        upcoming = ", ".join(
            f"tick {t} prio {p} {getattr(h, '__name__', h)}" for t, p, _, h, _ in heapq.nsmallest(5, self._heap)
        )
        return HarnessError(
            f"step bound of {bound} events hit at tick {self._now} (a livelock, or raise max_steps); "
            f"next events: {upcoming}\nlast trace records:\n{self.trace.tail(10)}"
        )
