"""A conversation helper for the reference server model, and checks of the helper.

Tests elsewhere (test_model_*.py) read as conversations: connect named
connections, send packets or admin lines, and look at what each connection
received, decoded by a client-side gearsim.protocol.codec.Decoder.
"""

from __future__ import annotations

from typing import Any

from gearsim.model import Server, ServerOptions
from gearsim.protocol.codec import Decoder, encode, encode_admin
from gearsim.protocol.node import Close, Output, Send
from gearsim.protocol.packets import AdminLine, Message, Packet, PacketType

T = PacketType


def req(type_: PacketType | int, *args: bytes) -> Packet:
    return Packet.req(type_, *args)


def res(type_: PacketType | int, *args: bytes) -> Packet:
    return Packet.res(type_, *args)


class Conversation:
    """Named connections to one model server, in virtual time."""

    def __init__(self, profile: str = "gearmand-1.1", **options: Any) -> None:
        options.setdefault("node", "vm")
        self.server = Server(profile, ServerOptions(**options))
        self.now = 0
        self.ids: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.decoders: dict[str, Decoder] = {}
        self.closed: set[str] = set()

    def connect(self, *names: str, peer: str = "127.0.0.1") -> None:
        for name in names:
            self.ids[name] = len(self.ids) + 1
            self.names[self.ids[name]] = name
            self.decoders[name] = Decoder()
            assert self.server.connect(self.ids[name], self.now, peer) == []

    def send(self, name: str, *messages: Packet | AdminLine | bytes) -> dict[str, list[Message]]:
        """Send messages (or raw bytes) from ``name``; what every connection received."""
        data = b"".join(
            m if isinstance(m, bytes) else encode(m) if isinstance(m, Packet) else encode_admin(m) for m in messages
        )
        return self._collect(self.server.receive(self.ids[name], data, self.now))

    def admin(self, name: str, line: bytes) -> bytes:
        """Send one admin line (with its end of line); the raw reply bytes."""
        outputs = self.server.receive(self.ids[name], line, self.now)
        self._collect(outputs)
        return b"".join(o.data for o in outputs if isinstance(o, Send) and o.conn == self.ids[name])

    def close(self, name: str) -> dict[str, list[Message]]:
        self.closed.add(name)
        return self._collect(self.server.disconnect(self.ids[name], self.now))

    def wait(self, ms: int) -> dict[str, list[Message]]:
        """Let ``ms`` ticks pass, firing every deadline on the way."""
        target = self.now + ms
        outputs: list[Output] = []
        while (deadline := self.server.next_deadline()) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            outputs += self.server.advance(self.now)
        self.now = target
        return self._collect(outputs)

    def _collect(self, outputs: list[Output]) -> dict[str, list[Message]]:
        got: dict[str, list[Message]] = {}
        for output in outputs:
            name = self.names[output.conn]
            if isinstance(output, Close):
                self.closed.add(name)
                got.setdefault(name, [])
                continue
            decoded = self.decoders[name].feed(output.data)
            assert list(output.messages) == decoded, "Send.messages must match Send.data"
            got.setdefault(name, []).extend(decoded)
        return got


# ----------------------------------------------------------- the helper itself


def test_helper_decodes_what_each_connection_received() -> None:
    talk = Conversation()
    talk.connect("client")
    assert talk.send("client", req(T.ECHO_REQ, b"hi")) == {"client": [res(T.ECHO_RES, b"hi")]}


def test_helper_records_closes() -> None:
    talk = Conversation()
    talk.connect("client")
    assert talk.send("client", req(99)) == {"client": []}
    assert "client" in talk.closed
