"""TCP reassembly of one direction: order, retransmission, overlap, gaps, wrap-around."""

from __future__ import annotations

from gearsim.dissect.reassembly import Chunk, Gap, HalfStream, Piece

ISN = 1000


def _stream(isn: int = ISN) -> HalfStream:
    s = HalfStream()
    s.syn(isn)
    return s


def _bytes(pieces: list[Piece]) -> bytes:
    return b"".join(p.data for p in pieces if isinstance(p, Chunk))


def _plain(pieces: list[Piece]) -> list[object]:
    """Chunks as (offset, bytes), gaps as they are."""
    return [(p.offset, p.data) if isinstance(p, Chunk) else p for p in pieces]


def test_in_order_offsets_start_after_syn() -> None:
    s = _stream()
    assert _plain(s.segment(ISN + 1, b"abc")) == [(0, b"abc")]
    assert _plain(s.segment(ISN + 4, b"de")) == [(3, b"de")]


def test_retransmission_is_dropped_and_overlap_trimmed() -> None:
    s = _stream()
    s.segment(ISN + 1, b"abcd")
    assert _plain(s.segment(ISN + 1, b"abcd")) == []
    assert _plain(s.segment(ISN + 3, b"cdEF")) == [(4, b"EF")]


def test_out_of_order_waits_then_drains() -> None:
    s = _stream()
    assert _plain(s.segment(ISN + 4, b"def")) == []
    assert _plain(s.segment(ISN + 7, b"ghi")) == []
    assert _plain(s.segment(ISN + 1, b"abc")) == [(0, b"abc"), (3, b"def"), (6, b"ghi")]
    assert not s.pending and s.pending_bytes == 0


def test_overlapping_out_of_order_segments() -> None:
    s = _stream()
    s.segment(ISN + 3, b"cdef")
    s.segment(ISN + 5, b"efgh")
    assert _bytes(s.segment(ISN + 1, b"abc")) == b"abcdefgh"


def test_a_hole_acknowledged_longer_than_the_reorder_window_is_a_gap() -> None:
    s = HalfStream(reorder_window_ns=1000)
    s.syn(ISN)
    s.segment(ISN + 1, b"abc", time_ns=0)
    s.segment(ISN + 11, b"klm", time_ns=10, frame=7)
    assert s.ack(ISN + 3, time_ns=15) == [], "an ack before the hole proves nothing"
    assert s.ack(ISN + 5, time_ns=20) == [], "acknowledged, but the segment may still be captured late"
    assert s.ack(ISN + 14, time_ns=30) == []
    assert s.expire(1019) == []
    assert s.expire(1020) == [Gap(3, 10), Chunk(10, b"klm", 10, 7)]


def test_data_captured_after_its_ack_is_reassembled_not_a_gap() -> None:
    s = _stream()
    s.segment(ISN + 1, b"abc", time_ns=1)
    assert s.segment(ISN + 7, b"ghi", time_ns=2, frame=5) == []
    assert s.ack(ISN + 10, time_ns=3) == [], "the receiver's ACK came first in the capture"
    assert s.segment(ISN + 4, b"def", time_ns=4, frame=6) == [Chunk(3, b"def", 4, 6), Chunk(6, b"ghi", 2, 5)]
    assert s.expire(10**12) == [] and s.flush() == []


def test_only_holes_before_the_acknowledged_byte_expire() -> None:
    s = HalfStream(reorder_window_ns=0)
    s.syn(ISN)
    s.segment(ISN + 3, b"c")
    s.segment(ISN + 6, b"f")
    assert _plain(s.ack(ISN + 4, time_ns=5)) == [Gap(0, 2), (2, b"c")]
    assert _plain(s.flush()) == [Gap(3, 5), (5, b"f")]


def test_flush_reports_holes_and_missing_tail_before_fin() -> None:
    s = _stream()
    s.segment(ISN + 1, b"ab")
    s.segment(ISN + 5, b"ef")
    s.segment(ISN + 20, b"", fin=True)
    assert _plain(s.flush()) == [Gap(2, 4), (4, b"ef"), Gap(6, 19)]


def test_pending_overflow_forces_a_gap() -> None:
    s = HalfStream(max_pending=10)
    s.syn(ISN)
    s.segment(ISN + 1, b"a")
    assert _plain(s.segment(ISN + 5, b"x" * 6)) == []
    assert _plain(s.segment(ISN + 11, b"y" * 6)) == [Gap(1, 4), (4, b"x" * 6), (10, b"y" * 6)]


def test_sequence_numbers_wrap_around() -> None:
    s = _stream(2**32 - 3)
    assert _plain(s.segment(2**32 - 2, b"ab")) == [(0, b"ab")]
    assert _plain(s.segment(0, b"cd")) == [(2, b"cd")]
    assert _plain(s.segment(2, b"ef")) == [(4, b"ef")]


def test_midstream_starts_at_first_payload() -> None:
    s = HalfStream()
    assert _plain(s.segment(555, b"", fin=False)) == []
    assert _plain(s.segment(777, b"xyz")) == [(0, b"xyz")]
    assert s.midstream
