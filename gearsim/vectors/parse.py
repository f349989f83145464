"""Vector files: schema check, and parsing into typed objects.

PURE: it takes text (and a name to report errors by) and returns objects; the
caller reads the files. Owns the meaning of vector format v1, whose JSON Schema
is spec/vectors.schema.json:

* a file is Wycheproof-shaped: ``schema``, ``area``, ``title``, prose
  ``header``, ``notes`` explaining every flag, optional ``source``, ``cases``;
* a *codec case* gives exact bytes (``wire``, hex) and the same bytes as
  structured ``messages``, what the decoder must do with them, the validator
  findings, and how a server reacts;
* a *lifecycle case* names ``actors`` and plays ``steps`` (connect, send,
  expect, expect_silence, expect_close, advance, disconnect, and
  restart_server, which restarts the server and ends every connection) with
  captured values and per-profile accepted alternatives;
* a *program case* is a lifecycle case with ``programs``: the actors it names
  are real client or worker programs' connections (launched from a default
  command, judged by ``gearsim.io.programs``), and each program may
  have an ``expect_exit`` (status, standard output). Sends of program actors
  may capture (what the program sent); no run against a server applies.
* a *library case* is a lifecycle case with ``library``: the actors it names
  are played by a client or worker library through its driver
  (spec/driver.md, judged by ``gearsim.io.library_cases``); their steps are
  driver calls (``call``, ``await``), checks on what the library sent
  (``sent``) and scripted server actions (``server_close``, ``server_send``).
  The other actors are scripted as in server vectors. No run against a
  server applies.

Bytes in YAML are text (printable ASCII, tab, CR, LF) or ``{hex: ...}``. The
typed objects (``Case``, ``Step``, the patterns...) live in
``gearsim.vectors.cases``; the canonical text of a file (``dump_vector_file``)
and the bytes helpers (``format_bytes``, ``format_hex``, ``hex_of``) live in
``gearsim.vectors.text``. This module re-exports all of them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Collection, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

import jsonschema

from gearsim.errors import VectorError
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, packet_type
from gearsim.safeyaml import YamlInputError, load_yaml
from gearsim.vectors.cases import AdminLinePattern as AdminLinePattern
from gearsim.vectors.cases import (
    AdminPattern,
    Alternative,
    AnyValue,
    Capture,
    Case,
    DecodeExpectation,
    ExitExpectation,
    Fragment,
    LibraryCall,
    LibrarySpec,
    LineMatch,
    LineParts,
    OutputMatch,
    PacketPattern,
    Program,
    Reaction,
    Ref,
    ReplyExpectation,
    ServerFault,
    ServerPlan,
    Step,
    VectorFile,
)
from gearsim.vectors.cases import Arg as Arg
from gearsim.vectors.cases import OutputLine as OutputLine
from gearsim.vectors.text import ACTIONS, LIBRARY_ACTIONS, bytes_value, dump_vector_file, format_bytes, hex_of
from gearsim.vectors.text import format_hex as format_hex

__all__ = [
    "SCHEMA_ID",
    "AdminPattern",
    "Alternative",
    "AnyValue",
    "Capture",
    "Case",
    "DecodeExpectation",
    "ExitExpectation",
    "Fragment",
    "LineMatch",
    "LineParts",
    "OutputMatch",
    "PacketPattern",
    "Program",
    "Reaction",
    "Ref",
    "Step",
    "VectorFile",
    "dump_vector_file",
    "format_bytes",
    "hex_of",
    "parse_vector_file",
    "parse_vector_text",
]

SCHEMA_ID: Final[str] = "gearsim-vectors/1"
#: the longest a step may advance, stay silent or wait (virtual ms; a real server's wall clock too)
MAX_STEP_MS: Final[int] = 24 * 60 * 60 * 1000
#: schema errors examined for the one reported (each message holds a repr of its data)
_MAX_SCHEMA_ERRORS: Final[int] = 100


# --------------------------------------------------------------------------- schema


@lru_cache(maxsize=1)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def _where(path: Sequence[Any], data: Any) -> tuple[str, int | None]:
    """Case id and step number (1-based) of a JSON path, for error messages."""
    case = ""
    step: int | None = None
    if len(path) >= 2 and path[0] == "cases" and isinstance(path[1], int):
        cases = data.get("cases", []) if isinstance(data, dict) else []
        if path[1] < len(cases) and isinstance(cases[path[1]], dict):
            case = str(cases[path[1]].get("id", f"#{path[1] + 1}"))
        else:
            case = f"#{path[1] + 1}"
        if len(path) >= 4 and path[2] == "steps" and isinstance(path[3], int):
            step = path[3] + 1
    return case, step


def parse_vector_text(text: str, name: str, schema_text: str) -> VectorFile:
    """Parse and schema-check one vector file's text.

    Args:
        text: the YAML text.
        name: how to call the file in errors (its path).
        schema_text: spec/vectors.schema.json's text.

    Raises:
        VectorError: not YAML, not schema-valid, or inconsistent (unknown packet
            type name, duplicate case id, undefined flag or capture, bad hex);
            the message names the file, the case and the step.
    """
    try:
        data = load_yaml(text)
    except YamlInputError as exc:
        raise VectorError(str(exc), file=name) from None
    return parse_vector_file(data, name, schema_text)


def parse_vector_file(data: Any, name: str, schema_text: str) -> VectorFile:
    """Schema-check loaded YAML data and build the typed file (see parse_vector_text).

    Raises:
        VectorError: as parse_vector_text.
    """
    found = itertools.islice(_validator(schema_text).iter_errors(data), _MAX_SCHEMA_ERRORS)
    errors = sorted(found, key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = list(err.absolute_path)
        case, step = _where(path, data)
        at = "/".join(str(p) for p in path) or "(top)"
        raise VectorError(f"schema: {at}: {_short_schema_message(err)}", file=name, case=case, step=step)
    notes = data["notes"]
    seen: set[str] = set()
    cases: list[Case] = []
    for raw_case in data["cases"]:
        case_id = raw_case["id"]
        if case_id in seen:
            raise VectorError("duplicate case id", file=name, case=case_id)
        seen.add(case_id)
        for flag in raw_case.get("flags", []):
            if flag not in notes:
                raise VectorError(f"flag {flag!r} is not explained in notes", file=name, case=case_id)
        try:
            cases.append(_case(raw_case))
        except _StepError as exc:
            raise VectorError(str(exc), file=name, case=case_id, step=exc.step) from None
        except (KeyError, ValueError) as exc:
            raise VectorError(_describe(exc), file=name, case=case_id) from None
    return VectorFile(
        name=name,
        area=data["area"],
        title=data["title"],
        header=tuple(data["header"]),
        notes=notes,
        source=data.get("source", {}),
        cases=tuple(cases),
        raw=data,
        sha256=hashlib.sha256(dump_vector_file(data).encode("utf-8")).hexdigest(),
    )


def _short_schema_message(err: jsonschema.ValidationError) -> str:
    message = err.message
    if err.validator == "oneOf" and isinstance(err.instance, dict):
        message = f"matches none (or several) of the allowed shapes; keys: {sorted(err.instance)}"
    return message if len(message) < 300 else message[:300] + "..."


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"unknown name {exc.args[0]!r}"
    return str(exc)


class _StepError(ValueError):
    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


# --------------------------------------------------------------------------- building


def _magic(value: Any) -> Magic | bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Magic[value]
    return hex_of(value["hex"])


def every_byte(length: int) -> bytes:
    """``{every_byte: N}``: N bytes cycling through every value 0x00..0xff (NUL included)."""
    return bytes(range(256)) * (length // 256) + bytes(range(length % 256))


def _bytes(value: Any) -> bytes:
    if isinstance(value, dict) and "every_byte" in value:
        return every_byte(int(value["every_byte"]))
    return bytes_value(value)


def _arg(value: Any) -> Arg:
    if isinstance(value, dict):
        if "capture" in value:
            return Capture(value["capture"])
        if "ref" in value:
            return Ref(value["ref"])
        if "any" in value:
            return AnyValue()
        if "parts" in value:
            return LineParts(tuple(_arg(p) for p in value["parts"]))
    return _bytes(value)


def _packet_pattern(raw: Mapping[str, Any]) -> PacketPattern:
    return PacketPattern(
        type=packet_type(raw["type"]),
        args=tuple(_arg(a) for a in raw.get("args", [])),
        magic=_magic(raw.get("magic")),
        length=raw.get("length"),
    )


def _admin_line(raw: Any) -> AdminLinePattern:
    if isinstance(raw, dict) and "parts" in raw:
        return LineParts(tuple(_arg(p) for p in raw["parts"]))
    if isinstance(raw, dict) and "match" in raw:
        try:
            re.compile(raw["match"])
        except re.error as exc:
            raise ValueError(f"bad regular expression {raw['match']!r}: {exc}") from None
        return LineMatch(raw["match"])
    return bytes_value(raw)


def _admin_pattern(raw: Any) -> AdminPattern:
    if isinstance(raw, dict) and "lines" in raw:
        return AdminPattern(
            lines=tuple(_admin_line(x) for x in raw["lines"]),
            eol=raw.get("eol", "\n").encode("ascii"),
            unordered=bool(raw.get("unordered", False)),
        )
    return AdminPattern(lines=(_admin_line(raw),))


def _message(raw: Mapping[str, Any], default_magic: Magic) -> tuple[Message | Fragment, int | None]:
    if "raw" in raw:
        return Fragment(hex_of(raw["raw"]["hex"])), None
    if "packet" in raw:
        p = raw["packet"]
        args = []
        for a in p.get("args", []):
            value = _arg(a)
            if not isinstance(value, bytes):
                raise ValueError("codec messages take literal arguments only (no capture/ref/any)")
            args.append(value)
        magic = _magic(p.get("magic")) or default_magic
        return Packet(magic, packet_type(p["type"]), tuple(args)), p.get("length")
    a = raw["admin"]
    text = _admin_line(a["text"])
    if not isinstance(text, bytes):
        raise ValueError("codec messages take literal admin text only (no parts or match)")
    return AdminLine(text, a.get("eol", "\n").encode("ascii")), None


def _reply(raw: Mapping[str, Any]) -> PacketPattern | AdminPattern:
    """A server reply of a codec case's reaction: a packet or admin line, patterns allowed."""
    if "packet" in raw:
        return _packet_pattern(raw["packet"])
    if "admin" in raw:
        a = raw["admin"]
        return AdminPattern(lines=(_admin_line(a["text"]),), eol=a.get("eol", "\n").encode("ascii"))
    raise ValueError("a server reply is a whole message, not a raw fragment")


def _reaction(raw: Mapping[str, Any]) -> Reaction:
    return Reaction(
        replies=tuple(_reply(m) for m in raw.get("replies", [])),
        then=raw["then"],
        profiles=tuple(raw.get("profiles", [])),
        note=raw.get("note", ""),
        breaks=tuple(raw.get("breaks", [])),
        defect=raw.get("defect", ""),
    )


def _alternative(raw: Mapping[str, Any]) -> Alternative:
    return Alternative(
        profiles=tuple(raw["profiles"]),
        packet=_packet_pattern(raw["packet"]) if "packet" in raw else None,
        packets=tuple(_packet_pattern(p) for p in raw.get("packets", [])),
        admin=_admin_pattern(raw["admin"]) if "admin" in raw else None,
        wire=hex_of(raw["wire"]) if "wire" in raw else None,
        close=bool(raw.get("close", False)),
        silence=bool(raw.get("silence", False)),
        skip=bool(raw.get("skip", False)),
        note=raw.get("note", ""),
        breaks=tuple(raw.get("breaks", [])),
        defect=raw.get("defect", ""),
        crash=bool(raw.get("crash", False)),
        branch=raw.get("branch", ""),
        unsupported=bool(raw.get("unsupported", False)),
    )


def _step(index: int, raw: Mapping[str, Any], actors: Mapping[str, str]) -> Step:
    action = next(a for a in (*ACTIONS, *LIBRARY_ACTIONS) if a in raw)
    # advance and restart_server act on the case as a whole, not on one actor
    actor = "" if action in ("advance", "restart_server") else str(raw[action])
    if actor and actor not in actors:
        raise _StepError(f"actor {actor!r} is not declared in actors", index)
    for key in ("advance", "ms", "within"):
        value = raw.get(key) if key != "advance" or action == "advance" else None
        if isinstance(value, int) and value > MAX_STEP_MS:
            raise _StepError(f"{key}: {value} ms is more than the limit of {MAX_STEP_MS:,} ms (24 hours)", index)
    try:
        call = _library_call(raw) if action == "call" else None
        reply = _reply_expectation(raw["reply"]) if "reply" in raw else None
        return Step(
            index=index,
            action=action,
            actor=actor,
            packet=_packet_pattern(raw["packet"]) if "packet" in raw else None,
            packets=tuple(_packet_pattern(p) for p in raw.get("packets", [])),
            admin=_admin_pattern(raw["admin"]) if "admin" in raw else None,
            wire=hex_of(raw["wire"]) if "wire" in raw else None,
            ms=int(raw["advance"]) if action == "advance" else int(raw.get("ms", 0)),
            within=raw.get("within"),
            requirements=tuple(raw.get("requirements", [])),
            comment=raw.get("comment", ""),
            accept=tuple(_alternative(a) for a in raw.get("accept", [])),
            call=call,
            reply=reply,
        )
    except (KeyError, ValueError) as exc:
        raise _StepError(_describe(exc), index) from None


# --------------------------------------------------------------------------- library cases


def _text_arg(value: Any) -> bytes | Ref | AnyValue:
    arg = _arg(value)
    if isinstance(arg, Capture):
        raise ValueError("a call's arguments cannot capture (capture in its reply)")
    if isinstance(arg, LineParts):
        raise ValueError("a call's arguments cannot join parts")
    return arg


def _behaviour(raw: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, Any], ...]:
    """A work call's per-job behaviour as (action, value) pairs, in order."""
    out: list[tuple[str, Any]] = []
    for item in raw:
        ((kind, value),) = item.items()
        if kind in ("data", "warning", "complete", "exception"):
            out.append((kind, _bytes(value)))
        elif kind == "status":
            out.append((kind, (int(value[0]), int(value[1]))))
        elif kind == "sleep":
            out.append((kind, int(value)))
        else:  # fail, abandon
            out.append((kind, None))
    return tuple(out)


def _library_call(raw: Mapping[str, Any]) -> LibraryCall:
    args: dict[str, Any] = {}
    for key, value in raw.get("args", {}).items():
        if key in ("payload",):
            args[key] = _bytes(value)
        elif key in ("function", "unique", "handle", "name", "client_id"):
            args[key] = _text_arg(value)
        elif key == "behaviour":
            args[key] = _behaviour(value)
        else:  # background, priority, epoch_in, timeout: plain values
            args[key] = value
    return LibraryCall(
        op=raw["op"], args=args, nowait=bool(raw.get("nowait", False)), timeout=int(raw.get("timeout", 5000))
    )


def _expected_value(key: str, value: Any) -> Any:
    if key in ("known", "running", "numerator", "denominator", "clients"):
        return value
    if key == "outcome":
        return tuple(value) if isinstance(value, list) else (value,)
    if key == "events":
        events: list[tuple[str, Any]] = []
        for item in value:
            ((kind, v),) = item.items()
            events.append((kind, (int(v[0]), int(v[1])) if kind == "status" else _bytes(v)))
        return tuple(events)
    if key == "job":
        return {k: _arg(v) for k, v in value.items()}
    return _arg(value)


def _reply_expectation(raw: Mapping[str, Any]) -> ReplyExpectation:
    if "error" in raw:
        kinds = raw["error"]
        return ReplyExpectation(ok=False, errors=() if kinds == "any" else tuple(kinds))
    return ReplyExpectation(fields={k: _expected_value(k, v) for k, v in raw.items()})


def _fault(raw: Mapping[str, Any]) -> ServerFault:
    types = raw["types"] if isinstance(raw["types"], list) else [raw["types"]]
    return ServerFault(
        types=tuple(int(packet_type(t)) for t in types),
        reply=tuple(_packet_pattern(p) for p in raw.get("reply", [])),
        close=bool(raw.get("close", False)),
        times=raw.get("times"),
    )


def _library(raw: Mapping[str, Any], actors: Mapping[str, str]) -> LibrarySpec:
    for actor in raw["actors"]:
        if actors.get(actor) not in ("client", "worker"):
            raise ValueError(f"library actor {actor!r} must be declared in actors as a client or a worker")
    servers = tuple(
        ServerPlan(
            down=bool(s.get("down", False)),
            delivery=s.get("delivery", "whole"),
            faults=tuple(_fault(f) for f in s.get("faults", [])),
        )
        for s in raw.get("servers", [{}])
    )
    if all(s.down for s in servers):
        raise ValueError("a library case needs at least one server that is not down")
    return LibrarySpec(actors=tuple(raw["actors"]), needs=tuple(raw.get("needs", [])), servers=servers)


def _check_library_steps(steps: Sequence[Step], library: LibrarySpec | None) -> None:
    """Driver steps name library actors; scripted steps name the other actors; awaits follow nowait calls."""
    lib = set(library.actors) if library is not None else set()
    pending: set[str] = set()
    for step in steps:
        if step.action in LIBRARY_ACTIONS:
            if step.actor not in lib:
                raise _StepError(f"{step.action} names {step.actor!r}, which is not a library actor", step.index)
        elif step.actor in lib:
            allowed = ", ".join(LIBRARY_ACTIONS)
            raise _StepError(f"a library actor's steps are {allowed}, not {step.action}", step.index)
        if step.action == "call":
            if step.actor in pending:
                raise _StepError(f"{step.actor} still has a call without its await", step.index)
            if step.call is not None and step.call.nowait:
                pending.add(step.actor)
        elif step.action == "await":
            if step.actor not in pending:
                raise _StepError(f"await {step.actor}: no call of it waits (give the call nowait: true)", step.index)
            pending.discard(step.actor)
    if pending:
        raise ValueError(f"calls with nowait but no await: {', '.join(sorted(pending))}")


_STEP_PAYLOADS: Final[dict[str, tuple[str, ...]]] = {
    "connect": (),
    "disconnect": (),
    "send": ("packet", "admin", "wire"),
    "expect": ("packet", "packets", "admin", "wire"),
    "expect_silence": (),
    "expect_close": (),
    "advance": (),
    "restart_server": (),
    "call": (),
    "await": (),
    "sent": ("packet",),
    "server_close": (),
    "server_send": ("packet",),
}


def _check_step_shape(step: Step, raw: Mapping[str, Any]) -> None:
    allowed = _STEP_PAYLOADS[step.action]
    given = [k for k in ("packet", "packets", "admin", "wire") if k in raw]
    if allowed and len(given) != 1:
        raise _StepError(f"{step.action} needs exactly one of {', '.join(allowed)}", step.index)
    if not allowed and given:
        raise _StepError(f"{step.action} takes no {given[0]}", step.index)
    if given and given[0] not in allowed:
        raise _StepError(f"{step.action} takes no {given[0]}", step.index)
    if "ms" in raw and step.action != "expect_silence":
        raise _StepError("only expect_silence takes ms", step.index)
    if step.accept and step.action not in ("expect", "expect_silence", "expect_close"):
        raise _StepError("only expectations take accept alternatives", step.index)
    if "reply" in raw and step.action not in ("call", "await"):
        raise _StepError("only call and await take reply", step.index)


def _check_captures(steps: Sequence[Step], program_actors: Collection[str] = ()) -> set[str]:
    """Every ref names a value captured by an earlier step; return every name captured.

    Only expectations capture, and sends of program actors (what the program sent).
    """
    captured: set[str] = set()
    for step in steps:
        admins = [step.admin, *(alt.admin for alt in step.accept)]
        for admin in admins:
            for line in admin.lines if admin is not None else ():
                if isinstance(line, LineMatch) and step.action == "send":
                    raise _StepError("a send cannot match: give the line's text", step.index)
                for part in line.parts if isinstance(line, LineParts) else ():
                    if isinstance(part, Ref) and part.name not in captured:
                        raise _StepError(f"ref {part.name!r} before any capture of it", step.index)
                    if not isinstance(part, (Ref, bytes)):
                        raise _StepError("admin line parts are text and refs only", step.index)
        patterns = [step.packet, *step.packets]
        patterns += [alt.packet for alt in step.accept] + [p for alt in step.accept for p in alt.packets]
        for pattern in patterns:
            if pattern is None:
                continue
            for arg in pattern.args:
                joined = arg.parts if isinstance(arg, LineParts) else (arg,)
                for part in joined:
                    if isinstance(part, Ref) and part.name not in captured:
                        raise _StepError(f"ref {part.name!r} before any capture of it", step.index)
                    if isinstance(arg, LineParts) and not isinstance(part, (Ref, bytes)):
                        raise _StepError("argument parts are text and refs only", step.index)
        for pattern in patterns:
            if pattern is None:
                continue
            for arg in pattern.args:
                if isinstance(arg, Capture):
                    if step.action == "send" and step.actor not in program_actors:
                        raise _StepError("a send cannot capture (only a program actor's send can)", step.index)
                    if step.action == "server_send":
                        raise _StepError("a server_send cannot capture", step.index)
                    captured.add(arg.name)
        _check_call_captures(step, captured)
    return captured


def _call_values(step: Step) -> tuple[list[Any], list[Any]]:
    """The values of a library step that may be refs (call arguments) and captures (reply fields)."""
    uses = list(step.call.args.values()) if step.call is not None else []
    fields: list[Any] = []
    if step.reply is not None:
        for value in step.reply.fields.values():
            fields.extend(value.values() if isinstance(value, dict) else [value])
    return uses, fields


def _check_call_captures(step: Step, captured: set[str]) -> None:
    uses, fields = _call_values(step)
    for value in uses + fields:
        if isinstance(value, Ref) and value.name not in captured:
            raise _StepError(f"ref {value.name!r} before any capture of it", step.index)
    for value in fields:
        if isinstance(value, Capture):
            captured.add(value.name)


def _output_line(raw: Any) -> OutputLine:
    if isinstance(raw, str):
        return raw
    if "ref" in raw:
        return Ref(raw["ref"])
    try:
        re.compile(raw["match"])
    except re.error as exc:
        raise ValueError(f"bad regular expression {raw['match']!r}: {exc}") from None
    return OutputMatch(raw["match"])


def _programs(raw: Mapping[str, Any], actors: Mapping[str, str]) -> dict[str, Program]:
    out: dict[str, Program] = {}
    for actor, prog in raw.items():
        if actor not in actors:
            raise ValueError(f"program actor {actor!r} is not declared in actors")
        ex = prog.get("expect_exit", {})
        out[actor] = Program(
            command=prog["command"],
            expect_exit=ExitExpectation(
                status=int(ex.get("status", 0)),
                stdout=tuple(_output_line(x) for x in ex["stdout"]) if "stdout" in ex else None,
                stdout_contains=tuple(ex.get("stdout_contains", [])),
            ),
        )
    return out


def _check_output_refs(programs: Mapping[str, Program], captured: Collection[str]) -> None:
    for actor, prog in programs.items():
        for line in prog.expect_exit.stdout or ():
            if isinstance(line, Ref) and line.name not in captured:
                raise ValueError(f"{actor}: expect_exit refs {line.name!r}, which no step captures")


def _case(raw: Mapping[str, Any]) -> Case:
    common: dict[str, Any] = {
        "id": raw["id"],
        "comment": raw["comment"],
        "requirements": tuple(raw["requirements"]),
        "result": raw["result"],
        "flags": tuple(raw.get("flags", [])),
        "profiles": tuple(raw.get("profiles", [])),
        "timed": bool(raw.get("timed", False)),
    }
    if "wire" in raw:
        sender = raw["sender"]
        magic = Magic.RES if sender == "server" else Magic.REQ
        built = [_message(m, magic) for m in raw["messages"]]
        dec = raw.get("decode", {})
        decode = DecodeExpectation(
            yields=int(dec.get("yields", len(built))),
            pending=int(dec.get("pending", 0)),
            error=dec.get("error", ""),
            offset=dec.get("offset"),
        )
        server = raw.get("server")
        return Case(
            **common,
            sender=sender,
            wire=hex_of(raw["wire"]),
            messages=tuple(m for m, _ in built),
            lengths=tuple(n for _, n in built),
            decode=decode,
            violations=tuple(raw["violations"]) if "violations" in raw else None,
            server=_reaction(server) if server else None,
            server_accept=tuple(_reaction(r) for r in server.get("accept", [])) if server else (),
        )
    actors = dict(raw["actors"])
    steps = []
    for i, s in enumerate(raw["steps"], start=1):
        step = _step(i, s, actors)
        _check_step_shape(step, s)
        steps.append(step)
    programs = _programs(raw.get("programs", {}), actors)
    library = _library(raw["library"], actors) if "library" in raw else None
    if library is not None and programs:
        raise ValueError("a case is a program case or a library case, not both")
    _check_library_steps(steps, library)
    _check_output_refs(programs, _check_captures(steps, programs))
    return Case(
        **common,
        actors=actors,
        options=dict(raw.get("options", {})),
        steps=tuple(steps),
        programs=programs,
        library=library,
    )
