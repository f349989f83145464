"""Gearman framing of a reassembled stream: chunking, gaps, mid-stream joins, damage."""

from __future__ import annotations

import pytest
from capture_helpers import req, res

from gearsim.dissect.gearstream import GearmanHalf, Item, Problem
from gearsim.protocol.packets import AdminLine, Magic, Packet
from gearsim.protocol.packets import PacketType as T

STREAM = req(T.SUBMIT_JOB, b"f", b"u", b"a\0b") + req(T.ECHO_REQ, b"") + req(T.GET_STATUS, b"H:x:1")
EXPECTED = [
    Packet.req(T.SUBMIT_JOB, b"f", b"u", b"a\0b"),
    Packet.req(T.ECHO_REQ, b""),
    Packet.req(T.GET_STATUS, b"H:x:1"),
]


def _messages(items: list[Item]) -> list[object]:
    return [i[1] for i in items if not isinstance(i, Problem)]


def _problems(items: list[Item]) -> list[tuple[str, int, int]]:
    return [(p.kind, p.start, p.end) for p in items if isinstance(p, Problem)]


def _feed(half: GearmanHalf, data: bytes, size: int, start: int = 0) -> list[Item]:
    out: list[Item] = []
    for pos in range(0, len(data), size):
        out += half.feed(start + pos, data[pos : pos + size])
    return out


@pytest.mark.parametrize("size", [1, 5, 12, 13, len(STREAM)])
def test_any_chunking_gives_the_same_messages_and_offsets(size: int) -> None:
    items = _feed(GearmanHalf(), STREAM, size)
    assert _messages(items) == EXPECTED
    assert [i[0] for i in items if not isinstance(i, Problem)] == [0, 19, 31]


def test_gap_inside_a_message_loses_it_and_resumes_at_the_next_header() -> None:
    half = GearmanHalf()
    items = half.feed(0, STREAM[:15])
    items += half.gap(15, 17)
    items += half.feed(17, STREAM[17:])
    assert _messages(items) == EXPECTED[1:]
    assert _problems(items) == [("lost", 0, 15), ("gap", 15, 17), ("skipped", 17, 19)]


def test_midstream_join_skips_to_the_first_proven_boundary() -> None:
    half = GearmanHalf(midstream=True)
    items = half.feed(0, STREAM[7:])
    assert _messages(items) == EXPECTED[1:]
    assert _problems(items) == [("skipped", 0, 12)]


def test_resync_waits_for_proof_across_chunks() -> None:
    half = GearmanHalf(midstream=True)
    tail = STREAM[19:]
    assert _messages(half.feed(0, tail[:14])) == []
    assert _messages(half.feed(14, tail[14:])) == EXPECTED[1:]


def test_a_fake_header_inside_a_payload_is_not_proof() -> None:
    fake = req(T.ECHO_REQ, b"zz")[:12]  # claims 2 bytes of body, then real data follows
    payload = req(T.SUBMIT_JOB, b"f", b"", b"x" + fake + b"y" * 40)
    half = GearmanHalf(midstream=True)
    items = half.feed(0, payload[5:] + STREAM)
    assert _messages(items) == EXPECTED


def test_stray_byte_is_reported_and_decoding_resumes() -> None:
    half = GearmanHalf()
    data = req(T.ECHO_REQ, b"a") + b"\0" + req(T.ECHO_REQ, b"b")
    items = half.feed(0, data)
    assert _messages(items) == [Packet.req(T.ECHO_REQ, b"a"), Packet.req(T.ECHO_REQ, b"b")]
    assert [p[0] for p in _problems(items)] == ["error"]


def test_foreign_magic_with_a_known_type_is_kept_as_a_packet() -> None:
    bad = b"\0REX" + req(T.ECHO_REQ, b"hi")[4:]
    items = GearmanHalf().feed(0, req(T.ECHO_REQ, b"a") + bad + req(T.ECHO_REQ, b"b"))
    got = _messages(items)
    assert len(got) == 3
    assert isinstance(got[1], Packet) and got[1].magic == b"\0REX" and got[1].args == (b"hi",)


def test_text_stream_resyncs_at_the_next_line() -> None:
    half = GearmanHalf()
    half.feed(0, b"status\n")
    items = half.gap(7, 9) + half.feed(9, b"kers\nversion\n")
    assert _messages(items) == [AdminLine(b"version")]


def test_eof_inside_a_message_is_truncated() -> None:
    half = GearmanHalf()
    half.feed(0, STREAM[:20])
    assert _problems(half.eof()) == [("truncated", 19, 20)]


def test_res_magic_is_accepted_both_ways() -> None:
    items = GearmanHalf(midstream=True).feed(0, res(T.NOOP) + res(T.NO_JOB))
    assert [m.magic for m in _messages(items)] == [Magic.RES, Magic.RES]  # type: ignore[attr-defined]
