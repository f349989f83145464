"""The ``ServerPeer`` protocol: a server under test as the runner sees it, from its clients' side of the wire.

PURE. This module owns ``ServerPeer`` (connect, send, receive within a time,
close, the peer's clock) and ``PeerFactory`` (a fresh peer per case). The
reference model in the simulator (gearsim.run.model_peer) and a real server
over TCP (gearsim.io.tcp) both implement it, so the same vectors judge both.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from gearsim.protocol.packets import Message
from gearsim.protocol.trace import TraceRecord
from gearsim.vectors.parse import Case

__all__ = ["PeerFactory", "ServerPeer"]


class ServerPeer(Protocol):
    """A server under test, seen from its clients' side of the wire.

    Each actor of a case owns at most one connection at a time. Received
    messages queue in ``inbox(actor)`` until the runner pops them.
    """

    def now(self) -> int:
        """Current time in ms (virtual for the simulator, wall for TCP)."""
        ...

    def connect(self, actor: str) -> None:
        """Open a connection for ``actor``."""
        ...

    def send(self, actor: str, data: bytes) -> None:
        """Write bytes on the actor's connection."""
        ...

    def disconnect(self, actor: str) -> None:
        """Close the actor's connection from the client side."""
        ...

    def wait(self, until: int, ready: Callable[[], bool]) -> None:
        """Let time pass until ``until`` or until ``ready()`` is true, whichever is first."""
        ...

    def inbox(self, actor: str) -> deque[Message]:
        """Messages received on the actor's connection and not yet consumed."""
        ...

    def closed(self, actor: str) -> bool:
        """True once the server (or the link) closed the actor's connection."""
        ...

    def held(self, actor: str) -> str:
        """What the actor's connection holds of a message not yet whole (``gearsim.protocol.trace.held_text``).

        '' when it holds nothing, or has no connection: for a report of a
        reply that did not come, whose first bytes may have.
        """
        ...

    def trace_tail(self, lines: int = 12) -> str:
        """The last lines of the peer's trace, for failure reports."""
        ...

    def records(self) -> tuple[TraceRecord, ...]:
        """Everything the peer recorded, in order (records labelled by actor)."""
        ...

    # A peer that can restart its server also has ``restart() -> None``: it stops the
    # server, starts it again on the same address and returns once it serves; every
    # connection is then closed (the actors connect again). The runner looks it up
    # with getattr, so peers that cannot (a user's long-lived server) need not define it.

    def span(self, ms: int, kind: str) -> int:
        """How long to really wait for a vector's ``ms`` of ``kind``.

        ``kind`` is ``advance``, ``silence``, ``within`` (the most an expect
        waits) or ``settle`` (the end-of-case wait for strays). The simulator
        returns ``ms``; a wall-clock peer may shorten advances and silences
        that no server timer depends on, and lengthen expect timeouts.
        """
        ...


#: builds a fresh peer for a case (options applied, profile chosen)
PeerFactory = Callable[[Case], ServerPeer]
