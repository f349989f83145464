"""The simulator's faults: cuts, partitions and restarts of servers.

PURE. Internal to ``gearsim.sim.simulator``: this module owns ``Faults``, the
handlers that take connections down on purpose (a link's ``cut_at``, a lost
piece, a partition of a server, a restart that replaces its node). The
``gearsim.sim.engine.Engine`` owns one and schedules these handlers in its
event loop; they act on the engine's records and trace through it. Split out
of the engine so that neither module holds both the per-packet hot path and
the rare fault paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from gearsim.protocol.node import Output, ServerNode
from gearsim.protocol.trace import Kind
from gearsim.sim.events import URGENT, EventLoop
from gearsim.sim.records import Connection, ServerSide, ServerSlot

__all__ = ["Faults"]


class Engine(Protocol):
    """What ``Faults`` uses of ``gearsim.sim.engine.Engine`` (which owns it: no import back)."""

    loop: EventLoop

    def push(self, tick: int, priority: int, handler: Callable[[Any], None], arg: object) -> None: ...

    def event(self, c: Connection, kind: str, note: str = "", data: bytes = b"") -> None: ...

    def server_event(self, srv: ServerSlot, kind: str, note: str = "") -> None: ...

    def apply(self, srv: ServerSlot, outputs: list[Output]) -> None: ...

    def arm(self, srv: ServerSlot) -> None: ...


_OPEN: Final = ServerSide.OPEN
_GONE: Final = ServerSide.GONE


class Faults:
    """Cuts, partitions and restarts, on the records of one ``Engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def partition(self, srv: ServerSlot, at: int, until: int | None) -> None:
        """Schedule a partition of ``srv`` from ``at`` to ``until`` (None: for good)."""
        srv.partitions.append((at, until))
        push = self.engine.push
        push(at, URGENT, self.begin_partition, (srv, until))
        if until is not None:
            push(until, URGENT, self.end_partition, srv)

    def restart_at(self, srv: ServerSlot, node: ServerNode, when: int) -> None:
        """Schedule the replacement of ``srv``'s node by ``node`` at ``when``."""
        self.engine.push(when, URGENT, self.restart, (srv, node))

    def partitioned(self, srv: ServerSlot) -> bool:
        """Is ``srv`` cut off the network now?"""
        now = self.engine.loop.now
        return any(at <= now and (until is None or now < until) for at, until in srv.partitions)

    def cut(self, c: Connection, why: str, *, notify: bool) -> None:
        """Cut both directions of ``c``; tell its node if ``notify`` and it holds it open."""
        if c.cut or (c.s_state is _GONE and c.reason is not None):
            return
        engine = self.engine
        c.cut = True
        c.cs.pending = c.sc.pending = None
        engine.event(c, Kind.CUT, why)
        told = c.reason is None
        if told:
            c.reason = f"cut:{why}"
        was_open = c.s_state is _OPEN
        c.s_state = _GONE
        if notify and was_open:
            srv = c.server
            outputs = srv.node.disconnect(c.id, engine.loop.now)
            if outputs:
                engine.apply(srv, outputs)
            engine.arm(srv)
        if told and c.watch is not None:
            c.watch(c.id)

    def cut_at(self, c: Connection) -> None:
        """A link's ``cut_at`` came."""
        self.cut(c, "cut_at", notify=True)

    def _live_conns(self, srv: ServerSlot) -> list[Connection]:
        srv.conns = [c for c in srv.conns if not (c.cut or (c.s_state is _GONE and c.reason is not None))]
        return list(srv.conns)

    def begin_partition(self, arg: tuple[ServerSlot, int | None]) -> None:
        srv, until = arg
        self.engine.server_event(srv, Kind.PARTITION, "for good" if until is None else f"until {until}")
        for c in self._live_conns(srv):
            self.cut(c, "partition", notify=True)

    def end_partition(self, srv: ServerSlot) -> None:
        self.engine.server_event(srv, Kind.HEAL)

    def restart(self, arg: tuple[ServerSlot, ServerNode]) -> None:
        srv, node = arg
        engine = self.engine
        engine.server_event(srv, Kind.RESTART)
        for c in self._live_conns(srv):
            self.cut(c, "restart", notify=False)
        srv.conns = []
        srv.serve(node)
        srv.timer_at = None
        engine.arm(srv)
