"""Gearman packet values and the packet table, as typed objects.

This module owns ``Magic``, ``PacketType``, ``Role``, the frozen ``Packet`` and
``AdminLine`` values, and the typed view of spec/packets.yaml (``SPECS``,
``FIELDS``, ``ADMIN_COMMANDS``, ``ERRORS``). It is PURE: the table arrives via
the generated ``gearsim.protocol._table`` module, so nothing here reads a file.

A ``Packet`` holds exactly what is (or will be) on the wire: any magic, any
type number, any arguments. Nothing here refuses an illegal packet; that is
``gearsim.protocol.validate``'s job, so negative vectors can be built and sent.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from gearsim.protocol._table import TABLE, PacketType

__all__ = [
    "ADMIN_COMMANDS",
    "ASSIGN_TYPES",
    "ERRORS",
    "FIELDS",
    "GRAB_TYPES",
    "HEADER_SIZE",
    "SPECS",
    "TERMINAL_TYPES",
    "WORK_TYPES",
    "AdminCommandSpec",
    "AdminLine",
    "ErrorSpec",
    "FieldSpec",
    "Magic",
    "Message",
    "Packet",
    "PacketSpec",
    "PacketType",
    "Role",
    "packet_type",
    "type_name",
]


class Magic(bytes, enum.Enum):
    """The two legal magic codes that open a binary packet."""

    #: sent to the server
    REQ = bytes.fromhex(TABLE["magic"]["REQ"])
    #: sent by the server
    RES = bytes.fromhex(TABLE["magic"]["RES"])


class Role(enum.StrEnum):
    """Who sends a packet. A connection may act as client and worker at once."""

    CLIENT = "client"
    WORKER = "worker"
    SERVER = "server"


HEADER_SIZE: Final[int] = int(TABLE["header_size"])


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one named argument is checked (spec/packets.yaml ``fields``)."""

    name: str
    kind: str
    max: int | None
    summary: str


@dataclass(frozen=True, slots=True)
class PacketSpec:
    """One row of the packet table."""

    type: PacketType
    #: roles that send it to the server with ``\\0REQ``
    req: frozenset[Role]
    #: roles the server sends it to with ``\\0RES``
    res: frozenset[Role]
    args: tuple[str, ...]
    #: the last argument is opaque and may contain NUL bytes
    blob: bool
    summary: str
    notes: str
    #: other argument layouts found in documents or implementations
    variants: Mapping[str, tuple[str, ...]]
    #: for WORK_* reports: "update" (the job goes on) or "terminal" (it ends); else ""
    work: str = ""
    #: for a request, the rule by which a server implements it (GM-SERVER-001/002/003); else ""
    implement: str = ""

    @property
    def name(self) -> str:
        return self.type.name

    @property
    def on_wire(self) -> bool:
        """False for TEXT and UNUSED, which no sender may put on the wire."""
        return bool(self.req or self.res)


@dataclass(frozen=True, slots=True)
class AdminCommandSpec:
    """One admin text command (spec/packets.yaml ``admin``)."""

    name: str
    args: tuple[str, ...]
    #: ``listing`` (rows then ``.``) or ``line`` (one line)
    reply: str
    eol: str
    row: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An ERROR packet gearmand sends: code, text and what triggers it."""

    code: str
    text: str
    trigger: str
    #: False: the code says the packet was not read as a request the server acts on (INVALID_MAGIC,
    #: INVALID_COMMAND); True: it names a condition met by a request the server acted on (QUEUE_ERROR, ...)
    understood: bool = True


def _roles(names: list[str]) -> frozenset[Role]:
    return frozenset(Role(n) for n in names)


def _load_specs(table: Mapping[str, Any]) -> dict[int, PacketSpec]:
    specs: dict[int, PacketSpec] = {}
    for row in table["packets"]:
        specs[row["number"]] = PacketSpec(
            type=PacketType(row["number"]),
            req=_roles(row["req"]),
            res=_roles(row["res"]),
            args=tuple(row["args"]),
            blob=bool(row["blob"]),
            summary=row["summary"],
            notes=row.get("notes", ""),
            variants={k: tuple(v) for k, v in row.get("variants", {}).items()},
            work=row.get("work", ""),
            implement=row.get("implement", ""),
        )
    return specs


#: packet number -> its row of the table
SPECS: Final[Mapping[int, PacketSpec]] = _load_specs(TABLE)
FIELDS: Final[Mapping[str, FieldSpec]] = {
    name: FieldSpec(name=name, kind=f["kind"], max=f.get("max"), summary=f["summary"])
    for name, f in TABLE["fields"].items()
}
ADMIN_COMMANDS: Final[tuple[AdminCommandSpec, ...]] = tuple(
    AdminCommandSpec(
        name=a["name"],
        args=tuple(a["args"]),
        reply=a["reply"],
        eol=a.get("eol", "\n"),
        row=tuple(a.get("row", ())),
        summary=a["summary"],
    )
    for a in TABLE["admin"]
)
ERRORS: Final[tuple[ErrorSpec, ...]] = tuple(
    ErrorSpec(code=e["code"], text=e["text"], trigger=e["trigger"], understood=e.get("understood", True))
    for e in TABLE["errors"]
)

#: the WORK_* reports a worker sends about a job (their first argument is its handle)
WORK_TYPES: Final[frozenset[PacketType]] = frozenset(s.type for s in SPECS.values() if s.work)
#: the packets that give a worker a job
ASSIGN_TYPES: Final[frozenset[PacketType]] = frozenset(
    {PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL}
)
#: the packets with which a worker asks for a job
GRAB_TYPES: Final[frozenset[PacketType]] = frozenset(
    {PacketType.GRAB_JOB, PacketType.GRAB_JOB_UNIQ, PacketType.GRAB_JOB_ALL}
)
#: the WORK_* reports that end a job
TERMINAL_TYPES: Final[frozenset[PacketType]] = frozenset(s.type for s in SPECS.values() if s.work == "terminal")

_BY_NAME: Final[Mapping[str, PacketType]] = {t.name: t for t in PacketType}
# Wireshark's spelling of 38; accepted on input so its field dumps read back.
_ALIASES: Final[Mapping[str, PacketType]] = {
    "SUBMIT_REDUCE_JOB_BG": PacketType.SUBMIT_REDUCE_JOB_BACKGROUND,
}


def packet_type(value: str | int) -> PacketType | int:
    """Return the PacketType for a name or number; unknown numbers stay ints.

    Raises:
        KeyError: for a name that is not a packet type.
    """
    if isinstance(value, int):
        return PacketType(value) if value in SPECS else value
    if value in _BY_NAME:
        return _BY_NAME[value]
    return _ALIASES[value]


def type_name(value: PacketType | int) -> str:
    """The protocol name of a type, or ``UNKNOWN(n)`` for a number outside the table."""
    if isinstance(value, PacketType):
        return value.name
    return SPECS[value].name if value in SPECS else f"UNKNOWN({value})"


def _short(data: bytes, limit: int = 40) -> str:
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}...(+{len(data) - limit} bytes)"


class Packet:
    """One binary packet, exactly as on the wire: an immutable value.

    ``magic`` is a ``Magic`` or, for illegal packets, any 4 bytes. ``type`` is
    a ``PacketType`` or, for numbers outside the table, a plain int. ``args``
    are the NUL-separated parts of the body; their count is whatever was sent.
    ``offset`` is where a decoded packet began in its stream (-1 when built by
    hand); it takes no part in equality or hashing, which are those of
    ``(magic, type, args)``. Unpacking, indexing and ``_replace`` work as on
    the ``(magic, type, args, offset)`` NamedTuple it once was.

    Why a slotted class with a lazy ``args``: the decoder makes one Packet per
    packet, and splitting every body into arguments (a list, a tuple and a
    bytes object per argument) was a third of decoding, while most readers look
    at the arguments of few packets (tools/bench/codec.py). A decoded packet
    keeps its body, and ``args`` splits it, as the table lays the type out, on
    first read and keeps the result. The fields are read-only properties over
    private slots: reading one costs what reading a NamedTuple field did, and
    building a Packet is four plain slot stores (``_build``, its inlined copies
    in ``req`` and ``res``, and the decoder's inlined copy of ``_build_lazy``), where a ``__setattr__`` that refuses
    assignments would have made every store a Python call.
    """

    __slots__ = ("_args", "_body", "_magic", "_offset", "_type")
    __match_args__ = ("magic", "type", "args", "offset")
    _fields = ("magic", "type", "args", "offset")

    _magic: Magic | bytes
    _type: PacketType | int
    _args: tuple[bytes, ...]
    _offset: int
    #: the body of a decoded packet whose ``_args`` are not split yet
    _body: bytes

    if TYPE_CHECKING:

        @property
        def magic(self) -> Magic | bytes: ...

        @property
        def type(self) -> PacketType | int: ...

        @property
        def offset(self) -> int: ...

    else:
        # C-level getters: as cheap to read as NamedTuple fields, and read-only
        magic = property(attrgetter("_magic"), doc="the 4 magic bytes: a Magic, or any bytes for an illegal packet")
        type = property(attrgetter("_type"), doc="a PacketType, or a plain int outside the table")
        offset = property(attrgetter("_offset"), doc="where a decoded packet began in its stream; -1 if built")

    @property
    def args(self) -> tuple[bytes, ...]:
        """The arguments: the body's NUL-separated parts, at most as many as the table lays out."""
        # getattr with a default: a decoded packet's first read finds no _args, and catching that
        # AttributeError in Python cost about 1 us per packet (every packet of a capture check is read)
        args: tuple[bytes, ...] | None = getattr(self, "_args", None)
        if args is not None:
            return args
        body = self._body
        maxsplit = _MAXSPLIT.get(self._type, -1)
        # one argument is the whole body; a type without arguments (or one outside
        # the table) keeps stray body bytes as one, so that nothing read is lost
        args = tuple(body.split(b"\0", maxsplit)) if maxsplit > 0 else (body,) if maxsplit == 0 or body else ()
        self._args = args
        return args

    def __new__(
        cls, magic: Magic | bytes, type: PacketType | int, args: tuple[bytes, ...] = (), offset: int = -1
    ) -> Packet:
        return _build(magic, type, tuple(args), offset)

    @classmethod
    def req(cls, type_: PacketType | int, *args: bytes) -> Packet:
        """A packet sent to the server (magic ``\\0REQ``)."""
        p = _new_object(Packet)  # _build, inlined: actors build one per request
        p._magic = _REQ
        p._type = type_
        p._args = args
        p._offset = -1
        return p

    @classmethod
    def res(cls, type_: PacketType | int, *args: bytes) -> Packet:
        """A packet sent by the server (magic ``\\0RES``)."""
        p = _new_object(Packet)  # _build, inlined: the model builds one per reply
        p._magic = _RES
        p._type = type_
        p._args = args
        p._offset = -1
        return p

    def __eq__(self, other: object) -> bool:
        if type(other) is not Packet:
            return NotImplemented
        return self._magic == other._magic and self._type == other._type and self.args == other.args

    def __ne__(self, other: object) -> bool:
        if type(other) is not Packet:
            return NotImplemented
        return not (self._magic == other._magic and self._type == other._type and self.args == other.args)

    def __hash__(self) -> int:
        return hash((self._magic, self._type, self.args))

    # the tuple it once was: (magic, type, args, offset)
    def __iter__(self) -> Iterator[Any]:
        return iter((self._magic, self._type, self.args, self._offset))

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: Any) -> Any:
        return (self._magic, self._type, self.args, self._offset)[index]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Packet, (self._magic, self._type, self.args, self._offset))

    def _replace(self, **changes: Any) -> Packet:
        """A copy with some fields changed, as NamedTuple's ``_replace``."""
        fields = {"magic": self._magic, "type": self._type, "args": self.args, "offset": self._offset, **changes}
        return Packet(**fields)

    def _asdict(self) -> dict[str, Any]:
        return {"magic": self._magic, "type": self._type, "args": self.args, "offset": self._offset}

    @property
    def name(self) -> str:
        return type_name(self.type)

    @property
    def spec(self) -> PacketSpec | None:
        """The table row for this type, or None for an unknown type."""
        return SPECS.get(int(self.type))

    @property
    def body(self) -> bytes:
        return b"\0".join(self.args)

    def arg(self, name: str) -> bytes:
        """The argument called ``name`` in the table (for example ``handle``).

        Raises:
            KeyError: the type has no such argument, or the packet is too short.
        """
        spec = self.spec
        if spec is None or name not in spec.args:
            raise KeyError(f"{self.name} has no argument {name!r}")
        index = spec.args.index(name)
        if index >= len(self.args):
            raise KeyError(f"{self.name} carries {len(self.args)} arguments, not {name!r}")
        return self.args[index]

    def __repr__(self) -> str:
        magic = self.magic.name if isinstance(self.magic, Magic) else repr(self.magic)
        args = ", ".join(_short(a) for a in self.args)
        return f"Packet({magic} {self.name} [{args}])"


_new_object = object.__new__


def _build(magic: Magic | bytes, type_: PacketType | int, args: tuple[bytes, ...], offset: int) -> Packet:
    """A Packet of those fields (the one place, with ``_build_lazy``, that fills its slots)."""
    p = _new_object(Packet)
    p._magic = magic
    p._type = type_
    p._args = args
    p._offset = offset
    return p


#: type number -> the most splits of a body: one less than the arguments the table lays out
_MAXSPLIT: Final[Mapping[int, int]] = {n: len(s.args) - 1 for n, s in SPECS.items()}


def _build_lazy(magic: Magic | bytes, type_: PacketType | int, body: bytes, offset: int) -> Packet:
    """A decoded Packet whose ``args`` are split from ``body`` as the table lays them out, when first read."""
    p = _new_object(Packet)
    p._magic = magic
    p._type = type_
    p._body = body
    p._offset = offset
    return p


class AdminLine(NamedTuple):
    """One admin text line: ``text`` without its end of line, ``eol`` as sent.

    Like Packet, ``offset`` (stream position, -1 when built by hand) takes no
    part in equality.
    """

    text: bytes
    eol: bytes = b"\n"
    offset: int = -1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AdminLine):
            return NotImplemented
        return self[:2] == other[:2]

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, AdminLine):
            return NotImplemented
        return self[:2] != other[:2]

    def __hash__(self) -> int:
        return hash(self[:2])

    def words(self) -> list[bytes]:
        """The line split on runs of spaces, as gearmand splits it."""
        return [w for w in self.text.split(b" ") if w]

    def __repr__(self) -> str:
        eol = "" if self.eol == b"\n" else f", eol={self.eol!r}"
        return f"AdminLine({self.text!r}{eol})"


#: what a Decoder yields
Message = Packet | AdminLine

_REQ: Final = Magic.REQ
_RES: Final = Magic.RES
