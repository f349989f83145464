"""Judging a client or worker under test by outcomes and rules, not by one library's packet order.

PURE: records and replies in, findings out. Used by gearsim.io.library_cases
(libraries through their drivers) and gearsim.io.programs (program cases),
which record everything said on the wire and every driver call, then ask:

* ``check_sent``: is every packet the actors under test sent allowed for their
  role (gearsim.protocol.validate: magic and direction, argument count, NULs,
  field syntax and limits), and do they keep the rules that span packets: a
  handle sent back exactly as the server gave it (GM-FIELD-006), WORK_* only
  for a job the worker holds and one terminal packet per job (GM-WORK-014),
  PRE_SLEEP between NO_JOB and the next GRAB_* (GM-SLEEP-008)?
* ``check_calls``: does what each driver call reported agree with what was
  said on the wire: the submission as the caller asked (GM-LIB-001), the
  handle of its JOB_CREATED (GM-LIB-002), the events and end of a foreground
  job (GM-LIB-003), status as received (GM-LIB-004), the job a worker took as
  assigned (GM-LIB-008) and the WORK_* it sent as asked (GM-LIB-009)?
* ``decode_reply`` and ``match_reply``: a driver's JSON reply as values, and
  against a step's ``reply`` expectation;
* ``judged``: the verdict, where a broken rule outranks the step failures it causes.

Where the spec lets a library choose (asking for the exceptions option or
not, GRAB_JOB, GRAB_JOB_UNIQ or GRAB_JOB_ALL, a generated or an empty unique,
when to send PRE_SLEEP), every allowed choice passes: the checks follow what
the library actually did on the wire.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from gearsim.protocol.packets import SPECS, TERMINAL_TYPES, Magic, Packet, PacketType, Role
from gearsim.protocol.trace import Direction, Kind, TraceRecord
from gearsim.protocol.validate import Violation, check
from gearsim.run.result import CaseResult, StepFailed, Verdict, failed
from gearsim.vectors.cases import AnyValue, Capture, Ref, ReplyExpectation

__all__ = [
    "CallRecord",
    "Finding",
    "check_calls",
    "check_sent",
    "decode_reply",
    "judged",
    "match_reply",
    "sent_violations",
    "submit_type",
]

_ASSIGN: Final[frozenset[PacketType]] = frozenset(
    {PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL}
)
_GRAB: Final[frozenset[PacketType]] = frozenset(
    {PacketType.GRAB_JOB, PacketType.GRAB_JOB_UNIQ, PacketType.GRAB_JOB_ALL}
)
_WORK: Final[frozenset[PacketType]] = frozenset(
    {
        PacketType.WORK_STATUS,
        PacketType.WORK_DATA,
        PacketType.WORK_WARNING,
        PacketType.WORK_COMPLETE,
        PacketType.WORK_FAIL,
        PacketType.WORK_EXCEPTION,
    }
)
#: the validator's rules for a packet the sender may not send at all (magic, type, direction)
_TYPE_RULES: Final[frozenset[str]] = frozenset({"GM-FRAME-002", "GM-FRAME-003"})
#: every submission type (named SUBMIT_* in the packet table)
_SUBMITS: Final[frozenset[PacketType]] = frozenset(t for t in PacketType if t.name.startswith("SUBMIT_"))


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule broken by an actor under test: the rule id, why, and where in the records."""

    requirement: str
    reason: str
    actor: str
    seq: int

    def __str__(self) -> str:
        return f"{self.actor}: {self.reason} ({self.requirement})"


@dataclass(frozen=True)
class CallRecord:
    """A driver call as played: its resolved arguments, where it began in the records, and its reply.

    ``args`` are in judge terms: ``function``, ``unique``, ``handle`` as bytes
    (``unique`` None when the caller gave none), ``payload`` bytes,
    ``background`` bool, ``priority`` str, ``epoch`` int or None, ``behaviour``
    as (action, value) pairs. ``reply`` is ``decode_reply``'s values, None for
    an error reply or no reply.
    """

    actor: str
    op: str
    args: Mapping[str, Any]
    seq: int
    reply: Mapping[str, Any] | None = None
    #: the driver's capabilities (what it reports may be partial)
    capabilities: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- packets sent


@dataclass
class _ConnState:
    held: set[bytes] = field(default_factory=set)
    ended: set[bytes] = field(default_factory=set)
    after_no_job: bool = False
    slept_flagged: bool = False


def check_sent(
    records: Sequence[TraceRecord],
    roles: Mapping[str, Role],
    given: Mapping[str, set[bytes]] | None = None,
) -> list[Finding]:
    """Every rule broken by what the actors in ``roles`` (record labels) sent, in record order.

    ``given`` adds, per actor, handles its caller handed it (a status call
    for a handle it never received is then no violation of GM-FIELD-006).
    """
    found: list[Finding] = []
    seen: dict[str, set[bytes]] = {actor: set(given.get(actor, ()) if given else ()) for actor in roles}
    conns: dict[int, _ConnState] = {}
    for r in records:
        role = roles.get(r.label)
        if role is None:
            continue
        state = conns.setdefault(r.conn, _ConnState())
        if r.direction == Direction.EVENT:
            if r.kind == Kind.DECODE_ERROR:
                rule = "GM-FRAME-002" if "magic" in r.note else "GM-FRAME-001"
                found.append(Finding(rule, f"sent bytes that do not frame: {r.note}", r.label, r.seq))
            continue
        if r.kind != Kind.SEND or not isinstance(r.message, Packet):
            continue
        packet = r.message
        if r.direction == Direction.S2C:
            _note_received(packet, state, seen[r.label])
            continue
        for v in sent_violations(packet, role):
            found.append(Finding(v.requirement, f"sent {_name(packet)}: {v.reason}", r.label, r.seq))
        found.extend(_stateful(packet, state, seen[r.label], r))
    return found


def sent_violations(packet: Packet, role: Role) -> list[Violation]:
    """The validator's findings on a packet ``role`` sent, but only the framing ones for a type it may not send.

    Shared by every judge of what clients and workers send (libraries,
    programs, captures), so one defect gets one rule everywhere.

    A packet of the wrong type (or direction) is one defect: its arguments,
    laid out for a type the sender should never have used, say nothing more.
    """
    found = check(packet, role)
    framing = [v for v in found if v.requirement in _TYPE_RULES]
    if framing:
        return framing
    return [_empty_last(packet, v) for v in found]


def _empty_last(packet: Packet, v: Violation) -> Violation:
    """One argument short where the last would be empty: the NUL before an empty last argument is missing."""
    spec = SPECS.get(int(packet.type))
    if v.requirement == "GM-FRAME-004" and spec is not None and len(packet.args) == len(spec.args) - 1:
        why = f"{spec.name} ends after its {spec.args[-2]}: an empty {spec.args[-1]} still needs the NUL before it"
        return Violation("GM-FRAME-006", why, spec.args[-1])
    return v


def _name(packet: Packet) -> str:
    magic = "" if bytes(packet.magic) == bytes(Magic.REQ) else f" framed {bytes(packet.magic)!r}"
    return packet.name + magic


def _note_received(packet: Packet, state: _ConnState, seen: set[bytes]) -> None:
    t = packet.type
    if t == PacketType.NO_JOB:
        state.after_no_job = True
    if not packet.args:
        return
    if t in _ASSIGN:
        state.held.add(packet.args[0])
        seen.add(packet.args[0])
    elif t in (PacketType.JOB_CREATED, PacketType.STATUS_RES) or t in _WORK:
        seen.add(packet.args[0])


def _stateful(packet: Packet, state: _ConnState, seen: set[bytes], r: TraceRecord) -> list[Finding]:
    t = packet.type
    out: list[Finding] = []
    if t == PacketType.GET_STATUS and packet.args and packet.args[0] not in seen:
        handle = packet.args[0]
        why = f"sent GET_STATUS for {handle!r}, a handle it never received"
        out.append(Finding("GM-FIELD-006", why, r.label, r.seq))
    elif t in _WORK and packet.args:
        handle = packet.args[0]
        if handle in state.ended:
            why = f"sent {packet.name} for {handle!r} after ending that job"
            out.append(Finding("GM-WORK-014", why, r.label, r.seq))
        elif handle not in state.held and handle not in seen:
            why = f"sent {packet.name} for {handle!r}, a handle the server never gave it"
            out.append(Finding("GM-FIELD-006", why, r.label, r.seq))
        elif t in TERMINAL_TYPES:
            state.held.discard(handle)
            state.ended.add(handle)
    elif t == PacketType.PRE_SLEEP:
        state.after_no_job = False
    elif t in _GRAB:
        if state.after_no_job and not state.slept_flagged:
            state.slept_flagged = True
            why = f"sent {packet.name} right after NO_JOB, without PRE_SLEEP"
            out.append(Finding("GM-SLEEP-008", why, r.label, r.seq))
        state.after_no_job = False
    return out


# --------------------------------------------------------------------------- replies


def _b64(body: Mapping[str, Any], key: str) -> bytes:
    value = body.get(key)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{key} is not valid base64") from None


def _text(body: Mapping[str, Any], key: str, required: bool = True) -> bytes | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValueError(f"no {key}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value.encode("utf-8", "surrogateescape")


def _int(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not an integer")
    return value


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} is not true or false")
    return value


def decode_reply(op: str, body: Mapping[str, Any], background: bool = False) -> dict[str, Any]:
    """A successful reply's fields as values (bytes for text and base64 fields).

    Raises:
        ValueError: a field the operation must return is missing or malformed
            (the driver broke the protocol).
    """
    out: dict[str, Any] = {}
    if op == "submit":
        out["handle"] = _text(body, "handle", required=background)
        if not background:
            outcome = body.get("outcome")
            if outcome not in ("complete", "fail", "exception"):
                raise ValueError("outcome is not complete, fail or exception")
            out["outcome"] = outcome
            out["result"] = _b64(body, "data_b64")
            events: list[tuple[str, Any]] = []
            for event in body.get("events", []):
                if not isinstance(event, dict):
                    raise ValueError("an event is not an object")
                kind = event.get("event")
                if kind in ("data", "warning"):
                    events.append((kind, _b64(event, "data_b64")))
                elif kind == "status":
                    events.append((kind, (_int(event, "numerator"), _int(event, "denominator"))))
                else:
                    raise ValueError(f"unknown event {kind!r}")
            out["events"] = tuple(events)
    elif op in ("status", "status_unique"):
        out["known"] = _bool(body, "known")
        out["running"] = _bool(body, "running")
        out["numerator"] = _int(body, "numerator")
        out["denominator"] = _int(body, "denominator")
        if "clients" in body:
            out["clients"] = _int(body, "clients")
    elif op == "work":
        job = body.get("job")
        if not isinstance(job, dict):
            raise ValueError("no job")
        out["job"] = {
            "handle": _text(job, "handle"),
            "function": _text(job, "function"),
            "unique": _text(job, "unique", required=False),
            "payload": _b64(job, "payload_b64"),
        }
    return out


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value) if len(value) <= 48 else f"{len(value)} bytes starting {value[:24]!r}"
    return repr(value)


def _match_value(key: str, want: Any, have: Any, captures: Mapping[str, bytes], bind: dict[str, bytes]) -> str:
    if isinstance(want, AnyValue):
        return ""
    if isinstance(want, Capture):
        if not isinstance(have, bytes):
            return f"{key} is {have!r}, expected a value to capture"
        bind[want.name] = have
        return ""
    if isinstance(want, Ref):
        want = captures.get(want.name)
    if key == "outcome":
        return "" if have in want else f"outcome is {have!r}, expected {' or '.join(want)}"
    if have != want:
        return f"{key} is {_show(have)}, expected {_show(want)}"
    return ""


def match_reply(
    expect: ReplyExpectation,
    ok: bool,
    error_kind: str,
    values: Mapping[str, Any],
    captures: Mapping[str, bytes],
    bind: dict[str, bytes],
    capabilities: frozenset[str] = frozenset(),
    error_message: str = "",
) -> str:
    """'' when a reply meets ``expect``; else why not. Captures go to ``bind``.

    Events the driver does not offer (capability ``events_data``,
    ``events_warning``, ``events_status``) are left out of the expected events.
    """
    if not expect.ok:
        if ok:
            return "the call succeeded, expected an error" + (f" ({', '.join(expect.errors)})" if expect.errors else "")
        if expect.errors and error_kind not in expect.errors:
            return f"error of kind {error_kind}, expected {' or '.join(expect.errors)}"
        return ""
    if not ok:
        return f"the call failed ({error_kind}{': ' + error_message[:200] if error_message else ''})"
    for key, want in expect.fields.items():
        if key not in values:
            return f"the reply has no {key}"
        have = values[key]
        if key == "events":
            want = tuple(e for e in want if f"events_{e[0]}" in capabilities)
        if key == "job":
            for sub, sub_want in want.items():
                problem = _match_value(f"job {sub}", sub_want, have.get(sub), captures, bind)
                if problem:
                    return problem
            continue
        problem = _match_value(key, want, have, captures, bind)
        if problem:
            return problem
    return ""


# --------------------------------------------------------------------------- calls against the wire


def submit_type(background: bool, priority: str, epoch: int | None) -> PacketType:
    """The submission packet a client must send for the caller's choice (GM-LIB-001)."""
    if epoch is not None:
        return PacketType.SUBMIT_JOB_EPOCH
    names = {
        (False, "normal"): PacketType.SUBMIT_JOB,
        (False, "high"): PacketType.SUBMIT_JOB_HIGH,
        (False, "low"): PacketType.SUBMIT_JOB_LOW,
        (True, "normal"): PacketType.SUBMIT_JOB_BG,
        (True, "high"): PacketType.SUBMIT_JOB_HIGH_BG,
        (True, "low"): PacketType.SUBMIT_JOB_LOW_BG,
    }
    return names[(background, priority)]


def _windows(records: Sequence[TraceRecord], calls: Sequence[CallRecord]) -> list[tuple[CallRecord, int]]:
    """Each call with the seq where its window ends: the actor's next call, or the end of the records."""
    last = records[-1].seq + 1 if records else 0
    out = []
    for i, call in enumerate(calls):
        nxt = next((c.seq for c in calls[i + 1 :] if c.actor == call.actor), last)
        out.append((call, nxt))
    return out


def _packets(
    records: Sequence[TraceRecord], actor: str, direction: str, start: int, end: int
) -> list[tuple[TraceRecord, Packet]]:
    return [
        (r, r.message)
        for r in records
        if r.label == actor
        and r.direction == direction
        and r.kind == Kind.SEND
        and isinstance(r.message, Packet)
        and start <= r.seq < end
    ]


def check_calls(records: Sequence[TraceRecord], calls: Sequence[CallRecord]) -> list[Finding]:
    """Every disagreement between what the drivers reported and what the wire shows (see the module docstring)."""
    found: list[Finding] = []
    for call, end in _windows(records, calls):
        if call.op == "submit":
            found += _check_submit(records, call, end)
        elif call.op in ("status", "status_unique") and call.reply is not None:
            found += _check_status(records, call, end)
        elif call.op == "work" and call.reply is not None:
            found += _check_work(records, call)
    return found


def _check_submit(records: Sequence[TraceRecord], call: CallRecord, end: int) -> list[Finding]:
    a = call.args
    want_type = submit_type(bool(a.get("background")), str(a.get("priority", "normal")), a.get("epoch"))
    sent = [(r, p) for r, p in _packets(records, call.actor, Direction.C2S, call.seq, end) if p.type in _SUBMITS]
    out: list[Finding] = []
    for r, p in sent:
        problem = _submission_problem(p, want_type, a)
        if problem:
            out.append(Finding("GM-LIB-001", problem, call.actor, r.seq))
    if call.reply is None:
        return out
    if not sent:
        out.append(Finding("GM-LIB-001", "reported a submission but sent none", call.actor, call.seq))
        return out
    submit_conn = sent[-1][0].conn
    received = [(r, p) for r, p in _packets(records, call.actor, Direction.S2C, call.seq, end) if r.conn == submit_conn]
    created = [p.args[0] for _, p in received if p.type == PacketType.JOB_CREATED and p.args]
    if not created:
        out.append(Finding("GM-LIB-002", "reported a submission that no JOB_CREATED answered", call.actor, call.seq))
        return out
    handle = created[-1]
    reported = call.reply.get("handle")
    if reported is not None and reported != handle:
        why = f"reported handle {reported!r}, but JOB_CREATED carried {handle!r}"
        out.append(Finding("GM-LIB-002", why, call.actor, call.seq))
    if not a.get("background"):
        out += _check_foreground(received, handle, call)
    return out


def _submission_problem(p: Packet, want_type: PacketType, a: Mapping[str, Any]) -> str:
    if p.type != want_type:
        return f"sent {p.name}, but its caller asked for {want_type.name}"
    args = p.args
    if len(args) < 3:
        return ""  # the validator reports the argument count
    function, unique, payload = args[0], args[1], args[-1]
    if function != a.get("function"):
        return f"sent function {function!r}, but its caller gave {a.get('function')!r}"
    given = a.get("unique")
    if given is not None and unique != given:
        return f"sent unique {unique!r}, but its caller gave {given!r}"
    if payload != a.get("payload", b""):
        return f"sent a workload of {len(payload)} bytes other than the {len(a.get('payload', b''))} its caller gave"
    if p.type == PacketType.SUBMIT_JOB_EPOCH and args[2] != str(a.get("epoch")).encode():
        return f"sent epoch {args[2]!r}, but its caller gave {a.get('epoch')}"
    return ""


def _check_foreground(received: list[tuple[TraceRecord, Packet]], handle: bytes, call: CallRecord) -> list[Finding]:
    assert call.reply is not None  # checked by the caller
    caps = call.capabilities
    events: list[tuple[str, Any]] = []
    terminal: Packet | None = None
    for _, p in received:
        if not p.args or p.type not in _WORK or _handle_of(p) != handle:
            continue
        if p.type in TERMINAL_TYPES:
            terminal = p
            break
        if p.type == PacketType.WORK_DATA and "events_data" in caps:
            events.append(("data", p.args[1] if len(p.args) > 1 else b""))
        elif p.type == PacketType.WORK_WARNING and "events_warning" in caps:
            events.append(("warning", p.args[1] if len(p.args) > 1 else b""))
        elif p.type == PacketType.WORK_STATUS and "events_status" in caps and _decimal(p.args[1:]):
            events.append(("status", (int(p.args[1]), int(p.args[2]))))
    reply = call.reply
    out: list[Finding] = []
    if terminal is None:
        ended = "WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION"
        why = f"reported the job {reply.get('outcome')}, but the server sent no {ended}"
        return [Finding("GM-LIB-006", why, call.actor, call.seq)]
    if tuple(reply.get("events", ())) != tuple(events):
        why = f"reported events {_events(reply.get('events', ()))}, but the server sent {_events(events)}"
        out.append(Finding("GM-LIB-003", why, call.actor, call.seq))
    outcome, data = reply.get("outcome"), reply.get("result", b"")
    if terminal.type == PacketType.WORK_COMPLETE:
        want: tuple[str, ...] = ("complete",)
        want_data: bytes | None = terminal.args[1] if len(terminal.args) > 1 else b""
    elif terminal.type == PacketType.WORK_FAIL:
        want, want_data = ("fail",), None
    else:
        want = ("exception",) if "events_exception" in caps else ("exception", "fail")
        want_data = terminal.args[1] if len(terminal.args) > 1 and outcome == "exception" else None
    if outcome not in want:
        why = f"reported {outcome}, but the server sent {terminal.name}"
        out.append(Finding("GM-LIB-003", why, call.actor, call.seq))
    elif want_data is not None and data != want_data:
        why = f"reported {outcome} with {_show(data)}, but {terminal.name} carried {_show(want_data)}"
        out.append(Finding("GM-LIB-003", why, call.actor, call.seq))
    return out


def _decimal(args: Sequence[bytes]) -> bool:
    """Two unsigned decimal numbers (a WORK_STATUS's numerator and denominator)."""
    return len(args) == 2 and all(a.isdigit() for a in args)


def _handle_of(p: Packet) -> bytes:
    """The handle a WORK_* packet is about; gearmand 1.1's WORK_FAIL ends it with a NUL (GM-WORK-012)."""
    handle = p.args[0]
    if p.type == PacketType.WORK_FAIL and handle.endswith(b"\0"):
        return handle[:-1]
    return handle


def _events(events: Sequence[tuple[str, Any]]) -> str:
    return "[" + ", ".join(f"{k} {_show(v)}" for k, v in events) + "]" if events else "none"


def _check_status(records: Sequence[TraceRecord], call: CallRecord, end: int) -> list[Finding]:
    assert call.reply is not None  # checked by the caller
    want_type = PacketType.STATUS_RES if call.op == "status" else PacketType.STATUS_RES_UNIQUE
    key = call.args.get("handle") if call.op == "status" else call.args.get("unique")
    answers = [
        p
        for _, p in _packets(records, call.actor, Direction.S2C, call.seq, end)
        if p.type == want_type and p.args and p.args[0] == key
    ]
    if not answers:
        why = f"reported a status for {key!r} that no {want_type.name} carried"
        return [Finding("GM-LIB-004", why, call.actor, call.seq)]
    p = answers[-1]
    if len(p.args) < 5:
        return []
    wire = {
        "known": p.args[1] == b"1",
        "running": p.args[2] == b"1",
        "numerator": int(p.args[3]) if p.args[3].isdigit() else 0,
        "denominator": int(p.args[4]) if p.args[4].isdigit() else 0,
    }
    got = {k: call.reply.get(k) for k in wire}
    if got != wire:
        why = f"reported {_status(got)}, but {want_type.name} said {_status(wire)}"
        return [Finding("GM-LIB-004", why, call.actor, call.seq)]
    return []


def _status(values: Mapping[str, Any]) -> str:
    return (
        f"known {int(bool(values['known']))} running {int(bool(values['running']))} "
        f"{values['numerator']}/{values['denominator']}"
    )


def _check_work(records: Sequence[TraceRecord], call: CallRecord) -> list[Finding]:
    assert call.reply is not None  # checked by the caller
    job = call.reply["job"]
    handle = job["handle"]
    end = records[-1].seq + 1 if records else 0
    assigned = [
        (r, p)
        for r, p in _packets(records, call.actor, Direction.S2C, call.seq, end)
        if p.type in _ASSIGN and p.args and p.args[0] == handle
    ]
    if not assigned:
        why = f"reported a job {handle!r} that the server never assigned"
        return [Finding("GM-LIB-008", why, call.actor, call.seq)]
    out: list[Finding] = []
    at, p = assigned[0]
    expected = {"function": p.args[1], "payload": p.args[-1]}
    if p.type != PacketType.JOB_ASSIGN and len(p.args) >= 4:
        expected["unique"] = p.args[2]
    for key, value in expected.items():
        if key == "unique" and job.get(key) is None and not value:
            continue  # "no unique" reported as none rather than empty
        if job.get(key) != value:
            why = f"reported the job's {key} as {_show(job.get(key))}, but {p.name} carried {_show(value)}"
            out.append(Finding("GM-LIB-008", why, call.actor, call.seq))
    # what the worker sent for the job on the connection that got it, until the server closed that connection
    cut = next((r.seq for r in records if r.conn == at.conn and r.seq > at.seq and _server_closed(r)), None)
    sent = [
        q
        for r, q in _packets(records, call.actor, Direction.C2S, at.seq, end if cut is None else cut)
        if r.conn == at.conn and q.type in _WORK and q.args and q.args[0] == handle
    ]
    asked = _asked(call.args.get("behaviour", ()), handle)
    if _differs(sent, asked if cut is None else asked[: len(sent)]):
        shown_sent = ", ".join(_work_text(q) for q in sent) or "nothing"
        shown_asked = ", ".join(_work_text(q) for q in asked) or "nothing"
        why = f"sent {shown_sent} for the job, but its caller asked for {shown_asked}"
        out.append(Finding("GM-LIB-009", why, call.actor, call.seq))
    return out


def _server_closed(r: TraceRecord) -> bool:
    return r.direction == Direction.EVENT and r.kind == Kind.CLOSE and "by the server" in r.note


def _differs(sent: Sequence[Packet], asked: Sequence[Packet]) -> bool:
    """True when a worker sent other WORK_* than asked: other types or order, or other arguments.

    A packet that breaks a field rule is reported under that rule by
    ``check_sent``; its arguments are not counted again here.
    """
    if [q.type for q in sent] != [q.type for q in asked]:
        return True
    return any(q.args != a.args and not check(q, Role.WORKER) for q, a in zip(sent, asked, strict=True))


def _asked(behaviour: Sequence[tuple[str, Any]], handle: bytes) -> list[Packet]:
    """The WORK_* packets a worker must send for a job, for its caller's behaviour."""
    out: list[Packet] = []
    for action, value in behaviour:
        if action == "status":
            args: tuple[bytes, ...] = (handle, str(value[0]).encode(), str(value[1]).encode())
            out.append(Packet(Magic.REQ, PacketType.WORK_STATUS, args))
        elif action in ("data", "warning", "complete", "exception"):
            t = {
                "data": PacketType.WORK_DATA,
                "warning": PacketType.WORK_WARNING,
                "complete": PacketType.WORK_COMPLETE,
                "exception": PacketType.WORK_EXCEPTION,
            }[action]
            out.append(Packet(Magic.REQ, t, (handle, value)))
        elif action == "fail":
            out.append(Packet(Magic.REQ, PacketType.WORK_FAIL, (handle,)))
    return out


def _work_text(p: Packet) -> str:
    return p.name + ("" if len(p.args) < 2 else " " + " ".join(_show(a) for a in p.args[1:]))


# --------------------------------------------------------------------------- verdicts


def judged(
    base: CaseResult,
    findings: Sequence[Finding],
    failure: StepFailed | None,
    *,
    passed: Verdict,
    trace: str,
    records: tuple[TraceRecord, ...],
    notes: Sequence[str] = (),
) -> CaseResult:
    """The verdict on a client, program or library under test, from rule findings and the step failure (if any).

    A broken rule is the root cause whatever step failed after it: the result
    names the first finding, carries every broken rule's id as its ``rules``,
    and lists the step failure after the other findings. Without findings a
    step failure is an ordinary FAIL; without either, ``passed``.
    """
    if not findings:
        if failure is not None:
            return failed(base, failure, trace=trace, records=records, notes=notes)
        return replace(base, verdict=passed, notes=tuple(notes), records=records)
    rules = tuple(dict.fromkeys(f.requirement for f in findings))
    extra = [str(f) for f in findings[1:6]]
    if len(findings) > 6:
        extra.append(f"and {len(findings) - 6} more")
    step = failure.step if failure is not None else None
    if failure is not None:
        extra.append(f"then step {step.index if step is not None else '(end)'}: {failure.reason}")
    found = StepFailed(step, str(findings[0]), failure.expected if failure else "", failure.actual if failure else "")
    found.rules = rules
    return failed(base, found, trace=trace, records=records, notes=[*extra, *notes])
