"""IP fragment reassembly (IPv4 and IPv6) for the capture reader.

This module owns putting fragmented IP datagrams back together: a
``Defragmenter`` takes ``netparse.Fragment`` values in capture order, keyed
by (version, source, destination, identification), and returns the whole
datagram payload once every byte from 0 to the end of the last fragment
(the one without "more fragments") has arrived. Overlapping fragments are
resolved first-copy-wins, as the TCP reassembler does.

Datagrams that never complete are not lost silently: they are returned by
``expire`` (after ``timeout_ns`` of capture time, the same 30 s Linux
uses), by ``finish`` (end of capture), or when more than ``max_datagrams``
are open at once or ``max_bytes`` are held, as ``Unassembled`` values the
reader reports as problems. Memory is bounded by ``max_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, NamedTuple

from gearsim.dissect.netparse import Fragment, format_endpoint

__all__ = ["DEFAULT_FRAGMENT_TIMEOUT_NS", "Defragmenter", "Unassembled"]

#: how long (capture time) a datagram's fragments wait for the rest
DEFAULT_FRAGMENT_TIMEOUT_NS: Final[int] = 30 * 1_000_000_000
_MAX_DATAGRAM: Final[int] = 65535

_Key = tuple[int, bytes, bytes, int]


class Unassembled(NamedTuple):
    """A datagram whose fragments did not all arrive: who sent it, what came, why it was given up."""

    src: bytes
    dst: bytes
    ident: int
    fragments: int
    received: int
    note: str

    def describe(self) -> str:
        """One line: the datagram, the bytes that came and why it was dropped."""
        src = format_endpoint(self.src, 0).rsplit(":", 1)[0]
        dst = format_endpoint(self.dst, 0).rsplit(":", 1)[0]
        return (
            f"IP datagram id {self.ident:#x} {src} > {dst}: {self.fragments} fragments, "
            f"{self.received} bytes, not reassembled ({self.note})"
        )


@dataclass(slots=True)
class _Datagram:
    first_ns: int
    proto: int
    #: offset -> bytes, non-overlapping
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0
    total: int | None = None
    fragments: int = 0


class Defragmenter:
    """Reassembles IP datagrams from fragments fed in capture order."""

    def __init__(
        self,
        timeout_ns: int = DEFAULT_FRAGMENT_TIMEOUT_NS,
        max_datagrams: int = 4096,
        max_bytes: int = 16 << 20,
    ) -> None:
        self.timeout_ns = timeout_ns
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self._open: dict[_Key, _Datagram] = {}
        self._bytes = 0
        #: datagrams put back together so far
        self.reassembled = 0

    def add(self, frag: Fragment, time_ns: int) -> tuple[bytes | None, int, list[Unassembled]]:
        """Add one fragment; returns (the whole payload if now complete, its protocol, datagrams given up)."""
        dropped = self.expire(time_ns)
        key = (frag.version, frag.src, frag.dst, frag.ident)
        dgram = self._open.get(key)
        if dgram is None:
            if len(self._open) >= self.max_datagrams:
                dropped.append(self._drop(next(iter(self._open)), "too many datagrams open at once"))
            dgram = self._open[key] = _Datagram(time_ns, frag.proto)
        dgram.fragments += 1
        start, data = frag.offset, frag.payload
        end = start + len(data)
        if end > _MAX_DATAGRAM:
            dropped.append(self._drop(key, "fragments past 65535 bytes"))
            return None, 0, dropped
        if not frag.more:
            if dgram.total is not None and dgram.total != end:
                dropped.append(self._drop(key, "two different last fragments"))
                return None, 0, dropped
            dgram.total = end
        self._insert(dgram, start, data)
        if self._bytes > self.max_bytes:
            dropped.append(self._drop(next(iter(self._open)), "fragment memory limit reached"))
        if key in self._open and dgram.total is not None and dgram.size >= dgram.total:
            whole = b"".join(dgram.parts[k] for k in sorted(dgram.parts))
            self._forget(key)
            self.reassembled += 1
            return whole, dgram.proto, dropped
        return None, 0, dropped

    def _insert(self, dgram: _Datagram, start: int, data: bytes) -> None:
        """Keep the bytes of ``data`` not already held (first copy wins)."""
        pos = start
        end = start + len(data)
        for s in sorted(dgram.parts):
            e = s + len(dgram.parts[s])
            if e <= pos:
                continue
            if s >= end:
                break
            if s > pos:
                self._put(dgram, pos, data[pos - start : s - start])
            pos = max(pos, e)
            if pos >= end:
                return
        if pos < end:
            self._put(dgram, pos, data[pos - start :])

    def _put(self, dgram: _Datagram, offset: int, data: bytes) -> None:
        if data:
            dgram.parts[offset] = data
            dgram.size += len(data)
            self._bytes += len(data)

    def _forget(self, key: _Key) -> _Datagram:
        dgram = self._open.pop(key)
        self._bytes -= dgram.size
        return dgram

    def _drop(self, key: _Key, note: str) -> Unassembled:
        dgram = self._forget(key)
        return Unassembled(key[1], key[2], key[3], dgram.fragments, dgram.size, note)

    def expire(self, now_ns: int) -> list[Unassembled]:
        """Give up the datagrams whose first fragment came more than the timeout before ``now_ns``."""
        out: list[Unassembled] = []
        while self._open:
            key, dgram = next(iter(self._open.items()))
            if now_ns - dgram.first_ns < self.timeout_ns:
                break
            out.append(self._drop(key, "the rest did not arrive in time"))
        return out

    def finish(self) -> list[Unassembled]:
        """The capture ended: every datagram still open is given up."""
        return [self._drop(key, "the capture ended first") for key in list(self._open)]
