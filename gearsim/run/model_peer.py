"""The reference model inside the simulator, as a ``ServerPeer`` for the runner.

PURE. Each case gets a fresh Simulator (seeded) holding a fresh model Server
built with the case's options; every actor's connection is a simulator
connection labelled with the actor's name, so traces read like the vector.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from gearsim.model import Server, ServerOptions
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.node import ConnId, ServerNode
from gearsim.protocol.packets import Message
from gearsim.protocol.trace import TraceRecord
from gearsim.run.runner import check_profile
from gearsim.sim.links import LinkConfig
from gearsim.sim.simulator import Simulator
from gearsim.vectors.parse import Case

__all__ = ["ModelPeerFactory", "Restarted", "SimPeer", "restarted_server"]

_SERVER = "gearmand"


#: builds the server a restart puts in place of the one running (given that one)
Restarted = Callable[[ServerNode], ServerNode]


class SimPeer:
    """A ServerPeer backed by a Simulator running one model server.

    ``restarted`` builds the node a ``restart_server`` step puts in place of the
    running one; without it the peer cannot restart (the step is n/a).
    """

    def __init__(self, sim: Simulator, link: LinkConfig | None = None, restarted: Restarted | None = None) -> None:
        self.sim = sim
        self._link = link
        self._conns: dict[str, ConnId] = {}
        self._boxes: dict[str, deque[Message]] = {}
        if restarted is not None:
            self._restarted = restarted
            self.restart = self._restart

    def _restart(self) -> None:
        """Replace the server by a fresh one now: every connection is cut, nothing the old one held is kept."""
        self._pull()
        self.sim.restart_server(_SERVER, self._restarted(self.sim.node(_SERVER)))
        self.sim.run(until=self.sim.now)
        self._pull()

    def now(self) -> int:
        return self.sim.now

    def connect(self, actor: str) -> None:
        self._conns[actor] = self.sim.connect(_SERVER, link=self._link, label=actor)
        self._boxes[actor] = deque()

    def send(self, actor: str, data: bytes) -> None:
        self.sim.send(self._conns[actor], data)

    def disconnect(self, actor: str) -> None:
        self.sim.close(self._conns[actor])

    def _pull(self) -> None:
        sim = self.sim
        for actor, conn in self._conns.items():
            received = sim.take(conn)
            if received:
                self._boxes[actor].extend(r.message for r in received)

    def wait(self, until: int, ready: Callable[[], bool]) -> None:
        def stop() -> bool:
            self._pull()
            return ready()

        if until < self.sim.now:
            until = self.sim.now
        self.sim.run(until=until, stop_when=stop)
        self._pull()

    def inbox(self, actor: str) -> deque[Message]:
        return self._boxes.setdefault(actor, deque())

    def closed(self, actor: str) -> bool:
        conn = self._conns.get(actor)
        return conn is not None and self.sim.closed(conn)

    def held(self, actor: str) -> str:
        conn = self._conns.get(actor)
        return "" if conn is None else self.sim.held(conn)

    def trace_tail(self, lines: int = 12) -> str:
        return self.sim.trace.tail(lines)

    def records(self) -> tuple[TraceRecord, ...]:
        return tuple(self.sim.trace.records)

    def span(self, ms: int, kind: str) -> int:
        return ms  # virtual time costs nothing: every wait is as long as the vector says


def restarted_server(old: ServerNode, profile: str, options: ServerOptions) -> ServerNode:
    """The model after a restart: a fresh server of the same profile and options.

    Nothing of ``old`` is kept (no stock profile has a persistent queue):
    jobs, uniques, registrations and the handle counter start again, as on
    gearmand, Perl and gear started without one (spec/gearman.md section 23).
    """
    del old  # a restarted process keeps nothing of the one before
    return Server(profile, options)


class ModelPeerFactory:
    """Builds a SimPeer per case: the model under ``profile``, seeded with ``seed``.

    Keeps the trace of every case it built, for ``gearsim run --trace``.
    """

    def __init__(self, profile: str = DEFAULT_PROFILE, seed: int = 0, link: LinkConfig | None = None) -> None:
        """Raises InputError for an unknown ``profile``."""
        self.profile = check_profile(profile)
        self.seed = seed
        self.link = link
        self._traces: list[tuple[str, Simulator]] = []

    def __call__(self, case: Case) -> SimPeer:
        options = ServerOptions(**dict(case.options))  # type: ignore[arg-type]
        sim = Simulator(self.seed)
        sim.add_server(_SERVER, Server(self.profile, options))
        self._traces.append((case.id, sim))
        return SimPeer(sim, self.link, restarted=lambda old: restarted_server(old, self.profile, options))

    def traces(self) -> list[tuple[str, Simulator]]:
        """(case id, simulator) for every case run so far, in order."""
        return list(self._traces)

    def trace_text(self) -> str:
        """The canonical traces of every case run so far, each under a header line."""
        parts = []
        for case_id, sim in self._traces:
            parts.append(f"# case {case_id} (seed {self.seed}, profile {self.profile})\n{sim.trace.text()}")
        return "".join(parts)
