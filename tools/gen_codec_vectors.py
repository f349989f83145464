#!/usr/bin/env python3
"""Generate the codec vector files under vectors/codec/ (Wycheproof habit: ids and form belong to a tool).

Writes three files, each in canonical form (gearsim.vectors.dump_vector_file):

* ``packets.yaml``: every packet type 1..42 in every direction the packet
  table (spec/packets.yaml) gives it, with example values per field name; a
  second case with NULs inside the final blob for every blob packet;
  server-to-client types sent as requests; SUBMIT_REDUCE_JOB(_BACKGROUND) in
  the PROTOCOL document's 3-NUL layout.
* ``framing.yaml``: malformed, partial and borderline framing, binary and admin.
* ``admin.yaml``: one case per admin command (and its odd forms).

Wire bytes are framed here by hand (struct), not by gearsim.codec.encode, so
``gearsim lint`` checks the codec against an independent spelling.

Server reactions are those of gearmand 1.1.20+ds on a fresh connection to a
freshly started server. Each reaction names its evidence: a case of the probe
record spec/observed/gearmand-1.1.20-codec.yaml (``probe:<id>``), or a section
of ../shared/protocol-facts.md (``facts:<tag>``). ``--check-observed``
compares every probe-backed reaction with that record (handles compared with
their host part and counter masked).

usage: python tools/gen_codec_vectors.py [--check] [--check-observed [PATH]]
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from gearsim.packets import ADMIN_COMMANDS, SPECS, PacketSpec, Role
from gearsim.vectors import dump_vector_file, format_bytes

ROOT: Final[Path] = Path(__file__).resolve().parent.parent
OUT_DIR: Final[Path] = ROOT / "vectors" / "codec"
OBSERVED: Final[Path] = ROOT / "spec" / "observed" / "gearmand-1.1.20-codec.yaml"
SCHEMA_ID: Final[str] = "gearsim-vectors/1"

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
        number = self.type if isinstance(self.type, int) else _number(self.type)
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


def _number(name: str) -> int:
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
    evidence: str  # "probe:<case id>" or "facts:<section>"
    note: str = ""

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.replies:
            out["replies"] = [_opaque_handles(m.to_yaml(RES)) for m in self.replies]
        out["then"] = self.then
        kind, _, ref = self.evidence.partition(":")
        source = f"gearmand 1.1.20: {PROBE_FILE} case {ref}" if kind == "probe" else f"protocol facts {ref}"
        out["note"] = f"{self.note} [{source}]" if self.note else f"[{source}]"
        return out


def _opaque_handles(reply: dict[str, Any]) -> dict[str, Any]:
    """A JOB_CREATED reply's handle is the server's to choose (GM-FIELD-006): captured, not compared."""
    packet = reply.get("packet")
    if packet is not None and packet["type"] == "JOB_CREATED":
        return {"packet": {**packet, "args": [{"capture": "H"}]}}
    return reply


def react(*replies: Msg, then: str = "open", evidence: str, note: str = "") -> Reaction:
    return Reaction(tuple(replies), then, evidence, note)


SILENT_NOTE: Final[str] = "no reply; the connection stays open"


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
            if "ReadsPastBody" in self.flags:
                out["server"] = _conforming_short_body(out["server"])
                if "GM-FRAME-015" not in out["requirements"]:
                    out["requirements"] = [*out["requirements"], "GM-FRAME-015"]
        return out


GEARMAND_PROFILES: Final[list[str]] = ["gearmand-1.1", "gearmand-2.0"]


def _conforming_short_body(gearmand: dict[str, Any]) -> dict[str, Any]:
    """The spec's reaction to a body with too few NULs, with gearmand's kept as its profiles' alternative.

    GM-FRAME-015 requires ERROR or a close without waiting; gearmand 1.1 instead
    reads on past the body. The vector expects the conforming close and records
    gearmand's observed reaction as what its profiles do.
    """
    observed = dict(gearmand)
    observed["note"] = f"{observed.get('note', '')}; breaks GM-FRAME-007 and GM-FRAME-015".lstrip("; ")
    return {
        "then": "close",
        "note": "a short body is a complete, malformed packet: the server closes (or answers ERROR) at once",
        "accept": [{"profiles": GEARMAND_PROFILES, **observed}],
    }


def _slug(name: str) -> str:
    return name.lower().replace("_", "-")


def _args_for(spec: PacketSpec, names: Sequence[str], nul_blob: bool = False) -> tuple[bytes, ...]:
    values = [VALUES[n] for n in names]
    if nul_blob:
        values[-1] = BLOB_WITH_NULS
    return tuple(values)


def _request_reaction(spec: PacketSpec, args: tuple[bytes, ...]) -> Reaction | None:
    """gearmand's answer to a well-formed request of this type on a fresh connection."""
    name = spec.name
    if (name.startswith("SUBMIT_JOB") and name != "SUBMIT_JOB_SCHED") or name.startswith("SUBMIT_REDUCE"):
        evidence = {
            "SUBMIT_JOB_BG": "probe:submit-job-bg",
            "SUBMIT_JOB_EPOCH": "probe:submit-job-epoch",
            "SUBMIT_REDUCE_JOB": "probe:submit-reduce-job-4nul",
        }.get(name, "facts:B-U9,B-U10")
        return react(P("JOB_CREATED", (MODEL_HANDLE,)), evidence=evidence)
    no_job = "this connection holds no job"
    if name == "GET_STATUS":
        return react(
            P("STATUS_RES", (args[0], b"0", b"0", b"0", b"0")),
            evidence="probe:get-status-unknown",
            note="unknown handle",
        )
    if name == "GET_STATUS_UNIQUE":
        return react(
            P("STATUS_RES_UNIQUE", (args[0], b"0", b"0", b"0", b"0", b"0")),
            evidence="probe:get-status-unique-unknown",
            note="no job has this unique",
        )
    table: dict[str, Reaction] = {
        "CAN_DO": react(evidence="probe:can-do-then-grab-job", note=SILENT_NOTE),
        "CANT_DO": react(evidence="probe:cant-do", note=SILENT_NOTE),
        "RESET_ABILITIES": react(evidence="probe:reset-abilities-no-functions", note=SILENT_NOTE),
        "PRE_SLEEP": react(evidence="probe:pre-sleep-no-functions", note="nothing is queued: no NOOP"),
        "SET_CLIENT_ID": react(evidence="probe:set-client-id", note=SILENT_NOTE),
        "CAN_DO_TIMEOUT": react(evidence="probe:can-do-timeout", note=SILENT_NOTE),
        "GRAB_JOB": react(P("NO_JOB"), evidence="probe:grab-job-no-functions"),
        "GRAB_JOB_UNIQ": react(P("NO_JOB"), evidence="probe:grab-job-uniq-no-functions"),
        "GRAB_JOB_ALL": react(P("NO_JOB"), evidence="probe:grab-job-all-no-functions"),
        "ALL_YOURS": react(INVALID_COMMAND, evidence="probe:all-yours", note="reserved, refused"),
        "SUBMIT_JOB_SCHED": react(INVALID_COMMAND, evidence="probe:submit-job-sched", note="parsed, then refused"),
        "ECHO_REQ": react(P("ECHO_RES", args), evidence="probe:echo-hi"),
        "OPTION_REQ": react(P("OPTION_RES", args), evidence="probe:option-exceptions"),
        "WORK_COMPLETE": react(JOB_NOT_FOUND_RESULT, evidence="probe:work-complete-empty-result", note=no_job),
        "WORK_STATUS": react(JOB_NOT_FOUND_RESULT, evidence="facts:B-P10", note=no_job),
        "WORK_FAIL": react(JOB_NOT_FOUND_RESULT, evidence="facts:B-P10", note=no_job),
        "WORK_DATA": react(JOB_NOT_FOUND_DATA, evidence="facts:B-P10", note=no_job),
        "WORK_WARNING": react(JOB_NOT_FOUND_DATA, evidence="facts:B-P10", note=no_job),
        "WORK_EXCEPTION": react(JOB_NOT_FOUND_EXCEPTION, evidence="facts:B-P10", note=no_job),
    }
    return table.get(name)


_DIRECTION_REQS: Final[list[str]] = ["GM-FRAME-001", "GM-FRAME-002", "GM-FRAME-003", "GM-FRAME-004"]

#: extra requirement ids per packet type, for its valid cases
_TYPE_REQS: Final[dict[str, list[str]]] = {
    "ECHO_REQ": ["GM-ECHO-001"],
    "ECHO_RES": ["GM-ECHO-001"],
    "OPTION_REQ": ["GM-OPTION-001"],
    "OPTION_RES": ["GM-OPTION-001"],
    "ERROR": ["GM-ERROR-001"],
    "STATUS_RES": ["GM-FIELD-003", "GM-FIELD-004"],
    "STATUS_RES_UNIQUE": ["GM-FIELD-003", "GM-FIELD-004"],
    "WORK_STATUS": ["GM-FIELD-003"],
    "CAN_DO_TIMEOUT": ["GM-FIELD-003"],
    "SUBMIT_JOB_EPOCH": ["GM-FIELD-003"],
    "ALL_YOURS": ["GM-FRAME-012"],
    "SUBMIT_JOB_SCHED": ["GM-FRAME-012"],
}


def _valid_case(spec: PacketSpec, sender: str, nul_blob: bool) -> CodecCase:
    direction = "res" if sender == "server" else "req"
    args = _args_for(spec, spec.args, nul_blob)
    suffix = "-nul-in-blob" if nul_blob else ""
    what = f"{spec.name} sent by the {sender}" if sender != "server" else f"{spec.name} sent by the server"
    comment = f"{what}: {spec.summary}"
    if nul_blob:
        comment += f"; the final blob argument {spec.args[-1]!r} holds NUL bytes, kept because it runs to the end"
    reqs = list(_DIRECTION_REQS)
    if nul_blob:
        reqs += ["GM-FRAME-005", "GM-FRAME-007"]
    reqs += _TYPE_REQS.get(spec.name, [])
    if any(a == "handle" for a in spec.args):
        reqs.append("GM-FIELD-001")
    if any(a == "unique" for a in spec.args):
        reqs.append("GM-FIELD-002")
    flags = ["NulInBlob"] if nul_blob else []
    server = _request_reaction(spec, args) if sender != "server" else None
    return CodecCase(
        id=f"{_slug(spec.name)}-{direction}-{sender}{suffix}",
        comment=comment,
        requirements=sorted(set(reqs), key=reqs.index),
        result="valid",
        sender=sender,
        messages=[P(spec.name, args)],
        flags=flags,
        server=server,
    )


_S2C_PROBES: Final[dict[str, str]] = {
    "NOOP": "s2c-noop-as-request",
    "JOB_CREATED": "s2c-job-created-as-request",
    "NO_JOB": "s2c-no-job-as-request",
    "JOB_ASSIGN": "s2c-job-assign-as-request",
    "ECHO_RES": "s2c-echo-res-as-request",
    "ERROR": "s2c-error-as-request",
    "STATUS_RES": "s2c-status-res-as-request",
    "OPTION_RES": "s2c-option-res-as-request",
    "JOB_ASSIGN_UNIQ": "s2c-job-assign-uniq-as-request",
    "JOB_ASSIGN_ALL": "s2c-job-assign-all-as-request",
    "STATUS_RES_UNIQUE": "s2c-status-res-unique-as-request",
}


def packet_cases() -> list[CodecCase]:
    """packets.yaml: every type in every direction, NUL blobs, wrong directions, REDUCE layouts."""
    cases: list[CodecCase] = []
    for number in range(1, 43):
        spec = SPECS[number]
        senders = [r.value for r in (Role.CLIENT, Role.WORKER) if r in spec.req]
        if spec.res:
            senders.append("server")
        for sender in senders:
            cases.append(_valid_case(spec, sender, nul_blob=False))
            if spec.blob:
                cases.append(_valid_case(spec, sender, nul_blob=True))
    for number in range(1, 43):
        spec = SPECS[number]
        if spec.req or not spec.res:
            continue
        cases.append(
            CodecCase(
                id=f"{_slug(spec.name)}-as-request",
                comment=f"{spec.name}, a server-to-client type, sent to the server with \\0REQ (well formed otherwise)",
                requirements=["GM-FRAME-003", "GM-FRAME-012"],
                flags=["WrongDirection"],
                result="invalid",
                sender="client",
                messages=[P(spec.name, _args_for(spec, spec.args))],
                violations=["GM-FRAME-003"],
                server=react(INVALID_COMMAND, evidence=f"probe:{_S2C_PROBES[spec.name]}"),
            )
        )
    for name in ("SUBMIT_REDUCE_JOB", "SUBMIT_REDUCE_JOB_BACKGROUND"):
        spec = SPECS[_number(name)]
        layout = spec.variants["protocol-document"]
        evidence = "probe:submit-reduce-job-3nul" if name == "SUBMIT_REDUCE_JOB" else "facts:B-P6,(e)1"
        cases.append(
            CodecCase(
                id=f"{_slug(name)}-req-client-protocol-document-layout",
                comment=(
                    f"{name} in the PROTOCOL document's layout ({', '.join(layout)}: 3 NULs, no aggregator). "
                    "The packet table follows gearmand and libgearman (4 NULs, empty aggregator), so the "
                    "workload lands in the aggregator's place and one argument is missing"
                ),
                requirements=["GM-FRAME-004", "GM-FRAME-007"],
                flags=["ProtocolDocumentLayout", "ReadsPastBody"],
                result="invalid",
                sender="client",
                messages=[P(name, _args_for(spec, layout))],
                violations=["GM-FRAME-004"],
                server=react(
                    evidence=evidence,
                    note=(
                        "gearmand waits for a 4th NUL beyond the declared body: no JOB_CREATED; the next "
                        "bytes sent are swallowed and the connection is closed"
                    ),
                ),
            )
        )
    return cases


# --------------------------------------------------------------------------- framing


def framing_cases() -> list[CodecCase]:
    """framing.yaml: malformed, partial and borderline binary and admin framing."""
    past_body = (
        "gearmand reads past the declared body looking for the missing NULs: no reply; the next bytes sent are "
        "swallowed, then it logs a realloc size underflow and closes the connection"
    )
    hi = (b"hi",)
    c: list[CodecCase] = [
        CodecCase(
            id="bad-magic",
            comment="an ECHO_REQ header with the magic \\0XYZ: the stream cannot be framed",
            requirements=["GM-FRAME-002", "GM-FRAME-008"],
            flags=["BadMagic"],
            result="invalid",
            sender="client",
            messages=[P("ECHO_REQ", hi, magic=b"\0XYZ")],
            decode={"yields": 0, "error": "bad-magic", "offset": 0},
            violations=None,
            server=react(then="close", evidence="probe:bad-magic", note="closed at once, no reply"),
        ),
        CodecCase(
            id="res-magic-on-request",
            comment="ECHO_REQ sent to the server framed with \\0RES",
            requirements=["GM-FRAME-002", "GM-FRAME-011"],
            flags=["WrongMagic"],
            result="invalid",
            sender="client",
            messages=[P("ECHO_REQ", hi, magic=RES)],
            violations=["GM-FRAME-002"],
            server=react(error("INVALID_MAGIC", "Request magic expected"), evidence="probe:res-magic-on-echo-req"),
        ),
    ]
    for number, probe in ((43, "unknown-type-43"), (999, "unknown-type-999"), (0, "type-0")):
        what = "type 0 (TEXT, gearmand's internal marker for admin text)" if number == 0 else f"type {number}"
        c.append(
            CodecCase(
                id=probe,
                comment=f"{what} with an empty body: not a type that may be sent",
                requirements=["GM-FRAME-003", "GM-FRAME-013"],
                flags=["UndefinedType"],
                result="invalid",
                sender="client",
                messages=[P(number)],
                violations=["GM-FRAME-003"],
                server=react(then="close", evidence=f"probe:{probe}", note="closed at once, no reply"),
            )
        )
    c += [
        CodecCase(
            id="type-5",
            comment="type 5 (UNUSED, reserved) with an empty body",
            requirements=["GM-FRAME-003", "GM-FRAME-012"],
            flags=["ReservedType"],
            result="invalid",
            sender="client",
            messages=[P(5)],
            violations=["GM-FRAME-003"],
            server=react(INVALID_COMMAND, evidence="probe:type-5"),
        ),
        CodecCase(
            id="short-header",
            comment=(
                "the first 8 bytes of an ECHO_REQ header (magic and type, no length): the receiver waits for the "
                "rest"
            ),
            requirements=["GM-FRAME-001", "GM-FRAME-010"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[R(REQ + struct.pack(">I", 16))],
            decode={"yields": 0, "pending": 8},
            server=react(evidence="probe:short-header-6-bytes", note="waits for the rest of the header"),
        ),
        CodecCase(
            id="truncated-body",
            comment="ECHO_REQ whose header announces 64 body bytes; only 4 follow: the receiver waits for the rest",
            requirements=["GM-FRAME-001", "GM-FRAME-007"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[P("ECHO_REQ", (b"abcd",), length=64)],
            decode={"yields": 0, "pending": 16},
            server=react(evidence="probe:truncated-body", note="waits for the rest of the body"),
        ),
        CodecCase(
            id="submit-job-no-nul",
            comment="SUBMIT_JOB whose body 'fnonly' has no NUL: 1 of 3 arguments",
            requirements=["GM-FRAME-004", "GM-FRAME-007"],
            flags=["TooFewArguments", "ReadsPastBody"],
            result="invalid",
            sender="client",
            messages=[P("SUBMIT_JOB", (b"fnonly",))],
            violations=["GM-FRAME-004"],
            server=react(evidence="probe:submit-job-no-nul", note=past_body),
        ),
        CodecCase(
            id="submit-job-one-nul",
            comment="SUBMIT_JOB whose body 'fn\\0u9' has one NUL: 2 of 3 arguments, no workload",
            requirements=["GM-FRAME-004", "GM-FRAME-007"],
            flags=["TooFewArguments", "ReadsPastBody"],
            result="invalid",
            sender="client",
            messages=[P("SUBMIT_JOB", (b"fn", b"u9"))],
            violations=["GM-FRAME-004"],
            server=react(evidence="probe:submit-job-two-args", note=past_body),
        ),
        CodecCase(
            id="submit-job-bg-empty-body",
            comment="SUBMIT_JOB_BG with body length 0: 1 (empty) of 3 arguments",
            requirements=["GM-FRAME-004", "GM-FRAME-007"],
            flags=["TooFewArguments", "ReadsPastBody"],
            result="invalid",
            sender="client",
            messages=[P("SUBMIT_JOB_BG", (b"",))],
            violations=["GM-FRAME-004"],
            server=react(evidence="facts:B-P6,peer-lab 8", note=past_body),
        ),
        CodecCase(
            id="can-do-nul-in-function",
            comment=(
                "CAN_DO body 'a\\0b': one argument too many, or a NUL inside the function name; either way the "
                "last (non-blob) argument holds a NUL"
            ),
            requirements=["GM-FRAME-004", "GM-FRAME-005"],
            flags=["ExtraArgument"],
            result="invalid",
            sender="worker",
            messages=[P("CAN_DO", (b"a\0b",))],
            violations=["GM-FRAME-005"],
            server=react(
                evidence="probe:can-do-extra-arg",
                note="no reply; gearmand registers the function 'a' (admin status lists it) and ignores 'b'",
            ),
        ),
        CodecCase(
            id="grab-job-with-body",
            comment="GRAB_JOB, which takes no arguments, with the body 'xyz'",
            requirements=["GM-FRAME-004", "GM-FRAME-014"],
            flags=["BodyOnArgumentlessType"],
            result="acceptable",
            sender="worker",
            messages=[P("GRAB_JOB", (b"xyz",))],
            violations=["GM-FRAME-004"],
            server=react(P("NO_JOB"), evidence="probe:grab-job-with-body", note="the body is ignored"),
        ),
        CodecCase(
            id="get-status-nul-in-handle",
            comment="GET_STATUS whose handle 'H:a\\0b' holds a NUL (a non-final, non-blob argument)",
            requirements=["GM-FRAME-005", "GM-FIELD-001"],
            flags=["NulInArgument"],
            result="invalid",
            sender="client",
            messages=[P("GET_STATUS", (b"H:a\0b",))],
            violations=["GM-FRAME-005"],
            server=react(
                P("STATUS_RES", (b"H:a", b"0", b"0", b"0", b"0")),
                evidence="probe:get-status-nul-in-handle",
                note="gearmand cuts the handle at the NUL and answers for 'H:a'",
            ),
        ),
        CodecCase(
            id="option-req-nul-in-option",
            comment="OPTION_REQ whose option 'exceptions\\0x' holds a NUL",
            requirements=["GM-FRAME-005", "GM-OPTION-001"],
            flags=["NulInArgument"],
            result="invalid",
            sender="client",
            messages=[P("OPTION_REQ", (b"exceptions\0x",))],
            violations=["GM-FRAME-005"],
            server=react(
                P("OPTION_RES", (b"exceptions\0x",)),
                evidence="probe:option-req-nul",
                note="gearmand matches the name up to the NUL and echoes the whole body back, NUL included",
            ),
        ),
        CodecCase(
            id="work-complete-no-separator",
            comment="WORK_COMPLETE with an empty result and no separating NUL: the body is the bare handle",
            requirements=["GM-FRAME-004", "GM-FRAME-006", "GM-FRAME-007"],
            flags=["MissingSeparator", "ReadsPastBody"],
            result="invalid",
            sender="worker",
            messages=[P("WORK_COMPLETE", (b"H:nope:1",))],
            violations=["GM-FRAME-004"],
            server=react(evidence="probe:work-complete-no-nul", note=past_body),
        ),
        CodecCase(
            id="work-complete-empty-result",
            comment="WORK_COMPLETE with an empty result, written right: the handle, then the separating NUL",
            requirements=["GM-FRAME-004", "GM-FRAME-006"],
            flags=["EmptyFinalArgument"],
            result="valid",
            sender="worker",
            messages=[P("WORK_COMPLETE", (b"H:nope:1", b""))],
            server=react(
                JOB_NOT_FOUND_RESULT,
                evidence="probe:work-complete-empty-result",
                note="this connection holds no job",
            ),
        ),
        CodecCase(
            id="length-ffffffff",
            comment="ECHO_REQ header announcing a body of 0xFFFFFFFF bytes, then 4 body bytes",
            requirements=["GM-FRAME-001", "GM-FRAME-009"],
            flags=["HugeLength"],
            result="acceptable",
            sender="client",
            messages=[P("ECHO_REQ", (b"abcd",), length=0xFFFFFFFF)],
            decode={"yields": 0, "error": "body-too-large", "offset": 0},
            violations=None,
            server=react(
                evidence="probe:length-ffffffff",
                note="gearmand waits for 4 GiB (nothing allocated up front) and swallows whatever follows",
            ),
        ),
        CodecCase(
            id="several-packets-one-buffer",
            comment="three requests in one write: each is answered, in order",
            requirements=["GM-FRAME-001", "GM-FRAME-007", "GM-ECHO-001", "GM-OPTION-001"],
            flags=["Pipelined"],
            result="valid",
            sender="client",
            messages=[
                P("ECHO_REQ", hi),
                P("GET_STATUS", (MODEL_HANDLE,)),
                P("OPTION_REQ", (b"exceptions",)),
            ],
            server=react(
                P("ECHO_RES", hi),
                P("STATUS_RES", (MODEL_HANDLE, b"0", b"0", b"0", b"0")),
                P("OPTION_RES", (b"exceptions",)),
                evidence="probe:echo-hi",
                note="each reply as for the request alone (probe cases echo-hi, get-status-unknown, option-exceptions)",
            ),
        ),
        CodecCase(
            id="admin-no-newline",
            comment="the admin line 'status' without its newline: the receiver waits for it",
            requirements=["GM-ADMIN-001", "GM-ADMIN-002"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[A(b"status", "")],
            decode={"yields": 0, "pending": 6},
            server=react(evidence="probe:admin-no-newline", note="waits for the newline"),
        ),
        CodecCase(
            id="admin-six-words",
            comment="an admin line of 6 words (more than gearmand's parser holds)",
            requirements=["GM-ADMIN-007"],
            flags=["TooManyWords"],
            result="acceptable",
            sender="client",
            messages=[A(b"a b c d e f")],
            server=react(then="close", evidence="probe:admin-6-words", note="closed at once, no reply"),
        ),
        CodecCase(
            id="admin-five-words",
            comment="an admin line of 5 words, the most gearmand parses; 'a' is not a command",
            requirements=["GM-ADMIN-006", "GM-ADMIN-007"],
            result="valid",
            sender="client",
            messages=[A(b"a b c d e")],
            server=react(unknown_command(b"a"), evidence="probe:admin-5-words"),
        ),
        CodecCase(
            id="version-crlf",
            comment="'version' ended by \\r\\n: the \\r belongs to the end of line",
            requirements=["GM-ADMIN-001", "GM-ADMIN-009"],
            flags=["CrLf"],
            result="valid",
            sender="client",
            messages=[A(b"version", "\r\n")],
            server=react(A(b"OK " + MODEL_VERSION), evidence="probe:version-crlf"),
        ),
        CodecCase(
            id="version-lf",
            comment="'version' ended by \\n",
            requirements=["GM-ADMIN-001", "GM-ADMIN-009"],
            result="valid",
            sender="client",
            messages=[A(b"version")],
            server=react(A(b"OK " + MODEL_VERSION), evidence="probe:version-lf"),
        ),
        CodecCase(
            id="version-cr",
            comment="'version\\r' with no \\n: a \\r alone does not end a line, the receiver waits",
            requirements=["GM-ADMIN-001", "GM-ADMIN-002"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[A(b"version\r", "")],
            decode={"yields": 0, "pending": 8},
            server=react(evidence="probe:version-cr", note="waits for the newline"),
        ),
        CodecCase(
            id="version-cr-cr-lf",
            comment="'version\\r\\r\\n': one \\r belongs to the end of line, so the line is 'version\\r'",
            requirements=["GM-ADMIN-001", "GM-ADMIN-006"],
            flags=["StrayCr"],
            result="acceptable",
            sender="client",
            messages=[A(b"version\r", "\r\n")],
            server=react(
                unknown_command(b"version\r"),
                evidence="probe:version-cr-cr-lf",
                note="the command word is 'version\\r', unknown; the reply echoes the \\r before its own \\r\\n",
            ),
        ),
        CodecCase(
            id="empty-line-lf",
            comment="an empty admin line '\\n'",
            requirements=["GM-ADMIN-001", "GM-ADMIN-006"],
            flags=["EmptyLine"],
            result="acceptable",
            sender="client",
            messages=[A(b"")],
            server=react(unknown_command(b""), evidence="probe:empty-line-lf"),
        ),
        CodecCase(
            id="empty-line-crlf",
            comment="an empty admin line '\\r\\n'",
            requirements=["GM-ADMIN-001", "GM-ADMIN-006"],
            flags=["EmptyLine", "CrLf"],
            result="acceptable",
            sender="client",
            messages=[A(b"", "\r\n")],
            server=react(unknown_command(b""), evidence="probe:empty-line-crlf"),
        ),
        CodecCase(
            id="admin-then-binary",
            comment="an admin line, then a binary packet, in one write: text or binary is decided per message",
            requirements=["GM-FRAME-010", "GM-ADMIN-009", "GM-ECHO-001"],
            flags=["MixedProtocols"],
            result="valid",
            sender="client",
            messages=[A(b"version"), P("ECHO_REQ", hi)],
            server=react(
                A(b"OK " + MODEL_VERSION),
                P("ECHO_RES", hi),
                evidence="facts:B-P1",
                note="each reply as for the message alone (probe cases version-lf, echo-hi)",
            ),
        ),
        CodecCase(
            id="binary-then-admin",
            comment="a binary packet, then an admin line, in one write",
            requirements=["GM-FRAME-010", "GM-ADMIN-009", "GM-ECHO-001"],
            flags=["MixedProtocols"],
            result="valid",
            sender="client",
            messages=[P("ECHO_REQ", hi), A(b"version")],
            server=react(
                P("ECHO_RES", hi),
                A(b"OK " + MODEL_VERSION),
                evidence="facts:B-P1",
                note="each reply as for the message alone (probe cases echo-hi, version-lf)",
            ),
        ),
    ]
    # What a reader of the server's replies must accept, whatever server wrote them.
    c += [
        CodecCase(
            id="admin-reply-crlf-and-lf",
            comment=(
                "an OK line ended by \\r\\n then a version line ended by \\n, as gearmand mixes them: "
                "a reader takes both"
            ),
            requirements=["GM-ADMIN-001", "GM-ADMIN-014"],
            result="valid",
            sender="server",
            messages=[A(b"OK", "\r\n"), A(b"OK 1.1.20+ds")],
        ),
        CodecCase(
            id="error-lower-case-code",
            comment=(
                "Perl Gearman::Server's ERROR: a lower-case code word and an empty text; "
                "a client reads it as any ERROR"
            ),
            requirements=["GM-ERROR-001", "GM-ERROR-003"],
            result="valid",
            sender="server",
            messages=[P("ERROR", (b"not_worker", b""))],
        ),
    ]

    return c


# --------------------------------------------------------------------------- admin


def _admin_case(
    id_: str,
    comment: str,
    lines: Sequence[A],
    reaction: Reaction,
    requirements: Sequence[str],
    *,
    result: str = "valid",
    flags: Sequence[str] = (),
) -> CodecCase:
    return CodecCase(
        id=id_,
        comment=comment,
        requirements=list(requirements),
        flags=list(flags),
        result=result,
        sender="client",
        messages=list(lines),
        server=reaction,
    )


def admin_cases() -> list[CodecCase]:
    """admin.yaml: one case per admin command of the packet table, plus odd forms."""
    known = {a.name for a in ADMIN_COMMANDS}
    ok_crlf = A(b"OK", "\r\n")
    incomplete = b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+"
    cases = [
        _admin_case(
            "workers",
            "workers on an idle server: one row per connection, here only the admin connection itself. "
            "Run-specific: real gearmand shows its own fd (37 in the probe); the model numbers fds from 3",
            [A(b"workers")],
            react(
                AM(MODEL_FIRST_FD + b" 127.0.0.1 - :", r"[0-9]+ 127\.0\.0\.1 - :"),
                A(b"."),
                evidence="probe:admin-workers",
                note="the fd is the server's own: gearmand prints its socket fd",
            ),
            ["GM-ADMIN-004", "GM-ADMIN-008"],
            flags=["RunSpecific"],
        ),
        _admin_case(
            "status",
            "status on a freshly started server: no functions, so only the closing line",
            [A(b"status")],
            react(*listing(), evidence="facts:(c) status", note="the probe's server had functions from earlier cases"),
            ["GM-ADMIN-004", "GM-ADMIN-005"],
        ),
        _admin_case(
            "status-upper-case",
            "STATUS in upper case: command words match case-insensitively",
            [A(b"STATUS")],
            react(*listing(), evidence="probe:admin-status-upper-case", note="answered exactly as status"),
            ["GM-ADMIN-003", "GM-ADMIN-004"],
        ),
        _admin_case(
            "prioritystatus",
            "prioritystatus on a freshly started server: only the closing line",
            [A(b"prioritystatus")],
            react(*listing(), evidence="facts:(c) prioritystatus"),
            ["GM-ADMIN-004"],
        ),
        _admin_case(
            "maxqueue-no-function",
            "maxqueue without a function",
            [A(b"maxqueue")],
            react(A(incomplete + b"maxqueue", "\r\n"), evidence="probe:admin-maxqueue"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "maxqueue-function",
            "maxqueue FUNCTION: the default limit (0, unlimited)",
            [A(b"maxqueue reverse")],
            react(ok_crlf, evidence="probe:admin-maxqueue-f"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "maxqueue-function-size",
            "maxqueue FUNCTION SIZE: one limit for every priority",
            [A(b"maxqueue reverse 10")],
            react(ok_crlf, evidence="probe:admin-maxqueue-f-10"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "maxqueue-function-three-sizes",
            "maxqueue FUNCTION HIGH NORMAL LOW: a limit per priority (5 words, the most gearmand parses)",
            [A(b"maxqueue reverse 10 20 30")],
            react(ok_crlf, evidence="facts:(c) maxqueue"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "version",
            "version. Run-specific: the reply names the server's version; the model reports 1.1.20+ds",
            [A(b"version")],
            react(A(b"OK " + MODEL_VERSION), evidence="probe:admin-version"),
            ["GM-ADMIN-009"],
        ),
        _admin_case(
            "getpid",
            "getpid. Run-specific: real gearmand answers its own process id; the model reports 4242",
            [A(b"getpid")],
            react(
                AM(b"OK " + MODEL_PID, r"OK [0-9]+"), evidence="probe:admin-getpid", note="the pid is the server's own"
            ),
            ["GM-ADMIN-001"],
            flags=["RunSpecific"],
        ),
        _admin_case(
            "verbose",
            "verbose reports the log level; a server started with --verbose=ERROR (as the probe's) says ERROR",
            [A(b"verbose")],
            react(A(b"OK ERROR"), evidence="probe:admin-verbose", note="depends on the server's --verbose option"),
            ["GM-ADMIN-001"],
            flags=["RunSpecific"],
        ),
        _admin_case(
            "show-jobs",
            "show jobs on a freshly started server: only the closing line",
            [A(b"show jobs")],
            react(*listing(), evidence="facts:(c) show jobs"),
            ["GM-ADMIN-004"],
        ),
        _admin_case(
            "show-unique-jobs",
            "show unique jobs on a freshly started server: only the closing line",
            [A(b"show unique jobs")],
            react(*listing(), evidence="facts:(c) show unique jobs"),
            ["GM-ADMIN-004"],
        ),
        _admin_case(
            "show-unknown",
            "show with an unknown second word",
            [A(b"show x")],
            react(A(b"ERR UNKNOWN_SHOW_ARGUMENTS", "\r\n"), evidence="probe:admin-show-x"),
            ["GM-ADMIN-006"],
        ),
        _admin_case(
            "cancel-job-unknown",
            "cancel job for a handle the server does not know",
            [A(b"cancel job H:x:1")],
            react(A(b"ERR UNKNOWN_JOB", "\r\n"), evidence="probe:admin-cancel-job-unknown"),
            ["GM-ADMIN-001"],
        ),
        _admin_case(
            "create-function-crlf",
            "create function with a \\r\\n line end (as gearadmin sends it)",
            [A(b"create function cf", "\r\n")],
            react(ok_crlf, evidence="probe:admin-create-function-crlf"),
            ["GM-ADMIN-001"],
            flags=["CrLf"],
        ),
        _admin_case(
            "create-function-lf-then-status",
            "create function 'cfA' with a plain \\n line end, then status: gearmand loses the name's last "
            "character and creates 'cf'",
            [A(b"create function cfA"), A(b"status")],
            react(ok_crlf, *listing(b"cf\t0\t0\t0"), evidence="facts:(c) create function"),
            ["GM-ADMIN-001", "GM-ADMIN-005"],
            result="acceptable",
            flags=["GearmandBug"],
        ),
        _admin_case(
            "drop-function-unknown",
            "drop function on a freshly started server, which has no function 'cf'",
            [A(b"drop function cf")],
            react(A(b"ERR function not found", "\r\n"), evidence="facts:(c) drop function"),
            ["GM-ADMIN-001"],
        ),
        _admin_case(
            "create-then-drop-function",
            "create function cf, then drop function cf",
            [A(b"create function cf", "\r\n"), A(b"drop function cf")],
            react(ok_crlf, ok_crlf, evidence="probe:admin-drop-function"),
            ["GM-ADMIN-001"],
            flags=["CrLf"],
        ),
        _admin_case(
            "shutdown",
            "shutdown: removed from gearmand in 1.1.15, so 1.1.20 treats it as an unknown command",
            [A(b"shutdown")],
            react(unknown_command(b"shutdown"), evidence="probe:admin-shutdown"),
            ["GM-ADMIN-006"],
            result="acceptable",
        ),
        _admin_case(
            "unknown-command",
            "an unknown command: ERR, with the command appended to the text without a separator",
            [A(b"no_such_command")],
            react(unknown_command(b"no_such_command"), evidence="probe:admin-no-such-command"),
            ["GM-ADMIN-006"],
        ),
        _admin_case(
            "six-words",
            "maxqueue with 6 words: gearmand closes the connection without a reply",
            [A(b"maxqueue reverse 10 20 30 40")],
            react(then="close", evidence="probe:admin-6-words", note="closed at once, no reply"),
            ["GM-ADMIN-007"],
            result="acceptable",
            flags=["TooManyWords"],
        ),
    ]
    covered = {
        "workers": "workers",
        "status": "status",
        "prioritystatus": "prioritystatus",
        "maxqueue": "maxqueue-function",
        "version": "version",
        "getpid": "getpid",
        "verbose": "verbose",
        "show jobs": "show-jobs",
        "show unique jobs": "show-unique-jobs",
        "cancel job": "cancel-job-unknown",
        "create function": "create-function-crlf",
        "drop function": "drop-function-unknown",
        "shutdown": "shutdown",
    }
    missing = known - set(covered)
    if missing:
        raise SystemExit(f"admin commands without a case: {sorted(missing)}")
    return cases


# --------------------------------------------------------------------------- files

NOTES: Final[dict[str, dict[str, str]]] = {
    "NulInBlob": {"description": "the final, blob argument holds NUL bytes; it runs to the end of the body"},
    "WrongDirection": {"description": "a packet type the table lets only the server send, sent to the server"},
    "ProtocolDocumentLayout": {
        "description": "the argument layout of the PROTOCOL document, which differs from the packet table's",
        "effect": "gearmand and libgearman cannot parse it; the packet table follows them",
    },
    "ReadsPastBody": {
        "description": "the body has fewer NULs than gearmand's parser needs for the type",
        "effect": "gearmand 1.1.20 searches past the declared length (breaks GM-FRAME-007): silence, then a close",
    },
    "BadMagic": {"description": "the magic is neither \\0REQ nor \\0RES; the stream cannot be framed"},
    "WrongMagic": {"description": "a request framed with the server's magic \\0RES"},
    "UndefinedType": {"description": "a type number outside the table's sendable types: 0, or 43 and above"},
    "ReservedType": {"description": "type 5, reserved and never used"},
    "PartialMessage": {
        "description": "the bytes end inside a message (header, body or admin line); the receiver must wait",
        "effect": "decode yields nothing and keeps the bytes buffered; the server stays silent",
    },
    "TooFewArguments": {"description": "the body has fewer NUL-separated arguments than the type needs"},
    "ExtraArgument": {"description": "more NULs than the type has separators: the last non-blob argument holds one"},
    "BodyOnArgumentlessType": {
        "description": "a type without arguments carries body bytes",
        "effect": "a server may ignore them (GM-FRAME-014); both ignoring and refusing conform",
    },
    "NulInArgument": {"description": "a NUL inside a non-final, non-blob argument"},
    "MissingSeparator": {"description": "an empty final argument without the NUL that separates it"},
    "EmptyFinalArgument": {"description": "an empty final argument, correctly preceded by its separating NUL"},
    "HugeLength": {
        "description": "a header announcing a body far larger than any sensible limit",
        "effect": "the codec refuses it before buffering (64 MiB limit); gearmand waits for the bytes",
    },
    "Pipelined": {"description": "several whole messages in one write"},
    "MixedProtocols": {"description": "admin text and binary packets on one connection, in one write"},
    "CrLf": {"description": "an admin line ended by \\r\\n instead of \\n"},
    "StrayCr": {"description": "a \\r inside an admin line, besides the one that belongs to its \\r\\n end"},
    "EmptyLine": {"description": "an admin line with no text"},
    "TooManyWords": {
        "description": "an admin line of 6 or more words",
        "effect": "gearmand closes the connection without a reply (GM-ADMIN-007)",
    },
    "RunSpecific": {
        "description": "the real reply holds a value that changes from run to run (fd, pid, log level)",
        "effect": "the reply line is matched by a regular expression ({match: ...}); the model's value is one instance",
    },
    "GearmandBug": {
        "description": "the reaction reproduces a gearmand 1.1.20 bug that the spec does not require",
    },
}

COMMON_HEADER: Final[list[str]] = [
    "Generated by tools/gen_codec_vectors.py from spec/packets.yaml: do not edit by hand; change the tool and "
    "run it (the unit tests run it with --check).",
    "Each case gives exact bytes (wire) and the same bytes as messages; the codec must turn each into the "
    "other, and the validator must find exactly `violations` (decode says what the decoder yields, keeps "
    "pending, or fails on).",
    "result: valid = a conforming peer may send it; invalid = it breaks a MUST of the spec; acceptable = it "
    "breaks a SHOULD, or the spec leaves the receiver's behaviour open.",
    "server: how gearmand 1.1.20+ds answered these bytes on a fresh connection to a freshly started server "
    "(replies, then whether the connection stayed open or was closed); its note names the evidence: a case "
    "of spec/observed/gearmand-1.1.20-codec.yaml, or a section of the protocol facts. 'open' with no "
    "replies means silence.",
]

HANDLE_HEADER: Final[str] = (
    "Handles: the reference model names its node 'sim', so the first job it creates is H:sim:1 and the "
    "vectors say so. Real gearmand uses its machine's node name and a server-wide counter (H:vm:3 in the "
    "probe); a runner compares handles as opaque values (GM-FIELD-6), not byte for byte."
).replace("GM-FIELD-6", "GM-FIELD-006")

SOURCE: Final[dict[str, str]] = {
    "author": "tools/gen_codec_vectors.py",
    "server": "gearmand 1.1.20+ds (Debian gearman-job-server), /usr/sbin/gearmand --queue-type=builtin --verbose=ERROR",
    "checked": (
        "gearsim lint (codec, decoder, validator); server reactions against "
        "spec/observed/gearmand-1.1.20-codec.yaml (tools/gen_codec_vectors.py --check-observed) and against a "
        "fresh gearmand 1.1.20 per case on 127.0.0.1"
    ),
}


def _file(title: str, header: Sequence[str], cases: Sequence[CodecCase]) -> dict[str, Any]:
    used = {f for c in cases for f in c.flags}
    return {
        "schema": SCHEMA_ID,
        "area": "codec",
        "title": title,
        "header": list(header),
        "notes": {k: v for k, v in NOTES.items() if k in used},
        "source": dict(SOURCE),
        "cases": [c.to_yaml() for c in cases],
    }


def build() -> dict[str, dict[str, Any]]:
    """File name -> vector file data, for every file this tool owns."""
    packets = _file(
        "Every packet type in every direction",
        [
            *COMMON_HEADER,
            "One valid case per packet type 1..42 and direction of spec/packets.yaml: for each role in `req`, "
            "sent by that role with \\0REQ (id <type>-req-<role>); if `res` is not empty, sent by the server "
            "with \\0RES (id <type>-res-server). Blob types get a second case whose final argument holds NULs "
            "(-nul-in-blob). Argument values are one example per field name (function reverse, unique u1, "
            "workload 'this is a test', handle H:sim:1, ...).",
            HANDLE_HEADER,
            "A server reaction is given for requests only; on a fresh connection no job exists, so WORK_* "
            "requests meet ERROR JOB_NOT_FOUND and GET_STATUS meets an unknown handle.",
            "Also: server-to-client types sent as requests (-as-request), and SUBMIT_REDUCE_JOB(_BACKGROUND) "
            "in the PROTOCOL document's 3-NUL layout, which the table (4 NULs, empty aggregator) rejects.",
        ],
        packet_cases(),
    )
    framing = _file(
        "Framing: malformed, partial and borderline input",
        [
            *COMMON_HEADER,
            "Binary and admin framing: bad and wrong magic, undefined types, short and truncated messages, "
            "too few and too many arguments, NULs where none may be, lying lengths, pipelining, admin line "
            "ends, and text mixed with binary.",
            HANDLE_HEADER,
            "Bytes that are not a whole message are written as {raw: {hex: ...}} (short-header); an admin line "
            "still waiting for its newline is admin text with eol ''.",
        ],
        framing_cases(),
    )
    admin = _file(
        "Admin text commands",
        [
            *COMMON_HEADER,
            "One case per admin command of spec/packets.yaml (sender client, the command as an admin line), "
            "plus odd forms. Replies are admin lines with their exact end of line: gearmand ends OK/ERR lines "
            "with \\r\\n but version, getpid and verbose with \\n; listings end with a line holding '.'.",
            "Run-specific values (flag RunSpecific): a pid or an fd is matched by a regular expression "
            "({match: ...}); the reference model reports pid 4242 and numbers connection fds from 3.",
        ],
        admin_cases(),
    )
    return {"packets.yaml": packets, "framing.yaml": framing, "admin.yaml": admin}


def render() -> dict[str, str]:
    """File name -> canonical text."""
    return {name: dump_vector_file(data) for name, data in build().items()}


# --------------------------------------------------------------------------- observed check

_HANDLE = re.compile(rb"H:[^\x00:]*:[0-9]+")


def _mask(data: bytes) -> bytes:
    """Mask handles (host part and counter) and the pid of an 'OK <pid>' line."""
    return _HANDLE.sub(b"H:*", data)


def _split_replies(data: bytes) -> list[bytes]:
    """Cut reply bytes into messages (binary by length, text by line) so handles can be masked per message."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        if data[i] == 0 and len(data) - i >= 12:
            (size,) = struct.unpack(">I", data[i + 8 : i + 12])
            end = i + 12 + size
        else:
            nl = data.find(b"\n", i)
            end = len(data) if nl < 0 else nl + 1
        out.append(data[i:end])
        i = end
    return out


def _normalise(data: bytes) -> list[bytes]:
    """Reply messages with handles masked; a binary packet's length field is dropped (handles change it)."""
    out = []
    for m in _split_replies(data):
        out.append(m[:8] + _mask(m[12:]) if m[:1] == b"\0" and len(m) >= 12 else _mask(m))
    return out


def _kind(message: bytes) -> bytes:
    """A reply message reduced to what does not echo the request: its header type, or ERROR's body, or text."""
    if message[:1] != b"\0":
        return message
    return message if message[4:8] == struct.pack(">I", 19) else message[:8]


#: probe cases whose reply depends on the run (fd, pid) or on state left by earlier probe cases:
#: only open/close is compared
_RUN_SPECIFIC: Final[frozenset[str]] = frozenset({"admin-workers", "admin-getpid", "admin-status-upper-case"})


def check_observed(path: Path) -> list[str]:
    """Every probe-backed reaction that disagrees with the probe record at ``path`` (empty: all agree)."""
    record = yaml.safe_load(path.read_text(encoding="utf-8"))
    observed = {c["id"]: c for c in record["cases"]}
    problems: list[str] = []
    for fname, cases in (
        ("packets.yaml", packet_cases()),
        ("framing.yaml", framing_cases()),
        ("admin.yaml", admin_cases()),
    ):
        for case in cases:
            reaction = case.server
            if reaction is None or not reaction.evidence.startswith("probe:"):
                continue
            probe_id = reaction.evidence.removeprefix("probe:")
            obs = observed.get(probe_id)
            if obs is None:
                problems.append(f"{fname}::{case.id}: probe case {probe_id} is not in {path.name}")
                continue
            # a multi-step probe case backs a one-message vector case with its first step
            step = obs["steps"][min(len(case.messages), len(obs["steps"])) - 1]
            closed = step.get("outcome", "").startswith(("closed", "reply-then-closed"))
            then = "close" if closed else "open"
            if then != reaction.then:
                problems.append(f"{fname}::{case.id}: then {reaction.then}, probe {probe_id} shows {then}")
            if probe_id in _RUN_SPECIFIC or len(case.messages) > 1:
                continue  # the reply depends on the probe's earlier cases, or the probe sent fewer messages
            want = _normalise(b"".join(m.wire(RES) for m in reaction.replies))
            got = _normalise(bytes.fromhex(step.get("reply_hex", "")))
            if case.messages[0].wire(REQ) != bytes.fromhex(step["input_hex"]):
                # other argument values than the probe's: compare reply types (and fixed ERROR bodies)
                want, got = [_kind(m) for m in want], [_kind(m) for m in got]
            if want != got:
                problems.append(f"{fname}::{case.id}: replies {want!r}, probe {probe_id} got {got!r}")
    return problems


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or, with --check, compare) the files; with --check-observed, compare reactions with the probe."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file differs from the output")
    parser.add_argument(
        "--check-observed",
        nargs="?",
        const=OBSERVED,
        type=Path,
        metavar="PATH",
        help=f"compare probe-backed reactions with a probe record (default {PROBE_FILE})",
    )
    args = parser.parse_args(argv)
    status = 0
    if args.check_observed is not None:
        problems = check_observed(args.check_observed)
        for p in problems:
            print(p, file=sys.stderr)
        status = 1 if problems else 0
        if not args.check:
            return status
    texts = render()
    if args.check:
        for name, text in texts.items():
            path = OUT_DIR / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                print(f"vectors/codec/{name} is stale: run python tools/gen_codec_vectors.py", file=sys.stderr)
                status = 1
        return status
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote vectors/codec/{name}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
