"""``Decoder.feed_messages``: taking messages as they are is the same as decoding their bytes, or it declines.

The simulator hands messages through plain links with it (and the model takes
them with it), so a message it accepted must be exactly what ``feed`` of its
encoding would have produced: the same values, the same types, the same
stream offsets, and the same decoder state afterwards.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gearsim.errors import DecodeError
from gearsim.protocol.codec import Decoder, encode_many
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.testing.strategies import admin_lines, illegal_packets, packets

FAST = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])

ARG = st.binary(max_size=6) | st.sampled_from([b"", b"\0", b"a\0b", b"\0\0"])
#: packets built by hand with any argument count and NULs anywhere: many do not round-trip
ODD = st.builds(
    lambda magic, type_, args: Packet(magic, type_, tuple(args)),
    st.sampled_from([Magic.REQ, Magic.RES]),
    st.sampled_from(list(PacketType)) | st.integers(0, 60),
    st.lists(ARG, max_size=6),
)
ODD_LINES = st.builds(
    AdminLine,
    st.binary(max_size=8) | st.sampled_from([b"a\r", b"\0x", b"a\nb"]),
    st.sampled_from([b"\n", b"\r\n", b"", b"\r"]),
)
MESSAGES = st.lists(
    packets() | illegal_packets(framable=True) | admin_lines() | ODD | ODD_LINES, min_size=1, max_size=6
)


def decoded(data: bytes, before: bytes = b"", **limits: int) -> tuple[list[Message] | None, int, int]:
    decoder = Decoder(**limits)
    decoder.feed(before)
    try:
        out = decoder.feed(data)
    except DecodeError:
        return None, decoder.offset, decoder.buffered
    return out, decoder.offset, decoder.buffered


@FAST
@given(messages=MESSAGES, before=st.lists(packets() | admin_lines(), max_size=2))
def test_taken_messages_are_what_their_bytes_decode_to(messages: list[Message], before: list[Message]) -> None:
    lead = encode_many(before)
    decoder = Decoder(max_body=64, max_line=16)
    try:
        decoder.feed(lead)
    except DecodeError:
        assume(False)  # the lead itself breaks the small limits
    taken = decoder.feed_messages(messages)
    if taken is None:
        # declined: nothing taken, the caller sends the bytes
        assert (decoder.offset, decoder.buffered) == (len(lead), 0)
        return
    want, offset, buffered = decoded(encode_many(messages), lead, max_body=64, max_line=16)
    assert want is not None
    assert taken == want
    assert [m.offset for m in taken] == [m.offset for m in want]
    assert [type(m.type) if isinstance(m, Packet) else None for m in taken] == [
        type(m.type) if isinstance(m, Packet) else None for m in want
    ]
    assert (decoder.offset, decoder.buffered) == (offset, buffered) == (offset, 0)


@FAST
@given(messages=st.lists(packets() | admin_lines(), min_size=1, max_size=4))
def test_legal_messages_are_always_taken(messages: list[Message]) -> None:
    assert Decoder().feed_messages(messages) == messages


def test_a_decoder_holding_part_of_a_message_declines() -> None:
    decoder = Decoder()
    decoder.feed(b"\0REQ\0\0\0\x10")
    assert decoder.feed_messages([Packet.req(PacketType.ECHO_REQ, b"hi")]) is None
    assert decoder.buffered == 8


def test_arguments_that_would_split_differently_are_declined() -> None:
    decoder = Decoder()
    # SUBMIT_JOB splits twice: a NUL inside the function name would move the boundaries
    assert decoder.feed_messages([Packet.req(PacketType.SUBMIT_JOB, b"f\0x", b"u", b"data")]) is None
    # with fewer arguments than the type lays out, even the last may not hold a NUL
    assert decoder.feed_messages([Packet.req(PacketType.SUBMIT_JOB, b"f", b"u\0x")]) is None
    # the full count: the last argument is a blob and keeps its NULs
    taken = decoder.feed_messages([Packet.req(PacketType.SUBMIT_JOB, b"f", b"u", b"a\0b")])
    assert taken == [Packet.req(PacketType.SUBMIT_JOB, b"f", b"u", b"a\0b")]


def test_limits_and_refused_types_are_declined_so_the_bytes_path_reports_them() -> None:
    assert Decoder(max_body=3).feed_messages([Packet.req(PacketType.ECHO_REQ, b"four")]) is None
    assert Decoder(types={16}).feed_messages([Packet.req(PacketType.ECHO_RES, b"x")]) is None
    assert Decoder(max_line=3).feed_messages([AdminLine(b"four")]) is None


def test_offsets_continue_across_messages_and_bytes() -> None:
    decoder = Decoder()
    echo = Packet.req(PacketType.ECHO_REQ, b"hi")
    [first] = decoder.feed_messages([echo]) or []
    [second] = decoder.feed(encode_many([echo]))
    [third] = decoder.feed_messages([AdminLine(b"status")]) or []
    assert (first.offset, second.offset, third.offset) == (0, 14, 28)


@FAST
@given(messages=MESSAGES, before=st.lists(packets() | admin_lines(), max_size=2))
def test_take_messages_moves_the_stream_as_feed_messages_does(messages: list[Message], before: list[Message]) -> None:
    lead = encode_many(before)
    fed, taken = Decoder(max_body=64, max_line=16), Decoder(max_body=64, max_line=16)
    try:
        fed.feed(lead)
        taken.feed(lead)
    except DecodeError:
        assume(False)
    copies = fed.feed_messages(messages)
    took = taken.take_messages(messages)
    # the model reads the given messages: taken only when their decoded copies equal them, types included
    exact = copies is not None and all(
        not isinstance(m, Packet) or type(m.type) is type(copy.type) for m, copy in zip(messages, copies, strict=True)
    )
    assert took == exact
    if took:
        assert (taken.offset, taken.buffered) == (fed.offset, fed.buffered)
    else:
        assert (taken.offset, taken.buffered) == (len(lead), 0)
