"""Bytes to and from a served socket, for the hostile serve tests: requests out, whole packets in."""

from __future__ import annotations

import socket
import time

from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.packets import Magic, Message, Packet, PacketType


def req(type_: PacketType, *args: bytes) -> bytes:
    """The wire bytes of a request packet."""
    return encode(Packet(Magic.REQ, type_, args))


def read_packets(sock: socket.socket, count: int, timeout: float = 10.0) -> list[Message]:
    """Up to ``count`` whole messages, waiting at most ``timeout`` seconds (fewer when the peer closes)."""
    decoder = Decoder()
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            break
        got += decoder.feed(data)
    return got
