"""gearmand judges a header on its 12 bytes, and the model does the same (issue 16 item 2).

A header with a bad magic, or a type out of range, is followed by no body
byte: gearmand 1.1.20 closes the connection at once; the model closes it in
answer to the same bytes. A header announcing a long body with a good magic
and type is waited for by both. Loopback only.
"""

from __future__ import annotations

import socket
import struct

import pytest

from gearsim.io.peers import RunningPeer
from gearsim.model import Server
from gearsim.protocol.node import Close

pytestmark = pytest.mark.interop

#: seconds gearmand gets to close; it closes within milliseconds when it does
WAIT = 2.0

HEADERS = {
    "bad-magic": struct.pack(">4sII", b"\0XYZ", 16, 1000),
    "type-0": struct.pack(">4sII", b"\0REQ", 0, 1000),
    "type-99": struct.pack(">4sII", b"\0REQ", 99, 1000),
}


def closed_by_gearmand(peer: RunningPeer, data: bytes) -> bool:
    with socket.create_connection((peer.host, peer.port), timeout=WAIT) as sock:
        sock.sendall(data)
        try:
            return sock.recv(1) == b""
        except TimeoutError:
            return False


def closed_by_model(data: bytes) -> bool:
    server = Server("gearmand-1.1")
    server.connect(1, 0)
    return any(isinstance(o, Close) for o in server.receive(1, data, 0))


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_a_refused_header_closes_before_its_body_on_gearmand_and_the_model(gearmand_c: RunningPeer, name: str) -> None:
    assert closed_by_gearmand(gearmand_c, HEADERS[name])
    assert closed_by_model(HEADERS[name])


def test_a_good_header_waits_for_its_body_on_both(gearmand_c: RunningPeer) -> None:
    data = struct.pack(">4sII", b"\0REQ", 16, 1000) + b"abc"
    assert not closed_by_gearmand(gearmand_c, data)
    assert not closed_by_model(data)
