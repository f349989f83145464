"""The codec, case by case: every decoder case runs three ways (h11 style).

Each case in CASES is fed to a fresh Decoder whole, one byte at a time, and
followed by trailing bytes of an unfinished next message; the trailing bytes
must stay buffered (not decoded early, not lost) and decode once completed.
Wire bytes in the cases are spelled out by hand, not produced by ``encode``,
so the decoder is checked against the protocol rather than against ourselves.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from gearsim.errors import BadMagic, BodyTooLarge, DecodeError, LineTooLong, TruncatedMessage
from gearsim.protocol.codec import Decoder, decode_all, encode, encode_admin, encode_many, split_args
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType

REQ = b"\0REQ"
RES = b"\0RES"


def frame(magic: bytes, number: int, body: bytes = b"") -> bytes:
    """A packet's wire bytes, built by hand: magic, type, length, body."""
    return magic + struct.pack(">II", number, len(body)) + body


# (id, wire bytes, the messages they hold)
CASES: list[tuple[str, bytes, list[Message]]] = [
    (
        "submit-job",
        frame(REQ, 7, b"reverse\0u1\0hello"),
        [Packet.req(PacketType.SUBMIT_JOB, b"reverse", b"u1", b"hello")],
    ),
    (
        "blob-last-argument-keeps-its-nuls",
        frame(RES, 11, b"H:lap:1\0reverse\0a\0b\0"),
        [Packet.res(PacketType.JOB_ASSIGN, b"H:lap:1", b"reverse", b"a\0b\0")],
    ),
    (
        "empty-blob",
        frame(REQ, 7, b"f\0\0"),
        [Packet.req(PacketType.SUBMIT_JOB, b"f", b"", b"")],
    ),
    ("noop", frame(RES, 6), [Packet.res(PacketType.NOOP)]),
    ("grab-job", frame(REQ, 9), [Packet.req(PacketType.GRAB_JOB)]),
    (
        "status-res-five-arguments",
        frame(RES, 20, b"H:lap:1\x001\x000\x003\x0010"),
        [Packet.res(PacketType.STATUS_RES, b"H:lap:1", b"1", b"0", b"3", b"10")],
    ),
    (
        "error",
        frame(RES, 19, b"INVALID_MAGIC\0Request magic expected"),
        [Packet.res(PacketType.ERROR, b"INVALID_MAGIC", b"Request magic expected")],
    ),
    (
        "one-argument-type-with-empty-body",
        frame(RES, 8),
        [Packet.res(PacketType.JOB_CREATED, b"")],
    ),
    (
        "non-blob-last-argument-keeps-a-stray-nul",  # gearmand's WORK_FAIL quirk
        frame(RES, 14, b"H:lap:1\0"),
        [Packet.res(PacketType.WORK_FAIL, b"H:lap:1\0")],
    ),
    (
        "too-few-arguments-stay-too-few",
        frame(REQ, 7, b"reverse"),
        [Packet.req(PacketType.SUBMIT_JOB, b"reverse")],
    ),
    (
        "wrong-direction-is-data-not-an-error",
        frame(RES, 7, b"f\0u\0w"),
        [Packet.res(PacketType.SUBMIT_JOB, b"f", b"u", b"w")],
    ),
    (
        "argument-less-type-keeps-a-stray-body-as-one-argument",
        frame(REQ, 9, b"x\0y"),
        [Packet.req(PacketType.GRAB_JOB, b"x\0y")],
    ),
    (
        "text-type-zero-with-stray-body",
        frame(REQ, 0, b"status"),
        [Packet.req(PacketType.TEXT, b"status")],
    ),
    (
        "unknown-type-keeps-its-body-whole",
        frame(REQ, 99, b"a\0b\0"),
        [Packet.req(99, b"a\0b\0")],
    ),
    ("unknown-type-empty-body", frame(RES, 0xFFFFFFFF), [Packet.res(0xFFFFFFFF)]),
    ("admin-lf", b"status\n", [AdminLine(b"status", b"\n")]),
    ("admin-crlf", b"workers\r\n", [AdminLine(b"workers", b"\r\n")]),
    ("admin-cr-cr-lf-keeps-one-cr-in-the-text", b"version\r\r\n", [AdminLine(b"version\r", b"\r\n")]),
    ("admin-cr-inside-the-line", b"a\rb\n", [AdminLine(b"a\rb", b"\n")]),
    ("admin-empty-line", b"\n", [AdminLine(b"", b"\n")]),
    ("admin-empty-crlf-line", b"\r\n", [AdminLine(b"", b"\r\n")]),
    ("admin-with-arguments", b"maxqueue  reverse 10\n", [AdminLine(b"maxqueue  reverse 10", b"\n")]),
    (
        "mixed-text-and-binary",
        b"status\n" + frame(REQ, 4) + b"version\r\n" + frame(RES, 6) + frame(RES, 10),
        [
            AdminLine(b"status"),
            Packet.req(PacketType.PRE_SLEEP),
            AdminLine(b"version", b"\r\n"),
            Packet.res(PacketType.NOOP),
            Packet.res(PacketType.NO_JOB),
        ],
    ),
]

# (id, unfinished bytes of a next message, the bytes that finish it, what it is)
TRAILERS: list[tuple[str, bytes, bytes, Message]] = [
    ("half-header", b"\0RE", b"S" + b"\0\0\0\x06\0\0\0\0", Packet.res(PacketType.NOOP)),
    ("header-only", REQ + b"\0\0\0\x10\0\0\0\x03", b"abc", Packet.req(PacketType.ECHO_REQ, b"abc")),
    ("half-body", frame(REQ, 16, b"abcdef")[:-2], b"ef", Packet.req(PacketType.ECHO_REQ, b"abcdef")),
    ("half-line", b"stat", b"us\n", AdminLine(b"status")),
    ("bare-cr-waits", b"status\r", b"\n", AdminLine(b"status", b"\r\n")),
]


def expected_offsets(messages: list[Message]) -> list[int]:
    offsets, at = [], 0
    for message in messages:
        offsets.append(at)
        at += len(encode_many([message]))
    return offsets


def check_offsets(got: list[Message], expected: list[Message]) -> None:
    assert [m.offset for m in got] == expected_offsets(expected)


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decode_whole(data: bytes, expected: list[Message]) -> None:
    decoder = Decoder()
    got = decoder.feed(data)
    assert got == expected
    assert [type(m.type) for m in got if isinstance(m, Packet)] == [
        type(m.type) for m in expected if isinstance(m, Packet)
    ]
    check_offsets(got, expected)
    assert decoder.buffered == 0
    assert decoder.offset == len(data)
    decoder.eof()


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decode_one_byte_at_a_time(data: bytes, expected: list[Message]) -> None:
    decoder = Decoder()
    got: list[Message] = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
    assert got == expected
    check_offsets(got, expected)
    decoder.eof()


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize(("head", "tail", "following"), [t[1:] for t in TRAILERS], ids=[t[0] for t in TRAILERS])
def test_decode_with_trailing_bytes(
    data: bytes, expected: list[Message], head: bytes, tail: bytes, following: Message
) -> None:
    decoder = Decoder()
    got = decoder.feed(data + head)
    assert got == expected
    check_offsets(got, expected)
    # the unfinished message is neither decoded early nor lost
    assert decoder.buffered == len(head)
    assert decoder.offset == len(data)
    [last] = decoder.feed(tail)
    assert last == following
    assert last.offset == len(data)
    assert decoder.buffered == 0
    decoder.eof()


def test_trailing_bytes_fed_one_at_a_time_wait_for_the_last_byte() -> None:
    message = frame(REQ, 16, b"payload")
    decoder = Decoder()
    for i in range(len(message) - 1):
        assert decoder.feed(message[i : i + 1]) == []
        assert decoder.buffered == i + 1
    assert decoder.feed(message[-1:]) == [Packet.req(PacketType.ECHO_REQ, b"payload")]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 12, 13, 4096])
def test_offsets_survive_any_chunk_size(size: int) -> None:
    expected = [message for _, _, messages in CASES for message in messages]
    data = encode_many(expected)
    decoder = Decoder()
    got: list[Message] = []
    for start in range(0, len(data), size):
        got += decoder.feed(data[start : start + size])
        assert decoder.offset + decoder.buffered == min(start + size, len(data))
    assert got == expected
    check_offsets(got, expected)


def test_unknown_type_numbers_stay_plain_ints() -> None:
    [packet] = decode_all(frame(REQ, 43, b"body"))
    assert isinstance(packet, Packet)
    assert type(packet.type) is int
    assert packet.type == 43
    assert packet.args == (b"body",)
    assert packet.name == "UNKNOWN(43)"


def test_known_type_numbers_become_packet_types() -> None:
    [packet] = decode_all(frame(REQ, 1, b"reverse"))
    assert isinstance(packet, Packet)
    assert packet.type is PacketType.CAN_DO
    assert packet.magic is Magic.REQ


def test_split_args_follows_the_table() -> None:
    assert split_args(PacketType.SUBMIT_JOB, b"f\0u\0w\0x") == (b"f", b"u", b"w\0x")
    assert split_args(PacketType.NOOP, b"") == ()
    assert split_args(PacketType.NOOP, b"a\0b") == (b"a\0b",)
    assert split_args(PacketType.JOB_CREATED, b"") == (b"",)
    assert split_args(1000, b"a\0b") == (b"a\0b",)
    assert split_args(1000, b"") == ()


# --- encoder faithfulness ---------------------------------------------------


def test_encode_writes_a_legal_packet() -> None:
    packet = Packet.req(PacketType.SUBMIT_JOB, b"reverse", b"u1", b"hello")
    assert encode(packet) == frame(REQ, 7, b"reverse\0u1\0hello")


def test_encode_writes_wrong_magic_bytes_as_given() -> None:
    assert encode(Packet(b"\0BAD", PacketType.NOOP)) == b"\0BAD" + b"\0\0\0\x06\0\0\0\0"
    assert encode(Packet(b"XREQ", 99, (b"a",))) == frame(b"XREQ", 99, b"a")


def test_encode_writes_the_wrong_direction_as_given() -> None:
    assert encode(Packet.res(PacketType.SUBMIT_JOB, b"f", b"", b"")) == frame(RES, 7, b"f\0\0")


def test_encode_writes_a_wrong_argument_count_as_given() -> None:
    assert encode(Packet.req(PacketType.SUBMIT_JOB, b"reverse")) == frame(REQ, 7, b"reverse")
    assert encode(Packet.req(PacketType.NOOP, b"x", b"y")) == frame(REQ, 6, b"x\0y")
    assert encode(Packet.res(PacketType.WORK_FAIL, b"h", b"")) == frame(RES, 14, b"h\0")


def test_encode_writes_a_nul_inside_a_non_final_argument() -> None:
    packet = Packet.req(PacketType.SUBMIT_JOB, b"rev\0erse", b"u", b"w")
    assert encode(packet) == frame(REQ, 7, b"rev\0erse\0u\0w")
    # ...which then reads back split where the NULs fall, not as built
    assert decode_all(encode(packet)) == [Packet.req(PacketType.SUBMIT_JOB, b"rev", b"erse", b"u\0w")]


def test_encode_with_a_lying_length_keeps_the_body() -> None:
    packet = Packet.req(PacketType.ECHO_REQ, b"abc")
    assert encode(packet, length=100) == REQ + struct.pack(">II", 16, 100) + b"abc"
    assert encode(packet, length=0) == REQ + struct.pack(">II", 16, 0) + b"abc"
    decoder = Decoder()
    assert decoder.feed(encode(packet, length=100)) == []
    assert decoder.buffered == 15


def test_encode_with_a_short_lying_length_leaves_the_rest_as_the_next_message() -> None:
    data = encode(Packet.req(PacketType.ECHO_REQ, b"abc\n"), length=1)
    assert decode_all(data) == [Packet.req(PacketType.ECHO_REQ, b"a"), AdminLine(b"bc")]


@pytest.mark.parametrize(
    ("packet", "length"),
    [
        (Packet(b"\0RE", PacketType.NOOP), None),
        (Packet(b"\0REQQ", PacketType.NOOP), None),
        (Packet(Magic.REQ, 2**32), None),
        (Packet(Magic.REQ, -1), None),
        (Packet(Magic.REQ, PacketType.NOOP), 2**32),
        (Packet(Magic.REQ, PacketType.NOOP), -1),
    ],
    ids=["magic-3-bytes", "magic-5-bytes", "type-too-big", "type-negative", "length-too-big", "length-negative"],
)
def test_encode_refuses_what_a_header_cannot_hold(packet: Packet, length: int | None) -> None:
    with pytest.raises(ValueError):
        encode(packet, length=length)


def test_encode_admin_and_many() -> None:
    assert encode_admin(AdminLine(b"status")) == b"status\n"
    assert encode_admin(AdminLine(b"status\r", b"\r\n")) == b"status\r\r\n"
    assert encode_many([AdminLine(b"x"), Packet.res(PacketType.NOOP)]) == b"x\n" + frame(RES, 6)
    assert encode_many([]) == b""


# --- errors -------------------------------------------------------------------


def test_bad_magic_reports_the_offset_of_its_packet() -> None:
    good = frame(REQ, 4) + b"status\n"
    data = good + frame(b"\0BAD", 6)
    with pytest.raises(BadMagic) as info:
        Decoder().feed(data)
    assert info.value.offset == len(good)
    assert info.value.reason == "bad-magic"


def test_bad_magic_fed_byte_by_byte_raises_once_its_header_is_complete() -> None:
    good = frame(REQ, 4)
    data = good + frame(b"\0REX", 6)
    decoder = Decoder()
    for i in range(len(data) - 1):
        decoder.feed(data[i : i + 1])
    with pytest.raises(BadMagic) as info:
        decoder.feed(data[-1:])
    assert info.value.offset == len(good)


def test_body_too_large_is_raised_on_the_header_alone() -> None:
    header = REQ + struct.pack(">II", 16, 0xFFFFFFFF)
    decoder = Decoder()
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge) as info:
            decoder.feed(header)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.offset == 0
    # nothing was set aside for a 4 GiB body: no memory to speak of was touched
    assert peak < 64 * 1024


def test_body_too_large_after_a_message_in_a_split_header() -> None:
    first = frame(RES, 6)
    header = RES + struct.pack(">II", 17, 0xFFFFFFFF)
    decoder = Decoder()
    assert decoder.feed(first + header[:5]) == [Packet.res(PacketType.NOOP)]
    assert decoder.feed(header[5:11]) == []
    with pytest.raises(BodyTooLarge) as info:
        decoder.feed(header[11:])
    assert info.value.offset == len(first)


def test_max_body_is_inclusive() -> None:
    decoder = Decoder(max_body=10)
    assert decoder.feed(frame(REQ, 16, b"0123456789")) == [Packet.req(PacketType.ECHO_REQ, b"0123456789")]
    with pytest.raises(BodyTooLarge):
        Decoder(max_body=10).feed(frame(REQ, 16, b"0123456789X"))


def test_line_too_long_in_one_chunk() -> None:
    decoder = Decoder(max_line=8)
    assert decoder.feed(b"x" * 9) == []  # the ninth byte may be the "\r" of "\r\n"
    with pytest.raises(LineTooLong) as info:
        Decoder(max_line=8).feed(b"status\n" + b"x" * 10)
    assert info.value.offset == 7
    assert info.value.reason == "line-too-long"


def test_line_too_long_across_chunks() -> None:
    decoder = Decoder(max_line=8)
    assert decoder.feed(frame(RES, 6) + b"xxxx") == [Packet.res(PacketType.NOOP)]
    assert decoder.feed(b"xxxxx") == []
    with pytest.raises(LineTooLong) as info:
        decoder.feed(b"x")
    assert info.value.offset == 12


def test_line_limit_does_not_depend_on_chunking() -> None:
    # "abcde\n" is one 5-byte line: whether it is over the limit cannot depend
    # on whether its "\n" arrives in the same read.
    whole_ok = _accepts(Decoder(max_line=4), [b"abcde\n"])
    split_ok = _accepts(Decoder(max_line=4), [b"abcde", b"\n"])
    cr_ok = _accepts(Decoder(max_line=4), [b"abcd\r", b"\n"])  # a 4-byte line and its \r\n
    assert whole_ok == split_ok
    assert cr_ok


def _accepts(decoder: Decoder, chunks: list[bytes]) -> bool:
    try:
        for chunk in chunks:
            decoder.feed(chunk)
    except LineTooLong:
        return False
    return True


@pytest.mark.parametrize(
    ("tail", "what"),
    [
        (b"\0RE", "inside a binary packet"),
        (frame(REQ, 16, b"abc")[:-1], "inside a binary packet"),
        (b"status", "inside an admin line"),
        (b"status\r", "inside an admin line"),
    ],
    ids=["in-header", "in-body", "in-line", "after-bare-cr"],
)
def test_eof_inside_a_message_is_truncated_with_its_offset(tail: bytes, what: str) -> None:
    first = b"version\n" + frame(RES, 6)
    decoder = Decoder()
    decoder.feed(first + tail)
    with pytest.raises(TruncatedMessage) as info:
        decoder.eof()
    assert info.value.offset == len(first)
    assert what in str(info.value)
    assert info.value.reason == "truncated"


def test_eof_between_messages_is_clean() -> None:
    decoder = Decoder()
    decoder.feed(frame(RES, 6))
    decoder.eof()
    Decoder().eof()


@pytest.mark.parametrize(
    ("decoder", "bad"),
    [
        (Decoder(), frame(b"\0BAD", 6)),
        (Decoder(max_body=4), frame(REQ, 16, b"12345")),
        (Decoder(max_line=4), b"123456"),
    ],
    ids=["bad-magic", "body-too-large", "line-too-long"],
)
def test_decoder_stays_broken_after_an_error(decoder: Decoder, bad: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decoder.feed(bad)
    error = info.value
    for later in (frame(RES, 6), b"status\n", b""):
        with pytest.raises(DecodeError) as again:
            decoder.feed(later)
        assert again.value is error
    with pytest.raises(DecodeError) as at_eof:
        decoder.eof()
    assert at_eof.value is error


def test_decoder_stays_broken_after_a_truncated_eof() -> None:
    decoder = Decoder()
    decoder.feed(b"stat")
    with pytest.raises(TruncatedMessage) as info:
        decoder.eof()
    with pytest.raises(TruncatedMessage) as again:
        decoder.feed(b"us\n")
    assert again.value is info.value


def test_decode_errors_are_value_errors_and_peer_faults() -> None:
    with pytest.raises(ValueError):
        decode_all(b"\0BADxxxxxxxx")
    with pytest.raises(TruncatedMessage):
        decode_all(b"\0REQ")
