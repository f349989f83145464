"""Workload runs: a ``Scenario`` turned into simulated clients, workers and faults.

PURE. This module owns the set-up of ``gearsim simulate`` runs (servers,
faults, actors), running them, and the ``Results`` read from the
``gearsim.sim.ledger.Ledger`` afterwards; the scripted actors (``Client``,
``Worker``) live in ``gearsim.sim.actors``. Actors are driven by the
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
* Perl Gearman::Client (the Perl client's facts, section (d) of the project's
  protocol facts): with a unique, server index =
  ((CRC32(unique, or the payload when the unique is ``-``) >> 16) & 0x7fff)
  mod server count, moving to the next index when a connect fails; without a
  unique, a random server.

Workers behave like libgearman's: CAN_DO on one connection per server, then
GRAB_JOB_UNIQ on each connection in turn, PRE_SLEEP on all when every one
answered NO_JOB, grab again on NOOP; one job at a time.

What the accounting means (coalesced, duplicate, lost, unfinished) is in
``gearsim.sim.ledger``.
"""

from __future__ import annotations

import functools
import math
import operator
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gearsim.model import Server, ServerOptions
from gearsim.sim.actors import ActorContext, Client
from gearsim.sim.ledger import Ledger
from gearsim.sim.links import Chunking, LinkConfig
from gearsim.sim.scenario_model import Scenario, ServerSpec
from gearsim.sim.simulator import Simulator
from gearsim.sim.worker_actor import Worker

__all__ = ["FunctionStats", "Results", "Workload", "percentile"]

_FINISHED = operator.attrgetter("all_done")
#: the step bound of one run slice: a guard against livelock, not a limit on big runs
_MAX_STEPS = 100_000_000


def percentile(values: Sequence[int], q: float) -> int:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): the ceil(q/100*n)-th smallest.

    Raises:
        ValueError: no values, or ``q`` outside (0, 100].
    """
    if not values or not 0 < q <= 100:
        raise ValueError(f"percentile {q} of {len(values)} values")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


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
        self.ledger = Ledger((s.name for s in scenario.servers), self.sim.clock)
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
                self.sim.call_at(fault.at, functools.partial(self.ledger.restarted, fault.target))
            elif fault.kind == "link-cut":
                self.cuts.setdefault(fault.target, []).append(fault.at)
        ctx = ActorContext(
            sim=self.sim,
            ledger=self.ledger,
            seed=self.seed,
            duration=scenario.duration,
            send_buffer=scenario.send_buffer,
            latency=self.link.latency,
            link_for=self.link_for,
        )
        self.clients: list[Client] = []
        self.workers: list[Worker] = []
        for c in scenario.clients:
            for i in range(c.count):
                self.clients.append(Client(ctx, c, i + 1, c.name if c.count == 1 else f"{c.name}-{i + 1}"))
        groups: dict[str, list[Worker]] = {}
        for w in scenario.workers:
            for i in range(w.count):
                worker = Worker(ctx, w, w.name if w.count == 1 else f"{w.name}-{i + 1}")
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

    def _crash_of(self, group: list[Worker], restart_after: int | None) -> Callable[[], None]:
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

    # ------------------------------------------------------------------ run

    def run(self, on_progress: Callable[[int, int], None] | None = None) -> bool:
        """Run until every submission is settled and no client has work left, or the duration ends.

        ``on_progress(now, duration)`` is called between twenty slices of the run.

        Returns:
            True when the run ended because all work settled.
        """
        end = self.scenario.duration
        sim = self.sim

        # C-level, not a Python call: the loop asks after every event
        done = functools.partial(_FINISHED, self.ledger)

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
        ledger = self.ledger
        reasons = Counter(ledger.lost_reasons)
        held: dict[str, set[bytes]] = {}
        for name in ledger.incarnation:
            node = self.sim.node(name)
            if isinstance(node, Server):
                held[name] = {j.handle for j in node.jobs()}
        functions: dict[str, FunctionStats] = {}
        for sub in ledger.subs:
            st = functions.setdefault(sub.function, FunctionStats())
            st.submitted += 1
            st.coalesced += sub.coalesced
            st.duplicates += sub.duplicate
            outcome = sub.outcome
            if outcome is None:
                key = (sub.server, ledger.incarnation.get(sub.server, -1), sub.handle)
                gone = sub.server in held and key in ledger.live and sub.handle not in held[sub.server]
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
        for rec in ledger.jobs.values():
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
