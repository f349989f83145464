"""Hostile framing at the model: a header is judged on its 12 bytes, and buffering a body is linear.

Issue 16 items 1 and 2. A header with a bad magic or a type out of range is
refused as soon as the header is in, before its body arrives (gearmand
1.1.20: libgearman-server/plugins/protocol/gear/protocol.cc checks magic, then
type, on the header); a header announcing more than ``ServerOptions.max_body``
closes before anything is buffered, naming the limit and the offset; and a
body streamed in chunks is held once, not re-copied per read (the old framing
copied the whole pending buffer on every read: quadratic).
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from gearsim.errors import BadMagic, BodyTooLarge, UnknownType
from gearsim.model import Server, ServerOptions
from gearsim.model.options import GEARMAND_MAX_BODY
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.node import Close, Send
from gearsim.protocol.packets import Magic, Packet, PacketType

ECHO = encode(Packet.req(PacketType.ECHO_REQ, b"ping"))


def header(magic: bytes, type_: int, size: int) -> bytes:
    return struct.pack(">4sII", magic, type_, size)


def opened(profile: str = "gearmand-1.1", **options: int) -> Server:
    server = Server(profile, ServerOptions(**options))  # type: ignore[arg-type]
    server.connect(1, 0)
    return server


def closes(outputs: list[Send | Close]) -> list[str]:
    return [o.reason for o in outputs if isinstance(o, Close)]


def echoes(outputs: list[Send | Close]) -> list[bytes]:
    return [m.args[0] for o in outputs if isinstance(o, Send) for m in o.messages if isinstance(m, Packet)]


# ------------------------------------------------------------ item 2: on the header


def test_a_bad_magic_header_closes_before_its_body_arrives() -> None:
    server = opened()
    outputs = server.receive(1, ECHO + header(b"\0XYZ", 16, 1000), 0)
    # the request before it is answered, then the close: no body byte was needed
    assert echoes(outputs) == [b"ping"]
    assert closes(outputs) == ["bad magic (B-P2)"]


@pytest.mark.parametrize("number", [0, 43, 99, 0xFFFFFFFF])
def test_a_type_out_of_range_closes_on_its_header(number: int) -> None:
    server = opened()
    outputs = server.receive(1, header(b"\0REQ", number, 1000), 0)
    assert closes(outputs) == [f"packet type {number} out of range (B-P3)"]


def test_header_bytes_alone_are_awaited_until_all_twelve_are_in() -> None:
    server = opened()
    assert server.receive(1, header(b"\0XYZ", 16, 1000)[:11], 0) == []
    assert closes(server.receive(1, b"\x00", 0)) == ["bad magic (B-P2)"]


def test_perl_answers_an_unknown_type_only_once_the_body_is_in() -> None:
    # Perl reads the whole packet, then replies with its own ERROR: nothing is decided on the header
    server = opened("perl-1.130")
    assert server.receive(1, header(b"\0REQ", 99, 3), 0) == []
    [reply] = server.receive(1, b"abc", 0)
    assert isinstance(reply, Send) and reply.messages[0].type == PacketType.ERROR  # type: ignore[union-attr]


def test_gear_reads_a_bad_magic_as_a_request_without_re_framing() -> None:
    server = opened("gear-0.16")
    status = encode(Packet.req(PacketType.GET_STATUS, b"H:x:1"))
    bad = b"\0XYZ" + status[4:]
    assert echoes(server.receive(1, bad + status, 0)) == [b"H:x:1", b"H:x:1"]


# ------------------------------------------------------------ item 1: the body limit


def test_the_default_body_limit_is_gearmand_s_none_below_what_32_bits_can_say() -> None:
    assert ServerOptions().max_body == GEARMAND_MAX_BODY == 0xFFFFFFFF
    server = opened()
    assert server.receive(1, header(b"\0REQ", 16, 0xFFFFFFFF) + b"abcd", 0) == []  # waits, as gearmand


def test_a_header_over_the_limit_closes_at_once_naming_limit_and_offset() -> None:
    server = opened(max_body=100)
    [close] = server.receive(1, ECHO + header(b"\0REQ", 16, 101), 0)[-1:]
    assert isinstance(close, Close)
    assert close.reason == f"cannot frame: header announces a 101-byte body, limit 100 (at byte offset {len(ECHO)})"
    assert server.connections == ()


def test_a_body_at_the_limit_is_read() -> None:
    server = opened(max_body=4)
    assert echoes(server.receive(1, ECHO, 0)) == [b"ping"]


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_body"):
        ServerOptions(max_body=-1)


# ------------------------------------------------------------ item 1: linear buffering


def streamed_peak(total: int, chunk: int = 4096) -> int:
    """Peak bytes traced while ``total`` body bytes of a 4 GiB ECHO_REQ arrive in ``chunk``-byte reads."""
    server = opened()
    server.receive(1, header(b"\0REQ", 16, 0xFFFFFFFF), 0)
    piece = b"x" * chunk
    tracemalloc.start()
    try:
        for _ in range(total // chunk):
            assert server.receive(1, piece, 0) == []
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_streamed_body_is_held_once_and_grows_linearly() -> None:
    small, large = 1 << 20, 4 << 20
    peak_small, peak_large = streamed_peak(small), streamed_peak(large)
    # held once: the chunks themselves plus bookkeeping; a copy of the pending
    # buffer per read (the old framing) holds it twice and more
    assert peak_large < 1.3 * large
    # and four times the bytes cost about four times the memory, not sixteen
    assert peak_large < 4.5 * peak_small


def test_the_decoder_parses_a_streamed_body_once_it_is_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    # operation count: bytes handed to the parser stay proportional to bytes received
    scanned: list[int] = []
    parse = Decoder._parse

    def counting(self: Decoder, buf: bytes, out: list[object]) -> None:
        scanned.append(len(buf))
        parse(self, buf, out)  # type: ignore[arg-type]

    monkeypatch.setattr(Decoder, "_parse", counting)
    decoder = Decoder(max_body=1 << 20)
    body = 1 << 20
    got = decoder.feed(header(Magic.REQ.value, 16, body))
    for _ in range(body // 1024):
        got += decoder.feed(b"y" * 1024)
    echo, ping = got + decoder.feed(ECHO)
    assert (echo.args[0], ping.args[0]) == (b"y" * body, b"ping")  # type: ignore[union-attr]
    assert sum(scanned) <= 2 * (body + 12 + len(ECHO))
    assert len(scanned) <= 3


def test_a_completed_body_is_held_at_most_twice() -> None:
    """The chunks of a 16 MiB body, then the whole, then its argument: never all three at once.

    The chunks are made inside the traced block and held by the decoder
    alone, as serve's reads are; it drops them once joined, before it cuts the
    argument out (three copies at the peak before).
    """
    body = 16 << 20
    decoder = Decoder(max_body=body)
    tracemalloc.start()
    try:
        got = decoder.feed(header(Magic.REQ.value, 16, body))
        for _ in range(body // 65536):
            got += decoder.feed(b"z" * 65536)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got) == 1 and len(got[0].args[0]) == body  # type: ignore[union-attr]
    assert peak < 2.2 * body, peak / body


# ------------------------------------------------------------ the decoder's header checks


def test_the_decoder_refuses_on_the_header_in_gearmand_s_order() -> None:
    with pytest.raises(BadMagic):
        Decoder(types={16}, max_body=1).feed(header(b"\0XYZ", 99, 1000))  # magic first
    with pytest.raises(UnknownType) as unknown:
        Decoder(types={16}, max_body=1).feed(header(b"\0REQ", 99, 1000))  # then the type
    assert (unknown.value.number, unknown.value.offset) == (99, 0)
    with pytest.raises(BodyTooLarge):
        Decoder(types={16}, max_body=1).feed(header(b"\0REQ", 16, 1000))  # then the length


def test_feed_until_error_returns_what_came_before_the_fault() -> None:
    decoder = Decoder()
    messages, error = decoder.feed_until_error(ECHO + header(b"\0XYZ", 16, 1000))
    assert [m.args[0] for m in messages] == [b"ping"]  # type: ignore[union-attr]
    assert isinstance(error, BadMagic) and error.offset == len(ECHO)
    assert decoder.feed_until_error(ECHO) == ([], error)  # broken for good


# ------------------------------------------------------------ admin replies are text, never framed

ODD_NAMES = [b"\0REQ" + struct.pack(">II", 16, 0xFFFFFFFF), b"\0BAD", b"\0\0\0\0", b"f" * 70_000, b"a\rb"]


@pytest.mark.parametrize("profile", ["gearmand-1.1", "perl-1.130", "gear-0.16"])
@pytest.mark.parametrize("name", ODD_NAMES, ids=["header", "bad-magic", "nuls", "70k", "cr"])
def test_an_admin_reply_naming_a_hostile_function_is_sent_as_text(profile: str, name: bytes) -> None:
    """A function named like a packet header, or longer than an admin line may be: ``status`` lists it.

    The model once framed its own reply text with a client's decoder, so a
    worker's CAN_DO of such a name made the next ``status`` raise (found by
    tools/fuzz_codec.py: BadMagic and BodyTooLarge out of Server.receive).
    """
    server = opened(profile)
    server.receive(1, encode(Packet.req(PacketType.CAN_DO, name)), 0)
    server.connect(2, 0)
    outputs = server.receive(2, b"status\n", 1)
    assert closes(outputs) == []
    sent = b"".join(o.data for o in outputs if isinstance(o, Send))
    assert name + b"\t0\t0\t1\n" in sent
    assert sent.endswith(b".\n")
