"""Messages handed on as they are: ``Send.of`` encodes lazily, ``Server.receive_messages`` is ``receive`` without bytes.

The simulator passes messages through plain links without encoding and
decoding them; these check the two pieces it relies on, against the bytes
path they replace.
"""

from __future__ import annotations

import pytest

from gearsim.model import Server
from gearsim.protocol.codec import encode_many
from gearsim.protocol.node import Send
from gearsim.protocol.packets import AdminLine, Message, Packet, PacketType

NOOP = Packet.res(PacketType.NOOP)
REQ = Packet.req


def test_a_send_of_messages_reads_as_their_encoding_and_equals_the_explicit_send() -> None:
    messages = (NOOP, Packet.res(PacketType.JOB_CREATED, b"H:sim:1"))
    lazy = Send.of(3, messages)
    assert lazy.from_messages and not Send(3, b"", messages).from_messages
    assert lazy.data == encode_many(list(messages))
    assert lazy == Send(3, encode_many(list(messages)), messages)
    assert hash(lazy) == hash(Send(3, lazy.data, messages))
    assert repr(lazy).startswith("Send(conn=3, data=b'\\x00RES")


def test_a_send_is_frozen() -> None:
    send = Send.of(1, (NOOP,))
    with pytest.raises(AttributeError, match="frozen"):
        send.conn = 2


def test_an_unencodable_send_of_raises_when_its_bytes_are_read() -> None:
    send = Send.of(1, (Packet(b"\0BAD!", PacketType.NOOP),))
    with pytest.raises(ValueError, match="magic"):
        _ = send.data


SESSION: list[tuple[int, tuple[Message, ...]]] = [
    (1, (REQ(PacketType.CAN_DO, b"f"), REQ(PacketType.PRE_SLEEP))),
    (2, (REQ(PacketType.SUBMIT_JOB, b"f", b"u", b"a\0b"), AdminLine(b"status"))),
    (1, (REQ(PacketType.GRAB_JOB_UNIQ),)),
    (1, (REQ(PacketType.WORK_STATUS, b"H:sim:1", b"1", b"2"),)),
    (2, (REQ(PacketType.GET_STATUS, b"H:sim:1"), AdminLine(b"workers", b"\r\n"))),
    (1, (REQ(PacketType.WORK_COMPLETE, b"H:sim:1", b"done"),)),
    (2, (Packet.res(PacketType.ECHO_REQ, b"x"), REQ(99))),  # \0RES on a request, then a type out of range
]


def play(by_messages: bool) -> list[list[tuple[int, bytes] | str]]:
    server = Server("gearmand-1.1")
    server.connect(1, 0)
    server.connect(2, 0)
    seen: list[list[tuple[int, bytes] | str]] = []
    for tick, (conn, messages) in enumerate(SESSION):
        outputs = server.receive_messages(conn, messages, tick) if by_messages else None
        if outputs is None:
            outputs = server.receive(conn, encode_many(list(messages)), tick)
        seen.append([(o.conn, o.data) if isinstance(o, Send) else f"close {o.conn}: {o.reason}" for o in outputs])
    return seen


def test_receive_messages_answers_exactly_as_receive_of_the_bytes() -> None:
    assert play(by_messages=True) == play(by_messages=False)


def test_receive_messages_declines_while_part_of_a_message_is_held() -> None:
    server = Server("gearmand-1.1")
    server.connect(1, 0)
    server.receive(1, b"\0REQ", 0)
    assert server.receive_messages(1, (REQ(PacketType.ECHO_REQ, b"x"),), 0) is None
    # the bytes path then completes both the held header and the message
    assert server.receive(1, b"\0\0\0\x10\0\0\0\x01y" + encode_many([REQ(PacketType.ECHO_REQ, b"x")]), 0)
