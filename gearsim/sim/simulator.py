"""The deterministic discrete-time simulator: servers, client connections, links, time.

PURE. This module owns the engine that drives ``ServerNode`` implementations
(the reference model, or any sans-IO server) against scripted clients in
virtual time: one heap of events ordered by ``(tick, priority, seq)``, one
``random.Random(seed)`` that every random choice comes from, connections whose
bytes travel through ``gearsim.sim.links`` link models, and a ``Trace`` of
everything that happened. It imports no socket, clock, thread or global random;
a client that sleeps three virtual seconds costs no wall time, because when
nothing is runnable time jumps to the next event (a delivery, a callback, or a
server's ``next_deadline()``).

This module holds the public ``Simulator`` API, which checks its arguments;
the handlers events run live in the ``gearsim.sim.engine.Engine`` each
``Simulator`` owns, the clock and the event queue in its
``gearsim.sim.events.EventLoop``, the state records in ``gearsim.sim.records``.

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

import random
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Protocol

from gearsim.errors import HarnessError
from gearsim.protocol.node import ConnId, ServerNode
from gearsim.protocol.packets import Message
from gearsim.protocol.trace import Trace, held_text
from gearsim.sim.engine import Engine
from gearsim.sim.events import DEFAULT_MAX_STEPS, NORMAL, TIMER, URGENT, invoke
from gearsim.sim.links import LinkConfig
from gearsim.sim.records import Connection, Received, ServerSlot

__all__ = [
    "DEFAULT_MAX_STEPS",
    "NORMAL",
    "TIMER",
    "URGENT",
    "Clock",
    "Received",
    "Simulator",
]


class Clock(Protocol):
    """Anything that tells the current tick as ``now`` (the ``Simulator``, its ``clock``)."""

    @property
    def now(self) -> int: ...


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
        self._engine = Engine(
            random.Random(seed), default_link if default_link is not None else LinkConfig(), trace_deliveries
        )
        #: everything that happened, in order
        self.trace: Trace = self._engine.trace
        # actors write several times per job: one call into the engine, not two
        self.send_messages = self._engine.plain.send_messages_to  # type: ignore[method-assign]

    # ----------------------------------------------------------------- time

    if TYPE_CHECKING:

        @property
        def now(self) -> int:
            """The current tick (milliseconds of virtual time)."""

    else:
        # a C-level getter: actors and the ledger read the clock several times per packet
        now = property(attrgetter("_engine.loop.now"), doc="The current tick (milliseconds of virtual time).")

    @property
    def clock(self) -> Clock:
        """The run's clock, whose ``now`` is ``Simulator.now`` (a plain attribute, cheaper to read).

        For readers of the time on hot paths (actors, the ledger); time moves only
        through ``run``, ``step`` and the scheduling methods here.
        """
        return self._engine.loop

    def peek(self) -> int | None:
        """The tick of the next event, or None when nothing is scheduled."""
        return self._engine.loop.peek()

    def step(self) -> bool:
        """Process the next event, moving time to its tick; False if there was none.

        Raises:
            Exception: whatever a server node raises, with a note giving the tick.
        """
        return self._engine.loop.step()

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
        now = self._engine.loop.now
        if until is not None and until < now:
            raise HarnessError(f"run(until={until}) is in the past: the clock is at {now}")
        return self._engine.loop.run(until, stop_when, self.max_steps if max_steps is None else max_steps)

    def run_for(self, duration: int, *, stop_when: Callable[[], bool] | None = None) -> bool:
        """``run(until=now + duration)``: a client sleeping ``duration`` ticks.

        Raises:
            HarnessError: as ``run``, or for a negative duration.
        """
        if duration < 0:
            raise HarnessError(f"run_for({duration}): time cannot go backwards")
        return self.run(until=self._engine.loop.now + duration, stop_when=stop_when)

    def call_at(self, tick: int, fn: Callable[[], None]) -> None:
        """Call ``fn()`` at ``tick`` (after cuts, before timers due then).

        Raises:
            HarnessError: ``tick`` is in the past, or not an int.
        """
        engine = self._engine
        if type(tick) is not int:
            raise HarnessError(f"call_at({tick!r}): a tick is a whole number of milliseconds")
        if tick < engine.loop.now:
            raise HarnessError(f"call_at({tick}) is in the past: the clock is at {engine.loop.now}")
        engine.push(tick, NORMAL, invoke, fn)

    def call_later(self, delay: int, fn: Callable[[], None]) -> None:
        """Call ``fn()`` ``delay`` ticks from now.

        Raises:
            HarnessError: ``delay`` is negative, or not an int.
        """
        engine = self._engine
        if type(delay) is not int:
            raise HarnessError(f"call_later({delay!r}): a delay is a whole number of milliseconds")
        if delay < 0:
            raise HarnessError(f"call_at({engine.loop.now + delay}) is in the past: the clock is at {engine.loop.now}")
        engine.push(engine.loop.now + delay, NORMAL, invoke, fn)

    # -------------------------------------------------------------- servers

    def add_server(self, name: str, node: ServerNode) -> None:
        """Add a server that connections can name; arms its timer if it has one.

        Raises:
            HarnessError: a server called ``name`` already exists.
        """
        if name in self._engine.servers:
            raise HarnessError(f"a server called {name!r} already exists")
        self._engine.add_server(name, node)

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
        now = self._engine.loop.now
        if at < now:
            raise HarnessError(f"partition at {at} is in the past: the clock is at {now}")
        if until is not None and until <= at:
            raise HarnessError(f"partition of {server!r} ends ({until}) before it begins ({at})")
        self._engine.faults.partition(srv, at, until)

    def restart_server(self, name: str, node: ServerNode, *, at: int | None = None) -> None:
        """Replace server ``name`` by ``node`` at tick ``at`` (default: now).

        Every connection to it (including connects still in flight) is cut, and
        the old node is dropped without being told, as a crashed process would
        be: whatever it held in memory is lost.

        Raises:
            HarnessError: unknown server, or ``at`` in the past.
        """
        srv = self._server(name)
        now = self._engine.loop.now
        when = now if at is None else at
        if when < now:
            raise HarnessError(f"restart at {when} is in the past: the clock is at {now}")
        self._engine.faults.restart_at(srv, node, when)

    # ---------------------------------------------------------- connections

    def connect(
        self,
        server: str,
        *,
        link: LinkConfig | None = None,
        peer: str = "127.0.0.1",
        label: str = "",
        on_receive: Callable[[ConnId], None] | None = None,
        on_messages: Callable[[ConnId, Sequence[Message]], None] | None = None,
    ) -> ConnId:
        """Open a client connection to ``server``; the node hears of it after the link's delay.

        Bytes may be sent at once: they follow the connect through the link.
        A connect to a partitioned server is closed at once
        (``close_reason`` ``refused``).

        Args:
            link: the link for both directions (default: the simulator's).
            peer: the client address the node is given.
            label: a name for the trace (default ``client``).
            on_receive: called with the connection id, from inside the event
                that caused it, whenever the client end has decoded new
                messages (``take`` them) or has just closed for a reason other
                than the client's own ``close`` (server close, cut, decode
                error). Not called for a refused connect: check ``closed``
                after ``connect``. It may send, close and connect, but should
                reconnect through ``call_later`` rather than at once.
            on_messages: when given, called with the connection id and the
                messages the client end decoded, from inside the event that
                delivered them, instead of queueing them for ``take`` (and
                ``on_receive`` is then called only when the client end closes).
                For readers that read no offsets: on a plain link the messages
                are handed on as the server gave them, offsets not stamped.

        Raises:
            HarnessError: no server has that name.
        """
        srv = self._server(server)
        cfg = link if link is not None else self._engine.default_link
        return self._engine.open(srv, cfg, peer, label or "client", on_receive, on_messages)

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
        if c.reason == "client":
            raise HarnessError(f"send on connection {conn} after the client closed it")
        self._engine.send(c, data)

    def send_messages(self, conn: ConnId, *messages: Message) -> None:
        """Encode ``messages`` and write them as one write, like ``send``.

        The same as ``send(conn, encode_many(messages))``, but the trace takes
        the messages as given instead of decoding the bytes again, which is
        cheaper on long runs.

        Raises:
            HarnessError: unknown connection, or the client already closed it.
            ValueError: a message that cannot be encoded (see ``codec.encode``).
        """
        self._engine.plain.send_messages_to(conn, *messages)  # (the instance binds it directly: see __init__)

    def close(self, conn: ConnId) -> None:
        """Close the client end of ``conn``; the node hears of it after every byte sent before.

        Closing a connection that is already closed does nothing.

        Raises:
            HarnessError: unknown connection.
        """
        self._engine.close(self._conn(conn))

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
        c = self._engine.conns.get(conn)
        if c is None:
            c = self._conn(conn)  # raises
        taken = c.inbox
        c.inbox = []
        return taken

    def held(self, conn: ConnId) -> str:
        """What the client end of ``conn`` holds of a message not yet whole (``held_text``), '' when nothing.

        Raises:
            HarnessError: unknown connection.
        """
        c = self._conn(conn)
        return held_text(c.decoder.head(), c.decoder.buffered)

    def closed(self, conn: ConnId) -> bool:
        """True once the client end of ``conn`` is closed, for whatever reason.

        Raises:
            HarnessError: unknown connection.
        """
        c = self._engine.conns.get(conn)
        if c is None:
            return self._conn(conn).reason is not None  # raises
        return c.reason is not None

    def close_reason(self, conn: ConnId) -> str | None:
        """Why the client end is closed, or None while open.

        One of ``client``, ``server``, ``decode-error``, ``refused``, or
        ``cut:<why>`` with why ``cut_at``, ``drop``, ``partition`` or ``restart``.

        Raises:
            HarnessError: unknown connection.
        """
        return self._conn(conn).reason

    # ------------------------------------------------------------- lookups

    def _server(self, name: str) -> ServerSlot:
        srv = self._engine.servers.get(name)
        if srv is None:
            raise HarnessError(f"no server called {name!r} (have: {', '.join(self._engine.servers) or 'none'})")
        return srv

    def _conn(self, conn: ConnId) -> Connection:
        try:
            return self._engine.conns[conn]
        except KeyError:
            raise HarnessError(f"no connection {conn}") from None
