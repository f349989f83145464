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
from collections.abc import Collection, Sequence
from typing import Final, NoReturn

from gearsim.errors import BadMagic, BodyTooLarge, DecodeError, LineTooLong, TruncatedMessage, UnknownType
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
_REQ: Final = Magic.REQ
_RES: Final = Magic.RES
# number -> (type, maxsplit); maxsplit -1 marks the argument-less types, whose
# stray body bytes are kept as one argument so that nothing read is dropped.
_SPLIT: Final[dict[int, tuple[PacketType, int]]] = {n: (s.type, len(s.args) - 1) for n, s in SPECS.items()}
_KEY_HEADER: Final = struct.Struct(">8sI")
_new_object = object.__new__
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
    magic, ptype, args = packet.magic, packet.type, packet.args
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

    A header is checked as soon as its 12 bytes are in, before any of its body
    is buffered, in gearmand's order: the magic, then the type (only when
    ``types`` is given), then the announced length. Buffering is linear in the
    bytes received: a partial message is kept as the chunks that brought it and
    joined once, when it is complete; nothing is re-copied per read.

    Args:
        max_body: largest body accepted; a header announcing more raises
            ``BodyTooLarge`` as soon as the header is complete, before anything
            is buffered for the body.
        max_line: longest admin line buffered while waiting for its ``\\n``.
        types: the type numbers a header may carry; another raises
            ``UnknownType`` on the header (None: every number is framed, and
            unknown ones are data for the validator).
        unknown_magic: read a header whose magic is neither ``\\0REQ`` nor
            ``\\0RES`` as if it had this one (gear does not check the magic);
            None: such a header raises ``BadMagic``.
    """

    __slots__ = (
        "_chunks",
        "_error",
        "_have",
        "_keyed",
        "_line_scan",
        "_need",
        "_split",
        "_start",
        "max_body",
        "max_line",
        "types",
        "unknown_magic",
    )

    def __init__(
        self,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        max_line: int = DEFAULT_MAX_LINE,
        types: Collection[int] | None = None,
        unknown_magic: Magic | None = None,
    ) -> None:
        self.max_body = max_body
        self.max_line = max_line
        self.types = None if types is None else frozenset(types)
        self.unknown_magic = unknown_magic
        self._keyed = _keyed_for(self.types)
        # type number -> (type, maxsplit) for feed_messages, restricted to ``types``
        self._split = _split_for(self.types)
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

    def head(self, size: int = 32) -> bytes:
        """The first ``size`` of the ``buffered`` bytes: what a report quotes of a message not yet whole."""
        out = b""
        for chunk in self._chunks:  # the chunks of a large body are not joined for a header
            out += chunk[: size - len(out)]
        return out

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return the messages they complete, in stream order.

        Raises:
            DecodeError: the stream cannot be framed (bad magic, a type outside
                ``types``, a body over ``max_body``, a text line over
                ``max_line``); ``offset`` says where. The messages completed
                before the fault are lost: use ``feed_until_error`` to keep them.
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
        out: list[Message] = []
        self._parse(self._joined(), out)
        return out

    def feed_until_error(self, data: bytes) -> tuple[list[Message], DecodeError | None]:
        """``feed``, but a framing fault is returned after the messages completed before it.

        Returns:
            The messages, in stream order, and the ``DecodeError`` that stopped
            framing (None when none did); once broken, every call returns no
            messages and that error.
        """
        out: list[Message] = []
        try:
            if self._error is not None:
                raise self._error
            if not data:
                return out, None
            self._chunks.append(bytes(data))
            self._have += len(data)
            if self._have < self._need:
                return out, None
            if self._line_scan and b"\n" not in data:
                if self._have > self.max_line + 1:
                    self._fail(LineTooLong(f"admin line longer than {self.max_line} bytes", offset=self._start))
                return out, None
            self._parse(self._joined(), out)
        except DecodeError as exc:
            return out, exc
        return out, None

    def feed_messages(self, messages: Sequence[Message]) -> list[Message] | None:
        """Take ``messages`` as if their encoding had been fed, without encoding them.

        Returns:
            The messages as ``feed`` would have returned them (stamped with
            their stream offsets), or None, having taken nothing, when that
            would not be the same: the decoder holds part of a message or is
            broken, or a message would not decode back to itself (arguments
            that re-split differently, an unknown type, a magic other than
            ``\\0REQ``/``\\0RES``, a body or line over the limits). The caller
            then feeds the bytes instead.
        """
        return self._take(messages)

    def take_messages(self, messages: Sequence[Message]) -> bool:
        """``feed_messages`` for a reader that reads the messages as given: no copies are made.

        The stream moves past ``messages`` as ``feed_messages`` would move it, but
        the messages are not stamped with their offsets: a reader that never
        looks at offsets (the reference model, the simulator's actors) runs the
        given messages themselves, which spares a copy of each.

        Returns:
            True when taken; False, having taken nothing, when ``feed_messages``
            would return None, or when a packet's type is a plain number where
            the table has a ``PacketType`` (what decoding would give differs).
        """
        if self._have or self._error is not None:
            return False
        split = self._split
        pos = self._start
        for m in messages:
            if type(m) is Packet:
                # Packet's own slots (see _take)
                kind = m._type
                entry = split.get(kind)
                if entry is None or entry[0] is not kind:
                    return False
                magic = m._magic
                if magic is not _REQ and magic is not _RES:
                    return False
                try:
                    args = m._args
                except AttributeError:  # a decoded packet not split yet
                    args = m.args
                count = len(args)
                if count == entry[1] + 1:
                    # _args_size's usual case (the count the table lays out) inlined for
                    # up to four arguments: every packet the simulator's actors and
                    # the model exchange per job
                    if count == 1:
                        size = len(args[0])
                    elif count == 0:
                        size = 0
                    elif count == 2:
                        first, last = args
                        if 0 in first:
                            return False
                        size = len(first) + len(last) + 1
                    elif count == 3:
                        first, second, last = args
                        if 0 in first or 0 in second:
                            return False
                        size = len(first) + len(second) + len(last) + 2
                    elif count == 4:
                        first, second, third, last = args
                        if 0 in first or 0 in second or 0 in third:
                            return False
                        size = len(first) + len(second) + len(third) + len(last) + 3
                    else:
                        size = _args_size(args, entry[1])
                        if size < 0:
                            return False
                else:
                    size = _args_size(args, entry[1])
                    if size < 0:
                        return False
                if size > self.max_body:
                    return False
                pos += HEADER_SIZE + size
            elif type(m) is AdminLine:
                size = _line_size(m, self.max_line)
                if size < 0:
                    return False
                pos += size
            else:
                return False
        self._start = pos
        return True

    def _take(self, messages: Sequence[Message]) -> list[Message] | None:
        """``feed_messages``: the decoded copies of ``messages``, stamped with their offsets, or None."""
        if self._have or self._error is not None:
            return None
        split = self._split
        max_body = self.max_body
        pos = self._start
        out: list[Message] = []
        append = out.append
        for m in messages:
            if type(m) is Packet:
                # Packet's own slots: this module builds and reads packets on the hot
                # path, and the messages given here were built with their arguments
                magic = m._magic
                try:
                    args = m._args
                except AttributeError:  # a decoded packet not split yet
                    args = m.args
                entry = split.get(m._type)
                if entry is None or (magic is not _REQ and magic is not _RES):
                    return None
                ptype, maxsplit = entry
                size = _args_size(args, maxsplit)
                if size < 0 or size > max_body:
                    return None
                # Packet's _build, inlined (see Packet)
                p = _new_object(Packet)
                p._magic = magic
                p._type = ptype
                p._args = args
                p._offset = pos
                append(p)
                pos += HEADER_SIZE + size
            elif type(m) is AdminLine:
                size = _line_size(m, self.max_line)
                if size < 0:
                    return None
                append(tuple.__new__(AdminLine, (m[0], m[1], pos)))
                pos += size
            else:
                return None
        self._start = pos
        return out

    def eof(self) -> None:
        """Declare the end of the stream.

        Raises:
            TruncatedMessage: the stream ended inside a message.
        """
        if self._error is not None:
            raise self._error
        if self._have:
            what = "an admin line without its newline" if self._line_scan else "a binary packet"
            self._fail(TruncatedMessage(f"stream ended inside {what} ({self._have} bytes)", offset=self._start))

    def _joined(self) -> bytes:
        """The buffered bytes as one, the chunks let go at once (``_parse`` keeps what is left).

        Dropping the chunks before the messages are cut out of the whole keeps
        a large body at two copies at most (joined, then its argument), not three.
        """
        chunks = self._chunks
        if len(chunks) == 1:
            return chunks[0]
        buf = b"".join(chunks)
        chunks.clear()
        return buf

    def _fail(self, error: DecodeError) -> NoReturn:
        self._error = error
        raise error

    def _odd_header(self, key: bytes, at: int) -> tuple[Magic, PacketType, int]:
        """The (magic, type, maxsplit) of a header ``_keyed`` does not hold, or a DecodeError.

        Raises:
            BadMagic: the magic is neither ``\\0REQ`` nor ``\\0RES`` and
                ``unknown_magic`` is None.
            UnknownType: ``types`` is given and does not hold the type.
        """
        raw_magic, number = _SLOW_HEADER.unpack_from(key)
        magic = _MAGICS.get(raw_magic)
        if magic is None:
            if self.unknown_magic is None:
                self._fail(BadMagic(f"bad magic {raw_magic!r}", offset=at))
            magic = self.unknown_magic
        if self.types is not None and number not in self.types:
            self._fail(UnknownType(f"packet type {number} is not one this reader accepts", offset=at, number=number))
        entry = _SPLIT.get(number)
        # an unknown type keeps its body whole, as an argument-less type keeps stray bytes
        return (magic, number, -1) if entry is None else (magic, entry[0], entry[1])

    def _parse(self, buf: bytes, out: list[Message]) -> None:
        append = out.append
        pos = 0
        end_all = len(buf)
        base = self._start
        unpack = _KEY_HEADER.unpack_from
        new = tuple.__new__  # skips NamedTuple's keyword handling on the hot path
        new_object = _new_object
        keyed = self._keyed
        max_body = self.max_body
        max_line = self.max_line
        header = HEADER_SIZE
        need = 0
        line_scan = False
        try:
            while pos < end_all:
                if buf[pos] == 0:
                    if end_all - pos < header:
                        need = pos + header
                        break
                    # One lookup on magic+type (8 bytes) serves every legal header;
                    # only bad magic and types outside the table take the slow path.
                    key, size = unpack(buf, pos)
                    try:
                        entry = keyed[key]
                    except KeyError:
                        entry = self._odd_header(key, base + pos)
                    if size > max_body:
                        reason = f"header announces a {size}-byte body, limit {max_body}"
                        self._fail(BodyTooLarge(reason, offset=base + pos))
                    stop = pos + header + size
                    if stop > end_all:
                        need = stop
                        break
                    # Packet's _build_lazy, inlined (see Packet): the body is split
                    # into arguments when they are first read
                    p = new_object(Packet)
                    p._magic, p._type, _ = entry
                    p._body = buf[pos + header : stop]
                    p._offset = base + pos
                    append(p)
                    pos = stop
                else:
                    nl = buf.find(b"\n", pos)
                    if nl < 0:
                        # one byte over the limit may be the "\r" of a "\r\n"
                        if end_all - pos > max_line + 1:
                            self._fail(LineTooLong(f"admin line longer than {max_line} bytes", offset=base + pos))
                        line_scan = True
                        need = end_all + 1
                        break
                    text_end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl
                    if text_end - pos > max_line:
                        self._fail(LineTooLong(f"admin line longer than {max_line} bytes", offset=base + pos))
                    if text_end != nl:
                        append(new(AdminLine, (buf[pos:text_end], b"\r\n", base + pos)))
                    else:
                        append(new(AdminLine, (buf[pos:nl], b"\n", base + pos)))
                    pos = nl + 1
        finally:
            # on a fault too: the bytes from the message at fault on stay buffered
            rest = buf[pos:] if pos else buf
            self._chunks = [rest] if rest else []
            self._have = len(rest)
            self._start = base + pos
        self._need = need - pos if need else 1
        self._line_scan = line_scan


def _args_size(args: tuple[bytes, ...], maxsplit: int) -> int:
    """The body length of ``args`` joined with NULs, or -1 when decoding that body gives other arguments.

    Decoding splits a body at most ``maxsplit`` times (-1: a type without
    arguments, whose stray bytes stay one argument): the same arguments come
    back only when there are not more of them than that allows, and no NUL in
    one but the last would split.

    A NUL is looked for as ``0 in arg``: ``b"\\0" in arg`` first tries the bytes
    as an int, and making and dropping that TypeError costs CPython 3.11 about
    1,800 instructions per test (callgrind), several times the search.
    """
    count = len(args)
    if count == maxsplit + 1:  # the usual case: the count the table lays out
        if count == 1:
            return len(args[0])
        if count == 0:
            return 0
        if count == 2:
            first, last = args
            return -1 if 0 in first else len(first) + len(last) + 1
        if count == 3:
            first, second, last = args
            if 0 in first or 0 in second:
                return -1
            return len(first) + len(second) + len(last) + 2
        size = count - 1 + len(args[-1])
        for arg in args[:-1]:
            if 0 in arg:
                return -1
            size += len(arg)
        return size
    if maxsplit < 0:  # a type without arguments keeps stray bytes whole
        return len(args[0]) if count == 1 and args[0] else -1
    if 0 < count <= maxsplit:  # fewer: even the last would be split at a NUL
        size = count - 1
        for arg in args:
            if 0 in arg:
                return -1
            size += len(arg)
        return size
    return -1


def _line_size(line: AdminLine, max_line: int) -> int:
    """The bytes of an admin line with its end of line, or -1 when decoding them gives another line."""
    text, eol, _ = line
    if (
        (eol != b"\n" and eol != b"\r\n")
        or b"\n" in text
        or text[:1] == b"\0"
        or (eol == b"\n" and text[-1:] == b"\r")
        or len(text) > max_line
    ):
        return -1
    return len(text) + len(eol)


def _keyed_for(types: frozenset[int] | None) -> dict[bytes, tuple[Magic, PacketType, int]]:
    """``_KEYED`` restricted to ``types`` (cached: a server makes one per connection)."""
    if types is None:
        return _KEYED
    found = _KEYED_BY_TYPES.get(types)
    if found is None:
        found = _KEYED_BY_TYPES[types] = {k: v for k, v in _KEYED.items() if v[1] in types}
    return found


_KEYED_BY_TYPES: dict[frozenset[int], dict[bytes, tuple[Magic, PacketType, int]]] = {}


def _split_for(types: frozenset[int] | None) -> dict[int, tuple[PacketType, int]]:
    """``_SPLIT`` restricted to ``types`` (cached)."""
    if types is None:
        return _SPLIT
    found = _SPLIT_BY_TYPES.get(types)
    if found is None:
        found = _SPLIT_BY_TYPES[types] = {n: e for n, e in _SPLIT.items() if n in types}
    return found


_SPLIT_BY_TYPES: dict[frozenset[int], dict[int, tuple[PacketType, int]]] = {}


def decode_all(data: bytes, *, max_body: int = DEFAULT_MAX_BODY) -> list[Message]:
    """Decode a complete stream.

    Raises:
        DecodeError: the bytes cannot be framed, or end inside a message.
    """
    decoder = Decoder(max_body=max_body)
    out = decoder.feed(data)
    decoder.eof()
    return out
