"""Streaming readers and a writer for capture files: pcap (micro and nano) and pcapng.

This module owns the capture *file* formats and nothing above them: it yields
one ``Frame`` per captured packet (timestamp in integer nanoseconds, link type,
the captured bytes, the record's byte offset in the file, the pcapng interface)
without ever holding more than one read chunk plus one record in memory, so a
file of any size is read in constant memory. Parsing link, IP and TCP headers is ``netparse``'s job.

A capture compressed with gzip (``.pcap.gz``, ``.pcapng.gz``; recognised by
its magic, not its name) is read through ``gzip`` as it streams; an error
in the capture inside names its offset in the decompressed bytes ("in the
gunzipped capture"), damaged gzip data its offset in the file.

Every problem with the file itself (not pcap, truncated record, absurd
lengths, damaged gzip data) raises ``CaptureError`` naming the file and the
byte offset.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple, Protocol

from gearsim.dissect.netparse import LINKTYPE_ETHERNET, LINKTYPE_NULL, LINKTYPE_RAW
from gearsim.errors import Fault, GearsimError

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "CaptureError",
    "Frame",
    "PcapWriter",
    "read_frames",
    "read_stream",
]

_CHUNK: Final[int] = 1 << 20
#: a record longer than this is treated as a corrupt length field
_MAX_RECORD: Final[int] = 1 << 26

_PCAP_MAGICS: Final[dict[bytes, tuple[str, int]]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),  # microseconds, little-endian
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
_PCAPNG_SHB: Final[bytes] = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC: Final[bytes] = b"\x1f\x8b"
#: the smallest total length of each pcapng block type this reader looks inside
#: (type, length, fields, trailing length): shorter blocks would be read past their end
_MIN_BLOCK: Final[dict[int, int]] = {1: 20, 2: 32, 3: 16, 6: 32}
_BLOCK_NAMES: Final[dict[int, str]] = {
    1: "interface description",
    2: "obsolete packet",
    3: "simple packet",
    6: "enhanced packet",
}


class CaptureError(GearsimError, ValueError):
    """A capture file that cannot be read; the message names the file and byte offset."""

    fault = Fault.INPUT

    def __init__(self, file: str, offset: int, message: str) -> None:
        super().__init__(f"{file}: byte offset {offset}: {message}")
        self.file = file
        self.offset = offset
        self.detail = message


class Frame(NamedTuple):
    """One captured packet: when, how it was framed, its bytes, where it was in the file."""

    #: capture time, nanoseconds since the Unix epoch
    time_ns: int
    linktype: int
    data: bytes
    #: byte offset of the record in the capture file
    offset: int
    #: 1-based frame number, as tshark counts
    number: int
    #: the pcapng interface (its description's index in the section) that captured it; 0 in a pcap file
    interface: int = 0


class _Source(Protocol):
    """What ``_Reader`` reads from: an open binary file, or a gzip stream over one."""

    def read(self, size: int, /) -> bytes: ...


class _Reader:
    """A chunked byte source with an absolute position; reads never go backwards."""

    __slots__ = ("_buf", "_eof", "_file", "_pos", "base", "name")

    def __init__(self, file: _Source, name: str) -> None:
        self._file = file
        self.name = name
        self._buf = b""
        self._pos = 0  # position in _buf
        self.base = 0  # file offset of _buf[0]
        self._eof = False

    @property
    def offset(self) -> int:
        return self.base + self._pos

    def take(self, size: int, what: str = "a record") -> bytes | None:
        """The next ``size`` bytes (``what`` they are, for the error), or None at a clean end of file.

        Raises:
            CaptureError: the file ends inside the requested bytes.
        """
        end = self._pos + size
        if end > len(self._buf):
            rest = self._buf[self._pos :]
            parts = [rest]
            have = len(rest)
            while have < size and not self._eof:
                chunk = self._file.read(max(_CHUNK, size - have))
                if not chunk:
                    self._eof = True
                    break
                parts.append(chunk)
                have += len(chunk)
            self.base += self._pos
            self._buf = b"".join(parts)
            self._pos = 0
            end = size
            if have < size:
                if have == 0:
                    return None
                raise CaptureError(self.name, self.offset, f"file ends inside {what} ({have} of {size} bytes)")
        out = self._buf[self._pos : end]
        self._pos = end
        return out

    def take_some(self, size: int) -> bytes:
        """Up to ``size`` bytes, what is buffered first (b"" at the end of the file); never raises ``CaptureError``."""
        if self._pos < len(self._buf):
            out = self._buf[self._pos : self._pos + size]
            self._pos += len(out)
            return out
        if self._eof:
            return b""
        chunk = self._file.read(size)
        if not chunk:
            self._eof = True
        self.base += len(self._buf)
        self._buf = b""
        self._pos = 0
        self.base += len(chunk)
        return chunk


def read_frames(path: str | Path) -> Iterator[Frame]:
    """Every frame of a pcap or pcapng file, in file order, read in constant memory.

    Raises:
        CaptureError: the file is not a capture, or is truncated or corrupt
            (raised when the reader reaches the bad record; earlier frames
            have been yielded by then).
        OSError: the file cannot be opened or read.
    """
    with open(path, "rb") as file:
        yield from _stream(file, str(path))


def read_stream(file: BinaryIO, name: str) -> Iterator[Frame]:
    """Every frame of the pcap or pcapng data read from ``file`` (named ``name`` in errors).

    Raises:
        CaptureError: as ``read_frames``.
        OSError: the file cannot be read.
    """
    yield from _stream(file, name)


# ``_stream`` and ``_frames`` pick the format's generator and return it rather than yield from it: each
# generator between a frame's reader and its consumer is resumed once per frame


def _stream(file: BinaryIO, name: str) -> Iterator[Frame]:
    """The frames of ``file``, by its first bytes (called inside a generator, so errors come on first use).

    Raises:
        CaptureError: the data is empty or not a capture.
        OSError: the file cannot be read.
    """
    reader = _Reader(file, name)
    head = reader.take(4)
    if head is None:
        raise CaptureError(name, 0, "empty file, not a pcap or pcapng capture")
    if head[:2] == _GZIP_MAGIC:
        return _gunzipped(reader, head, name)
    return _frames(reader, head, name)


def _frames(reader: _Reader, head: bytes, name: str) -> Iterator[Frame]:
    """The frames of a pcap or pcapng file whose first 4 bytes, ``head``, were read.

    Raises:
        CaptureError: ``head`` starts neither format.
    """
    if head in _PCAP_MAGICS:
        return _pcap(reader, head)
    if head == _PCAPNG_SHB:
        return _pcapng(reader, head)
    raise CaptureError(name, 0, f"not a pcap or pcapng capture (starts with {head.hex()})")


class _Rest:
    """What a ``_Reader`` has buffered and not handed out, then the rest of its file: a file for ``gzip``."""

    def __init__(self, reader: _Reader, head: bytes) -> None:
        self._reader = reader
        self._head = head

    def read(self, size: int = -1) -> bytes:
        size = size if size > 0 else _CHUNK
        if self._head:
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._reader.take_some(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        """Never needed: the capture is read once, forwards.

        Raises:
            io.UnsupportedOperation: always.
        """
        raise io.UnsupportedOperation("a capture is read forwards only")


def _gunzipped(outer: _Reader, head: bytes, name: str) -> Iterator[Frame]:
    """The frames of a gzip-compressed capture (one level: a capture inside, not another gzip stream)."""
    reader = _Reader(gzip.GzipFile(fileobj=_Rest(outer, head), mode="rb"), name)
    try:
        first = reader.take(4)
        if first is None:
            raise CaptureError(name, 0, "empty gzip stream, not a pcap or pcapng capture")
        if first[:2] == _GZIP_MAGIC:
            raise CaptureError(name, 0, "a gzip stream inside a gzip stream, not a pcap or pcapng capture")
        yield from _frames(reader, first, name)
    except CaptureError as exc:
        raise CaptureError(name, exc.offset, f"in the gunzipped capture: {exc.detail}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        # a gzip stream cut short or damaged: what came before the damage has been yielded
        raise CaptureError(name, outer.offset, f"damaged gzip data: {exc}") from None


def _pcap(reader: _Reader, magic: bytes) -> Iterator[Frame]:
    endian, scale = _PCAP_MAGICS[magic]
    header = reader.take(20, "the pcap global header")
    if header is None:
        raise CaptureError(reader.name, 4, "pcap file ends inside its global header")
    linktype = struct.unpack(endian + "HHiIII", header)[5] & 0x0FFFFFFF
    record = struct.Struct(endian + "IIII")
    unpack = record.unpack_from
    name = reader.name
    number = 0
    new = tuple.__new__
    # the reader's chunk and position, kept here while records are sliced out of it (nothing else reads this
    # reader meanwhile) and given back before ``take`` reads on
    buf = reader._buf
    pos = reader._pos
    base = reader.base
    size = len(buf)
    while True:
        # the common case, a whole record inside the chunk read: sliced out of it, nothing copied twice
        if pos + 16 <= size:
            sec, frac, incl, _orig = unpack(buf, pos)
            end = pos + 16 + incl
            if end <= size and incl <= _MAX_RECORD:
                number += 1
                frame = new(
                    Frame, (sec * 1_000_000_000 + frac * scale, linktype, buf[pos + 16 : end], base + pos, number, 0)
                )
                pos = end
                yield frame
                continue
        reader._pos = pos
        at = reader.offset
        head = reader.take(16)
        if head is None:
            return
        sec, frac, incl, _orig = record.unpack(head)
        if incl > _MAX_RECORD:
            raise CaptureError(name, at, f"record claims {incl} captured bytes: corrupt record header")
        data = reader.take(incl)
        if data is None:
            raise CaptureError(name, at, f"file ends after a record header announcing {incl} bytes")
        number += 1
        buf = reader._buf
        pos = reader._pos
        base = reader.base
        size = len(buf)
        yield Frame(sec * 1_000_000_000 + frac * scale, linktype, data, at, number)


def _pcapng(reader: _Reader, first: bytes) -> Iterator[Frame]:
    name = reader.name
    endian = "<"
    interfaces: list[tuple[int, int]] = []  # (linktype, nanoseconds per tick; negative means divide)
    number = 0
    pending = first  # the block type already read to recognise the file
    while True:
        at = reader.offset - len(pending)
        if pending:
            rest = reader.take(4, "a pcapng block header")
            if rest is None:
                raise CaptureError(name, at, "file ends inside a pcapng block header")
            head: bytes | None = pending + rest
            pending = b""
        else:
            head = reader.take(8, "a pcapng block header")
        if head is None:
            return
        btype = struct.unpack(endian + "I", head[:4])[0]
        if head[:4] == _PCAPNG_SHB:
            bom = reader.take(4, "a pcapng section header")
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise CaptureError(name, at, "pcapng section header with a bad byte-order magic")
            length = struct.unpack(endian + "I", head[4:8])[0]
            interfaces = []
            body_len = length - 12
            if length < 28 or length % 4 or length > _MAX_RECORD:
                raise CaptureError(name, at, f"pcapng section header with bad length {length}")
            body = reader.take(body_len, "a pcapng section header")
            if body is None:
                raise CaptureError(name, at, "file ends inside a pcapng section header")
            continue
        length = struct.unpack(endian + "I", head[4:8])[0]
        if length < 12 or length % 4 or length > _MAX_RECORD:
            raise CaptureError(name, at, f"pcapng block of type {btype:#x} with bad length {length}")
        body = reader.take(length - 8, "a pcapng block")
        if body is None:
            raise CaptureError(name, at, "file ends inside a pcapng block")
        if body[-4:] != head[4:8]:
            raise CaptureError(name, at, "pcapng block whose trailing length differs from its leading one")
        minimum = _MIN_BLOCK.get(btype, 12)
        if length < minimum:
            kind = _BLOCK_NAMES.get(btype, f"of type {btype:#x}")
            detail = f"pcapng {kind} block of {length} bytes, shorter than its {minimum}-byte minimum"
            raise CaptureError(name, at, detail)
        if btype == 1:  # interface description
            linktype = struct.unpack(endian + "H", body[:2])[0]
            interfaces.append((linktype, _tsresol(body[8:-4], endian)))
        elif btype in (6, 2):  # enhanced packet, obsolete packet
            if btype == 6:
                iface, hi, lo, incl = struct.unpack(endian + "IIII", body[:16])
            else:
                iface, _drops, hi, lo, incl = struct.unpack(endian + "HHIII", body[:16])
            if iface >= len(interfaces):
                raise CaptureError(name, at, f"packet block names interface {iface}, which was not described")
            if 20 + incl > len(body) - 4:
                raise CaptureError(name, at, f"packet block too short for its {incl} captured bytes")
            linktype, unit = interfaces[iface]
            ticks = (hi << 32) | lo
            time_ns = ticks * unit if unit > 0 else ticks // -unit
            number += 1
            yield Frame(time_ns, linktype, body[20 : 20 + incl], at, number, iface)
        elif btype == 3:  # simple packet: no timestamp
            if not interfaces:
                raise CaptureError(name, at, "simple packet block before any interface description")
            orig = struct.unpack(endian + "I", body[:4])[0]
            number += 1
            yield Frame(0, interfaces[0][0], body[4 : 4 + min(orig, len(body) - 8)], at, number)


def _tsresol(options: bytes, endian: str) -> int:
    """Nanoseconds per timestamp tick from an interface's options (negative: divide by it)."""
    pos = 0
    while pos + 4 <= len(options):
        code, size = struct.unpack(endian + "HH", options[pos : pos + 4])
        if code == 0:
            break
        if code == 9 and size >= 1:
            value = options[pos + 4]
            exponent = value & 0x7F
            per_second: int = 2**exponent if value & 0x80 else 10**exponent
            if per_second <= 1_000_000_000:
                return 1_000_000_000 // per_second
            return -(per_second // 1_000_000_000)
        pos += 4 + size + (-size % 4)
    return 1000  # default: microseconds


class PcapWriter:
    """Writes a classic microsecond pcap file, one record per ``write`` call."""

    def __init__(self, file: BinaryIO, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262144) -> None:
        self._file = file
        file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))

    def write(self, time_ns: int, data: bytes) -> None:
        """Append one packet captured at ``time_ns`` (nanoseconds since the epoch)."""
        sec, ns = divmod(time_ns, 1_000_000_000)
        self._file.write(struct.pack("<IIII", sec, ns // 1000, len(data), len(data)))
        self._file.write(data)
