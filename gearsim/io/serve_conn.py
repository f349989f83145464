"""Per-connection pieces of ``gearsim serve``'s shell: limits, local ends, state, the asyncio protocol (I/O).

``ServeLimits`` says how much one connection may take from the others;
``LocalEnd`` is the harness side of an in-process connection; ``ConnState``
is what the shell keeps per connection (backlog, pauses, timers);
``ShellProtocol`` hands every transport event of one TCP connection to the
shell (``gearsim.io.serve.ServeShell``), which owns all the decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import ConnId

if TYPE_CHECKING:
    from gearsim.io.serve import ServeShell

__all__ = ["ConnState", "LocalEnd", "ServeLimits", "ShellProtocol"]


@dataclass(frozen=True, slots=True)
class ServeLimits:
    """How much one connection may take from the others (operational choices, not protocol).

    Attributes:
        turn_bytes: bytes of one connection handed to the node per event-loop turn.
        idle_timeout: seconds without a byte from a connection before it is
            closed (None: never; sleeping workers are idle too).
        message_timeout: seconds a message may take from its first byte to its
            last before the connection is closed (None: never).
    """

    turn_bytes: int = 64 * 1024
    idle_timeout: float | None = None
    message_timeout: float | None = None


class LocalEnd:
    """The harness side of a local connection: what the server sends arrives in ``on_data``."""

    __slots__ = ("closed", "conn", "on_close", "on_data")

    def __init__(self, conn: ConnId, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        self.conn = conn
        self.on_data = on_data
        self.on_close = on_close
        self.closed = False

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.on_data(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_close()

    def is_closing(self) -> bool:
        return self.closed


class ConnState:
    """What the shell keeps per connection."""

    __slots__ = (
        "backlog",
        "closing",
        "decoder",
        "end",
        "id",
        "last_rx",
        "partial_since",
        "peer",
        "read_paused",
        "scheduled",
        "turn_used",
        "write_paused",
    )

    def __init__(self, conn: ConnId, end: asyncio.Transport | LocalEnd, peer: str, now: float) -> None:
        self.id = conn
        self.end = end
        self.peer = peer
        #: bytes received but not yet handed to the node (fairness), oldest first
        self.backlog: deque[memoryview] = deque()
        self.scheduled = False
        #: bytes handed to the node in this turn of the event loop
        self.turn_used = 0
        self.read_paused = False
        self.write_paused = False
        #: the server side closed it (the node, a timeout, serve's stop): its end is not the peer's doing
        self.closing = False
        self.decoder: Decoder | None = None
        #: loop time of the last byte received, and of the first byte of the unfinished message
        self.last_rx = now
        self.partial_since: float | None = None

    def new_turn(self) -> None:
        self.turn_used = 0


class ShellProtocol(asyncio.Protocol):
    """One accepted TCP connection; everything it sees goes to the shell."""

    __slots__ = ("conn", "shell", "transport")

    def __init__(self, shell: ServeShell) -> None:
        self.shell = shell
        self.conn: ConnId = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream server only makes stream transports (uvloop's do not subclass asyncio.Transport)
        self.transport = cast("asyncio.Transport", transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.conn = self.shell._accept(self.transport, peer)

    def data_received(self, data: bytes) -> None:
        self.shell._receive(self.conn, data)

    def eof_received(self) -> bool:
        return False  # close our side too: Gearman has no half-closed state

    def pause_writing(self) -> None:
        self.shell._writing(self.conn, paused=True)

    def resume_writing(self) -> None:
        self.shell._writing(self.conn, paused=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.shell._lost(self.conn)
