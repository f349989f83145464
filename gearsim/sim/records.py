"""The simulator's state records: servers, connections, their pipes and pieces in flight.

PURE. Internal to ``gearsim.sim``: ``ServerSlot`` (one named server: its node,
connections, armed timer, partitions), ``Connection`` (both ends of one
connection: pipes, decoders, the server side's ``ServerSide`` state, the
client's inbox of ``Received`` messages), ``Pipe`` (the ordering state of one
direction) and ``Delivery`` (a piece of bytes in flight, which same-tick
writes may join). ``gearsim.sim.engine.Engine`` changes them; nothing here
schedules or decides anything.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Final, NamedTuple

from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import ConnId, Output, ServerNode
from gearsim.protocol.packets import Message
from gearsim.sim.links import LinkConfig

__all__ = ["Connection", "Delivery", "Pipe", "Received", "ServerSide", "ServerSlot"]


class ServerSide(enum.Enum):
    """The server side of a connection: ``PENDING`` (connect in flight) -> ``OPEN`` -> ``GONE``."""

    #: the connect is on its way through the link
    PENDING = "pending"
    #: the node was told of the connection
    OPEN = "open"
    #: the node closed it, or was told of a close or a cut
    GONE = "gone"


_PENDING: Final = ServerSide.PENDING


class Received(NamedTuple):
    """A message the client side of a connection decoded, and the tick it arrived."""

    tick: int
    message: Message


class ServerSlot:
    """One named server of the simulator: its node, connections, armed timer and partitions."""

    __slots__ = ("conns", "name", "node", "partitions", "take_messages", "timer_at")

    def __init__(self, name: str, node: ServerNode) -> None:
        self.name = name
        self.node = node
        #: the node's ``receive_messages`` when it is a ``MessageNode``
        self.take_messages: Callable[[ConnId, Sequence[Message], int], list[Output] | None] | None = None
        self.serve(node)
        self.conns: list[Connection] = []
        self.timer_at: int | None = None
        self.partitions: list[tuple[int, int | None]] = []

    def serve(self, node: ServerNode) -> None:
        """Let ``node`` serve this slot from now on."""
        self.node = node
        self.take_messages = getattr(node, "receive_messages", None)


class Pipe:
    """Ordering state of one direction: the last scheduled tick, the coalescable piece."""

    __slots__ = ("last", "pending")

    def __init__(self) -> None:
        self.last = 0
        self.pending: Delivery | None = None


class Delivery:
    __slots__ = ("conn", "data", "more", "size", "tick")

    def __init__(self, conn: Connection, data: bytes, tick: int) -> None:
        self.conn = conn
        self.data = data
        self.more: list[bytes] | None = None
        self.size = len(data)
        self.tick = tick

    def add(self, data: bytes) -> None:
        if self.more is None:
            self.more = [self.data]
        self.more.append(data)
        self.size += len(data)

    def payload(self) -> bytes:
        return self.data if self.more is None else b"".join(self.more)


class Connection:
    """Both ends of one simulated connection: pipes, decoders, states, the client's inbox."""

    __slots__ = (
        "coalesce",
        "cs",
        "cut",
        "decoder",
        "drop",
        "hand",
        "id",
        "inbox",
        "label",
        "latency",
        "link",
        "peer",
        "plain",
        "reason",
        "s_state",
        "sc",
        "server",
        "tdec",
        "tpartial",
        "watch",
    )

    def __init__(self, cid: ConnId, server: ServerSlot, link: LinkConfig, peer: str, label: str) -> None:
        self.id = cid
        self.server = server
        self.link = link
        self.plain = link.plain
        self.latency = link.latency
        self.coalesce = link.coalesces
        self.drop = link.drop
        self.peer = peer
        self.label = label
        self.cs = Pipe()
        self.sc = Pipe()
        self.decoder = Decoder()
        # decodes the client's writes for the trace only; None once they stop framing
        self.tdec: Decoder | None = Decoder()
        #: ``tdec`` holds part of a message (the client wrote an incomplete one)
        self.tpartial = False
        self.inbox: list[Received] = []
        self.s_state = _PENDING
        self.reason: str | None = None
        self.cut = False
        #: called with the connection id when the client end decodes messages or closes
        self.watch: Callable[[ConnId], None] | None = None
        #: called with the connection id and the messages the client end decoded,
        #: instead of queueing them in ``inbox`` (offsets not stamped on a plain link)
        self.hand: Callable[[ConnId, Sequence[Message]], None] | None = None
