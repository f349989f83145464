"""Values and message helpers of the codec vector generator (tools/gen_codec_vectors.py).

Owns the example argument values per field name, the reference model's fixed
values (version, pid, first fd, first handle), the message shorthands (``P``
binary packet, ``A`` admin line, ``R`` raw fragment, ``AM`` run-specific admin
line as a regex), the server ``Reaction`` and its evidence, and ``CodecCase``,
one case before it becomes YAML. Wire bytes are framed here by hand (struct),
not by gearsim.protocol.codec.encode.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from gearsim.protocol.packets import SPECS
from gearsim.vectors.parse import format_bytes

REQ: Final[bytes] = b"\0REQ"
RES: Final[bytes] = b"\0RES"

#: example value per field name of the packet table
VALUES: Final[dict[str, bytes]] = {
    "function": b"reverse",
    "unique": b"u1",
    "workload": b"this is a test",
    "handle": b"H:sim:1",
    "numerator": b"3",
    "denominator": b"14",
    "known": b"1",
    "running": b"1",
    "client_count": b"1",
    "data": b"hello",
    "result": b"tset a si siht",
    "code": b"JOB_NOT_FOUND",
    "text": b"Job given in work result not found",
    "client_id": b"conn-1",
    "timeout": b"30000",
    "option": b"exceptions",
    "minute": b"30",
    "hour": b"12",
    "day_of_month": b"1",
    "month": b"1",
    "day_of_week": b"0",
    "epoch": b"1767225600",
    "reducer": b"count",
    "aggregator": b"",
}
#: the final blob of the NUL variant: NULs first, inside and last
BLOB_WITH_NULS: Final[bytes] = b"\0this is\0a test\0"

#: what the reference model says where a real server says something run-specific
MODEL_VERSION: Final[bytes] = b"1.1.20+ds"
MODEL_PID: Final[bytes] = b"4242"
MODEL_FIRST_FD: Final[bytes] = b"3"
MODEL_HANDLE: Final[bytes] = b"H:sim:1"

PROBE_FILE: Final[str] = "spec/observed/gearmand-1.1.20-codec.yaml"

# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class P:
    """A binary packet: type name or number, arguments, optional odd magic or lying length."""

    type: str | int
    args: tuple[bytes, ...] = ()
    magic: bytes | None = None
    length: int | None = None

    def wire(self, default_magic: bytes) -> bytes:
        body = b"\0".join(self.args)
        number = self.type if isinstance(self.type, int) else type_number(self.type)
        size = len(body) if self.length is None else self.length
        return (self.magic or default_magic) + struct.pack(">II", number, size) + body

    def to_yaml(self, default_magic: bytes) -> dict[str, Any]:
        packet: dict[str, Any] = {"type": self.type}
        if self.magic is not None and self.magic != default_magic:
            packet["magic"] = {REQ: "REQ", RES: "RES"}.get(self.magic) or {"hex": self.magic.hex()}
        if self.args:
            packet["args"] = [format_bytes(a) for a in self.args]
        if self.length is not None:
            packet["length"] = self.length
        return {"packet": packet}


@dataclass(frozen=True)
class A:
    """An admin text line and its end of line ("" for a line still waiting for its newline)."""

    text: bytes
    eol: str = "\n"

    def wire(self, default_magic: bytes) -> bytes:
        return self.text + self.eol.encode("ascii")

    def to_yaml(self, default_magic: bytes) -> dict[str, Any]:
        admin: dict[str, Any] = {"text": format_bytes(self.text)}
        if self.eol != "\n":
            admin["eol"] = self.eol
        return {"admin": admin}


@dataclass(frozen=True)
class R:
    """Raw bytes that are not a whole message (a fragment the receiver waits on)."""

    data: bytes

    def wire(self, default_magic: bytes) -> bytes:
        return self.data

    def to_yaml(self, default_magic: bytes) -> dict[str, Any]:
        return {"raw": {"hex": self.data.hex()}}


@dataclass(frozen=True)
class AM:
    """An admin reply line whose value changes from run to run, written as a regex (``{match: ...}``).

    ``sample`` is what the reference model sends; the regex must match it.
    """

    sample: bytes
    regex: str
    eol: str = "\n"

    def __post_init__(self) -> None:
        if re.fullmatch(self.regex, self.sample.decode("latin-1")) is None:
            raise ValueError(f"{self.regex!r} does not match the model's {self.sample!r}")

    def wire(self, default_magic: bytes) -> bytes:
        return self.sample + self.eol.encode("ascii")

    def to_yaml(self, default_magic: bytes) -> dict[str, Any]:
        admin: dict[str, Any] = {"text": {"match": self.regex}}
        if self.eol != "\n":
            admin["eol"] = self.eol
        return {"admin": admin}


Msg = P | A | R | AM


def type_number(name: str) -> int:
    for number, spec in SPECS.items():
        if spec.name == name:
            return number
    raise KeyError(name)


def error(code: str, text: str) -> P:
    return P("ERROR", (code.encode(), text.encode()))


def listing(*rows: bytes) -> list[Msg]:
    """An admin listing reply: rows, then the line holding a full stop."""
    return [*(A(r) for r in rows), A(b".")]


INVALID_COMMAND: Final[P] = error("INVALID_COMMAND", "Command not expected")
JOB_NOT_FOUND_RESULT: Final[P] = error("JOB_NOT_FOUND", "Job given in work result not found")
JOB_NOT_FOUND_DATA: Final[P] = error("JOB_NOT_FOUND", "Job does not exist on server")
JOB_NOT_FOUND_EXCEPTION: Final[P] = error("JOB_NOT_FOUND", "An exception was received for a job that does not exist")


def unknown_command(word: bytes) -> A:
    return A(b"ERR UNKNOWN_COMMAND Unknown+server+command" + word, "\r\n")


# --------------------------------------------------------------------------- reactions


@dataclass(frozen=True)
class Reaction:
    """How gearmand answers the case's bytes on a fresh connection, and the evidence for it."""

    replies: tuple[Msg, ...]
    then: str
    evidence: str  # "probe:<case id>" or "evidence:<tag>" (spec/evidence.md)
    note: str = ""

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.replies:
            out["replies"] = [_opaque_handles(m.to_yaml(RES)) for m in self.replies]
        out["then"] = self.then
        kind, _, ref = self.evidence.partition(":")
        source = f"gearmand 1.1.20: {PROBE_FILE} case {ref}" if kind == "probe" else f"spec/evidence.md {ref}"
        out["note"] = f"{self.note} [{source}]" if self.note else f"[{source}]"
        return out


@dataclass(frozen=True)
class Deviation:
    """A reaction that breaks only the SHOULD rules ``breaks``: under spec it fails, at --level must it is acceptable.

    It becomes an alternative of the ``spec`` profile, so a server showing it
    is told the SHOULD it breaks, not the case's MUSTs it keeps.
    """

    breaks: tuple[str, ...]
    replies: tuple[Msg, ...]
    note: str
    then: str = "open"

    def to_yaml(self) -> dict[str, Any]:
        replies = [_opaque_handles(m.to_yaml(RES)) for m in self.replies]
        return {
            "profiles": ["spec"],
            "breaks": list(self.breaks),
            "replies": replies,
            "then": self.then,
            "note": self.note,
        }


def _opaque_handles(reply: dict[str, Any]) -> dict[str, Any]:
    """A JOB_CREATED reply's handle is the server's to choose (GM-FIELD-006): captured, not compared."""
    packet = reply.get("packet")
    if packet is not None and packet["type"] == "JOB_CREATED":
        return {"packet": {**packet, "args": [{"capture": "H"}]}}
    return reply


def react(*replies: Msg, then: str = "open", evidence: str, note: str = "") -> Reaction:
    return Reaction(tuple(replies), then, evidence, note)


SILENT_NOTE: Final[str] = "no reply; the connection stays open"


@dataclass(frozen=True)
class GearmandDefect:
    """A case whose observed gearmand reaction is a known defect of the gearmand profiles.

    The vector then expects ``conforming``, the spec's reaction, and records
    gearmand's observed one as the alternative of its profiles that is defect
    ``id``, breaking ``breaks``: a broken MUST is never an acceptable variant.
    """

    id: str
    breaks: tuple[str, ...]
    conforming: Reaction


# --------------------------------------------------------------------------- cases


@dataclass
class CodecCase:
    """One codec case before it becomes YAML."""

    id: str
    comment: str
    requirements: list[str]
    result: str
    sender: str
    messages: list[Msg]
    flags: list[str] = field(default_factory=list)
    decode: dict[str, Any] | None = None
    violations: list[str] | None = field(default_factory=list)
    server: Reaction | None = None
    #: set when ``server`` (gearmand's reaction) is a known defect: the spec's reaction comes first
    defect: GearmandDefect | None = None
    #: reactions that break only a SHOULD, written as ``spec`` alternatives naming it
    deviations: list[Deviation] = field(default_factory=list)

    def to_yaml(self) -> dict[str, Any]:
        magic = RES if self.sender == "server" else REQ
        out: dict[str, Any] = {
            "id": self.id,
            "comment": self.comment,
            "requirements": self.requirements,
        }
        if self.flags:
            out["flags"] = self.flags
        out["result"] = self.result
        out["sender"] = self.sender
        out["wire"] = b"".join(m.wire(magic) for m in self.messages).hex()
        out["messages"] = [m.to_yaml(magic) for m in self.messages]
        if self.decode is not None:
            out["decode"] = self.decode
        if self.violations is not None:
            out["violations"] = self.violations
        if self.server is not None:
            out["server"] = self.server.to_yaml()
            replies = self.server.replies
            if any(isinstance(m, P) and m.type == "ERROR" for m in replies) and "GM-ERROR-005" not in self.requirements:
                # the runner fails a case that gets anything after its ERROR
                out["requirements"] = [*out["requirements"], "GM-ERROR-005"]
            if self.server.then == "close" and "BadMagic" in self.flags:
                out["requirements"] = [*out["requirements"], "GM-FRAME-016"]
            if self.defect is not None:
                alternative = {"profiles": GEARMAND_PROFILES, "defect": self.defect.id, "breaks": [*self.defect.breaks]}
                out["server"] = {**self.defect.conforming.to_yaml(), "accept": [{**alternative, **out["server"]}]}
            if "ReadsPastBody" in self.flags:
                out["server"] = _conforming_short_body(out["server"])
                if "GM-FRAME-015" not in out["requirements"]:
                    out["requirements"] = [*out["requirements"], "GM-FRAME-015"]
            version = A(b"OK " + MODEL_VERSION)
            if version in replies:
                # the version is the server's own: any 'OK <version>' conforms (GM-ADMIN-015)
                spec_replies = [
                    {"admin": {"text": {"match": r"OK \S.*"}}} if m == version else _opaque_handles(m.to_yaml(RES))
                    for m in replies
                ]
                out["server"]["accept"] = [
                    *out["server"].get("accept", []),
                    {"profiles": ["spec"], "replies": spec_replies, "then": self.server.then, "note": _VERSION_NOTE},
                ]
            if self.deviations:
                out["server"]["accept"] = [*out["server"].get("accept", []), *(d.to_yaml() for d in self.deviations)]
        return out


GEARMAND_PROFILES: Final[list[str]] = ["gearmand-1.1", "gearmand-2.0"]
_VERSION_NOTE: Final[str] = "the server's own version (GM-ADMIN-015)"


def _conforming_short_body(gearmand: dict[str, Any]) -> dict[str, Any]:
    """The spec's reaction to a body with too few NULs, with gearmand's kept as its profiles' alternative.

    GM-FRAME-015 requires ERROR or a close without waiting; gearmand 1.1 instead
    reads on past the body. The vector expects the conforming close and records
    gearmand's observed reaction as its profiles' known defect, never an
    acceptable variant.
    """
    defect = {"defect": "reads-past-body", "breaks": ["GM-FRAME-007", "GM-FRAME-015"]}
    return {
        "then": "close",
        "note": "a short body is a complete, malformed packet: the server closes (or answers ERROR) at once",
        "accept": [{"profiles": GEARMAND_PROFILES, **defect, **gearmand}],
    }
