"""Reference model, gearmand-1.1: framing and malformed input (B-P)."""

from __future__ import annotations

import pytest
from test_model_support import Conversation, T, req, res

from gearsim.protocol.codec import encode
from gearsim.protocol.packets import Packet

NOT_EXPECTED = res(T.ERROR, b"INVALID_COMMAND", b"Command not expected")


def test_bad_magic_closes_after_the_packets_before_it() -> None:  # B-P2
    talk = Conversation()
    talk.connect("c")
    got = talk.send("c", req(T.ECHO_REQ, b"first"), b"\0XYZ\0\0\0\x10\0\0\0\0")
    assert got == {"c": [res(T.ECHO_RES, b"first")]}
    assert "c" in talk.closed


@pytest.mark.parametrize("number", [0, 43, 99])
def test_out_of_range_types_close(number: int) -> None:  # B-P3
    talk = Conversation()
    talk.connect("c")
    assert talk.send("c", req(number)) == {"c": []}
    assert "c" in talk.closed


def test_res_magic_on_a_request_gets_invalid_magic() -> None:  # B-P4
    talk = Conversation()
    talk.connect("c")
    got = talk.send("c", Packet(b"\0RES", T.ECHO_REQ, (b"x",)), req(T.ECHO_REQ, b"y"))
    assert got == {"c": [res(T.ERROR, b"INVALID_MAGIC", b"Request magic expected"), res(T.ECHO_RES, b"y")]}


@pytest.mark.parametrize(
    "packet",
    [req(5), req(T.NOOP), req(T.ALL_YOURS), req(T.NO_JOB), req(T.OPTION_RES, b"x"), req(T.ECHO_RES, b"x")],
)
def test_types_not_accepted_from_clients(packet: Packet) -> None:  # B-P5, B-K12
    talk = Conversation()
    talk.connect("c")
    assert talk.send("c", packet) == {"c": [NOT_EXPECTED]}


@pytest.mark.parametrize(
    "packet",
    [
        req(T.SUBMIT_JOB, b"fnonly"),
        req(T.SUBMIT_JOB, b"f", b"u"),
        req(T.WORK_COMPLETE, b"H:vm:1"),
        req(T.SUBMIT_JOB_BG),
    ],
)
def test_short_body_stalls_then_closes_on_the_next_bytes(packet: Packet) -> None:  # B-P6
    talk = Conversation()
    talk.connect("c")
    assert talk.send("c", packet) == {}
    assert "c" not in talk.closed
    assert talk.send("c", req(T.ECHO_REQ, b"x")) == {"c": []}
    assert "c" in talk.closed


def test_reduce_in_the_document_layout_stalls() -> None:  # B-P6, B-U15
    talk = Conversation()
    talk.connect("c")
    assert talk.send("c", req(T.SUBMIT_REDUCE_JOB, b"f", b"u", b"r", b"w")) == {}
    talk.send("c", req(T.ECHO_REQ, b"x"))
    assert "c" in talk.closed


def test_byte_at_a_time_gives_the_same_answers() -> None:
    stream = encode(req(T.SUBMIT_JOB, b"f", b"u", b"x")) + b"status\r\n" + encode(req(T.GET_STATUS, b"H:vm:1"))
    whole = Conversation()
    whole.connect("c")
    expected = whole.send("c", stream)["c"]
    split = Conversation()
    split.connect("c")
    got = []
    for i in range(len(stream)):
        got += split.send("c", stream[i : i + 1]).get("c", [])
    assert got == expected
    assert len(expected) == 4  # JOB_CREATED, a status row, ".", STATUS_RES


def test_can_do_timeout_field_limits() -> None:
    talk = Conversation()
    talk.connect("a", "b", "c")
    # over 20 characters: nothing registered, no reply; gearmand closes the connection in
    # most runs (probe timeout-21-characters; the other runs are its defect refusal-race)
    assert talk.send("a", req(T.CAN_DO_TIMEOUT, b"f", b"1" * 21)) == {"a": []}
    assert "a" in talk.closed
    # a strtol overflow below 2^64 closes the same way (probe timeout-overflow-19)
    assert talk.send("b", req(T.CAN_DO_TIMEOUT, b"f", b"9223372036854775808")) == {"b": []}
    assert "b" in talk.closed and talk.server.connections[0].functions == ()


@pytest.mark.parametrize("value", [b"99999999999999999999", b"18446744073709551616"])
def test_a_timeout_of_2_to_the_64_or_more_crashes_gearmand(value: bytes) -> None:
    talk = Conversation()
    talk.connect("a", "w")
    # the process is gone: every connection closed, nothing sent, new ones closed at once
    assert talk.send("w", req(T.CAN_DO_TIMEOUT, b"f", value)) == {"a": [], "w": []}
    refused = talk.server.connect(99, talk.now)
    assert len(refused) == 1 and "crashed" in refused[0].reason  # type: ignore[union-attr]


def test_the_spec_profile_closes_on_a_timeout_it_cannot_hold() -> None:
    talk = Conversation("spec")
    talk.connect("a", "w")
    talk.send("w", req(T.CAN_DO_TIMEOUT, b"f", b"99999999999999999999"))
    assert talk.closed == {"w"}
