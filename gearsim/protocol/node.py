"""The sans-IO interface between a server implementation and whatever drives it.

PURE. A ``ServerNode`` (the reference model, or any sans-IO server) never sees a
socket or a clock: the driver (the simulator, or the asyncio shell of
``gearsim serve``) tells it about connections, bytes and the current tick, and
it answers with ``Output`` values. Time is an integer tick count; one tick is
one millisecond of virtual (or mapped wall) time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

from gearsim.protocol.packets import Message

__all__ = ["TICKS_PER_SECOND", "Close", "ConnId", "Output", "Send", "ServerNode"]

#: ticks are milliseconds: every conversion between ticks and seconds uses this
TICKS_PER_SECOND: Final[int] = 1000

#: a connection, as numbered by the driver (unique for the driver's lifetime)
ConnId = int


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes the server writes to a connection, and the messages they encode."""

    conn: ConnId
    data: bytes
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True, slots=True)
class Close:
    """The server closes a connection; ``reason`` says why, for traces."""

    conn: ConnId
    reason: str = ""


Output = Send | Close


class ServerNode(Protocol):
    """A Gearman server as a sans-IO state machine."""

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        """A new connection was accepted from ``peer`` (an address for 'workers')."""
        ...

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        """Bytes arrived on ``conn`` (any chunking: the node buffers partial messages)."""
        ...

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        """The other end closed ``conn`` (or the link was cut)."""
        ...

    def next_deadline(self) -> int | None:
        """The earliest tick at which ``advance`` has work to do, or None."""
        ...

    def advance(self, now: int) -> list[Output]:
        """Fire every timer due at or before ``now``."""
        ...
