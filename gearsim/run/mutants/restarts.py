"""Mutants that outlive a restart: the server keeps what a restarted process cannot hold.

PURE. This module owns ``RESTART_MUTATIONS``, the mutants of GM-RESTART-*: each
is the ordinary model until a vector's ``restart_server`` step, and then,
instead of the fresh server the model restarts as
(gearsim.run.model_peer.restarted_server), the same server goes on with
everything it held: jobs, uniques, registrations, the handle counter.
"""

from __future__ import annotations

from typing import Final

from gearsim.model import Server, ServerOptions
from gearsim.model.profiles import Profile
from gearsim.protocol.node import Close, ConnId, Output, Send, ServerNode
from gearsim.run.mutants.mutation import Mutation

__all__ = ["RESTART_MUTATIONS"]


class _Survivor:
    """A ``ServerNode`` that lives through a restart: the old server, holding all it held.

    Only its connections are new: what it sends for a connection of before the
    restart (which the restart cut without telling it) goes nowhere.
    """

    def __init__(self, server: ServerNode) -> None:
        self.server = server
        self.live: set[ConnId] = set()

    def _out(self, outputs: list[Output]) -> list[Output]:
        return [o for o in outputs if not isinstance(o, (Send, Close)) or o.conn in self.live]

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        self.live.add(conn)
        return self._out(self.server.connect(conn, now, peer))

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        return self._out(self.server.receive(conn, data, now))

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        self.live.discard(conn)
        return self._out(self.server.disconnect(conn, now))

    def next_deadline(self) -> int | None:
        return self.server.next_deadline()

    def advance(self, now: int) -> list[Output]:
        return self._out(self.server.advance(now))


def _model(profile: Profile, options: ServerOptions) -> ServerNode:
    return Server(profile, options)


def _same_server(old: ServerNode) -> ServerNode:
    """A restart that keeps the server it restarts, with everything it held (connections cut only)."""
    return _Survivor(old)


RESTART_MUTATIONS: Final[tuple[Mutation, ...]] = (
    Mutation(
        "restart-keeps-registrations",
        "GM-RESTART-002",
        "after a restart the server still holds the abilities of workers connected before it",
        _model,
        restart=_same_server,
    ),
    Mutation(
        "restart-keeps-uniques",
        "GM-RESTART-003",
        "after a restart a submission coalesces with a job lost in the restart",
        _model,
        restart=_same_server,
    ),
)
