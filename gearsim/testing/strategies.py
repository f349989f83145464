"""Hypothesis strategies for Gearman messages, driven by the packet table.

PURE (hypothesis draws from its own seeded randomness). Used by the property
tests and by ``gearsim fuzz``; hypothesis is a runtime dependency of gearsim.
Every strategy here reads ``gearsim.protocol.packets.SPECS`` and ``FIELDS``; there is no
hand list of packet types, so a row added to spec/packets.yaml is generated
without touching this file.

Values come from small universes (a few function names, uniques and handles)
so that the collisions a server must handle (two jobs with one unique, a
handle seen twice) happen often, with a sprinkling of arbitrary bytes so the
edges (63-byte handles, NUL-laden workloads, empty arguments) are reached too.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Final

from hypothesis import strategies as st

from gearsim.protocol.packets import (
    ADMIN_COMMANDS,
    ERRORS,
    FIELDS,
    SPECS,
    AdminLine,
    Magic,
    Message,
    Packet,
    PacketSpec,
    PacketType,
)

__all__ = [
    "FUNCTIONS",
    "HANDLES",
    "UNIQUES",
    "admin_lines",
    "arguments",
    "chunkings",
    "illegal_packets",
    "packets",
    "split_at",
    "streams",
]

#: function names drawn most of the time (small, so that names collide)
FUNCTIONS: Final[tuple[bytes, ...]] = (b"reverse", b"sleep", b"f")
#: unique ids drawn most of the time; b"" is "no unique", b"-" keys on the workload
UNIQUES: Final[tuple[bytes, ...]] = (b"", b"-", b"u1", b"u2")
#: job handles drawn most of the time
HANDLES: Final[tuple[bytes, ...]] = (b"H:lap:1", b"H:lap:2", b"H:lap:3")

_OPTIONS: Final[tuple[bytes, ...]] = (b"exceptions", b"bogus")
_ERROR_CODES: Final[tuple[bytes, ...]] = tuple(sorted({e.code.encode() for e in ERRORS}))
# How long a generated free-form argument may be when the table sets no maximum;
# short values keep examples fast, the table's maxima (63 for handles) are reached.
_FREE_SIZE: Final[int] = 32
_BLOB_SIZE: Final[int] = 64

#: the type numbers the table knows, in order
_KNOWN: Final[tuple[int, ...]] = tuple(sorted(SPECS))
#: types a sender may put on the wire (not TEXT or UNUSED)
_ON_WIRE: Final[tuple[int, ...]] = tuple(n for n in _KNOWN if SPECS[n].on_wire)
#: the first type number outside the table
_FIRST_UNKNOWN: Final[int] = max(_KNOWN) + 1


def _no_nul(data: bytes) -> bytes:
    return data.replace(b"\0", b"\x01")


def _text(max_size: int) -> st.SearchStrategy[bytes]:
    """Bytes without NUL, at most ``max_size`` long."""
    return st.binary(max_size=max_size).map(_no_nul)


def _field(name: str, *, opaque: bool) -> st.SearchStrategy[bytes]:
    """Legal values of the field called ``name``; NUL only when ``opaque``."""
    field = FIELDS[name]
    if opaque:
        return st.binary(max_size=_BLOB_SIZE)
    size = min(field.max, 63) if field.max is not None else _FREE_SIZE
    if name in ("function", "reducer"):
        return st.one_of(st.sampled_from(FUNCTIONS), _text(size))
    if field.kind == "unique":
        return st.one_of(st.sampled_from(UNIQUES), _text(size))
    if field.kind == "handle":
        return st.one_of(st.sampled_from(HANDLES), _text(size))
    if name == "option":
        return st.one_of(st.sampled_from(_OPTIONS), _text(size))
    if name == "code" and _ERROR_CODES:
        return st.one_of(st.sampled_from(_ERROR_CODES), _text(size))
    if field.kind == "decimal":
        return st.integers(min_value=0, max_value=2**32).map(lambda n: str(n).encode())
    if field.kind == "flag":
        return st.sampled_from((b"0", b"1"))
    # text, and blob-kind fields that are not the opaque last argument
    return _text(size)


def arguments(spec: PacketSpec) -> st.SearchStrategy[tuple[bytes, ...]]:
    """Legal arguments for one row: the right count, NUL only in a blob last one."""
    last = len(spec.args) - 1
    parts = [_field(name, opaque=spec.blob and i == last) for i, name in enumerate(spec.args)]
    return st.tuples(*parts)


def _legal_magics(spec: PacketSpec) -> tuple[Magic, ...]:
    # A type with no direction (TEXT, UNUSED) has no right magic; when asked for
    # explicitly it gets either, so round trips still cover every row.
    magics = ((Magic.REQ,) if spec.req else ()) + ((Magic.RES,) if spec.res else ())
    return magics or (Magic.REQ, Magic.RES)


def _types(types: Iterable[PacketType | int] | None, default: tuple[int, ...]) -> tuple[int, ...]:
    if types is None:
        return default
    chosen = tuple(int(t) for t in types)
    unknown = [n for n in chosen if n not in SPECS]
    if unknown or not chosen:
        raise ValueError(f"not packet types of the table: {unknown or 'none given'}")
    return chosen


@st.composite
def _legal_packet(draw: st.DrawFn, number: int) -> Packet:
    spec = SPECS[number]
    return Packet(draw(st.sampled_from(_legal_magics(spec))), spec.type, draw(arguments(spec)))


def _wrong_magics(number: int, *, framable: bool) -> tuple[bytes, ...]:
    """Magics that are wrong for a type: the other direction, and (unless
    ``framable``) 4 bytes that start with NUL, so they frame as binary and then
    fail as BadMagic."""
    legal = _legal_magics(SPECS[number])
    other: tuple[bytes, ...] = tuple(m for m in Magic if m not in legal)
    return other if framable else (*other, b"\0BAD", b"\0RE\0")


@st.composite
def _wrong_magic(draw: st.DrawFn, number: int, framable: bool) -> Packet:
    spec = SPECS[number]
    magic = draw(st.sampled_from(_wrong_magics(number, framable=framable)))
    return Packet(magic, spec.type, draw(arguments(spec)))


@st.composite
def _wrong_count(draw: st.DrawFn, number: int) -> Packet:
    """Too few or too many arguments, counted as the decoder would see them.

    An empty argument list encodes like one empty argument, and extra arguments
    of a blob type merge into its last one, so those are not generated.
    """
    spec = SPECS[number]
    magic = draw(st.sampled_from(_legal_magics(spec)))
    n = len(spec.args)
    counts = list(range(1, n))
    if not spec.blob:
        counts += [n + 1, n + 2]
    count = draw(st.sampled_from(counts))
    if n == 0:
        # a stray body on an argument-less type; non-empty, or it is no body
        args = tuple(draw(st.lists(_text(_FREE_SIZE), min_size=count, max_size=count)))
        args = (args[0] or b"x", *args[1:])
    else:
        args = tuple(draw(st.lists(_text(_FREE_SIZE), min_size=count, max_size=count)))
    return Packet(magic, spec.type, args)


@st.composite
def _nul_inside(draw: st.DrawFn, number: int) -> Packet:
    """A legal packet with a NUL put inside one of its non-final arguments."""
    spec = SPECS[number]
    packet = draw(_legal_packet(number))
    index = draw(st.integers(min_value=0, max_value=len(spec.args) - 2))
    arg = packet.args[index]
    cut = draw(st.integers(min_value=0, max_value=len(arg)))
    args = list(packet.args)
    args[index] = arg[:cut] + b"\0" + arg[cut:]
    return Packet(packet.magic, packet.type, tuple(args))


@st.composite
def _unknown_type(draw: st.DrawFn) -> Packet:
    number = draw(
        st.one_of(
            st.integers(min_value=_FIRST_UNKNOWN, max_value=_FIRST_UNKNOWN + 8),
            st.integers(min_value=_FIRST_UNKNOWN, max_value=2**32 - 1),
        )
    )
    args = tuple(draw(st.lists(st.binary(max_size=_BLOB_SIZE), max_size=3)))
    return Packet(draw(st.sampled_from(list(Magic))), number, args)


def packets(types: Iterable[PacketType | int] | None = None, *, legal: bool = True) -> st.SearchStrategy[Packet]:
    """Packets of the given table types (default: every type a sender may use).

    Args:
        types: packet types to draw from; TEXT and UNUSED are drawn only when
            named here, and then with either magic, as neither has a direction.
        legal: True for packets the table allows: the magic of a sending
            direction, exactly the listed arguments, NUL only inside a blob last
            argument, handles and uniques of at most 63 bytes, decimal fields
            in decimal. False for packets of these types that break one of those
            rules (see ``illegal_packets``; unknown types are not included).

    Raises:
        ValueError: a type is not in the table.
    """
    chosen = _types(types, _ON_WIRE)
    if legal:
        return st.sampled_from(chosen).flatmap(_legal_packet)
    return st.one_of(_breakers(chosen, framable=False))


def _breakers(chosen: Sequence[int], *, framable: bool) -> list[st.SearchStrategy[Packet]]:
    out: list[st.SearchStrategy[Packet]] = []
    # types with one direction have a wrong legal magic; others only non-magics
    misdirected = [n for n in chosen if _wrong_magics(n, framable=framable)]
    if misdirected:
        out.append(st.sampled_from(misdirected).flatmap(lambda n: _wrong_magic(n, framable)))
    counted = [n for n in chosen if len(SPECS[n].args) != 1 or not SPECS[n].blob]
    if counted:
        out.append(st.sampled_from(counted).flatmap(_wrong_count))
    several = [n for n in chosen if len(SPECS[n].args) >= 2]
    if several:
        out.append(st.sampled_from(several).flatmap(_nul_inside))
    off_wire = [n for n in chosen if not SPECS[n].on_wire]
    if off_wire:
        # TEXT and UNUSED are illegal on the wire whatever they carry
        out.append(st.builds(Packet, st.sampled_from(list(Magic)), st.sampled_from(off_wire)))
    return out


def illegal_packets(*, framable: bool = False) -> st.SearchStrategy[Packet]:
    """Packets that break the table: each breaks at least one rule as built.

    Kinds: the magic of the wrong direction, or (unless ``framable``) 4 bytes
    that are no magic at all; too few or too many arguments; a NUL inside a
    non-final argument; TEXT or UNUSED on the wire; a type number outside the
    table.

    The wire cannot always tell: a NUL inside a non-final argument moves the
    split, and the bytes may then decode to another, legal-looking packet.
    With ``framable`` every packet decodes (its magic is ``\\0REQ`` or
    ``\\0RES``); without it some raise ``BadMagic``.
    """
    return st.one_of(*_breakers(_KNOWN, framable=framable), _unknown_type())


@st.composite
def _command_line(draw: st.DrawFn) -> bytes:
    command = draw(st.sampled_from(ADMIN_COMMANDS))
    words = [command.name.encode()]
    for arg in command.args:
        if arg.startswith("["):
            if draw(st.booleans()):
                continue
            words.append(draw(st.sampled_from((b"graceful", b"10", b"1 2 3"))))
        elif arg == "handle":
            words.append(draw(st.sampled_from(HANDLES)))
        else:
            words.append(draw(st.sampled_from(FUNCTIONS)))
    separator = draw(st.sampled_from((b" ", b"  ")))
    return separator.join(words)


@st.composite
def _admin_line(draw: st.DrawFn, max_text: int) -> AdminLine:
    text = draw(
        st.one_of(
            _command_line(),
            # free text: no newline, and not starting with NUL (that is binary)
            st.binary(max_size=max_text).map(lambda b: b.replace(b"\n", b" ")),
        )
    )
    if text[:1] == b"\0":
        text = b" " + text[1:]
    text = text[:max_text]
    eol = draw(st.sampled_from((b"\n", b"\r\n")))
    if eol == b"\n" and text.endswith(b"\r"):
        # "...\r\n" would read back as eol "\r\n"; keep the line what it says
        eol = b"\r\n"
    return AdminLine(text, eol)


def admin_lines(*, max_text: int = 64) -> st.SearchStrategy[AdminLine]:
    """Admin text lines that read back unchanged: table commands and free text.

    Text holds no ``\\n``, does not start with NUL, and is at most ``max_text``
    bytes; ``eol`` is ``\\n`` or ``\\r\\n``. Free text may end in ``\\r``
    (then the wire shows ``\\r\\r\\n``).
    """
    return _admin_line(max_text)


def chunkings(data: bytes, *, max_chunks: int | None = None) -> st.SearchStrategy[tuple[int, ...]]:
    """Split points for ``data``: sorted, distinct offsets strictly inside it.

    ``()`` means one chunk; every offset 1..len-1 means one byte at a time.
    Use ``split_at`` to cut the data.
    """
    if len(data) < 2:
        return st.just(())
    inner = st.integers(min_value=1, max_value=len(data) - 1)
    return st.lists(inner, unique=True, max_size=max_chunks).map(lambda p: tuple(sorted(p)))


def split_at(data: bytes, points: Sequence[int]) -> list[bytes]:
    """``data`` cut at ``points`` (as drawn by ``chunkings``); joins back to ``data``."""
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def streams(
    types: Iterable[PacketType | int] | None = None,
    *,
    illegal: bool = False,
    max_size: int = 12,
) -> st.SearchStrategy[list[Message]]:
    """Lists of packets and admin lines, mixed, as one connection might carry.

    Args:
        types: table types for the packets (default: every type on the wire).
        illegal: also draw illegal packets that still frame (wrong direction,
            wrong argument counts, NUL inside arguments, unknown types).
        max_size: most messages in one stream.
    """
    parts: list[st.SearchStrategy[Message]] = [packets(types), admin_lines()]
    if illegal:
        parts.append(illegal_packets(framable=True))
    return st.lists(st.one_of(*parts), max_size=max_size)
