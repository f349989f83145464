"""TCP reassembly of one direction: order, retransmission, overlap, gaps, wrap-around."""

from __future__ import annotations

from gearsim.dissect.reassembly import Gap, HalfStream, Piece

ISN = 1000


def _stream(isn: int = ISN) -> HalfStream:
    s = HalfStream()
    s.syn(isn)
    return s


def _bytes(pieces: list[Piece]) -> bytes:
    return b"".join(p[1] for p in pieces if not isinstance(p, Gap))  # type: ignore[misc]


def test_in_order_offsets_start_after_syn() -> None:
    s = _stream()
    assert s.segment(ISN + 1, b"abc") == [(0, b"abc")]
    assert s.segment(ISN + 4, b"de") == [(3, b"de")]


def test_retransmission_is_dropped_and_overlap_trimmed() -> None:
    s = _stream()
    s.segment(ISN + 1, b"abcd")
    assert s.segment(ISN + 1, b"abcd") == []
    assert s.segment(ISN + 3, b"cdEF") == [(4, b"EF")]


def test_out_of_order_waits_then_drains() -> None:
    s = _stream()
    assert s.segment(ISN + 4, b"def") == []
    assert s.segment(ISN + 7, b"ghi") == []
    assert s.segment(ISN + 1, b"abc") == [(0, b"abc"), (3, b"def"), (6, b"ghi")]
    assert not s.pending and s.pending_bytes == 0


def test_overlapping_out_of_order_segments() -> None:
    s = _stream()
    s.segment(ISN + 3, b"cdef")
    s.segment(ISN + 5, b"efgh")
    assert _bytes(s.segment(ISN + 1, b"abc")) == b"abcdefgh"


def test_ack_past_a_hole_declares_a_gap() -> None:
    s = _stream()
    s.segment(ISN + 1, b"abc")
    s.segment(ISN + 11, b"klm")
    assert s.ack(ISN + 5) == [], "the ack does not reach the waiting segment yet"
    assert s.ack(ISN + 14) == [Gap(3, 10), (10, b"klm")]


def test_flush_reports_holes_and_missing_tail_before_fin() -> None:
    s = _stream()
    s.segment(ISN + 1, b"ab")
    s.segment(ISN + 5, b"ef")
    s.segment(ISN + 20, b"", fin=True)
    assert s.flush() == [Gap(2, 4), (4, b"ef"), Gap(6, 19)]


def test_pending_overflow_forces_a_gap() -> None:
    s = HalfStream(max_pending=10)
    s.syn(ISN)
    s.segment(ISN + 1, b"a")
    assert s.segment(ISN + 5, b"x" * 6) == []
    assert s.segment(ISN + 11, b"y" * 6) == [Gap(1, 4), (4, b"x" * 6), (10, b"y" * 6)]


def test_sequence_numbers_wrap_around() -> None:
    s = _stream(2**32 - 3)
    assert s.segment(2**32 - 2, b"ab") == [(0, b"ab")]
    assert s.segment(0, b"cd") == [(2, b"cd")]
    assert s.segment(2, b"ef") == [(4, b"ef")]


def test_midstream_starts_at_first_payload() -> None:
    s = HalfStream()
    assert s.segment(555, b"", fin=False) == []
    assert s.segment(777, b"xyz") == [(0, b"xyz")]
    assert s.midstream
