"""The scripted actors of a workload run: client instances, and what all actors share.

PURE. This module owns ``Client`` (how it behaves is in ``gearsim.sim.workload``'s
docstring: how clients choose servers), ``ActorContext`` (what actors act on)
and the helpers they share; the worker instances are
``gearsim.sim.worker_actor``'s.
Every random draw comes from the actor's own ``random.Random``; actors act
only through the simulator's public API and report to the
``gearsim.sim.ledger.Ledger`` (``track``, ``settle``, ``created``,
``started``, ``finished``). They know nothing of the ``Workload`` that made
them.
"""

from __future__ import annotations

import bisect
import functools
import itertools
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
from gearsim.sim.scenario_model import ClientSpec, ScriptedSubmit
from gearsim.sim.simulator import Simulator

__all__ = ["ActorContext", "Client", "perl_server_index", "uniform_int"]

T = PacketType
_SUBMIT = {
    (True, "normal"): T.SUBMIT_JOB_BG,
    (True, "high"): T.SUBMIT_JOB_HIGH_BG,
    (True, "low"): T.SUBMIT_JOB_LOW_BG,
    (False, "normal"): T.SUBMIT_JOB,
    (False, "high"): T.SUBMIT_JOB_HIGH,
    (False, "low"): T.SUBMIT_JOB_LOW,
}
_req = Packet.req
# hot-path constants (an enum attribute lookup costs more than a global)
_JOB_CREATED = T.JOB_CREATED
_WORK_COMPLETE, _STATUS_RES, _ERROR = T.WORK_COMPLETE, T.STATUS_RES, T.ERROR
_WORK_ENDS = frozenset((T.WORK_COMPLETE, T.WORK_FAIL, T.WORK_EXCEPTION))


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
