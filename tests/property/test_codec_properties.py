"""Properties of the codec over generated packets, streams, chunkings and junk.

* decode(encode(p)) == p for every legal packet of every type in the table;
* bytes -> decode -> encode is the identity on any stream the decoder frames;
* any split of a stream decodes to the same messages at the same offsets;
* any bytes, in any chunks, raise nothing but DecodeError;
* the decoder never holds more than its limits allow (bound derived below).
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gearsim.errors import DecodeError
from gearsim.protocol.codec import Decoder, decode_all, encode, encode_many
from gearsim.protocol.packets import HEADER_SIZE, Magic, Message, Packet, PacketType
from gearsim.testing.strategies import chunkings, illegal_packets, packets, split_at, streams

FAST = settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow])
PER_TYPE = settings(deadline=None, max_examples=25)

MAX_BODY = 1024
MAX_LINE = 256
# Bound on Decoder.buffered after a feed that returns, read off codec.py:
# whatever _parse keeps is one unfinished message, which is either
#   a header of at most HEADER_SIZE - 1 bytes,
#   a header announcing size <= max_body (larger raises) plus < size body bytes,
#     so at most HEADER_SIZE + max_body - 1,
#   or a text line without "\n" of at most max_line bytes (longer raises),
# and the early returns in feed() keep the same unfinished message. A feed that
# raises keeps the bytes from the failing message on, so it may add its chunk.
BOUND = max(HEADER_SIZE + MAX_BODY - 1, MAX_LINE)


def decode_chunks(chunks: list[bytes], **limits: int) -> list[Message]:
    decoder = Decoder(**limits)
    out: list[Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    decoder.eof()
    return out


@pytest.mark.parametrize("type_", list(PacketType), ids=[t.name for t in PacketType])
@PER_TYPE
@given(data=st.data())
def test_legal_packets_round_trip(type_: PacketType, data: st.DataObject) -> None:
    packet = data.draw(packets([type_]))
    [decoded] = decode_all(encode(packet))
    assert isinstance(decoded, Packet)
    assert decoded == packet
    assert decoded.type is type_
    assert decoded.magic is packet.magic


@FAST
@given(streams())
def test_legal_streams_round_trip(messages: list[Message]) -> None:
    assert decode_all(encode_many(messages)) == messages


@st.composite
def framed_bytes(draw: st.DrawFn) -> bytes:
    """Raw bytes the decoder can frame: any type, any body, any text line."""
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        if draw(st.booleans()):
            magic = draw(st.sampled_from([Magic.REQ.value, Magic.RES.value]))
            number = draw(st.one_of(st.integers(0, 50), st.integers(0, 2**32 - 1)))
            body = draw(st.binary(max_size=40))
            out.append(magic + struct.pack(">II", number, len(body)) + body)
        else:
            text = draw(st.binary(max_size=40)).replace(b"\n", b"")
            if text[:1] == b"\0":
                text = text[1:]
            out.append(text + draw(st.sampled_from([b"\n", b"\r\n", b"\r\r\n"])))
    return b"".join(out)


@FAST
@given(st.one_of(framed_bytes(), streams(illegal=True).map(encode_many)))
def test_decode_then_encode_gives_back_the_same_bytes(data: bytes) -> None:
    assert encode_many(decode_all(data)) == data


@FAST
@given(illegal_packets(framable=True))
def test_illegal_packets_still_frame_and_reencode(packet: Packet) -> None:
    data = encode_many([packet])
    assert encode_many(decode_all(data)) == data


@FAST
@given(st.data())
def test_any_chunking_gives_the_same_messages_and_offsets(data: st.DataObject) -> None:
    wire = encode_many(data.draw(streams(illegal=True)))
    whole = decode_all(wire)
    pieces = split_at(wire, data.draw(chunkings(wire)))
    chunked = decode_chunks(pieces)
    assert chunked == whole
    assert [m.offset for m in chunked] == [m.offset for m in whole]


@FAST
@given(streams(illegal=True))
def test_one_byte_at_a_time_gives_the_same_messages_and_offsets(messages: list[Message]) -> None:
    wire = encode_many(messages)
    whole = decode_all(wire)
    bytewise = decode_chunks(split_at(wire, range(1, len(wire))))
    assert bytewise == whole
    assert [m.offset for m in bytewise] == [m.offset for m in whole]


def _header(magic: bytes, number: int, size: int) -> bytes:
    return magic + struct.pack(">II", number, size)


# Bytes that look almost right: real messages, headers announcing bodies around
# the limit, magic fragments, line ends, long lines, and plain junk.
soup = st.lists(
    st.one_of(
        st.binary(max_size=64),
        streams(illegal=True, max_size=4).map(encode_many),
        st.builds(
            _header,
            st.sampled_from([Magic.REQ.value, Magic.RES.value, b"\0BAD", b"\0REQ"]),
            st.integers(0, 50),
            st.integers(MAX_BODY - 4, MAX_BODY + 4) | st.integers(0, 2**32 - 1),
        ),
        st.sampled_from([b"\n", b"\r", b"\r\n", b"\0", b"\0REQ", b"\0RES"]),
        st.binary(min_size=MAX_LINE - 8, max_size=MAX_LINE + 8).map(lambda b: b.replace(b"\n", b"")),
        st.binary(min_size=MAX_BODY - 8, max_size=MAX_BODY + 8),
    ),
    max_size=8,
).map(b"".join)


@FAST
@given(st.data())
def test_arbitrary_bytes_raise_nothing_but_decode_error(data: st.DataObject) -> None:
    wire = data.draw(soup | st.binary(max_size=2048))
    chunks = split_at(wire, data.draw(chunkings(wire, max_chunks=40)))
    decoder = Decoder(max_body=MAX_BODY, max_line=MAX_LINE)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
        decoder.eof()
    except DecodeError as error:
        assert 0 <= error.offset <= len(wire)
        with pytest.raises(type(error)):
            decoder.feed(b"\n")


@FAST
@given(st.data())
def test_decoder_never_buffers_beyond_its_limits(data: st.DataObject) -> None:
    wire = data.draw(soup)
    chunks = split_at(wire, data.draw(chunkings(wire, max_chunks=40)))
    decoder = Decoder(max_body=MAX_BODY, max_line=MAX_LINE)
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        try:
            decoder.feed(chunk)
        except DecodeError:
            assert decoder.buffered <= BOUND + len(chunk)
            return
        assert decoder.buffered <= BOUND
        assert decoder.offset + decoder.buffered == fed


def test_the_buffering_bound_is_reached() -> None:
    """The bound above is exact: a body one byte short of max_body + header."""
    decoder = Decoder(max_body=MAX_BODY, max_line=MAX_LINE)
    assert decoder.feed(_header(Magic.REQ.value, 16, MAX_BODY) + b"x" * (MAX_BODY - 1)) == []
    assert decoder.buffered == HEADER_SIZE + MAX_BODY - 1 == BOUND
    assert len(decoder.feed(b"x")) == 1
    assert decoder.feed(b"y" * MAX_LINE) == []
    assert decoder.buffered == MAX_LINE
