"""A Packet is an immutable value, whether built by hand or decoded with its arguments split on first read."""

from __future__ import annotations

import copy
import pickle

import pytest

from gearsim.protocol.codec import decode_all, encode
from gearsim.protocol.packets import Magic, Packet, PacketType

T = PacketType


def decoded(packet: Packet) -> Packet:
    (got,) = decode_all(encode(packet))
    assert isinstance(got, Packet)
    return got


def test_a_decoded_packet_equals_and_hashes_as_the_one_built_by_hand() -> None:
    built = Packet.req(T.SUBMIT_JOB, b"reverse", b"u1", b"pay\0load")
    got = decoded(built)
    assert got == built and built == got
    assert hash(got) == hash(built)
    assert {got: 1}[built] == 1
    assert got.args == (b"reverse", b"u1", b"pay\0load")  # the last argument keeps its NULs
    assert got.offset == 0 and built.offset == -1  # the offset takes no part in equality


def test_different_arguments_make_different_packets() -> None:
    assert decoded(Packet.req(T.CAN_DO, b"a")) != Packet.req(T.CAN_DO, b"b")
    assert Packet.res(T.NOOP) != Packet.req(T.NOOP)
    assert Packet.req(T.NOOP) != (Magic.REQ, T.NOOP, (), -1)  # not equal to a plain tuple


def test_arguments_are_split_as_the_table_lays_the_type_out() -> None:
    # an argument-less type keeps stray body bytes as one argument; one argument is the whole body
    (stray,) = decode_all(b"\0REQ" + (T.NOOP).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"a\0b")
    assert isinstance(stray, Packet) and stray.args == (b"a\0b",)
    (empty,) = decode_all(encode(Packet.req(T.GRAB_JOB)))
    assert isinstance(empty, Packet) and empty.args == ()
    (unknown,) = decode_all(b"\0REQ" + (99).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"x\0y")
    assert isinstance(unknown, Packet) and unknown.type == 99 and unknown.args == (b"x\0y",)
    assert decoded(Packet.req(T.WORK_STATUS, b"H:1", b"2", b"3")).args == (b"H:1", b"2", b"3")


@pytest.mark.parametrize("field", ["magic", "type", "args", "offset"])
def test_no_field_can_be_assigned_or_deleted(field: str) -> None:
    for packet in (Packet.req(T.CAN_DO, b"f"), decoded(Packet.req(T.CAN_DO, b"f"))):
        with pytest.raises(AttributeError):
            setattr(packet, field, None)
        with pytest.raises(AttributeError):
            delattr(packet, field)
        with pytest.raises(AttributeError):
            packet.other = 1  # type: ignore[attr-defined]


def test_it_still_reads_as_the_tuple_it_was() -> None:
    got = decoded(Packet.res(T.JOB_CREATED, b"H:x:1"))
    magic, type_, args, offset = got
    assert (magic, type_, args, offset) == (Magic.RES, T.JOB_CREATED, (b"H:x:1",), 0)
    assert got[2] == (b"H:x:1",) and got[:2] == (Magic.RES, T.JOB_CREATED) and len(got) == 4
    assert got._replace(args=(b"H:x:2",)) == Packet.res(T.JOB_CREATED, b"H:x:2")
    assert got._asdict()["type"] is T.JOB_CREATED
    assert Packet(magic=Magic.REQ, type=T.ECHO_REQ, args=[b"e"]).args == (b"e",)  # type: ignore[arg-type]


def test_it_pickles_and_copies_as_a_value() -> None:
    got = decoded(Packet.req(T.SUBMIT_JOB_BG, b"f", b"", b"x"))
    for twin in (pickle.loads(pickle.dumps(got)), copy.copy(got), copy.deepcopy(got)):
        assert twin == got and twin.offset == got.offset


def test_match_reads_the_fields() -> None:
    match decoded(Packet.req(T.GET_STATUS, b"H:1")):
        case Packet(Magic.REQ, T.GET_STATUS, (handle,)):
            assert handle == b"H:1"
        case _:
            pytest.fail("no match")
