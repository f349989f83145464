"""Workload runs: a ``Scenario`` turned into simulated clients, workers and faults.

PURE. This module owns the scripted actors of ``gearsim simulate`` and the
accounting of what became of every submission. Actors are driven by the
simulator's ``call_at``/``call_later`` and by the packets they receive (the
``on_receive`` hook of ``Simulator.connect``); every random draw (arrivals,
job durations, payload keys, failures) comes from a ``random.Random`` owned by
each actor and seeded from the run's seed and the actor's name, so adding an
actor never shifts another actor's draws.

Clients choose a server per submission as their library does:

* libgearman (B-L2): servers are prepended, so the walk starts at the server
  added last; a task takes the first connection that is not busy sending and
  moves on only when a connect fails. "Busy sending" is modelled as bytes
  written within the last round trip exceeding the socket send buffer
  (``send_buffer``); when every connection is busy the task waits (IO_WAIT).
  No hashing: coalescing across a pool holds only while every client's first
  server is the same and reachable.
* Perl Gearman::Client (protocol-facts (d)): with a unique, server index =
  ((CRC32(unique, or the payload when the unique is ``-``) >> 16) & 0x7fff)
  mod server count, moving to the next index when a connect fails; without a
  unique, a random server.

Workers behave like libgearman's: CAN_DO on one connection per server, then
GRAB_JOB_UNIQ on each connection in turn, PRE_SLEEP on all when every one
answered NO_JOB, grab again on NOOP; one job at a time.

The accounting is an oracle with global knowledge: a job is identified by
(server, incarnation, handle), where a server restart starts a new
incarnation. A submission is *coalesced* when its JOB_CREATED names a job
already alive, a *duplicate* when it created a new job while a job of the same
function and unique was alive elsewhere in the pool (coalescing broke), and it
ends *completed*, *failed*, *lost* (with a reason) or *unfinished*.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gearsim.links import Chunking, LinkConfig
from gearsim.model import Server, ServerOptions
from gearsim.node import ConnId
from gearsim.packets import Packet, PacketType
from gearsim.scenario import ClientSpec, Scenario, ScriptedSubmit, ServerSpec, WorkerSpec
from gearsim.sim import Simulator

__all__ = ["FunctionStats", "JobRecord", "Results", "Submission", "Workload", "percentile", "perl_server_index"]

T = PacketType
_SUBMIT = {
    (True, "normal"): T.SUBMIT_JOB_BG,
    (True, "high"): T.SUBMIT_JOB_HIGH_BG,
    (True, "low"): T.SUBMIT_JOB_LOW_BG,
    (False, "normal"): T.SUBMIT_JOB,
    (False, "high"): T.SUBMIT_JOB_HIGH,
    (False, "low"): T.SUBMIT_JOB_LOW,
}
_ASSIGN = (T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL)
_IDLE, _GRABBING, _EMPTY, _SLEEPING = range(4)
#: the step bound of one run slice: a guard against livelock, not a limit on big runs
_MAX_STEPS = 100_000_000

JobKey = tuple[str, int, bytes]


def perl_server_index(key: bytes, servers: int) -> int:
    """Perl Gearman::Client's server index for a task hashed on ``key``."""
    return ((zlib.crc32(key) >> 16) & 0x7FFF) % servers


def percentile(values: Sequence[int], q: float) -> int:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): the ceil(q/100*n)-th smallest.

    Raises:
        ValueError: no values, or ``q`` outside (0, 100].
    """
    if not values or not 0 < q <= 100:
        raise ValueError(f"percentile {q} of {len(values)} values")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@dataclass(slots=True, eq=False)
class Submission:
    """One submission by one client instance, and what became of it."""

    client: str
    number: int
    function: str
    unique: bytes
    payload: bytes
    priority: str
    background: bool
    at: int
    server: str = ""
    handle: bytes = b""
    coalesced: bool = False
    duplicate: bool = False
    outcome: str | None = None
    reason: str = ""
    done_at: int | None = None

    @property
    def key(self) -> bytes:
        """What gearmand coalesces on: the unique, or the payload for ``-``."""
        return self.payload if self.unique == b"-" else self.unique


@dataclass(slots=True, eq=False)
class JobRecord:
    """One job on one server incarnation, as the oracle saw it."""

    key: JobKey
    function: str
    unique: bytes
    created: int
    subs: list[Submission] = field(default_factory=list)
    runs: int = 0
    outcome: str | None = None
    done_at: int | None = None


@dataclass(slots=True)
class FunctionStats:
    """Counts and latencies of one function (latencies of completed submissions, in ticks)."""

    submitted: int = 0
    jobs: int = 0
    coalesced: int = 0
    duplicates: int = 0
    completed: int = 0
    failed: int = 0
    lost: int = 0
    unfinished: int = 0
    reruns: int = 0
    latencies: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Results:
    """What a run produced."""

    scenario: str
    seed: int
    virtual: int
    settled: bool
    functions: dict[str, FunctionStats]
    lost_reasons: Counter[str]
    jobs_per_server: dict[str, int]
    polls: dict[str, list[str]]
    handles: dict[str, list[str]]
    packets: int
    trace_sha256: str = ""

    def totals(self) -> FunctionStats:
        """The counts summed over functions (latencies concatenated)."""
        total = FunctionStats()
        for st in self.functions.values():
            for name in ("submitted", "jobs", "coalesced", "duplicates", "completed", "failed", "lost"):
                setattr(total, name, getattr(total, name) + getattr(st, name))
            total.unfinished += st.unfinished
            total.reruns += st.reruns
            total.latencies += st.latencies
        return total


def _fill(template: str, number: int, instance: int, rng: random.Random, space: int) -> str:
    text = template.replace("{n}", str(number)).replace("{client}", str(instance))
    if "{r}" in text:
        text = text.replace("{r}", str(rng.randrange(space)))
    return text


class _Choice:
    """A weighted choice among names, drawn with one ``rng.random()``."""

    __slots__ = ("bounds", "names", "total")

    def __init__(self, pairs: tuple[tuple[str, int], ...]) -> None:
        self.names = [name for name, _ in pairs]
        self.bounds = list(itertools.accumulate(w for _, w in pairs))
        self.total = self.bounds[-1]

    def draw(self, rng: random.Random) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return self.names[bisect.bisect_right(self.bounds, rng.random() * self.total)]


class _Client:
    """One client instance: arrivals, server choice, submissions, results and status polls."""

    def __init__(self, wl: Workload, spec: ClientSpec, instance: int, name: str) -> None:
        self.wl = wl
        self.sim = wl.sim
        self.spec = spec
        self.instance = instance
        self.name = name
        self.rng = random.Random(f"{wl.seed}/client/{name}")
        self.libgearman = spec.library == "libgearman"
        self.functions = _Choice(spec.function)
        self.priorities = _Choice(spec.priority)
        # B-L2: libgearman prepends each added server, so it walks them last-added first
        self.walk = tuple(reversed(spec.servers)) if self.libgearman else spec.servers
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
        if spec.script:
            wl.active += 1
            self.script_left = len(spec.script)
            for item in spec.script:
                self.sim.call_at(item.at, functools.partial(self._scripted, item))
        elif spec.jobs != 0:
            wl.active += 1
            self._schedule(first=True)

    # ------------------------------------------------------------- arrivals

    def _schedule(self, *, first: bool = False) -> None:
        spec = self.spec
        if spec.every is not None:
            self.next_at += 0 if first else spec.every
        elif spec.rate is not None:
            self.next_at += self.rng.expovariate(spec.rate / 1000)
        tick = int(self.next_at)
        stop = self.wl.scenario.duration if spec.stop is None else min(spec.stop, self.wl.scenario.duration)
        if (spec.jobs is not None and self.made >= spec.jobs) or tick > stop:
            self.wl.active -= 1
            return
        self.sim.call_at(max(tick, self.sim.now), self._arrive)

    def _arrive(self) -> None:
        self.submit(None)
        self._schedule()

    def _scripted(self, item: ScriptedSubmit) -> None:
        self.submit(item)
        self.script_left -= 1
        if not self.script_left:
            self.wl.active -= 1

    def submit(self, item: ScriptedSubmit | None) -> Submission:
        """Make the next submission (from ``item`` where it says) and send it."""
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
            payload = _fill(spec.payload, n, self.instance, rng, spec.unique_space)
        template = item.unique if item is not None and item.has_unique else spec.unique
        if template is None:
            # B-L1: libgearman generates a UUID for background jobs; Perl sends none
            generate = self.libgearman and mode == "background"
            unique = str(uuid.UUID(int=rng.getrandbits(128), version=1)) if generate else ""
        else:
            unique = _fill(template, n, self.instance, rng, spec.unique_space)
        sub = Submission(
            self.name, n, function, unique.encode(), payload.encode(), priority, mode == "background", self.sim.now
        )
        self.wl.track(sub)
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
        conn = self.sim.connect(server, link=self.wl.link_for(self.name), label=self.name, on_receive=self._receive)
        if self.sim.closed(conn):
            return None  # refused: COULD_NOT_CONNECT, try the next server
        self.conn_of[server] = conn
        self.where[conn] = (server, self.wl.incarnation[server])
        self.awaiting[conn] = deque()
        return conn

    def _busy_until(self, conn: ConnId) -> int | None:
        """None when the connection can take a write, else the tick it drains to the buffer size."""
        queue = self.flight.get(conn)
        if not queue:
            return None
        now = self.sim.now
        total = self.flight_bytes[conn]
        while queue and queue[0][0] <= now:
            total -= queue.popleft()[1]
        self.flight_bytes[conn] = total
        limit = self.wl.scenario.send_buffer
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
        for server in self._candidates(sub):
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
            self.wl.settle(sub, "lost", "no server reachable")
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
        packet = Packet.req(_SUBMIT[sub.background, sub.priority], sub.function.encode(), sub.unique, sub.payload)
        self.sim.send_messages(conn, packet)
        sub.server = server
        self.awaiting[conn].append(sub)
        if self.libgearman:
            size = 14 + len(sub.function) + len(sub.unique) + len(sub.payload)
            ack = self.sim.now + max(1, 2 * self.wl.link.latency)
            self.flight.setdefault(conn, deque()).append((ack, size))
            self.flight_bytes[conn] = self.flight_bytes.get(conn, 0) + size

    # ------------------------------------------------------------- replies

    def _receive(self, conn: ConnId) -> None:
        wl = self.wl
        now = self.sim.now
        for received in self.sim.take(conn):
            m = received.message
            if not isinstance(m, Packet):
                continue
            t = m.type
            if t == T.JOB_CREATED:
                sub = self.awaiting[conn].popleft()
                handle = m.args[0]
                server, inc = self.where[conn]
                wl.created(sub, server, inc, handle)
                if self.spec.script:
                    self.handles.append(handle.decode("latin-1"))
                if not sub.background:
                    self.foreground.setdefault((conn, handle), []).append(sub)
                elif self.spec.poll_status is not None:
                    self._start_poll(conn, handle)
            elif t in (T.WORK_COMPLETE, T.WORK_FAIL, T.WORK_EXCEPTION):
                outcome = "completed" if t == T.WORK_COMPLETE else "failed"
                for sub in self.foreground.pop((conn, m.args[0]), []):
                    wl.settle(sub, outcome)
            elif t == T.STATUS_RES:
                self._status(conn, m)
            elif t == T.ERROR and self.awaiting.get(conn):
                wl.settle(self.awaiting[conn].popleft(), "failed", f"ERROR {m.args[0].decode('latin-1')}")
        if self.sim.closed(conn):
            self._lost(conn, now)

    def _lost(self, conn: ConnId, now: int) -> None:
        wl = self.wl
        for sub in self.awaiting.pop(conn, deque()):
            wl.settle(sub, "lost", "connection closed before JOB_CREATED")
        for key in [k for k in self.foreground if k[0] == conn]:
            for sub in self.foreground.pop(key):
                wl.settle(sub, "lost", "connection closed before the result")
        for key in [k for k in self.polled if k[0] == conn]:
            self.polled.discard(key)
            self.polls.append("poll ended: connection closed")
            wl.active -= 1
        self.flight.pop(conn, None)

    # ---------------------------------------------------------------- polls

    def _start_poll(self, conn: ConnId, handle: bytes) -> None:
        self.polled.add((conn, handle))
        self.wl.active += 1
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
            f"{self.sim.now / 1000:g}s Running: {running_text}, numerator: {int(num or 0)}, "
            f"denominator: {int(den or 0)}"
        )
        if known == b"1":
            self.sim.call_later(self.spec.poll_status or 1, lambda: self._poll(conn, handle))
        else:
            self.polled.discard((conn, handle))
            self.polls.append("done!")
            self.wl.active -= 1


class _Worker:
    """One worker instance: a connection per server, one job at a time, libgearman's grab loop."""

    def __init__(self, wl: Workload, spec: WorkerSpec, name: str) -> None:
        self.wl = wl
        self.sim = wl.sim
        self.spec = spec
        self.name = name
        self.rng = random.Random(f"{wl.seed}/worker/{name}")
        self.state: dict[ConnId, int] = {}
        self.where: dict[ConnId, tuple[str, int]] = {}
        self.job: tuple[ConnId, bytes] | None = None
        self.gen = 0
        self.up = False
        self.can_do = [Packet.req(T.CAN_DO, f.encode()) for f in spec.functions]
        self.sim.call_at(spec.start, self.start)

    def start(self) -> None:
        self.up = True
        for server in self.spec.servers:
            self._open(server)

    def _open(self, server: str) -> None:
        if not self.up:
            return
        sim = self.sim
        conn = sim.connect(server, link=self.wl.link_for(self.name), label=self.name, on_receive=self._receive)
        if sim.closed(conn):
            sim.call_later(self.spec.reconnect, lambda: self._open(server))
            return
        self.where[conn] = (server, self.wl.incarnation[server])
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
        grab: ConnId | None = None
        if self.job is None and self.up and _GRABBING not in state.values():
            grab = next((c for c, st in state.items() if st == _IDLE), None)
        if lead is not None:
            if lead[0] == grab:
                state[grab] = _GRABBING
                sim.send_messages(grab, lead[1], Packet.req(T.GRAB_JOB_UNIQ))
                return
            sim.send_messages(*lead)
        if self.job is not None or not self.up or _GRABBING in state.values():
            return
        if grab is not None:
            state[grab] = _GRABBING
            sim.send_messages(grab, Packet.req(T.GRAB_JOB_UNIQ))
            return
        for conn, st in state.items():
            if st == _EMPTY:
                state[conn] = _SLEEPING
                sim.send_messages(conn, Packet.req(T.PRE_SLEEP))

    def _receive(self, conn: ConnId) -> None:
        state = self.state
        for received in self.sim.take(conn):
            m = received.message
            if not isinstance(m, Packet) or conn not in state:
                continue
            t = m.type
            if t == T.NOOP:
                if state[conn] == _SLEEPING:
                    state[conn] = _IDLE
                self._ask()
            elif t == T.NO_JOB:
                state[conn] = _EMPTY
                self._ask()
            elif t in _ASSIGN:
                state[conn] = _IDLE
                self._begin(conn, m.args[0], m.args[-1])
        if self.sim.closed(conn) and conn in state:
            del state[conn]
            server = self.where[conn][0]
            self.sim.call_later(self.spec.reconnect, lambda: self._open(server))
            self._ask()

    def _draw(self, payload: bytes) -> int:
        d = self.spec.duration
        if d.kind == "uniform":
            return self.rng.randint(d.a, d.b)
        if d.kind == "exponential":
            return int(self.rng.expovariate(1 / d.a)) if d.a else 0
        if d.kind == "payload_seconds":
            return int(payload.decode("latin-1").strip() or 0) * 1000 if payload.strip().isdigit() else 0
        if d.kind == "per_payload_byte":
            return d.a * len(payload)
        return d.a

    def _begin(self, conn: ConnId, handle: bytes, payload: bytes) -> None:
        self.job = (conn, handle)
        self.gen += 1
        gen = self.gen
        server, inc = self.where[conn]
        self.wl.started(server, inc, handle)
        duration = self._draw(payload)
        every = self.spec.status_every
        if every is not None:
            steps = max(1, math.ceil(duration / every))
            self._status(gen, 1, steps)
        result = payload[::-1] if self.spec.result == "reverse" else payload if self.spec.result == "echo" else b""
        self.sim.call_later(duration, lambda: self._finish(gen, result))

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
            failed = self.spec.fail > 0 and self.rng.random() < self.spec.fail
            report = Packet.req(T.WORK_FAIL, handle) if failed else Packet.req(T.WORK_COMPLETE, handle, result)
            lead = (conn, report)
            server, inc = self.where[conn]
            self.wl.finished(server, inc, handle, "failed" if failed else "completed")
        state = self.state
        for c, st in state.items():
            if st != _GRABBING:
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


class Workload:
    """A scenario set up in a fresh ``Simulator``; ``run()`` it, then read ``results()``.

    Args:
        scenario: what to run.
        seed: overrides the scenario's seed (the simulator's and every actor's draws).
    """

    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.link = LinkConfig(latency=scenario.latency, jitter=scenario.jitter, chunking=Chunking(scenario.chunking))
        self.sim = Simulator(
            self.seed, default_link=self.link, trace_deliveries=scenario.trace_deliveries, max_steps=_MAX_STEPS
        )
        self.incarnation = {s.name: 0 for s in scenario.servers}
        self.jobs: dict[JobKey, JobRecord] = {}
        self.live: dict[JobKey, JobRecord] = {}
        self.alive_keys: Counter[tuple[str, bytes]] = Counter()
        self.subs: list[Submission] = []
        self.lost_reasons: Counter[str] = Counter()
        self.unsettled = 0
        self.active = 0
        self.settled = False
        self.cuts: dict[str, list[int]] = {}
        specs = {s.name: s for s in scenario.servers}
        for spec in scenario.servers:
            self.sim.add_server(spec.name, self._server(spec))
        for fault in scenario.faults:  # before the actors: a fault runs first among same-tick events
            if fault.kind == "partition":
                self.sim.partition(fault.target, fault.at, fault.until)
            elif fault.kind == "server-restart":
                self.sim.restart_server(fault.target, self._server(specs[fault.target]), at=fault.at)
                self.sim.call_at(fault.at, functools.partial(self._restarted, fault.target))
            elif fault.kind == "link-cut":
                self.cuts.setdefault(fault.target, []).append(fault.at)
        self.clients: list[_Client] = []
        self.workers: list[_Worker] = []
        for c in scenario.clients:
            for i in range(c.count):
                self.clients.append(_Client(self, c, i + 1, c.name if c.count == 1 else f"{c.name}-{i + 1}"))
        groups: dict[str, list[_Worker]] = {}
        for w in scenario.workers:
            for i in range(w.count):
                worker = _Worker(self, w, w.name if w.count == 1 else f"{w.name}-{i + 1}")
                self.workers.append(worker)
                groups.setdefault(w.name, []).append(worker)
                groups[worker.name] = [worker]
        for fault in scenario.faults:
            if fault.kind == "worker-crash":
                crash = self._crash_of(groups[fault.target], fault.restart_after)
                self.sim.call_at(fault.at, crash)

    def _server(self, spec: ServerSpec) -> Server:
        options = ServerOptions(node=spec.name, worker_wakeup=spec.worker_wakeup, job_retries=spec.job_retries)
        return Server(spec.profile, options)

    def _crash_of(self, group: list[_Worker], restart_after: int | None) -> Callable[[], None]:
        def crash() -> None:
            # a group crashes its first busy worker (mid-job), else its first worker
            victim = next((w for w in group if w.job is not None), group[0])
            victim.crash(restart_after)

        return crash

    def link_for(self, actor: str) -> LinkConfig:
        """The link of a new connection by ``actor``: cut at its next link-cut fault, if any."""
        now = self.sim.now
        ahead = [t for t in self.cuts.get(actor, ()) if t > now]
        if not ahead:
            return self.link
        return LinkConfig(self.link.latency, self.link.jitter, self.link.chunking, cut_at=min(ahead))

    # --------------------------------------------------------------- oracle

    def track(self, sub: Submission) -> None:
        """A new submission exists."""
        self.subs.append(sub)
        self.unsettled += 1

    def settle(self, sub: Submission, outcome: str, reason: str = "") -> None:
        """Give ``sub`` its outcome (the first one sticks)."""
        if sub.outcome is not None:
            return
        sub.outcome = outcome
        sub.reason = reason
        sub.done_at = self.sim.now
        self.unsettled -= 1
        if outcome == "lost":
            self.lost_reasons[reason] += 1

    def created(self, sub: Submission, server: str, inc: int, handle: bytes) -> None:
        """A JOB_CREATED for ``sub``: a new job, or a coalesced one."""
        key = (server, inc, handle)
        sub.handle = handle
        rec = self.jobs.get(key)
        if rec is None:
            rec = self.jobs[key] = self.live[key] = JobRecord(key, sub.function, sub.key, self.sim.now)
            if rec.unique:
                ukey = (sub.function, rec.unique)
                sub.duplicate = self.alive_keys[ukey] > 0
                self.alive_keys[ukey] += 1
        else:
            sub.coalesced = True
        rec.subs.append(sub)
        if rec.outcome is not None and sub.background:
            self.settle(sub, rec.outcome)
            sub.done_at = max(sub.at, rec.done_at or sub.at)

    def started(self, server: str, inc: int, handle: bytes) -> None:
        """A worker was assigned the job."""
        rec = self.jobs.get((server, inc, handle))
        if rec is not None:
            rec.runs += 1

    def _end(self, rec: JobRecord, outcome: str) -> None:
        rec.outcome = outcome
        rec.done_at = self.sim.now
        self.live.pop(rec.key, None)
        if rec.unique:
            self.alive_keys[rec.function, rec.unique] -= 1

    def finished(self, server: str, inc: int, handle: bytes, outcome: str) -> None:
        """A worker sent WORK_COMPLETE or WORK_FAIL; background submissions settle now."""
        rec = self.jobs.get((server, inc, handle))
        if rec is None or rec.outcome is not None:
            return
        self._end(rec, outcome)
        for sub in rec.subs:
            if sub.background:
                self.settle(sub, outcome)

    def _restarted(self, server: str) -> None:
        old = self.incarnation[server]
        self.incarnation[server] = old + 1
        for rec in [r for k, r in self.live.items() if k[0] == server and k[1] == old]:
            self._end(rec, "lost")
            for sub in rec.subs:
                self.settle(sub, "lost", "server restart: in-memory queue gone")

    # ------------------------------------------------------------------ run

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> bool:
        """Run until every submission is settled and no client has work left, or the duration ends.

        ``on_progress(now, duration)`` is called between twenty slices of the run.

        Returns:
            True when the run ended because all work settled.
        """
        end = self.scenario.duration
        sim = self.sim

        def done() -> bool:
            return self.unsettled == 0 and self.active == 0

        if on_progress is None:
            self.settled = sim.run(until=end, stop_when=done)
            return self.settled
        step = max(1, end // 20)
        while not self.settled and sim.now < end:
            self.settled = sim.run(until=min(end, sim.now + step), stop_when=done)
            on_progress(sim.now, end)
        return self.settled

    def results(self) -> Results:
        """Counts, latencies, polls and handles of the run so far (call after ``run``)."""
        reasons = Counter(self.lost_reasons)
        held: dict[str, set[bytes]] = {}
        for name in self.incarnation:
            node = self.sim.node(name)
            if isinstance(node, Server):
                held[name] = {j.handle for j in node.jobs()}
        functions: dict[str, FunctionStats] = {}
        for sub in self.subs:
            st = functions.setdefault(sub.function, FunctionStats())
            st.submitted += 1
            st.coalesced += sub.coalesced
            st.duplicates += sub.duplicate
            outcome = sub.outcome
            if outcome is None:
                key = (sub.server, self.incarnation.get(sub.server, -1), sub.handle)
                gone = sub.server in held and key in self.live and sub.handle not in held[sub.server]
                outcome = "lost" if gone else "unfinished"
                if gone:
                    reasons["dropped by the server"] += 1
            if outcome == "completed":
                st.completed += 1
                st.latencies.append((sub.done_at or 0) - sub.at)
            elif outcome == "failed":
                st.failed += 1
            elif outcome == "lost":
                st.lost += 1
            else:
                st.unfinished += 1
        per_server: Counter[str] = Counter()
        for rec in self.jobs.values():
            st = functions.setdefault(rec.function, FunctionStats())
            st.jobs += 1
            st.reruns += max(0, rec.runs - 1)
            per_server[rec.key[0]] += 1
        packets = sum(1 for r in self.sim.trace.records if r.kind == "send" and r.message is not None)
        return Results(
            scenario=self.scenario.name,
            seed=self.seed,
            virtual=self.sim.now,
            settled=self.settled,
            functions=dict(sorted(functions.items())),
            lost_reasons=reasons,
            jobs_per_server={s.name: per_server[s.name] for s in self.scenario.servers},
            polls={c.name: c.polls for c in self.clients if c.polls},
            handles={c.name: c.handles for c in self.clients if c.handles},
            packets=packets,
        )
