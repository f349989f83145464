"""TCP reassembly of one direction of a connection, with gaps made explicit.

This module owns sequence-number arithmetic and nothing Gearman: a
``HalfStream`` takes segments in capture order and returns the bytes that are
now contiguous, as ``Chunk(offset, data, time_ns, frame)`` pieces, and the
ranges that will never arrive, as ``Gap(start, end)``. Offsets count payload
bytes from the first byte after the SYN (or, for a connection seen
mid-stream, from the first byte seen). Each chunk keeps the capture time and
frame number of the segment that carried it, so bytes delivered late (after
a hole filled) still say when they were captured.

Theory of operation:

* retransmissions and overlaps: bytes before ``next`` are dropped, a segment
  that straddles ``next`` is trimmed, so each byte is delivered once (the first
  copy captured wins);
* out of order: segments beyond ``next`` wait in ``pending`` (at most
  ``max_pending`` bytes) until the hole before them fills, whatever the ACKs
  say: a capture can hold the peer's ACK before the data it acknowledges
  (two capture queues, or a copy point past the receiver), so an ACK past a
  hole proves nothing by itself;
* missing segments: a hole becomes a ``Gap`` when the peer acknowledged bytes
  past it and ``reorder_window_ns`` of capture time went by without the hole
  filling (``expire``), when ``pending`` overflows, or when the stream is
  flushed (FIN, RST, end of capture);
* memory is ``pending`` only, so it is bounded per open stream.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["DEFAULT_MAX_PENDING", "DEFAULT_REORDER_WINDOW_NS", "Chunk", "Gap", "HalfStream", "Piece"]

#: out-of-order bytes held per direction before the oldest hole is declared a gap
DEFAULT_MAX_PENDING: Final[int] = 1 << 20
#: capture time a hole the peer has acknowledged may stay open before it is a gap
DEFAULT_REORDER_WINDOW_NS: Final[int] = 1_000_000_000

_MOD: Final[int] = 1 << 32
_HALF: Final[int] = 1 << 31


class Gap(NamedTuple):
    """Stream bytes ``[start, end)`` that were not captured."""

    start: int
    end: int


class Chunk(NamedTuple):
    """Contiguous stream bytes at ``offset``, and the capture time and frame of the segment that carried them."""

    offset: int
    data: bytes
    time_ns: int
    frame: int


#: what a HalfStream returns: contiguous bytes, or a gap
Piece = Chunk | Gap


class HalfStream:
    """One direction of a TCP connection being put back in order.

    Attributes:
        midstream: True when no SYN was seen, so offset 0 is wherever the
            capture joined the stream (likely inside a message).
        next: offset of the next byte expected.
    """

    __slots__ = (
        "_acked_at",
        "_acked_to",
        "_anchor",
        "fin",
        "max_pending",
        "midstream",
        "next",
        "pending",
        "pending_bytes",
        "reorder_window_ns",
    )

    def __init__(
        self, max_pending: int = DEFAULT_MAX_PENDING, reorder_window_ns: int = DEFAULT_REORDER_WINDOW_NS
    ) -> None:
        self._anchor = -1  # sequence number of offset 0; -1 until known
        self.next = 0
        #: offset -> (payload, capture time, frame) of segments beyond a hole
        self.pending: dict[int, tuple[bytes, int, int]] = {}
        self.pending_bytes = 0
        self.max_pending = max_pending
        self.reorder_window_ns = reorder_window_ns
        self.midstream = False
        #: offset just past the last byte, once a FIN was seen
        self.fin: int | None = None
        self._acked_at: int | None = None  # capture time of the first ACK past the current hole
        self._acked_to = 0  # the furthest offset acknowledged since then

    @property
    def started(self) -> bool:
        return self._anchor >= 0

    def _offset(self, seq: int) -> int:
        """The stream offset of a sequence number, unwrapped around ``next``."""
        diff = ((seq - self._anchor) - self.next) % _MOD
        if diff >= _HALF:
            diff -= _MOD
        return self.next + diff

    def syn(self, seq: int) -> None:
        """A SYN (or SYN-ACK) with sequence number ``seq`` opened this direction."""
        if self._anchor < 0:
            self._anchor = (seq + 1) % _MOD

    def segment(self, seq: int, payload: bytes, fin: bool = False, time_ns: int = 0, frame: int = 0) -> list[Piece]:
        """Add one segment captured at ``time_ns`` in ``frame``; return what became contiguous (and any forced gap)."""
        if self._anchor < 0:
            if not payload:
                if fin:
                    self._anchor = seq
                    self.fin = 0
                return []
            self._anchor = seq
            self.midstream = True
        start = self._offset(seq)
        end = start + len(payload)
        if fin and self.fin is None:
            self.fin = end
        if not payload or end <= self.next:
            return []  # pure ACK, FIN, keep-alive or retransmission
        nxt = self.next
        if start > nxt:
            known = self.pending.get(start)
            if known is None or len(known[0]) < len(payload):
                self.pending_bytes += len(payload) - (len(known[0]) if known else 0)
                self.pending[start] = (payload, time_ns, frame)
            if self.pending_bytes > self.max_pending:
                return self._skip_to(min(self.pending))
            return []
        if start < nxt:
            payload = payload[nxt - start :]
        self.next = end
        out: list[Piece] = [Chunk(nxt, payload, time_ns, frame)]
        if self.pending:
            out.extend(self._drain())
        return out

    def ack(self, ack: int, time_ns: int = 0) -> list[Piece]:
        """The peer acknowledged up to sequence number ``ack`` at ``time_ns``.

        A hole before ``ack`` is only remembered here: it becomes a gap in
        ``expire`` once the reorder window has passed without it filling.
        Returns what that made contiguous (``expire`` at ``time_ns``).
        """
        if self._anchor < 0 or not self.pending:
            return []
        acked = self._offset(ack)
        if acked > self.next:
            if self._acked_at is None:
                self._acked_at = time_ns
            self._acked_to = max(self._acked_to, acked)
        return self.expire(time_ns)

    def expire(self, now_ns: int) -> list[Piece]:
        """Holes acknowledged more than the reorder window before ``now_ns`` become gaps."""
        acked_at = self._acked_at
        if acked_at is None or now_ns - acked_at < self.reorder_window_ns:
            return []
        out: list[Piece] = []
        while self.pending and self.next < self._acked_to:
            out.extend(self._skip_to(min(self.pending)))
        self._acked_at = None  # a hole left further on was not acknowledged (yet)
        return out

    def flush(self) -> list[Piece]:
        """The stream is over: every hole left (and a missing tail before a FIN) is a gap."""
        out: list[Piece] = []
        while self.pending:
            out.extend(self._skip_to(min(self.pending)))
        if self.fin is not None and self.fin > self.next:
            out.append(Gap(self.next, self.fin))
            self.next = self.fin
        self._acked_at = None
        return out

    def _skip_to(self, offset: int) -> list[Piece]:
        out: list[Piece] = [Gap(self.next, offset)]
        self.next = offset
        out.extend(self._drain())
        return out

    def _drain(self) -> list[Piece]:
        out: list[Piece] = []
        pending = self.pending
        while pending:
            first = min(pending)
            if first > self.next:
                break
            data, time_ns, frame = pending.pop(first)
            self.pending_bytes -= len(data)
            end = first + len(data)
            if end > self.next:
                out.append(Chunk(self.next, data[self.next - first :], time_ns, frame))
                self.next = end
        if not pending:
            self._acked_at = None  # the hole the ACK passed has filled
        return out
