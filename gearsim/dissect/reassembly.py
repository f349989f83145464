"""TCP reassembly of one direction of a connection, with gaps made explicit.

This module owns sequence-number arithmetic and nothing Gearman: a
``HalfStream`` takes segments in capture order and returns the bytes that are
now contiguous, as ``(offset, bytes)`` pieces, and the ranges that will never
arrive, as ``Gap(start, end)``. Offsets count payload bytes from the first byte
after the SYN (or, for a connection seen mid-stream, from the first byte seen).

Theory of operation:

* retransmissions and overlaps: bytes before ``next`` are dropped, a segment
  that straddles ``next`` is trimmed, so each byte is delivered once (the first
  copy captured wins);
* out of order: segments beyond ``next`` wait in ``pending`` (at most
  ``max_pending`` bytes) until the hole before them fills;
* missing segments: a hole becomes a ``Gap`` when the peer acknowledges bytes
  past it (it got them; the capture did not), when ``pending`` overflows, or
  when the stream is flushed (FIN, RST, end of capture);
* memory is ``pending`` only, so it is bounded per open stream.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["DEFAULT_MAX_PENDING", "Gap", "HalfStream", "Piece"]

#: out-of-order bytes held per direction before the oldest hole is declared a gap
DEFAULT_MAX_PENDING: Final[int] = 1 << 20

_MOD: Final[int] = 1 << 32
_HALF: Final[int] = 1 << 31


class Gap(NamedTuple):
    """Stream bytes ``[start, end)`` that were not captured."""

    start: int
    end: int


#: what a HalfStream returns: contiguous bytes at an offset, or a gap
Piece = tuple[int, bytes] | Gap


class HalfStream:
    """One direction of a TCP connection being put back in order.

    Attributes:
        midstream: True when no SYN was seen, so offset 0 is wherever the
            capture joined the stream (likely inside a message).
        next: offset of the next byte expected.
    """

    __slots__ = ("_anchor", "fin", "max_pending", "midstream", "next", "pending", "pending_bytes")

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._anchor = -1  # sequence number of offset 0; -1 until known
        self.next = 0
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.max_pending = max_pending
        self.midstream = False
        #: offset just past the last byte, once a FIN was seen
        self.fin: int | None = None

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

    def segment(self, seq: int, payload: bytes, fin: bool = False) -> list[Piece]:
        """Add one segment; return what became contiguous (and any forced gap)."""
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
            if known is None or len(known) < len(payload):
                self.pending_bytes += len(payload) - (len(known) if known else 0)
                self.pending[start] = payload
            if self.pending_bytes > self.max_pending:
                return self._skip_to(min(self.pending))
            return []
        if start < nxt:
            payload = payload[nxt - start :]
        self.next = end
        out: list[Piece] = [(nxt, payload)]
        if self.pending:
            out.extend(self._drain())
        return out

    def ack(self, ack: int) -> list[Piece]:
        """The peer acknowledged up to sequence number ``ack``: holes before it are gaps."""
        if self._anchor < 0 or not self.pending:
            return []
        acked = self._offset(ack)
        first = min(self.pending)
        if acked <= self.next or first > acked:
            return []
        return self._skip_to(first)

    def flush(self) -> list[Piece]:
        """The stream is over: every hole left (and a missing tail before a FIN) is a gap."""
        out: list[Piece] = []
        while self.pending:
            out.extend(self._skip_to(min(self.pending)))
        if self.fin is not None and self.fin > self.next:
            out.append(Gap(self.next, self.fin))
            self.next = self.fin
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
            data = pending.pop(first)
            self.pending_bytes -= len(data)
            end = first + len(data)
            if end > self.next:
                out.append((self.next, data[self.next - first :]))
                self.next = end
        return out
