"""EchoNode, the small ServerNode the simulator engine tests run against, and their helpers.

Shared by tests/unit/test_sim.py and tests/unit/test_sim_failures.py, so those
tests do not depend on the reference model.
"""

from __future__ import annotations

from gearsim.errors import DecodeError
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.node import Close, ConnId, Output, Send
from gearsim.protocol.packets import Message, Packet, PacketType
from gearsim.sim.simulator import Simulator


def echo_req(data: bytes) -> bytes:
    return encode(Packet.req(PacketType.ECHO_REQ, data))


ECHO_RES = PacketType.ECHO_RES


class EchoNode:
    """A tiny sans-IO server.

    ECHO_REQ ``x`` answers ECHO_RES ``x``; ``later:<ms>:x`` answers after ``ms``
    ticks through a timer; ``close`` closes the connection; ``garbage`` answers
    bytes no client can decode; ``cut:x`` answers ECHO_RES ``x`` without its
    last byte. ``log`` records every call the driver makes.
    """

    def __init__(self) -> None:
        self.decoders: dict[ConnId, Decoder] = {}
        self.received: dict[ConnId, bytearray] = {}
        self.timers: list[tuple[int, ConnId, bytes]] = []
        self.log: list[tuple[int, str, ConnId]] = []

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        self.log.append((now, f"connect {peer}", conn))
        self.decoders[conn] = Decoder()
        self.received[conn] = bytearray()
        return []

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        self.log.append((now, f"receive {len(data)}", conn))
        self.received[conn] += data
        out: list[Output] = []
        try:
            messages = self.decoders[conn].feed(data)
        except DecodeError:
            return []
        for message in messages:
            out.extend(self._answer(conn, message, now))
        return out

    def _answer(self, conn: ConnId, message: Message, now: int) -> list[Output]:
        if not isinstance(message, Packet) or message.type != PacketType.ECHO_REQ:
            return []
        body = message.args[0]
        if body == b"close":
            return [Close(conn, "asked to")]
        if body == b"garbage":
            return [Send(conn, b"\0BAD" + bytes(8))]
        if body.startswith(b"cut:"):
            return [Send(conn, encode(Packet.res(ECHO_RES, body[4:]))[:-1])]
        if body.startswith(b"later:"):
            _, delay, rest = body.split(b":", 2)
            self.timers.append((now + int(delay), conn, rest))
            self.timers.sort()
            return []
        reply = Packet.res(ECHO_RES, body)
        return [Send(conn, encode(reply), (reply,))]

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        self.log.append((now, "disconnect", conn))
        self.timers = [t for t in self.timers if t[1] != conn]
        return []

    def next_deadline(self) -> int | None:
        return self.timers[0][0] if self.timers else None

    def advance(self, now: int) -> list[Output]:
        self.log.append((now, "advance", 0))
        out: list[Output] = []
        while self.timers and self.timers[0][0] <= now:
            _, conn, body = self.timers.pop(0)
            reply = Packet.res(ECHO_RES, body)
            out.append(Send(conn, encode(reply), (reply,)))
        return out

    def calls(self, what: str) -> list[tuple[int, ConnId]]:
        return [(t, c) for t, w, c in self.log if w.startswith(what)]


def echo_sim(seed: int = 0, **kwargs: int) -> tuple[Simulator, EchoNode]:
    sim = Simulator(seed, **kwargs)  # type: ignore[arg-type]
    node = EchoNode()
    sim.add_server("gearmand", node)
    return sim, node


def res(data: bytes) -> Packet:
    return Packet.res(ECHO_RES, data)
