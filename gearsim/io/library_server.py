"""The servers a library case gives a library under test: the reference model, scripted (I/O).

This module owns the sockets of library cases. Each server of a case's plan
(``ServerPlan``) is either *down* (an address where nothing listens: the
connection is refused) or a reference model (``gearsim.model.Server``) behind
asyncio listeners, one listener per library actor, so that every connection
is known to belong to the actor whose driver was given that address. Scripted
actors reach the first live server through in-process *local* connections.

What the plan scripts, on a library's connections only:

* delivery: ``whole`` (each reply in one write), ``bytewise`` (one byte per
  write, ``DRIP_MS`` apart) or ``pipelined`` (replies held ``HOLD_MS`` after
  the first, then written together in one write);
* faults: a packet of a listed type is not given to the model; the server
  answers it with the fault's packets, or closes the connection;
* ``close_actor`` and ``inject``: the case's ``server_close`` and
  ``server_send`` steps.

Every message both ways, every accept and close, is handed to ``recorder`` as
a ``TraceRecord`` labelled with the actor's name. Ticks are wall
milliseconds since ``start``; the models' epoch clock is the real one, so an
epoch job for "now plus an hour" waits an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from gearsim.errors import DecodeError, HarnessError
from gearsim.model import Server, ServerOptions
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.codec import wire as message_bytes
from gearsim.protocol.node import Close, ConnId, Output, Send
from gearsim.protocol.packets import Magic, Message, Packet
from gearsim.protocol.trace import Direction, Kind, TraceRecord
from gearsim.vectors.cases import ServerFault, ServerPlan

__all__ = ["DRIP_MS", "HOLD_MS", "LibraryServer", "Recorder"]

#: ms between the bytes of a bytewise delivery
DRIP_MS: Final[int] = 1
#: ms a pipelined delivery holds replies before writing them together
HOLD_MS: Final[int] = 50
_HOST: Final[str] = "127.0.0.1"
_NO_LIMIT: Final[int] = 2**32

Recorder = Callable[[TraceRecord], None]


@dataclass
class _Conn:
    """One connection to a live server: a library's TCP socket or a scripted local end."""

    conn: ConnId
    server: int
    actor: str
    transport: asyncio.Transport | None = None
    on_data: Callable[[bytes], None] | None = None
    on_close: Callable[[], None] | None = None
    decoder: Decoder | None = field(default_factory=lambda: Decoder(max_body=_NO_LIMIT))
    pending: bytearray = field(default_factory=bytearray)
    flushing: bool = False
    close_after: bool = False
    closed: bool = False

    @property
    def local(self) -> bool:
        return self.transport is None


class _Listener(asyncio.Protocol):
    __slots__ = ("actor", "conn", "index", "owner")

    def __init__(self, owner: LibraryServer, index: int, actor: str) -> None:
        self.owner = owner
        self.index = index
        self.actor = actor
        self.conn: _Conn | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.conn = self.owner._accept(self.index, self.actor, transport, where)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.owner._received(self.conn, data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.owner._lost(self.conn)


@dataclass
class _Live:
    """A live server: its model, plan, listeners by actor and timer."""

    index: int
    plan: ServerPlan
    model: Server
    listeners: dict[str, asyncio.AbstractServer] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    timer_tick: int | None = None
    fault_uses: dict[int, int] = field(default_factory=dict)
    #: the server died (a ``server_die`` step): its ports refuse, its connections are closed
    dead: bool = False


class LibraryServer:
    """The servers of one library case (see the module docstring); ``start`` inside a running loop.

    Args:
        plans: the case's servers, in the order the library is given them.
        actors: the library actors (one listener each per live server).
        profile: the model's profile.
        options: the model's options (the epoch clock is set to the wall clock).
        recorder: receives every record.
    """

    def __init__(
        self,
        plans: Sequence[ServerPlan],
        actors: Sequence[str],
        profile: str,
        options: ServerOptions,
        recorder: Recorder,
    ) -> None:
        self.plans = tuple(plans)
        self.actors = tuple(actors)
        self.profile = profile
        self.options = options
        self.recorder = recorder
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._live: dict[int, _Live] = {}
        self._down_ports: dict[int, int] = {}
        #: the server each library actor last sent bytes to
        self._last_used: dict[str, int] = {}
        self._conns: dict[ConnId, _Conn] = {}
        self._next_conn: ConnId = 1
        self._seq = 0

    # ------------------------------------------------------------------ clock

    def now(self) -> int:
        loop = self._loop
        return 0 if loop is None else int((loop.time() - self._t0) * 1000)

    # --------------------------------------------------------------- lifetime

    async def start(self) -> None:
        """Start every live server's listeners and reserve an address for every down one.

        Raises:
            HarnessError: a listener cannot be bound.
        """
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        epoch0 = int(time.time())
        for index, plan in enumerate(self.plans):
            if plan.down:
                self._down_ports[index] = _free_port()
                continue
            live = _Live(index, plan, Server(self.profile, replace(self.options, epoch0=epoch0)))
            self._live[index] = live
            for actor in self.actors:
                try:
                    server = await self._loop.create_server(
                        self._factory(index, actor), _HOST, 0, family=socket.AF_INET
                    )
                except OSError as exc:
                    raise HarnessError(f"cannot listen on {_HOST}: {exc.strerror or exc}") from None
                live.listeners[actor] = server
                live.ports[actor] = int(server.sockets[0].getsockname()[1])

    def _factory(self, index: int, actor: str) -> Callable[[], asyncio.Protocol]:
        return lambda: _Listener(self, index, actor)

    def addresses(self, actor: str) -> list[str]:
        """``HOST:PORT`` of every server of the plan, in order, as the library actor is to be given them."""
        out = []
        for index in range(len(self.plans)):
            port = self._down_ports[index] if index in self._down_ports else self._live[index].ports[actor]
            out.append(f"{_HOST}:{port}")
        return out

    async def close(self) -> None:
        """Stop listening and close every connection."""
        for live in self._live.values():
            if live.timer is not None:
                live.timer.cancel()
            for server in live.listeners.values():
                server.close()
        for c in list(self._conns.values()):
            if c.transport is not None and not c.closed:
                c.closed = True
                c.transport.abort()
        for live in self._live.values():
            for server in live.listeners.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), timeout=2.0)
        await asyncio.sleep(0)

    # ---------------------------------------------------------- local (scripted) ends

    def _first_live(self) -> _Live:
        return self._live[min(i for i, live in self._live.items() if not live.dead)]

    def open_local(self, on_data: Callable[[bytes], None], on_close: Callable[[], None], label: str) -> ConnId:
        """An in-process connection for a scripted actor, to the first live server."""
        live = self._first_live()
        c = self._new_conn(live.index, label)
        c.on_data, c.on_close = on_data, on_close
        self._record(c, Direction.EVENT, Kind.ACCEPT, note="scripted")
        self._apply(live, live.model.connect(c.conn, self.now(), "local"))
        return c.conn

    def send_local(self, conn: ConnId, data: bytes) -> None:
        """Bytes a scripted actor writes.

        Raises:
            KeyError: no such open local connection.
        """
        c = self._conns[conn]
        if not c.local or c.closed:
            raise KeyError(conn)
        self._received(c, data)

    def close_local(self, conn: ConnId) -> None:
        """A scripted actor closes its connection."""
        c = self._conns.get(conn)
        if c is not None and c.local and not c.closed:
            self._lost(c)

    # ------------------------------------------------------------ scripted server

    def connections_of(self, actor: str) -> list[ConnId]:
        """The library actor's open connections, oldest first."""
        return [c.conn for c in self._conns.values() if c.actor == actor and not c.local and not c.closed]

    def close_actor(self, actor: str, reason: str = "scripted close") -> int:
        """Close every open connection of the library actor from the server side; return how many."""
        conns = [self._conns[k] for k in self.connections_of(actor)]
        for c in conns:
            self._server_close(c, reason)
        return len(conns)

    def kill_server_of(self, actor: str) -> int | None:
        """The server the library actor last sent to dies; its index, or None if it has sent nothing.

        Its listeners stop (connects to its ports are refused), every
        connection to it is closed, scripted ones included, and scripted
        actors that connect later go to the first server still alive.
        """
        if actor not in self._last_used:
            return None
        live = self._live[self._last_used[actor]]
        live.dead = True
        for server in live.listeners.values():
            server.close()
        for c in [c for c in self._conns.values() if c.server == live.index and not c.closed]:
            self._server_close(c, "the server died (scripted)")
        return live.index

    def inject(self, actor: str, packet: Packet) -> bool:
        """Write ``packet`` on the actor's newest connection as if the server sent it; False when it has none."""
        conns = self.connections_of(actor)
        if not conns:
            return False
        c = self._conns[conns[-1]]
        self._record(c, Direction.S2C, Kind.SEND, packet, note="scripted")
        self._deliver(c, encode(packet))
        return True

    # -------------------------------------------------------------- callbacks

    def _new_conn(self, server: int, actor: str) -> _Conn:
        c = _Conn(self._next_conn, server, actor)
        self._next_conn += 1
        self._conns[c.conn] = c
        return c

    def _accept(self, index: int, actor: str, transport: asyncio.Transport, where: str) -> _Conn:
        live = self._live[index]
        c = self._new_conn(index, actor)
        c.transport = transport
        note = where if len(self.plans) == 1 else f"server {index + 1} ({where})"
        self._record(c, Direction.EVENT, Kind.ACCEPT, note=note)
        self._apply(live, live.model.connect(c.conn, self.now(), _HOST))
        return c

    def _received(self, c: _Conn, data: bytes) -> None:
        if c.closed:
            return
        if not c.local:
            self._last_used[c.actor] = c.server
        live = self._live[c.server]
        if c.decoder is None:  # undecodable earlier: the model gets the bytes as they are
            self._record(c, Direction.C2S, Kind.SEND, None, data)
            self._apply(live, live.model.receive(c.conn, data, self.now()))
            return
        try:
            messages = c.decoder.feed(data)
        except DecodeError as exc:
            c.decoder = None
            self._record(c, Direction.EVENT, Kind.DECODE_ERROR, note=str(exc))
            self._record(c, Direction.C2S, Kind.SEND, None, data)
            self._apply(live, live.model.receive(c.conn, data, self.now()))
            return
        for message in messages:
            if c.closed:
                return
            self._record(c, Direction.C2S, Kind.SEND, message)
            fault = None if c.local or not isinstance(message, Packet) else self._fault(live, message)
            if fault is None:
                wire = message_bytes(message)
                self._apply(live, live.model.receive(c.conn, wire, self.now()))
            elif fault.close:
                self._server_close(c, "scripted: closes on " + (message.name if isinstance(message, Packet) else ""))
            else:
                for pattern in fault.reply:
                    magic = pattern.magic if isinstance(pattern.magic, Magic) else Magic.RES
                    args = tuple(a for a in pattern.args if isinstance(a, bytes))
                    reply = Packet(magic, pattern.type, args)
                    self._record(c, Direction.S2C, Kind.SEND, reply, note="scripted")
                    self._deliver(c, encode(reply))

    def _fault(self, live: _Live, packet: Packet) -> ServerFault | None:
        for number, fault in enumerate(live.plan.faults):
            used = live.fault_uses.get(number, 0)
            if int(packet.type) in fault.types and (fault.times is None or used < fault.times):
                live.fault_uses[number] = used + 1
                return fault
        return None

    def _lost(self, c: _Conn) -> None:
        """The peer closed (or the socket broke)."""
        if c.closed:
            return
        c.closed = True
        self._record(c, Direction.EVENT, Kind.CLOSE, note="closed by the peer")
        live = self._live[c.server]
        self._apply(live, live.model.disconnect(c.conn, self.now()))

    def _server_close(self, c: _Conn, reason: str) -> None:
        if c.closed:
            return
        self._record(c, Direction.EVENT, Kind.CLOSE, note=f"closed by the server: {reason}")
        live = self._live[c.server]
        self._end(c)
        self._apply(live, live.model.disconnect(c.conn, self.now()))

    def _end(self, c: _Conn) -> None:
        """Close our end once what is queued for it is written."""
        if c.pending or c.flushing:
            c.close_after = True
            return
        c.closed = True
        if c.transport is not None:
            c.transport.close()
        elif c.on_close is not None:
            c.on_close()

    # ---------------------------------------------------------------- outputs

    def _apply(self, live: _Live, outputs: Iterable[Output]) -> None:
        for output in outputs:
            c = self._conns.get(output.conn)
            if c is None or c.closed:
                continue
            if isinstance(output, Send):
                messages: Sequence[Message] = output.messages
                if not messages:
                    with contextlib.suppress(DecodeError):
                        messages = Decoder(max_body=_NO_LIMIT).feed(output.data)
                for m in messages:
                    self._record(c, Direction.S2C, Kind.SEND, m)
                self._deliver(c, output.data)
            elif isinstance(output, Close):
                self._record(c, Direction.EVENT, Kind.CLOSE, note=f"closed by the server: {output.reason}")
                self._end(c)
        self._rearm(live)

    def _deliver(self, c: _Conn, data: bytes) -> None:
        if c.local:
            if c.on_data is not None:
                c.on_data(data)
            return
        delivery = self.plans[c.server].delivery
        if delivery == "whole":
            assert c.transport is not None  # not local
            c.transport.write(data)
            return
        c.pending += data
        if not c.flushing:
            c.flushing = True
            asyncio.get_running_loop().create_task(self._flush(c, delivery))

    async def _flush(self, c: _Conn, delivery: str) -> None:
        transport = c.transport
        assert transport is not None  # only TCP connections are flushed
        try:
            if delivery == "pipelined":
                await asyncio.sleep(HOLD_MS / 1000)
                data, c.pending = bytes(c.pending), bytearray()
                if not transport.is_closing():
                    transport.write(data)
            else:
                while c.pending and not transport.is_closing():
                    transport.write(bytes(c.pending[:1]))
                    del c.pending[:1]
                    await asyncio.sleep(DRIP_MS / 1000)
        finally:
            c.flushing = False
            c.pending.clear()
            if c.close_after:
                c.close_after = False
                self._end(c)

    def _rearm(self, live: _Live) -> None:
        tick = live.model.next_deadline()
        if tick == live.timer_tick:
            return
        if live.timer is not None:
            live.timer.cancel()
            live.timer = None
        live.timer_tick = tick
        if tick is not None and self._loop is not None:
            live.timer = self._loop.call_at(self._t0 + tick / 1000, self._fire, live)

    def _fire(self, live: _Live) -> None:
        live.timer = None
        due = live.timer_tick
        live.timer_tick = None
        self._apply(live, live.model.advance(max(self.now(), due or 0)))

    # ------------------------------------------------------------ recording

    def _record(
        self,
        c: _Conn,
        direction: str,
        kind: str,
        message: Message | None = None,
        data: bytes = b"",
        note: str = "",
    ) -> None:
        self._seq += 1
        self.recorder(TraceRecord(self.now(), self._seq, c.conn, c.actor, direction, kind, message, data, note))


def _free_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])
