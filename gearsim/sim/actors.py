"""The scripted actors of a workload run: client and worker instances.

PURE. This module owns ``Client`` and ``Worker`` (how each behaves is in
``gearsim.sim.workload``'s docstring: how clients choose servers, how workers
grab jobs), ``ActorContext`` (what they act on) and the helpers they share.
Every random draw comes from the actor's own ``random.Random``; actors act
only through the simulator's public API and report to the
``gearsim.sim.ledger.Ledger`` (``track``, ``settle``, ``created``,
``started``, ``finished``). They know nothing of the ``Workload`` that made
them.
"""

from __future__ import annotations

import bisect
import enum
import functools
import itertools
import math
import random
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gearsim.protocol.node import TICKS_PER_SECOND, ConnId
from gearsim.protocol.packets import Message, Packet, PacketType
from gearsim.sim.ledger import Ledger, Submission
from gearsim.sim.links import LinkConfig
from gearsim.sim.scenario_model import ClientSpec, ScriptedSubmit, WorkerSpec
from gearsim.sim.simulator import Simulator

__all__ = ["ActorContext", "Client", "GrabState", "Worker", "perl_server_index", "uniform_int"]

T = PacketType
_SUBMIT = {
    (True, "normal"): T.SUBMIT_JOB_BG,
    (True, "high"): T.SUBMIT_JOB_HIGH_BG,
    (True, "low"): T.SUBMIT_JOB_LOW_BG,
    (False, "normal"): T.SUBMIT_JOB,
    (False, "high"): T.SUBMIT_JOB_HIGH,
    (False, "low"): T.SUBMIT_JOB_LOW,
}
# packets without arguments are immutable values: built once
_GRAB_JOB_UNIQ = Packet.req(T.GRAB_JOB_UNIQ)
_PRE_SLEEP = Packet.req(T.PRE_SLEEP)
_req = Packet.req
# hot-path constants (an enum attribute lookup costs more than a global)
_NOOP, _NO_JOB, _JOB_CREATED = T.NOOP, T.NO_JOB, T.JOB_CREATED
_WORK_COMPLETE, _WORK_FAIL, _STATUS_RES, _ERROR = T.WORK_COMPLETE, T.WORK_FAIL, T.STATUS_RES, T.ERROR
_WORK_ENDS = frozenset((T.WORK_COMPLETE, T.WORK_FAIL, T.WORK_EXCEPTION))
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


@dataclass(frozen=True, slots=True)
class ActorContext:
    """What actors act on: the simulator, the ledger they report to, the run's settings."""

    sim: Simulator
    ledger: Ledger
    #: the run's seed: each actor seeds its own generator from it and its name
    seed: int
    #: the scenario's duration: no arrival is scheduled after it
    duration: int
    #: libgearman's socket send buffer, in bytes (see ``Client``)
    send_buffer: int
    #: the link latency, in ticks (a round trip is twice it)
    latency: int
    #: the link of a new connection by the named actor
    link_for: Callable[[str], LinkConfig]


def perl_server_index(key: bytes, servers: int) -> int:
    """Perl Gearman::Client's server index for a task hashed on ``key``."""
    return ((zlib.crc32(key) >> 16) & 0x7FFF) % servers


def uniform_int(rng: random.Random, a: int, b: int) -> int:
    """``rng.randint(a, b)``, drawing the same bits, without randint's argument checks.

    CPython's randint is randrange(a, b + 1), which draws getrandbits(k) for the
    width's bit length k until the value is below the width (tests/unit/test_workload.py
    checks the two agree); a worker draws one per job.
    """
    width = b - a + 1
    bits = width.bit_length()
    getrandbits = rng.getrandbits
    r = getrandbits(bits)
    while r >= width:
        r = getrandbits(bits)
    return a + r


class _Template:
    """A payload or unique template with ``{client}`` filled in for one instance.

    ``fill`` gives what replacing ``{n}``, then ``{client}``, then (drawing
    once) ``{r}`` would give: the placeholders cannot overlap, and a number put
    in for one cannot make another, so the text between the ``{n}`` is filled
    once, here, and a submission only joins it with its number.
    """

    __slots__ = ("constant", "draws", "parts")

    def __init__(self, template: str, instance: int) -> None:
        self.parts = [part.replace("{client}", str(instance)) for part in template.split("{n}")]
        self.draws = "{r}" in template
        #: the encoded text when it is the same for every submission (no ``{n}``, no ``{r}``)
        self.constant = self.parts[0].encode() if len(self.parts) == 1 and not self.draws else None

    def fill(self, number: int, rng: random.Random, space: int) -> str:
        parts = self.parts
        text = parts[0] if len(parts) == 1 else str(number).join(parts)
        if self.draws:
            text = text.replace("{r}", str(rng.randrange(space)))
        return text


class _Choice:
    """A weighted choice among names, drawn with one ``rng.random()``."""

    __slots__ = ("bounds", "names", "only", "total")

    def __init__(self, pairs: tuple[tuple[str, int], ...]) -> None:
        self.names = [name for name, _ in pairs]
        self.bounds = list(itertools.accumulate(w for _, w in pairs))
        self.total = self.bounds[-1]
        #: the one name, when there is no choice (and no draw)
        self.only = self.names[0] if len(self.names) == 1 else None

    def draw(self, rng: random.Random) -> str:
        if self.only is not None:
            return self.only
        return self.names[_bisect_right(self.bounds, rng.random() * self.total)]


_bisect_right = bisect.bisect_right


class Client:
    """One client instance: arrivals, server choice, submissions, results and status polls."""

    def __init__(self, ctx: ActorContext, spec: ClientSpec, instance: int, name: str) -> None:
        self.ctx = ctx
        self.sim = ctx.sim
        #: the simulator's clock: ``now`` read as a plain attribute
        self.clock = ctx.sim.clock
        self.ledger = ctx.ledger
        self.spec = spec
        self.instance = instance
        self.name = name
        self.rng = random.Random(f"{ctx.seed}/client/{name}")
        self.libgearman = spec.library == "libgearman"
        self.functions = _Choice(spec.function)
        self.priorities = _Choice(spec.priority)
        # B-L2: libgearman prepends each added server, so it walks them last-added first
        self.walk = tuple(reversed(spec.servers)) if self.libgearman else spec.servers
        #: _candidates is the walk itself (libgearman, or a single server)
        self.fixed_walk = self.libgearman or len(self.walk) == 1
        self.conn_of: dict[str, ConnId] = {}
        self.where: dict[ConnId, tuple[str, int]] = {}
        self.awaiting: dict[ConnId, deque[Submission]] = {}
        self.foreground: dict[tuple[ConnId, bytes], list[Submission]] = {}
        self.polled: set[tuple[ConnId, bytes]] = set()
        self.flight: dict[ConnId, deque[tuple[int, int]]] = {}
        self.flight_bytes: dict[ConnId, int] = {}
        self.backlog: deque[Submission] = deque()
        self.retry_armed = False
        self.made = 0
        self.next_at = float(spec.start)
        self.polls: list[str] = []
        self.handles: list[str] = []
        # read per submission: worked out once
        self.payload = _Template(spec.payload, instance)
        self.unique = None if spec.unique is None else _Template(spec.unique, instance)
        self.stop = ctx.duration if spec.stop is None else min(spec.stop, ctx.duration)
        self.rtt = max(1, 2 * ctx.latency)
        #: the spec's mode, and whether it makes libgearman generate a unique (B-L1)
        self.background = spec.mode == "background"
        self.generate = self.libgearman and self.background
        #: function name -> its bytes (a submit sends them)
        self.function_bytes = {name: name.encode() for name in self.functions.names}
        self.arrive = self._arrive
        self.receive = self._receive
        self.closed = self._closed
        if spec.script:
            ctx.ledger.active += 1
            self.script_left = len(spec.script)
            for item in spec.script:
                self.sim.call_at(item.at, functools.partial(self._scripted, item))
        elif spec.jobs != 0:
            ctx.ledger.active += 1
            self._schedule(first=True)

    # ------------------------------------------------------------- arrivals

    def _schedule(self, *, first: bool = False) -> None:
        spec = self.spec
        if spec.every is not None:
            self.next_at += 0 if first else spec.every
        elif spec.rate is not None:
            self.next_at += self.rng.expovariate(spec.rate / TICKS_PER_SECOND)
        tick = int(self.next_at)
        if (spec.jobs is not None and self.made >= spec.jobs) or tick > self.stop:
            self.ledger.active -= 1
            return
        now = self.clock.now
        self.sim.call_at(tick if tick > now else now, self.arrive)

    def _arrive(self) -> None:
        self._submit_next()
        self._schedule()

    def _scripted(self, item: ScriptedSubmit) -> None:
        self.submit(item)
        self.script_left -= 1
        if not self.script_left:
            self.ledger.active -= 1

    def _submit_next(self) -> Submission:
        """``submit(None)``: the next submission of the spec alone (an arrival: once per job).

        The same draws in the same order as ``submit``'s: function, priority,
        then the payload's and the unique's ``{r}``.
        """
        spec, rng = self.spec, self.rng
        self.made += 1
        n = self.made
        functions = self.functions
        function = functions.only
        if function is None:
            function = functions.names[_bisect_right(functions.bounds, rng.random() * functions.total)]
        priorities = self.priorities
        priority = priorities.only
        if priority is None:
            priority = priorities.names[_bisect_right(priorities.bounds, rng.random() * priorities.total)]
        if spec.payload_size is not None:
            payload = "x" * spec.payload_size
        else:
            # _Template.fill, inlined
            template = self.payload
            parts = template.parts
            payload = parts[0] if len(parts) == 1 else str(n).join(parts)
            if template.draws:
                payload = payload.replace("{r}", str(rng.randrange(spec.unique_space)))
        unique_template = self.unique
        if unique_template is None:
            # B-L1: libgearman generates a UUID for background jobs; Perl sends none
            unique = str(uuid.UUID(int=rng.getrandbits(128), version=1)).encode() if self.generate else b""
        elif unique_template.constant is not None:
            unique = unique_template.constant  # no {n}, no {r}: the same bytes every time
        else:
            unique = unique_template.fill(n, rng, spec.unique_space).encode()
        sub = Submission(self.name, n, function, unique, payload.encode(), priority, self.background, self.clock.now)
        self.ledger.track(sub)
        if self.backlog:
            self.backlog.append(sub)
        else:
            self._dispatch(sub)
        return sub

    def submit(self, item: ScriptedSubmit | None) -> Submission:
        """Make the next submission (from ``item`` where it says) and send it."""
        if item is None:
            return self._submit_next()
        spec, rng = self.spec, self.rng
        self.made += 1
        n = self.made
        function = item.function if item and item.function else self.functions.draw(rng)
        priority = item.priority if item and item.priority else self.priorities.draw(rng)
        mode = item.mode if item and item.mode else spec.mode
        if item is not None and item.payload is not None:
            payload = item.payload
        elif spec.payload_size is not None:
            payload = "x" * spec.payload_size
        else:
            payload = self.payload.fill(n, rng, spec.unique_space)
        template = self.unique
        if item is not None and item.has_unique:
            template = None if item.unique is None else _Template(item.unique, self.instance)
        if template is None:
            # B-L1: libgearman generates a UUID for background jobs; Perl sends none
            generate = self.libgearman and mode == "background"
            unique = str(uuid.UUID(int=rng.getrandbits(128), version=1)) if generate else ""
        else:
            unique = template.fill(n, rng, spec.unique_space)
        sub = Submission(
            self.name, n, function, unique.encode(), payload.encode(), priority, mode == "background", self.sim.now
        )
        self.ledger.track(sub)
        if self.backlog:
            self.backlog.append(sub)
        else:
            self._dispatch(sub)
        return sub

    # -------------------------------------------------------- server choice

    def _candidates(self, sub: Submission) -> tuple[str, ...]:
        servers = self.walk
        if self.libgearman or len(servers) == 1:
            return servers
        key = sub.key
        start = perl_server_index(key, len(servers)) if key else self.rng.randrange(len(servers))
        return servers[start:] + servers[:start]

    def _conn(self, server: str) -> ConnId | None:
        conn = self.conn_of.get(server)
        if conn is not None and not self.sim.closed(conn):
            return conn
        conn = self.sim.connect(
            server, link=self.ctx.link_for(self.name), label=self.name, on_receive=self.closed, on_messages=self.receive
        )
        if self.sim.closed(conn):
            return None  # refused: COULD_NOT_CONNECT, try the next server
        self.conn_of[server] = conn
        self.where[conn] = (server, self.ledger.incarnation[server])
        self.awaiting[conn] = deque()
        return conn

    def _busy_until(self, conn: ConnId) -> int | None:
        """None when the connection can take a write, else the tick it drains to the buffer size."""
        queue = self.flight.get(conn)
        if not queue:
            return None
        now = self.clock.now
        total = self.flight_bytes[conn]
        while queue and queue[0][0] <= now:
            total -= queue.popleft()[1]
        self.flight_bytes[conn] = total
        limit = self.ctx.send_buffer
        if total <= limit:
            return None
        for ack, size in queue:
            total -= size
            if total <= limit:
                return ack
        return now + 1

    def _dispatch(self, sub: Submission) -> bool:
        """Send ``sub`` to the server its library picks; False when it must wait (all busy)."""
        wait: int | None = None
        conn_of = self.conn_of
        closed = self.sim.closed
        for server in self.walk if self.fixed_walk else self._candidates(sub):
            # _conn's common case first: the server's connection is open
            conn = conn_of.get(server)
            if conn is None or closed(conn):
                conn = self._conn(server)
                if conn is None:
                    continue
            if self.libgearman:
                busy = self._busy_until(conn)
                if busy is not None:
                    wait = busy if wait is None else min(wait, busy)
                    continue
            self._send(conn, server, sub)
            return True
        if wait is None:
            self.ledger.settle(sub, "lost", "no server reachable")
            return True
        if not self.backlog or self.backlog[0] is not sub:
            self.backlog.appendleft(sub)
        if not self.retry_armed:
            self.retry_armed = True
            self.sim.call_at(wait, self._retry)
        return False

    def _retry(self) -> None:
        self.retry_armed = False
        while self.backlog:
            if not self._dispatch(self.backlog[0]):
                return
            self.backlog.popleft()

    def _send(self, conn: ConnId, server: str, sub: Submission) -> None:
        function = self.function_bytes.get(sub.function)
        if function is None:
            function = sub.function.encode()
        packet = _req(_SUBMIT[sub.background, sub.priority], function, sub.unique, sub.payload)
        sim = self.sim
        sim.send_messages(conn, packet)
        sub.server = server
        self.awaiting[conn].append(sub)
        if self.libgearman:
            size = 14 + len(sub.function) + len(sub.unique) + len(sub.payload)
            flight = self.flight.get(conn)
            if flight is None:
                flight = self.flight[conn] = deque()
            flight.append((self.clock.now + self.rtt, size))
            self.flight_bytes[conn] = self.flight_bytes.get(conn, 0) + size

    # ------------------------------------------------------------- replies

    def _receive(self, conn: ConnId, messages: Sequence[Message]) -> None:
        ledger = self.ledger
        for m in messages:
            if type(m) is not Packet:
                continue
            t = m._type  # Packet's own slot (a property read is a call)
            if t is _JOB_CREATED:  # a PacketType member, as the model and the decoder give it
                sub = self.awaiting[conn].popleft()
                try:
                    handle = m._args[0]  # Packet's own slot: the args property is a Python call
                except AttributeError:  # a decoded packet not split yet
                    handle = m.args[0]
                server, inc = self.where[conn]
                ledger.created(sub, server, inc, handle)
                if self.spec.script:
                    self.handles.append(handle.decode("latin-1"))
                if not sub.background:
                    self.foreground.setdefault((conn, handle), []).append(sub)
                elif self.spec.poll_status is not None:
                    self._start_poll(conn, handle)
            elif t in _WORK_ENDS:
                outcome = "completed" if t == _WORK_COMPLETE else "failed"
                for sub in self.foreground.pop((conn, m.args[0]), []):
                    ledger.settle(sub, outcome)
            elif t == _STATUS_RES:
                self._status(conn, m)
            elif t == _ERROR and self.awaiting.get(conn):
                ledger.settle(self.awaiting[conn].popleft(), "failed", f"ERROR {m.args[0].decode('latin-1')}")

    def _closed(self, conn: ConnId) -> None:
        if self.sim.closed(conn):
            self._lost(conn, self.sim.now)

    def _lost(self, conn: ConnId, now: int) -> None:
        ledger = self.ledger
        for sub in self.awaiting.pop(conn, deque()):
            ledger.settle(sub, "lost", "connection closed before JOB_CREATED")
        for key in [k for k in self.foreground if k[0] == conn]:
            for sub in self.foreground.pop(key):
                ledger.settle(sub, "lost", "connection closed before the result")
        for key in [k for k in self.polled if k[0] == conn]:
            self.polled.discard(key)
            self.polls.append("poll ended: connection closed")
            ledger.active -= 1
        self.flight.pop(conn, None)

    # ---------------------------------------------------------------- polls

    def _start_poll(self, conn: ConnId, handle: bytes) -> None:
        self.polled.add((conn, handle))
        self.ledger.active += 1
        self.sim.call_later(self.spec.poll_status or 1, lambda: self._poll(conn, handle))

    def _poll(self, conn: ConnId, handle: bytes) -> None:
        if (conn, handle) in self.polled and not self.sim.closed(conn):
            self.sim.send_messages(conn, Packet.req(T.GET_STATUS, handle))

    def _status(self, conn: ConnId, m: Packet) -> None:
        handle, known, running, num, den = (m.args + (b"",) * 5)[:5]
        if (conn, handle) not in self.polled:
            return
        running_text = "true" if running == b"1" else "false"
        self.polls.append(
            f"{self.sim.now / TICKS_PER_SECOND:g}s Running: {running_text}, numerator: {int(num or 0)}, "
            f"denominator: {int(den or 0)}"
        )
        if known == b"1":
            self.sim.call_later(self.spec.poll_status or 1, lambda: self._poll(conn, handle))
        else:
            self.polled.discard((conn, handle))
            self.polls.append("done!")
            self.ledger.active -= 1


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
