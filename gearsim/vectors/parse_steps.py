"""Building a case's steps from their YAML: messages, packet and admin patterns, alternatives, driver calls.

PURE. This module owns turning one step of a lifecycle case into a ``Step``
(bytes as text or ``{hex: ...}``, ``every_byte``, captures and refs, the
alternatives a profile may meet instead, codec reactions, a library's
driver calls and the replies they expect), the checks that a step has the
shape its kind asks for, that every ref names an earlier capture and that
a scripted actor connects before its connection is used, the
longest a step may wait (``MAX_STEP_MS``) and ``StepError``, a problem
located at one step.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, packet_type
from gearsim.vectors.cases import AdminLinePattern as AdminLinePattern
from gearsim.vectors.cases import (
    AdminPattern,
    Alternative,
    AnyValue,
    Capture,
    Fragment,
    LibraryCall,
    LineMatch,
    LineParts,
    PacketPattern,
    Reaction,
    Ref,
    ReplyExpectation,
    Step,
)
from gearsim.vectors.cases import Arg as Arg
from gearsim.vectors.cases import OutputLine as OutputLine
from gearsim.vectors.text import ACTIONS, LIBRARY_ACTIONS, bytes_value, hex_of
from gearsim.vectors.text import format_hex as format_hex

#: the longest a step may advance, stay silent or wait (virtual ms; a real server's wall clock too)
MAX_STEP_MS: Final[int] = 24 * 60 * 60 * 1000


def describe_error(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"unknown name {exc.args[0]!r}"
    return str(exc)


class StepError(ValueError):
    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


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


def build_packet_pattern(raw: Mapping[str, Any]) -> PacketPattern:
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
        pattern = AdminPattern(
            lines=tuple(_admin_line(x) for x in raw["lines"]),
            eol=raw.get("eol", "\n").encode("ascii"),
            unordered=bool(raw.get("unordered", False)),
        )
        if "extra" not in raw:
            return pattern
        extra = _admin_line(raw["extra"])
        if not isinstance(extra, LineMatch):
            raise ValueError("extra takes a {match: REGEX} row pattern")
        if not (pattern.unordered and pattern.lines[-1:] == (b".",)):
            raise ValueError("extra rows belong to an unordered listing: unordered: true and a last line '.'")
        return replace(pattern, extra=extra)
    return AdminPattern(lines=(_admin_line(raw),))


def build_message(raw: Mapping[str, Any], default_magic: Magic) -> tuple[Message | Fragment, int | None]:
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
        return build_packet_pattern(raw["packet"])
    if "admin" in raw:
        a = raw["admin"]
        return AdminPattern(lines=(_admin_line(a["text"]),), eol=a.get("eol", "\n").encode("ascii"))
    raise ValueError("a server reply is a whole message, not a raw fragment")


def build_reaction(raw: Mapping[str, Any]) -> Reaction:
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
        packet=build_packet_pattern(raw["packet"]) if "packet" in raw else None,
        packets=tuple(build_packet_pattern(p) for p in raw.get("packets", [])),
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


def build_step(index: int, raw: Mapping[str, Any], actors: Mapping[str, str]) -> Step:
    action = next(a for a in (*ACTIONS, *LIBRARY_ACTIONS) if a in raw)
    # advance and restart_server act on the case as a whole, not on one actor
    actor = "" if action in ("advance", "restart_server") else str(raw[action])
    if action not in ("advance", "restart_server") and actor not in actors:  # an empty name too
        raise StepError(f"actor {actor!r} is not declared in actors", index)
    for key in ("advance", "ms", "within"):
        value = raw.get(key) if key != "advance" or action == "advance" else None
        if isinstance(value, int) and value > MAX_STEP_MS:
            raise StepError(f"{key}: {value} ms is more than the limit of {MAX_STEP_MS:,} ms (24 hours)", index)
    try:
        call = _library_call(raw) if action == "call" else None
        reply = _reply_expectation(raw["reply"]) if "reply" in raw else None
        return Step(
            index=index,
            action=action,
            actor=actor,
            packet=build_packet_pattern(raw["packet"]) if "packet" in raw else None,
            packets=tuple(build_packet_pattern(p) for p in raw.get("packets", [])),
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
        raise StepError(describe_error(exc), index) from None


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
    "server_die": (),
}


def check_step_shape(step: Step, raw: Mapping[str, Any]) -> None:
    allowed = _STEP_PAYLOADS[step.action]
    given = [k for k in ("packet", "packets", "admin", "wire") if k in raw]
    if allowed and len(given) != 1:
        raise StepError(f"{step.action} needs exactly one of {', '.join(allowed)}", step.index)
    if not allowed and given:
        raise StepError(f"{step.action} takes no {given[0]}", step.index)
    if given and given[0] not in allowed:
        raise StepError(f"{step.action} takes no {given[0]}", step.index)
    if "ms" in raw and step.action != "expect_silence":
        raise StepError("only expect_silence takes ms", step.index)
    if step.accept and step.action not in ("expect", "expect_silence", "expect_close"):
        raise StepError("only expectations take accept alternatives", step.index)
    if "reply" in raw and step.action not in ("call", "await"):
        raise StepError("only call and await take reply", step.index)


#: the steps that act on their actor's open connection
_ON_A_CONNECTION: Final[frozenset[str]] = frozenset({"disconnect", "send", "expect", "expect_silence", "expect_close"})


def check_connected(steps: Sequence[Step], program_actors: Collection[str] = ()) -> None:
    """Every step on a scripted actor's connection comes after a ``connect`` of that actor.

    Why: the runner looks the connection up when it plays the step, and one
    never opened is a broken vector (exit 3, naming the step), not a gearsim
    bug (a KeyError while playing) or a FAIL of the server (an ``expect``
    nothing could meet). Program actors are connected by their programs.
    """
    connected: set[str] = set()
    for step in steps:
        if step.action == "connect":
            connected.add(step.actor)
        elif step.action in _ON_A_CONNECTION and step.actor not in connected and step.actor not in program_actors:
            raise StepError(f"{step.action} {step.actor}: no connect of {step.actor} before this step", step.index)


def check_captures(steps: Sequence[Step], program_actors: Collection[str] = ()) -> set[str]:
    """Every ref names a value captured by an earlier step; return every name captured.

    Only expectations capture, and sends of program actors (what the program sent).
    """
    captured: set[str] = set()
    for step in steps:
        admins = [step.admin, *(alt.admin for alt in step.accept)]
        for admin in admins:
            for line in admin.lines if admin is not None else ():
                if isinstance(line, LineMatch) and step.action == "send":
                    raise StepError("a send cannot match: give the line's text", step.index)
                for part in line.parts if isinstance(line, LineParts) else ():
                    if isinstance(part, Ref) and part.name not in captured:
                        raise StepError(f"ref {part.name!r} before any capture of it", step.index)
                    if not isinstance(part, (Ref, bytes)):
                        raise StepError("admin line parts are text and refs only", step.index)
        patterns = [step.packet, *step.packets]
        patterns += [alt.packet for alt in step.accept] + [p for alt in step.accept for p in alt.packets]
        for pattern in patterns:
            if pattern is None:
                continue
            for arg in pattern.args:
                joined = arg.parts if isinstance(arg, LineParts) else (arg,)
                for part in joined:
                    if isinstance(part, Ref) and part.name not in captured:
                        raise StepError(f"ref {part.name!r} before any capture of it", step.index)
                    if isinstance(arg, LineParts) and not isinstance(part, (Ref, bytes)):
                        raise StepError("argument parts are text and refs only", step.index)
        for pattern in patterns:
            if pattern is None:
                continue
            for arg in pattern.args:
                if isinstance(arg, Capture):
                    if step.action == "send" and step.actor not in program_actors:
                        raise StepError("a send cannot capture (only a program actor's send can)", step.index)
                    if step.action == "server_send":
                        raise StepError("a server_send cannot capture", step.index)
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
            raise StepError(f"ref {value.name!r} before any capture of it", step.index)
    for value in fields:
        if isinstance(value, Capture):
            captured.add(value.name)
