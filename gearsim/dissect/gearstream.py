"""Gearman framing of one reassembled byte stream, resynchronising after damage.

This module owns the step from contiguous stream bytes (and gaps) to Gearman
messages for one direction of one connection. Framing itself is
``gearsim.protocol.codec.Decoder``'s; this wrapper adds what a capture needs and a live
connection does not:

* after a gap, a connection joined mid-stream, or bytes the decoder cannot
  frame, decoding stops and resumes only at a boundary it can *prove*: a
  binary header (magic, a type from the table, a sane length) whose packet
  ends exactly where the captured data ends or where another such header
  starts; on a stream that carried admin text, the start of the next line;
* a header with a foreign magic but a known type and a length that fits is
  kept as a packet (the validator flags the magic) rather than skipped;
* everything lost is reported as a ``Problem`` with its byte range.

Memory is the decoder's partial message plus, while resynchronising, at most
``max_resync`` bytes.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

from gearsim.errors import BadMagic, DecodeError
from gearsim.protocol.codec import DEFAULT_MAX_BODY, Decoder, encode_many, split_args
from gearsim.protocol.packets import SPECS, AdminLine, Message, Packet, packet_type

__all__ = ["GearmanHalf", "Item", "Problem"]

_HEADER: Final = struct.Struct(">4sII")
_MAGIC_PREFIX: Final[bytes] = b"\0RE"
_LEGAL: Final[frozenset[bytes]] = frozenset({b"\0REQ", b"\0RES"})
_ON_WIRE: Final[frozenset[int]] = frozenset(n for n, s in SPECS.items() if s.on_wire)
#: bytes kept while looking for a boundary before the oldest are given up
DEFAULT_MAX_RESYNC: Final[int] = 1 << 20


class Problem(NamedTuple):
    """Stream bytes ``[start, end)`` that did not become messages, and why.

    ``kind`` is ``gap`` (not captured), ``lost`` (a partial message cut by a
    gap), ``skipped`` (bytes passed over while resynchronising), ``error``
    (bytes the decoder could not frame) or ``truncated`` (the stream ended
    inside a message).
    """

    kind: str
    start: int
    end: int
    note: str


#: what a GearmanHalf returns: a message at its stream offset, or a problem
Item = tuple[int, Message] | Problem


def _plausible(buf: bytes, pos: int, max_body: int, legal_only: bool) -> int:
    """The end of the packet whose header is at ``pos``, or -1 if it is not a plausible header."""
    magic: bytes
    number: int
    size: int
    magic, number, size = _HEADER.unpack_from(buf, pos)
    if legal_only and magic not in _LEGAL:
        return -1
    if number not in _ON_WIRE or size > max_body:
        return -1
    return pos + 12 + size


class GearmanHalf:
    """Decodes one direction of a connection; feed it pieces in stream order."""

    __slots__ = (
        "_base",
        "_decoder",
        "_fed",
        "_rs",
        "_rs_start",
        "_tail",
        "_tail_len",
        "max_body",
        "max_resync",
        "messages",
        "text_seen",
    )

    def __init__(
        self, *, midstream: bool = False, max_body: int = DEFAULT_MAX_BODY, max_resync: int = DEFAULT_MAX_RESYNC
    ) -> None:
        self.max_body = max_body
        self.max_resync = max_resync
        self._decoder: Decoder | None = None if midstream else Decoder(max_body=max_body)
        self._base = 0  # stream offset of the decoder's offset 0
        self._fed = 0  # bytes given to the current decoder
        self._tail: list[bytes] = []  # recent chunks; their suffix holds the decoder's unparsed bytes
        self._tail_len = 0
        self._rs = b""  # bytes waiting for a proven boundary
        self._rs_start = 0
        self.text_seen = False
        self.messages = 0

    @property
    def holding(self) -> bool:
        """True while bytes of a message not yet complete are held (a later message may start in them)."""
        decoder = self._decoder
        return bool(self._rs) if decoder is None else decoder.buffered > 0

    def feed(self, offset: int, data: bytes) -> list[Item]:
        """Contiguous bytes at stream ``offset``; returns messages and problems found."""
        decoder = self._decoder
        if decoder is None:
            if not self._rs:
                self._rs_start = offset
            self._rs += data
            return self._resync()
        before = decoder.offset
        try:
            found = decoder.feed(data)
        except DecodeError as exc:
            return self._decode_failed(exc, data, before)
        self._fed += len(data)
        left = decoder.buffered
        if left:
            self._tail.append(data)
            self._tail_len += len(data)
            while self._tail_len - len(self._tail[0]) >= left:
                self._tail_len -= len(self._tail.pop(0))
        elif self._tail:
            self._tail = []
            self._tail_len = 0
        self.messages += len(found)
        base = self._base
        out: list[Item] = []
        for index, message in enumerate(found):
            if type(message) is AdminLine:
                if b"\0" in message.text and self._stray(message, found[index + 1 :], data, out):
                    return out
                self.text_seen = True
            out.append((base + message.offset, message))
        return out

    def _stray(self, line: AdminLine, after: list[Message], data: bytes, out: list[Item]) -> bool:
        """A "line" made of stray bytes and then a binary header: report the bytes, restart at the header.

        A server reads such bytes as one admin line (GM-FRAME-010); a capture
        reader that did so would hide every packet up to the next newline.
        """
        text = line.text
        pos = text.find(_MAGIC_PREFIX)
        while pos >= 0 and (len(text) - pos < 12 or _plausible(text, pos, self.max_body, legal_only=True) < 0):
            pos = text.find(_MAGIC_PREFIX, pos + 1)
        if pos < 0:
            return False
        decoder = self._decoder
        assert decoder is not None
        rest = text[pos:] + line.eol + encode_many(after)
        left = decoder.buffered
        if left:
            unparsed = b"".join([*self._tail]) if self._tail else data
            rest += unparsed[len(unparsed) - left :]
        start = self._base + line.offset
        out.append(
            Problem("error", start, start + pos, "stray bytes before a binary header (a server reads them as text)")
        )
        self._restart_at(start + pos, rest, out)
        return True

    def gap(self, start: int, end: int) -> list[Item]:
        """Bytes ``[start, end)`` were not captured: report them and resynchronise after."""
        out: list[Item] = []
        decoder = self._decoder
        if decoder is not None and decoder.buffered:
            at = self._base + decoder.offset
            out.append(Problem("lost", at, start, f"message cut by the gap ({decoder.buffered} bytes before it)"))
        elif decoder is None and self._rs:
            out.append(Problem("skipped", self._rs_start, start, "no message boundary found before the gap"))
        out.append(Problem("gap", start, end, f"{end - start} bytes not captured"))
        self._decoder = None
        self._rs = b""
        self._rs_start = end
        return out

    def eof(self) -> list[Item]:
        """The stream ended; anything half-decoded is reported."""
        decoder = self._decoder
        if decoder is None:
            if self._rs:
                end = self._rs_start + len(self._rs)
                return [Problem("skipped", self._rs_start, end, "no message boundary found before the end")]
            return []
        try:
            decoder.eof()
        except DecodeError as exc:
            end = self._base + self._fed
            return [Problem("truncated", self._base + exc.offset, end, str(exc).split(" (at byte")[0])]
        return []

    # --- damage ------------------------------------------------------------

    def _unparsed(self, data: bytes, rel: int) -> tuple[bytes, int]:
        """The bytes from decoder offset ``rel`` to the end of ``data`` and their stream offset."""
        full = b"".join([*self._tail, data]) if self._tail else data
        fed_after = self._fed + len(data)
        index = len(full) - (fed_after - rel)
        return full[max(index, 0) :], self._base + rel

    def _decode_failed(self, exc: DecodeError, data: bytes, before: int) -> list[Item]:
        # The decoder drops the messages it completed in the same feed before
        # the error; decode those bytes again with a fresh decoder.
        buf, at = self._unparsed(data, before)
        out: list[Item] = []
        good = exc.offset - before
        if good > 0:
            base = self._base
            out.extend((base + before + m.offset, m) for m in Decoder(max_body=self.max_body).feed(buf[:good]))
            self.messages += len(out)
        buf, at = buf[good:], at + good
        self._decoder = None
        self._tail = []
        self._tail_len = 0
        if isinstance(exc, BadMagic) and len(buf) >= 12:
            end = _plausible(buf, 0, self.max_body, legal_only=False)
            if 0 < end <= len(buf):
                magic, number, _size = _HEADER.unpack_from(buf, 0)
                out.append((at, Packet(magic, packet_type(number), split_args(number, buf[12:end]), 0)))
                self._rs, self._rs_start = buf[end:], at + end
                self._restart_at(self._rs_start, self._rs, out)
                return out
        reason = str(exc).split(" (at byte")[0]
        out.append(Problem("error", at, at + 1, f"{exc.reason}: {reason}"))
        self._rs, self._rs_start = buf[1:], at + 1
        out.extend(self._resync())
        return out

    def _restart_at(self, offset: int, data: bytes, out: list[Item]) -> None:
        """Start a fresh decoder at a proven boundary and feed it ``data``."""
        self._decoder = Decoder(max_body=self.max_body)
        self._base = offset
        self._fed = 0
        self._tail = []
        self._tail_len = 0
        self._rs = b""
        if data:
            out.extend(self.feed(offset, data))

    def _resync(self) -> list[Item]:
        buf = self._rs
        found, keep = self._boundary(buf)
        out: list[Item] = []
        if found is None:
            if keep > 0:
                self._drop(keep, out, "no message boundary found")
            if len(self._rs) > self.max_resync:
                self._drop(len(self._rs) - self.max_resync, out, "no message boundary found")
            return out
        if found:
            out.append(Problem("skipped", self._rs_start, self._rs_start + found, "bytes before a proven boundary"))
        self._restart_at(self._rs_start + found, buf[found:], out)
        return out

    def _drop(self, count: int, out: list[Item], note: str) -> None:
        out.append(Problem("skipped", self._rs_start, self._rs_start + count, note))
        self._rs = self._rs[count:]
        self._rs_start += count

    def _boundary(self, buf: bytes) -> tuple[int | None, int]:
        """(proven boundary or None, how many leading bytes can never hold one)."""
        size = len(buf)
        text = -1
        if self.text_seen:
            nl = buf.find(b"\n")
            if nl >= 0 and (nl + 1 == size or buf[nl + 1] != 0):
                text = nl + 1
        pos = buf.find(_MAGIC_PREFIX)
        while pos >= 0 and (text < 0 or pos < text):
            if size - pos < 12:
                return None, pos  # maybe a header: wait for the rest
            end = _plausible(buf, pos, self.max_body, legal_only=True)
            if end > 0:
                if end == size:
                    return pos, pos
                if end > size:
                    return None, pos  # wait for the body (bounded by max_resync)
                if size - end >= 12:
                    if _plausible(buf, end, self.max_body, legal_only=True) > 0:
                        return pos, pos
                elif _MAGIC_PREFIX.startswith(buf[end : end + 3]) and (size - end < 4 or buf[end + 3] in b"QS"):
                    return None, pos  # the next header has begun: wait for it
            pos = buf.find(_MAGIC_PREFIX, pos + 1)
        if text >= 0:
            return text, text
        # a header could begin in the last two bytes
        if buf.endswith(b"\0R"):
            tail = size - 2
        elif buf.endswith(b"\0"):
            tail = size - 1
        else:
            tail = size
        return None, tail
