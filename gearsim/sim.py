"""The deterministic discrete-time simulator: servers, client connections, links, time.

PURE. This module owns the engine that drives ``ServerNode`` implementations
(the reference model, or any sans-IO server) against scripted clients in
virtual time: one heap of events ordered by ``(tick, priority, seq)``, one
``random.Random(seed)`` that every random choice comes from, connections whose
bytes travel through ``gearsim.links`` link models, and a ``Trace`` of
everything that happened. It imports no socket, clock, thread or global random;
a client that sleeps three virtual seconds costs no wall time, because when
nothing is runnable time jumps to the next event (a delivery, a callback, or a
server's ``next_deadline()``).

Theory of operation
-------------------
Every connection has two *pipes* (client to server, server to client). A write
is cut into pieces by the link, each piece gets a delivery tick of ``now +
latency + jitter``, raised to the previous piece's tick so that a later piece
never overtakes an earlier one, and an event is pushed. Events at the same tick
run by priority (cuts, partitions and restarts first, then deliveries and
callbacks, then server timers) and then in the order they were scheduled, so
runs are reproducible from the seed alone. Connects and closes travel the same
pipes as data, so they are ordered with it: a close is seen after every byte
written before it.

The server side of a connection goes ``pending`` (connect in flight) ->
``open`` (the node was told) -> ``gone`` (the node closed it, or was told about
a close or a cut). The client side is open until it closes, sees the server's
close, cannot decode what it received, or the link is cut; ``close_reason``
says which. Bytes arriving at a closed end are discarded (and traced).

After every call into a node the engine asks for its ``next_deadline()`` and
keeps one timer event armed at the earliest one; a stale timer event (the
deadline moved) fires harmlessly and re-arms.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from gearsim.codec import Decoder, encode_many
from gearsim.errors import DecodeError, HarnessError
from gearsim.links import LinkConfig, draw_delay, draws_loss, merges, split_write
from gearsim.node import Close, ConnId, Output, Send, ServerNode
from gearsim.packets import Message
from gearsim.trace import Direction, Kind, Trace, TraceRecord

__all__ = [
    "DEFAULT_MAX_STEPS",
    "NORMAL",
    "TIMER",
    "URGENT",
    "Received",
    "Simulator",
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


def _invoke(fn: Callable[[], None]) -> None:
    fn()


class Simulator:
    """A deterministic network of ``ServerNode`` servers and scripted client connections.

    Args:
        seed: seeds the simulator's own ``random.Random``; the same seed and the
            same calls give a byte-identical ``trace``.
        default_link: the link of connections opened without one (default: an
            instant, perfect link).
        max_steps: how many events one ``run`` call may process before it raises
            ``HarnessError`` (a livelock guard).
        trace_deliveries: record a ``deliver`` record per piece of bytes; turn
            off to keep traces of long benchmarks down to the messages.
    """

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

    # ----------------------------------------------------------------- time

    @property
    def now(self) -> int:
        """The current tick (milliseconds of virtual time)."""
        return self._now

    def peek(self) -> int | None:
        """The tick of the next event, or None when nothing is scheduled."""
        return self._heap[0][0] if self._heap else None

    def step(self) -> bool:
        """Process the next event, moving time to its tick; False if there was none.

        Raises:
            Exception: whatever a server node raises, with a note giving the tick.
        """
        if not self._heap:
            return False
        tick, _, _, handler, arg = heapq.heappop(self._heap)
        self._now = tick
        try:
            handler(arg)
        except Exception as exc:
            exc.add_note(f"gearsim.sim: while processing an event at tick {tick}")
            raise
        return True

    def run(
        self,
        until: int | None = None,
        *,
        stop_when: Callable[[], bool] | None = None,
        max_steps: int | None = None,
    ) -> bool:
        """Process events in order until ``until``, ``stop_when()``, or none are left.

        Events at exactly ``until`` are processed, and the clock ends at
        ``until`` even if nothing happens then, so ``run(until=5000)`` followed
        by ``run(until=9000)`` does the same as ``run(until=9000)``. With
        ``until=None`` the run ends when the heap is empty. ``stop_when`` is
        checked before the first event and after each one.

        Returns:
            True if ``stop_when`` became true, False otherwise.

        Raises:
            HarnessError: ``until`` is in the past, or more than ``max_steps``
                (default: the simulator's) events were needed; the message
                gives the tick, the next events and the last trace records.
        """
        if until is not None and until < self._now:
            raise HarnessError(f"run(until={until}) is in the past: the clock is at {self._now}")
        bound = self.max_steps if max_steps is None else max_steps
        heap = self._heap
        pop = heapq.heappop
        steps = 0
        if stop_when is not None and stop_when():
            return True
        while heap:
            tick = heap[0][0]
            if until is not None and tick > until:
                break
            if steps >= bound:
                raise self._bound_error(bound)
            _, _, _, handler, arg = pop(heap)
            self._now = tick
            try:
                handler(arg)
            except Exception as exc:
                exc.add_note(f"gearsim.sim: while processing an event at tick {tick}")
                raise
            steps += 1
            if stop_when is not None and stop_when():
                return True
        if until is not None:
            self._now = until
        return False

    def run_for(self, duration: int, *, stop_when: Callable[[], bool] | None = None) -> bool:
        """``run(until=now + duration)``: a client sleeping ``duration`` ticks.

        Raises:
            HarnessError: as ``run``, or for a negative duration.
        """
        if duration < 0:
            raise HarnessError(f"run_for({duration}): time cannot go backwards")
        return self.run(until=self._now + duration, stop_when=stop_when)

    def call_at(self, tick: int, fn: Callable[[], None]) -> None:
        """Call ``fn()`` at ``tick`` (after cuts, before timers due then).

        Raises:
            HarnessError: ``tick`` is in the past.
        """
        if tick < self._now:
            raise HarnessError(f"call_at({tick}) is in the past: the clock is at {self._now}")
        self._push(tick, NORMAL, _invoke, fn)

    def call_later(self, delay: int, fn: Callable[[], None]) -> None:
        """Call ``fn()`` ``delay`` ticks from now.

        Raises:
            HarnessError: ``delay`` is negative.
        """
        self.call_at(self._now + delay, fn)

    # -------------------------------------------------------------- servers

    def add_server(self, name: str, node: ServerNode) -> None:
        """Add a server that connections can name; arms its timer if it has one.

        Raises:
            HarnessError: a server called ``name`` already exists.
        """
        if name in self._servers:
            raise HarnessError(f"a server called {name!r} already exists")
        srv = _Server(name, node)
        self._servers[name] = srv
        self._arm(srv)

    def node(self, name: str) -> ServerNode:
        """The node currently serving ``name`` (a restart replaces it).

        Raises:
            HarnessError: no server has that name.
        """
        return self._server(name).node

    def partition(self, server: str, at: int, until: int | None = None) -> None:
        """Cut ``server`` off the network from tick ``at`` until ``until`` (None: for good).

        At ``at`` every connection to it is cut (both ends see a close); while
        the partition lasts, connects to it are refused at once.

        Raises:
            HarnessError: unknown server, ``at`` in the past, or ``until <= at``.
        """
        srv = self._server(server)
        if at < self._now:
            raise HarnessError(f"partition at {at} is in the past: the clock is at {self._now}")
        if until is not None and until <= at:
            raise HarnessError(f"partition of {server!r} ends ({until}) before it begins ({at})")
        srv.partitions.append((at, until))
        self._push(at, URGENT, self._begin_partition, (srv, until))
        if until is not None:
            self._push(until, URGENT, self._end_partition, srv)

    def restart_server(self, name: str, node: ServerNode, *, at: int | None = None) -> None:
        """Replace server ``name`` by ``node`` at tick ``at`` (default: now).

        Every connection to it (including connects still in flight) is cut, and
        the old node is dropped without being told, as a crashed process would
        be: whatever it held in memory is lost.

        Raises:
            HarnessError: unknown server, or ``at`` in the past.
        """
        srv = self._server(name)
        when = self._now if at is None else at
        if when < self._now:
            raise HarnessError(f"restart at {when} is in the past: the clock is at {self._now}")
        self._push(when, URGENT, self._restart, (srv, node))

    # ---------------------------------------------------------- connections

    def connect(
        self, server: str, *, link: LinkConfig | None = None, peer: str = "127.0.0.1", label: str = ""
    ) -> ConnId:
        """Open a client connection to ``server``; the node hears of it after the link's delay.

        Bytes may be sent at once: they follow the connect through the link.
        A connect to a partitioned server is closed at once
        (``close_reason`` ``refused``).

        Args:
            link: the link for both directions (default: the simulator's).
            peer: the client address the node is given.
            label: a name for the trace (default ``client``).

        Raises:
            HarnessError: no server has that name.
        """
        srv = self._server(server)
        cfg = link if link is not None else self._default_link
        cid = self._next_conn
        self._next_conn += 1
        c = _Conn(cid, srv, cfg, peer, label or "client")
        self._conns[cid] = c
        srv.conns.append(c)
        self._event(c, Kind.CONNECT, f"to {server} from {peer}")
        if self._partitioned(srv):
            c.reason = "refused"
            c.cut = True
            c.s_state = _GONE
            self._event(c, Kind.REFUSED, "partition")
            return cid
        self._control(c, c.cs, self._accept)
        if cfg.cut_at is not None:
            self._push(max(cfg.cut_at, self._now), URGENT, self._cut_at, c)
        return cid

    def send(self, conn: ConnId, data: bytes) -> None:
        """Write ``data`` from the client end of ``conn`` into its link.

        The messages the bytes complete are traced now; the bytes reach the
        server after the link's delay, re-chunked as the link says. Bytes
        written after the server closed the connection or the link was cut are
        discarded (and traced).

        Raises:
            HarnessError: unknown connection, or the client already closed it.
        """
        c = self._conn(conn)
        if c.reason is not None:
            if c.reason == "client":
                raise HarnessError(f"send on connection {conn} after the client closed it")
            self._bytes(c, _C2S, _DISCARD, data, f"connection closed ({c.reason})")
            return
        if not data:
            return
        tdec = c.tdec
        if tdec is not None:
            try:
                messages = tdec.feed(data)
            except DecodeError as exc:
                c.tdec = None
                self._bytes(c, _C2S, _SEND, data, f"undecodable: {exc}")
            else:
                records = self._records
                now = self._now
                for m in messages:
                    records.append(_new(TraceRecord, (now, len(records), conn, c.label, _C2S, _SEND, m, b"", "")))
        else:
            self._bytes(c, _C2S, _SEND, data, "")
        self._transmit(c, c.cs, data, self._deliver_cs)

    def send_messages(self, conn: ConnId, *messages: Message) -> None:
        """Encode ``messages`` and write them as one write, like ``send``.

        The same as ``send(conn, encode_many(messages))``, but the trace takes
        the messages as given instead of decoding the bytes again, which is
        cheaper on long runs.

        Raises:
            HarnessError: unknown connection, or the client already closed it.
            ValueError: a message that cannot be encoded (see ``codec.encode``).
        """
        c = self._conn(conn)
        tdec = c.tdec
        if c.reason is not None or (tdec is not None and tdec.buffered):
            self.send(conn, encode_many(list(messages)))  # the general path keeps the trace aligned
            return
        data = encode_many(list(messages))
        if not data:
            return
        records = self._records
        now = self._now
        for m in messages:
            records.append(_new(TraceRecord, (now, len(records), conn, c.label, _C2S, _SEND, m, b"", "")))
        self._transmit(c, c.cs, data, self._deliver_cs)

    def close(self, conn: ConnId) -> None:
        """Close the client end of ``conn``; the node hears of it after every byte sent before.

        Closing a connection that is already closed does nothing.

        Raises:
            HarnessError: unknown connection.
        """
        c = self._conn(conn)
        if c.reason is not None:
            return
        c.reason = "client"
        if c.tdec is not None and c.tdec.buffered:
            self._bytes(c, _C2S, _SEND, b"", f"{c.tdec.buffered} bytes of an incomplete message")
        self._event(c, Kind.CLOSE, "by client")
        if not c.cut:
            self._control(c, c.cs, self._eof_at_server)

    def inbox(self, conn: ConnId) -> list[Received]:
        """The messages the client end of ``conn`` has decoded and not taken (a copy).

        Raises:
            HarnessError: unknown connection.
        """
        return list(self._conn(conn).inbox)

    def take(self, conn: ConnId) -> list[Received]:
        """Remove and return the messages the client end of ``conn`` has decoded.

        Raises:
            HarnessError: unknown connection.
        """
        c = self._conn(conn)
        taken = c.inbox
        c.inbox = []
        return taken

    def closed(self, conn: ConnId) -> bool:
        """True once the client end of ``conn`` is closed, for whatever reason.

        Raises:
            HarnessError: unknown connection.
        """
        return self._conn(conn).reason is not None

    def close_reason(self, conn: ConnId) -> str | None:
        """Why the client end is closed, or None while open.

        One of ``client``, ``server``, ``decode-error``, ``refused``, or
        ``cut:<why>`` with why ``cut_at``, ``drop``, ``partition`` or ``restart``.

        Raises:
            HarnessError: unknown connection.
        """
        return self._conn(conn).reason

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
        c = self._conns.get(conn)
        if c is None:
            raise HarnessError(f"no connection {conn}")
        return c

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

    def _transmit(self, c: _Conn, pipe: _Pipe, data: bytes, handler: Callable[[_Delivery], None]) -> None:
        """Schedule the delivery of one write, re-chunked and delayed by the link."""
        now = self._now
        link = c.link
        if c.plain:
            tick = now + link.latency
            pipe.last = tick
            self._seq += 1
            heapq.heappush(self._heap, (tick, NORMAL, self._seq, handler, _Delivery(c, data, tick)))
            return
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
        data = d.payload()
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
        data = d.payload()
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
            c.reason = "decode-error"
            self._event(c, Kind.DECODE_ERROR, str(exc), data)
            self._control(c, c.cs, self._eof_at_server)
            return
        inbox = c.inbox
        for m in messages:
            inbox.append(_new(Received, (now, m)))

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
                    self._transmit(c, c.sc, out.data, self._deliver_sc)
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
        if c.reason is None:
            c.reason = f"cut:{why}"
        was_open = c.s_state == _OPEN
        c.s_state = _GONE
        if notify and was_open:
            srv = c.server
            outputs = srv.node.disconnect(c.id, self._now)
            if outputs:
                self._apply(srv, outputs)
            self._arm(srv)

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
