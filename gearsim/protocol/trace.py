"""Trace records of a simulated (or captured) run, their canonical text, diff and hash.

PURE. This module owns ``TraceRecord`` (one thing that happened: a message
sent, bytes delivered, a connection accepted, closed or cut, a timer fired),
``Trace`` (the ordered records of one run), the canonical one-line text form of
a record, ``diff`` of two traces and a stable SHA-256 of a trace.

The canonical text is the comparison format: the same seed must give the same
text byte for byte, so it depends only on record values, never on object ids,
dict order or the platform. A line reads::

    000003000 c2 client>server SUBMIT_JOB_BG "reverse" "" "this is a test"
    000003001 c2 client>server deliver 38 "\\x00REQ\\x00\\x00\\x00\\x12..." # note
    000004000 c2 client eof # server

tick (zero-padded milliseconds), connection, then either an arrow (message and
byte records) or the connection's label and a kind (events). Bytes are quoted
with every byte outside printable ASCII escaped; payloads longer than
``LONG_PAYLOAD`` show a prefix, their length and a SHA-256 prefix.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import re
from collections.abc import Iterable, Iterator
from typing import Final, NamedTuple, overload

from gearsim.protocol.packets import Magic, Message, Packet, type_name
from gearsim.words import counted

__all__ = [
    "LONG_PAYLOAD",
    "Direction",
    "Kind",
    "RawRecord",
    "Trace",
    "TraceRecord",
    "diff",
    "format_message",
    "format_record",
    "quote",
    "terminal_text",
]

#: payloads longer than this are shown as a prefix plus a hash
LONG_PAYLOAD: Final[int] = 64
_PREFIX: Final[int] = 32


class Direction(enum.StrEnum):
    """Which way a record goes; ``EVENT`` for things that are not bytes on a wire."""

    C2S = "c>s"
    S2C = "s>c"
    EVENT = "event"


class Kind(enum.StrEnum):
    """The kinds of record the simulator writes (others may add their own)."""

    #: a message written by one end (c>s: decoded from the client's writes;
    #: s>c: from the server's Send output); bytes that do not decode are a
    #: ``send`` record with no message and the raw data
    SEND = "send"
    #: a piece of bytes handed to the receiving end
    DELIVER = "deliver"
    #: bytes that arrived at an end that was already closed
    DISCARD = "discard"
    #: the client opened a connection
    CONNECT = "connect"
    #: the server was told about a new connection
    ACCEPT = "accept"
    #: a connect that failed at once (the server is partitioned)
    REFUSED = "refused"
    #: one end closed the connection
    CLOSE = "close"
    #: the other end saw the close
    EOF = "eof"
    #: the link was cut both ways (cut_at, a loss, a partition, a restart)
    CUT = "cut"
    #: the client could not decode what the server sent; it closes the connection
    DECODE_ERROR = "decode-error"
    #: the server's ``advance`` was called
    TIMER = "timer"
    #: a partition of a server began
    PARTITION = "partition"
    #: a partition of a server ended
    HEAL = "heal"
    #: a server was replaced by a fresh node
    RESTART = "restart"


class TraceRecord(NamedTuple):
    """One thing that happened in a run; immutable and cheap to build.

    Attributes:
        tick: when, in milliseconds of virtual time.
        seq: position in its trace (0, 1, 2, ...).
        conn: the connection id, 0 for events about a whole server.
        label: the connection's label (for example ``client`` or ``worker``),
            or the server's name for server events.
        direction: ``c>s``, ``s>c`` or ``event`` (see ``Direction``).
        kind: what happened (see ``Kind``).
        message: the message, for ``send`` records that decoded.
        data: the bytes, for records about bytes (deliveries, undecodable sends).
        note: free text: a reason, an error, a server name.
    """

    tick: int
    seq: int
    conn: int
    label: str
    direction: str
    kind: str
    message: Message | None
    data: bytes
    note: str


def _escape_table() -> tuple[str, ...]:
    table = []
    for b in range(256):
        if b == 0x5C:
            table.append("\\\\")
        elif b == 0x22:
            table.append('\\"')
        elif b == 0x0A:
            table.append("\\n")
        elif b == 0x0D:
            table.append("\\r")
        elif b == 0x09:
            table.append("\\t")
        elif 0x20 <= b < 0x7F:
            table.append(chr(b))
        else:
            table.append(f"\\x{b:02x}")
    return tuple(table)


_ESCAPE: Final[tuple[str, ...]] = _escape_table()


def quote(data: bytes) -> str:
    """``data`` in double quotes, every byte outside printable ASCII escaped.

    Payloads longer than ``LONG_PAYLOAD`` bytes show their first 32 bytes, then
    ``...(N bytes, sha256:<12 hex digits>)``, so lines stay short and two
    different long payloads still read differently.
    """
    esc = _ESCAPE
    if len(data) <= LONG_PAYLOAD:
        return '"' + "".join([esc[b] for b in data]) + '"'
    digest = hashlib.sha256(data).hexdigest()[:12]
    shown = "".join([esc[b] for b in data[:_PREFIX]])
    return f'"{shown}"...({len(data)} bytes, sha256:{digest})'


def held_text(head: bytes, buffered: int) -> str:
    """What a connection holds of a message not yet whole, for a report ('' when nothing).

    ``head`` is the first bytes of the ``buffered`` ones (``Decoder.head``):
    an admin line's are quoted; a packet's header says its type and announced length, so a reader sees
    how much of the body is missing, which is what a length field longer than
    its body looks like, as does a server that stopped mid-packet.
    """
    if not buffered:
        return ""
    if head[:1] != b"\0":
        more = "..." if buffered > len(head) else ""
        held = counted(buffered, "byte")
        return f"the connection holds {held} of an admin line, without its end of line: {quote(head)}{more}"
    if len(head) < 12:
        return f"the connection holds {counted(buffered, 'byte')} of a packet header, short of its 12"
    announced = int.from_bytes(head[8:12], "big")
    name = type_name(int.from_bytes(head[4:8], "big"))
    body = buffered - 12
    article = "an" if name[0] in "AEIOU" else "a"
    return (
        f"the connection holds the start of {article} {name}: its header announces {announced} body bytes, {body} came"
        f" ({announced - body} missing: a length field longer than the body, or a server that stopped mid-packet)"
    )


#: the characters a terminal may act on rather than show: C0 controls but tab and newline, DEL, C1 controls;
#: then the invisible ones that change how a line reads rather than what it holds (Trojan Source,
#: CVE-2021-42574): every format character (Unicode category Cf: the bidi embeddings, overrides, isolates
#: and marks, zero-width spaces and joiners, the BOM, tag characters...) as of Unicode 15 (13439-1343f
#: are 15's, so a Python on Unicode 14 escapes them too), the line and paragraph separators (Zl, Zp), and
#: lone surrogates, which no UTF-8 output can hold
_CONTROL: Final[re.Pattern[str]] = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
#: the same for ASCII text (most reports): the short class is about 5 times faster than the long one
_ASCII_CONTROL: Final[re.Pattern[str]] = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def _control(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal_text(text: str) -> str:
    """``text`` safe to print: controls but newline and tab, and invisible format characters, escaped.

    For a peer's own words (a driver's stderr or library name, a program's
    output, a server's log tail) in a report a person reads in a terminal or
    a CI log: an ESC or a carriage return there would let the peer clear the
    screen or overwrite a line with its own, and a bidi override (U+202E) or
    isolate would let it show a line in an order other than its content's.
    Each is shown as an escape (``\\x1b``, ``\\r``, ``\\u202e``). Lines and
    the rest of the text, non-ASCII letters included, are kept as they are,
    so a log tail stays readable; text without such characters comes back
    unchanged. Escapes are printable ASCII, so a second pass changes nothing.
    """
    return (_ASCII_CONTROL if text.isascii() else _CONTROL).sub(_control, text)


def _one_line(text: str) -> str:
    return terminal_text(text.replace("\\", "\\\\").replace("\n", "\\n"))


def format_message(message: Message, direction: str = "") -> str:
    """A message as ``NAME "arg" ...``; admin lines as ``TEXT "line"``.

    The magic is shown only when it is not the usual one for ``direction``
    (``\\0REQ`` towards the server, ``\\0RES`` from it), as ``NAME[RES]``.
    """
    if isinstance(message, Packet):
        name = type_name(message.type)
        magic = message.magic
        expected = Magic.REQ if direction == Direction.C2S else Magic.RES if direction == Direction.S2C else None
        if magic is not expected and expected is not None:
            name += f"[{magic.name}]" if isinstance(magic, Magic) else f"[{quote(bytes(magic))}]"
        if not message.args:
            return name
        return name + " " + " ".join(quote(a) for a in message.args)
    crlf = " crlf" if message.eol == b"\r\n" else "" if message.eol == b"\n" else f" eol={quote(message.eol)}"
    return f"TEXT {quote(message.text)}{crlf}"


def format_record(record: TraceRecord) -> str:
    """The canonical one-line text of a record (see the module docstring)."""
    head = f"{record.tick:09d} c{record.conn}"
    direction = record.direction
    if direction == Direction.C2S:
        line = f"{head} {record.label}>server "
    elif direction == Direction.S2C:
        line = f"{head} server>{record.label} "
    else:
        line = f"{head} {record.label} {record.kind}"
        return line + (f" # {_one_line(record.note)}" if record.note else "")
    if record.message is not None:
        line += format_message(record.message, direction)
        if record.kind != Kind.SEND:
            line += f" ({record.kind})"
    else:
        line += f"{record.kind} {len(record.data)} {quote(record.data)}"
    return line + (f" # {_one_line(record.note)}" if record.note else "")


#: a record as a producer may append it to ``Trace.raw``: a TraceRecord's fields without ``seq``
RawRecord = tuple[int, int, str, str, str, Message | None, bytes, str]


class Trace:
    """The records of one run, in the order they happened.

    The simulator appends through ``append`` or ``raw``; everything else reads.
    Indexing, iteration and ``records`` give ``TraceRecord`` values; ``seq``
    equals the index.

    Why ``raw``: a long simulation appends several records per packet and
    mostly reads them once, at the end. It appends plain tuples of the fields
    but ``seq`` (a ``RawRecord``), and reading ``records`` makes TraceRecords of
    those not yet made, in place, once: the wrapping is paid only for a trace
    that is read.
    """

    __slots__ = ("_made", "_records")

    def __init__(self, records: Iterable[TraceRecord] = ()) -> None:
        self._records: list[TraceRecord | RawRecord] = list(records)
        #: entries before this index are all TraceRecords
        self._made = len(self._records)

    @property
    def records(self) -> list[TraceRecord]:
        """Every record, in order (the list itself: read it, do not append to it)."""
        found = self._records
        if self._made < len(found):
            new = tuple.__new__
            for i in range(self._made, len(found)):
                r = found[i]
                if type(r) is tuple:
                    found[i] = new(TraceRecord, (r[0], i, *r[1:]))
            self._made = len(found)
        return found  # type: ignore[return-value]  # every entry is a TraceRecord now

    @property
    def raw(self) -> list[TraceRecord | RawRecord]:
        """The list records are appended to: TraceRecords (``seq`` = the index) or ``RawRecord`` tuples."""
        return self._records

    def append(self, record: TraceRecord) -> None:
        self._records.append(record)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[TraceRecord]:
        return iter(self.records)

    @overload
    def __getitem__(self, index: int) -> TraceRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[TraceRecord]: ...

    def __getitem__(self, index: int | slice) -> TraceRecord | list[TraceRecord]:
        return self.records[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return self.records == other.records

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable, like list

    def __repr__(self) -> str:
        return f"<Trace {len(self.records)} records, sha256 {self.sha256()[:12]}>"

    def lines(self) -> list[str]:
        """The canonical text of every record, one string per record."""
        return [format_record(r) for r in self.records]

    def text(self) -> str:
        """The canonical text: one line per record, each ending in a newline."""
        return "".join(line + "\n" for line in self.lines())

    def sha256(self) -> str:
        """The hex SHA-256 of ``text()``: equal for byte-identical traces."""
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()

    def select(self, *, conn: int | None = None, direction: str | None = None, kind: str | None = None) -> Trace:
        """The records matching every given filter, as a new Trace (seq unchanged)."""
        return Trace(
            r
            for r in self.records
            if (conn is None or r.conn == conn)
            and (direction is None or r.direction == direction)
            and (kind is None or r.kind == kind)
        )

    def messages(self, *, conn: int | None = None, direction: str | None = None) -> list[Message]:
        """The messages of the ``send`` records, optionally of one connection or direction."""
        return [
            r.message
            for r in self.records
            if r.message is not None
            and (conn is None or r.conn == conn)
            and (direction is None or r.direction == direction)
        ]

    def around(self, seq: int, before: int = 5, after: int = 5) -> str:
        """The records from ``seq - before`` to ``seq + after`` as text, for failure reports.

        Each line is prefixed with its seq; the line of ``seq`` itself is marked
        with ``>``. Records outside the trace are left out.
        """
        out = []
        for r in self.records:
            if seq - before <= r.seq <= seq + after:
                mark = ">" if r.seq == seq else " "
                out.append(f"{mark}{r.seq:6d} {format_record(r)}")
        return "\n".join(out)

    def tail(self, count: int = 10) -> str:
        """The last ``count`` records as text, seq-prefixed like ``around``."""
        if not self.records:
            return "(empty trace)"
        last = self.records[-1].seq
        return self.around(last, before=count - 1, after=0)


def diff(a: Trace, b: Trace, *, names: tuple[str, str] = ("a", "b"), context: int = 3) -> str:
    """A unified diff of the canonical texts of two traces; empty when they are equal."""
    return "\n".join(
        difflib.unified_diff(a.lines(), b.lines(), fromfile=names[0], tofile=names[1], n=context, lineterm="")
    )
