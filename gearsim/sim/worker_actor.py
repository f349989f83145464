"""The worker instances of a workload run: a connection per server, one job at a time.

PURE. This module owns ``Worker`` and ``GrabState`` (how a worker grabs jobs is
in ``gearsim.sim.workload``'s docstring: libgearman's grab loop). Like the
clients of ``gearsim.sim.actors`` (whose ``ActorContext`` it acts on), a
worker draws from its own ``random.Random``, acts only through the simulator's
public API and reports to the ``gearsim.sim.ledger.Ledger``.
"""

from __future__ import annotations

import enum
import functools
import math
import random
from collections.abc import Sequence

from gearsim.protocol.node import TICKS_PER_SECOND, ConnId
from gearsim.protocol.packets import Message, Packet, PacketType
from gearsim.sim.actors import ActorContext, uniform_int
from gearsim.sim.scenario_model import WorkerSpec

__all__ = ["GrabState", "Worker"]

T = PacketType
# packets without arguments are immutable values: built once
_GRAB_JOB_UNIQ = Packet.req(T.GRAB_JOB_UNIQ)
_PRE_SLEEP = Packet.req(T.PRE_SLEEP)
_req = Packet.req
# hot-path constants (an enum attribute lookup costs more than a global)
_NOOP, _NO_JOB = T.NOOP, T.NO_JOB
_WORK_COMPLETE, _WORK_FAIL = T.WORK_COMPLETE, T.WORK_FAIL
_ASSIGNS = frozenset((T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL))


class GrabState(enum.Enum):
    """Where one worker connection is in libgearman's grab loop."""

    #: may be asked for a job
    IDLE = "idle"
    #: a GRAB_JOB_UNIQ is out, its answer not yet in
    GRABBING = "grabbing"
    #: answered NO_JOB; PRE_SLEEP once every connection has
    EMPTY = "empty"
    #: PRE_SLEEP sent; a NOOP makes it IDLE again
    SLEEPING = "sleeping"


_IDLE, _GRABBING, _EMPTY, _SLEEPING = GrabState.IDLE, GrabState.GRABBING, GrabState.EMPTY, GrabState.SLEEPING


class Worker:
    """One worker instance: a connection per server, one job at a time, libgearman's grab loop."""

    def __init__(self, ctx: ActorContext, spec: WorkerSpec, name: str) -> None:
        self.ctx = ctx
        self.sim = ctx.sim
        self.ledger = ctx.ledger
        self.spec = spec
        self.name = name
        self.rng = random.Random(f"{ctx.seed}/worker/{name}")
        self.state: dict[ConnId, GrabState] = {}
        self.where: dict[ConnId, tuple[str, int]] = {}
        self.job: tuple[ConnId, bytes] | None = None
        self.gen = 0
        self.up = False
        self.can_do = [Packet.req(T.CAN_DO, f.encode()) for f in spec.functions]
        # read per job: worked out once
        self.result = spec.result
        self.fail = spec.fail
        d = spec.duration
        #: a uniform duration's (a, width, bits) for uniform_int's draw, else None
        self.uniform = (d.a, d.b - d.a + 1, (d.b - d.a + 1).bit_length()) if d.kind == "uniform" else None
        self.sim.call_at(spec.start, self.start)

    def start(self) -> None:
        self.up = True
        for server in self.spec.servers:
            self._open(server)

    def _open(self, server: str) -> None:
        if not self.up:
            return
        sim = self.sim
        conn = sim.connect(
            server,
            link=self.ctx.link_for(self.name),
            label=self.name,
            on_receive=self._closed,
            on_messages=self._receive,
        )
        if sim.closed(conn):
            sim.call_later(self.spec.reconnect, lambda: self._open(server))
            return
        self.where[conn] = (server, self.ledger.incarnation[server])
        self.state[conn] = _IDLE
        sim.send_messages(conn, *self.can_do)
        self._ask()

    def _ask(self, lead: tuple[ConnId, Packet] | None = None) -> None:
        """Grab on the next idle connection, or PRE_SLEEP on all when every one said NO_JOB.

        ``lead`` (a WORK_COMPLETE or WORK_FAIL) is written first; when the grab
        goes to the same connection both go in one write, as TCP may deliver them.
        """
        sim = self.sim
        state = self.state
        # nothing below changes job, up or the states before the grab is decided
        asking = self.job is None and self.up and _GRABBING not in state.values()
        grab: ConnId | None = None
        if asking:
            for c, st in state.items():
                if st is _IDLE:
                    grab = c
                    break
        if lead is not None:
            if grab is not None and lead[0] == grab:
                state[grab] = _GRABBING
                sim.send_messages(grab, lead[1], _GRAB_JOB_UNIQ)
                return
            sim.send_messages(*lead)
        if not asking:
            return
        if grab is not None:
            state[grab] = _GRABBING
            sim.send_messages(grab, _GRAB_JOB_UNIQ)
            return
        for conn, st in state.items():
            if st is _EMPTY:
                state[conn] = _SLEEPING
                sim.send_messages(conn, _PRE_SLEEP)

    def _receive(self, conn: ConnId, messages: Sequence[Message]) -> None:
        state = self.state
        for m in messages:
            if type(m) is not Packet or conn not in state:
                continue
            t = m._type  # Packet's own slot (a property read is a call)
            # PacketType members, as the model and the decoder give them: compared by identity
            if t is _NOOP:
                if state[conn] is _SLEEPING:
                    state[conn] = _IDLE
                self._ask()
            elif t is _NO_JOB:
                state[conn] = _EMPTY
                self._ask()
            elif t in _ASSIGNS:
                state[conn] = _IDLE
                try:
                    args = m._args  # Packet's own slot: the args property is a Python call
                except AttributeError:  # a decoded packet not split yet
                    args = m.args
                self._begin(conn, args[0], args[-1])

    def _closed(self, conn: ConnId) -> None:
        state = self.state
        if self.sim.closed(conn) and conn in state:
            del state[conn]
            server = self.where[conn][0]
            self.sim.call_later(self.spec.reconnect, lambda: self._open(server))
            self._ask()

    def _draw(self, payload: bytes) -> int:
        d = self.spec.duration
        if d.kind == "uniform":
            return uniform_int(self.rng, d.a, d.b)
        if d.kind == "exponential":
            return int(self.rng.expovariate(1 / d.a)) if d.a else 0
        if d.kind == "payload_seconds":
            return int(payload.decode("latin-1").strip() or 0) * TICKS_PER_SECOND if payload.strip().isdigit() else 0
        if d.kind == "per_payload_byte":
            return d.a * len(payload)
        return d.a

    def _begin(self, conn: ConnId, handle: bytes, payload: bytes) -> None:
        self.job = (conn, handle)
        self.gen += 1
        gen = self.gen
        server, inc = self.where[conn]
        self.ledger.started(server, inc, handle)
        uniform = self.uniform
        if uniform is not None:
            # uniform_int, inlined (a draw per job)
            a, width, bits = uniform
            getrandbits = self.rng.getrandbits
            r = getrandbits(bits)
            while r >= width:
                r = getrandbits(bits)
            duration = a + r
        else:
            duration = self._draw(payload)
        every = self.spec.status_every
        if every is not None:
            steps = max(1, math.ceil(duration / every))
            self._status(gen, 1, steps)
        mode = self.result
        result = payload[::-1] if mode == "reverse" else payload if mode == "echo" else b""
        self.sim.call_later(duration, functools.partial(self._finish, gen, result))

    def _status(self, gen: int, step: int, steps: int) -> None:
        if gen != self.gen or self.job is None or self.sim.closed(self.job[0]):
            return
        num, den = str(step).encode(), str(steps).encode()
        self.sim.send_messages(self.job[0], Packet.req(T.WORK_STATUS, self.job[1], num, den))
        if step < steps and self.spec.status_every:
            self.sim.call_later(self.spec.status_every, lambda: self._status(gen, step + 1, steps))

    def _finish(self, gen: int, result: bytes) -> None:
        if gen != self.gen or self.job is None:
            return
        conn, handle = self.job
        self.job = None
        lead: tuple[ConnId, Packet] | None = None
        if not self.sim.closed(conn):
            fail = self.fail
            failed = fail > 0 and self.rng.random() < fail
            report = _req(_WORK_FAIL, handle) if failed else _req(_WORK_COMPLETE, handle, result)
            lead = (conn, report)
            server, inc = self.where[conn]
            self.ledger.finished(server, inc, handle, "failed" if failed else "completed")
        state = self.state
        for c, st in state.items():
            if st is not _GRABBING:
                state[c] = _IDLE
        self._ask(lead)

    def crash(self, restart_after: int | None) -> None:
        """Die mid-job: every connection closes (the server requeues, B-K2); restart later if asked."""
        self.up = False
        self.gen += 1
        self.job = None
        for conn in list(self.state):
            self.sim.close(conn)
        self.state.clear()
        if restart_after is not None:
            self.sim.call_later(restart_after, self.start)
