"""Bytes to Gearman messages and back: the encoder and the incremental decoder.

PURE: no sockets, clocks or files. Owns the framing rules:

* A binary packet is a 12-byte header (magic, type, body length, big-endian)
  and a body of NUL-separated arguments; the last argument runs to the end of
  the body, so a body is split at most (arguments - 1) times.
* Binary or text is decided per message by its first byte, as gearmand does: a
  NUL opens a binary packet, anything else an admin text line that ends at
  ``\\n`` (one ``\\r`` before it belongs to the end of line).

The encoder is faithful: it writes whatever ``Packet`` it is given, including
illegal ones, and can be told to declare a body length that lies. The decoder
never rejects what it can frame (unknown types, wrong argument counts and
``\\0RES`` on a request are data for the validator); it raises ``DecodeError``
only when it cannot frame the stream at all.
"""

from __future__ import annotations

import struct
from typing import Final

from gearsim.errors import BadMagic, BodyTooLarge, DecodeError, LineTooLong, TruncatedMessage
from gearsim.protocol.packets import HEADER_SIZE, SPECS, AdminLine, Magic, Message, Packet, PacketType

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_LINE",
    "Decoder",
    "decode_all",
    "encode",
    "encode_admin",
    "encode_many",
    "split_args",
    "wire",
]

#: largest body a Decoder accepts unless told otherwise (64 MiB)
DEFAULT_MAX_BODY: Final[int] = 64 * 1024 * 1024
#: longest admin line (without its end of line) a Decoder buffers
DEFAULT_MAX_LINE: Final[int] = 64 * 1024

_HEADER: Final = struct.Struct(">4sII")
assert _HEADER.size == HEADER_SIZE, "spec/packets.yaml's header_size disagrees with the header layout"
_MAGICS: Final[dict[bytes, Magic]] = {m.value: m for m in Magic}
# number -> (type, maxsplit); maxsplit -1 marks the argument-less types, whose
# stray body bytes are kept as one argument so that nothing read is dropped.
_SPLIT: Final[dict[int, tuple[PacketType, int]]] = {
    n: (s.type, len(s.args) - 1) for n, s in SPECS.items()
}
_KEY_HEADER: Final = struct.Struct(">8sI")
_SLOW_HEADER: Final = struct.Struct(">4sI")
# magic + big-endian type (the header's first 8 bytes) -> (magic, type, maxsplit)
_KEYED: Final[dict[bytes, tuple[Magic, PacketType, int]]] = {
    m.value + struct.pack(">I", n): (m, t, maxsplit) for m in Magic for n, (t, maxsplit) in _SPLIT.items()
}


def split_args(type_: int, body: bytes) -> tuple[bytes, ...]:
    """Split a body into arguments the way the table says ``type_`` is laid out.

    A type with N arguments is split at most N-1 times, so the last argument
    keeps any NULs. A type with none keeps a non-empty body as one argument
    (the validator reports it). An unknown type keeps its body whole.
    """
    entry = _SPLIT.get(type_)
    maxsplit = entry[1] if entry is not None else 0
    if maxsplit < 0 or entry is None:
        return (body,) if body else ()
    return tuple(body.split(b"\0", maxsplit))


def encode(packet: Packet, *, length: int | None = None) -> bytes:
    """The wire bytes of ``packet``, exactly as given.

    Args:
        packet: any packet, legal or not; a non-Magic ``magic`` is written as is.
        length: a body length to declare instead of the true one (a lying header
            for negative vectors); the body itself is written unchanged.

    Raises:
        ValueError: ``magic`` is not 4 bytes, or type or length do not fit in 32 bits.
    """
    magic, ptype, args = packet[0], packet[1], packet[2]
    # struct's "4s" pads or truncates silently, so only a Magic skips the check
    if type(magic) is not Magic and len(magic) != 4:
        raise ValueError(f"magic must be 4 bytes, got {len(magic)}")
    body = b"\0".join(args)
    try:
        return _HEADER.pack(magic, ptype, len(body) if length is None else length) + body
    except struct.error as exc:
        raise ValueError(f"cannot encode {packet!r}: {exc}") from exc


def encode_admin(line: AdminLine) -> bytes:
    """The wire bytes of an admin text line: its text, then its end of line."""
    return line.text + line.eol


def wire(message: Message) -> bytes:
    """The wire bytes of any message: a packet as ``encode`` writes it, an admin line as ``encode_admin``.

    Raises:
        ValueError: as ``encode``.
    """
    return encode(message) if isinstance(message, Packet) else message.text + message.eol


def encode_many(messages: list[Message]) -> bytes:
    """The concatenated wire bytes of several messages.

    Raises:
        ValueError: as ``encode``.
    """
    return b"".join([wire(m) for m in messages])


class Decoder:
    """Incremental decoder: feed it bytes in any chunks, get whole messages.

    ``feed`` returns the messages completed by the new bytes, each with its
    stream offset. After a ``DecodeError`` the decoder is broken: every later
    call raises the same error, because a stream that lost its framing cannot be
    trusted again (gearmand closes such a connection).

    Args:
        max_body: largest body accepted; a header announcing more raises
            ``BodyTooLarge`` as soon as the header is complete, before anything
            is buffered for the body.
        max_line: longest admin line buffered while waiting for its ``\\n``.
    """

    __slots__ = ("_chunks", "_error", "_have", "_line_scan", "_need", "_start", "max_body", "max_line")

    def __init__(self, *, max_body: int = DEFAULT_MAX_BODY, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_body = max_body
        self.max_line = max_line
        self._chunks: list[bytes] = []  # unparsed bytes, oldest first
        self._have = 0  # total length of _chunks
        self._need = 1  # parse again only once this many bytes are buffered
        self._line_scan = False  # waiting for "\n" of a text line
        self._start = 0  # stream offset of _chunks[0][0]
        self._error: DecodeError | None = None

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet part of a decoded message."""
        return self._start

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a decoded message."""
        return self._have

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return the messages they complete, in stream order.

        Raises:
            DecodeError: the stream cannot be framed (bad magic, a body over
                ``max_body``, a text line over ``max_line``); ``offset`` says where.
        """
        if self._error is not None:
            raise self._error
        if not data:
            return []
        self._chunks.append(bytes(data))
        self._have += len(data)
        if self._have < self._need:
            return []
        if self._line_scan and b"\n" not in data:
            if self._have > self.max_line + 1:
                self._fail(LineTooLong(f"admin line longer than {self.max_line} bytes", offset=self._start))
            return []
        buf = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        return self._parse(buf)

    def eof(self) -> None:
        """Declare the end of the stream.

        Raises:
            TruncatedMessage: the stream ended inside a message.
        """
        if self._error is not None:
            raise self._error
        if self._have:
            what = "admin line without its newline" if self._line_scan else "binary packet"
            self._fail(TruncatedMessage(f"stream ended inside a {what} ({self._have} bytes)", offset=self._start))

    def _fail(self, error: DecodeError) -> None:
        self._error = error
        raise error

    def _parse(self, buf: bytes) -> list[Message]:
        out: list[Message] = []
        append = out.append
        pos = 0
        end_all = len(buf)
        base = self._start
        unpack = _KEY_HEADER.unpack_from
        new = tuple.__new__  # skips NamedTuple's keyword handling on the hot path
        keyed = _KEYED
        max_body = self.max_body
        max_line = self.max_line
        need = 0
        line_scan = False
        header = HEADER_SIZE
        while pos < end_all:
            if buf[pos] == 0:
                if end_all - pos < header:
                    need = pos + header
                    break
                # One lookup on magic+type (8 bytes) serves every legal header;
                # only bad magic and unknown types take the slow path.
                key, size = unpack(buf, pos)
                if size > max_body:
                    self._keep(buf, pos)
                    reason = f"header announces a {size}-byte body, limit {max_body}"
                    self._fail(BodyTooLarge(reason, offset=base + pos))
                stop = pos + header + size
                if stop > end_all:
                    need = stop
                    break
                entry = keyed.get(key)
                if entry is not None:
                    magic, ptype, maxsplit = entry
                    if maxsplit > 0:
                        args = tuple(buf[pos + header : stop].split(b"\0", maxsplit))
                    elif maxsplit == 0 or size:
                        args = (buf[pos + header : stop],)
                    else:
                        args = ()
                    append(new(Packet, (magic, ptype, args, base + pos)))
                else:
                    raw_magic, number = _SLOW_HEADER.unpack_from(key)
                    known = _MAGICS.get(raw_magic)
                    if known is None:
                        self._keep(buf, pos)
                        self._fail(BadMagic(f"bad magic {raw_magic!r}", offset=base + pos))
                    body = buf[pos + header : stop]
                    append(new(Packet, (known, number, (body,) if size else (), base + pos)))
                pos = stop
            else:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    # one byte over the limit may be the "\r" of a "\r\n"
                    if end_all - pos > max_line + 1:
                        self._keep(buf, pos)
                        self._fail(LineTooLong(f"admin line longer than {max_line} bytes", offset=base + pos))
                    line_scan = True
                    need = end_all + 1
                    break
                text_end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
                if text_end - pos > max_line:
                    self._keep(buf, pos)
                    self._fail(LineTooLong(f"admin line longer than {max_line} bytes", offset=base + pos))
                if text_end != nl:
                    append(new(AdminLine, (buf[pos:text_end], b"\r\n", base + pos)))
                else:
                    append(new(AdminLine, (buf[pos:nl], b"\n", base + pos)))
                pos = nl + 1
        self._keep(buf, pos)
        self._need = need - pos if need else 1
        self._line_scan = line_scan
        return out

    def _keep(self, buf: bytes, pos: int) -> None:
        rest = buf[pos:] if pos else buf
        self._chunks = [rest] if rest else []
        self._have = len(rest)
        self._start += pos


def decode_all(data: bytes, *, max_body: int = DEFAULT_MAX_BODY) -> list[Message]:
    """Decode a complete stream.

    Raises:
        DecodeError: the bytes cannot be framed, or end inside a message.
    """
    decoder = Decoder(max_body=max_body)
    out = decoder.feed(data)
    decoder.eof()
    return out
