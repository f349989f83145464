"""Judging driver calls against the wire: did what each call reported agree with what was said?

PURE. This module owns ``check_calls``: the submission as the caller asked
(GM-LIB-001), the handle of its JOB_CREATED (GM-LIB-002), no submission
reported made after an ERROR or a close (GM-LIB-006), the events and end of a
foreground job (GM-LIB-003), status as received (GM-LIB-004), the job a
worker took as assigned (GM-LIB-008) and the WORK_* it sent as asked
(GM-LIB-009), and a submission one argument short although its caller's
workload is not empty (GM-FRAME-004); ``with_call_readings``, which lets that
finding replace the validator's reading of the same packet (GM-FRAME-006);
and ``submit_type``, the SUBMIT_* packet a call asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from gearsim.protocol.packets import (
    ASSIGN_TYPES,
    SPECS,
    TERMINAL_TYPES,
    WORK_TYPES,
    Magic,
    Packet,
    PacketType,
    Role,
)
from gearsim.protocol.trace import Direction, Kind, TraceRecord
from gearsim.protocol.validate import check
from gearsim.run.library_judge.findings import CallRecord, Finding, show

#: every submission type (named SUBMIT_* in the packet table)
_SUBMITS: Final[frozenset[PacketType]] = frozenset(t for t in PacketType if t.name.startswith("SUBMIT_"))


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
        if _argument_left_out(p, a):
            why = (
                f"sent {p.name} with {len(p.args)} arguments, not {len(SPECS[int(p.type)].args)}: its caller's "
                "workload is not empty, so an argument is missing, not the NUL before an empty workload"
            )
            out.append(Finding("GM-FRAME-004", why, call.actor, r.seq))
            continue
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
        out.append(_unanswered_submission(records, received, submit_conn, call, end))
        return out
    handle = created[-1]
    reported = call.reply.get("handle")
    if reported is not None and reported != handle:
        why = f"reported handle {reported!r}, but JOB_CREATED carried {handle!r}"
        out.append(Finding("GM-LIB-002", why, call.actor, call.seq))
    if not a.get("background"):
        out += _check_foreground(received, handle, call)
    return out


def _unanswered_submission(
    records: Sequence[TraceRecord], received: list[tuple[TraceRecord, Packet]], conn: int, call: CallRecord, end: int
) -> Finding:
    """A submission reported made that no JOB_CREATED answered: success after an ERROR or a close is GM-LIB-006.

    A library that met the server's ERROR, or its connection closing, before
    any JOB_CREATED had a failure to report (GM-LIB-006); GM-LIB-002 (the
    handle of the JOB_CREATED that answered) is left for a submission the
    server simply has not answered yet.
    """
    error = next((p for _, p in received if p.type == PacketType.ERROR), None)
    if error is not None:
        code = show(error.args[0] if error.args else b"")
        why = f"reported a submission made, but the server answered it with ERROR {code}"
        return Finding("GM-LIB-006", why, call.actor, call.seq)
    if any(r.conn == conn and _server_closed(r) and call.seq <= r.seq < end for r in records):
        why = "reported a submission made, but its connection closed before any JOB_CREATED"
        return Finding("GM-LIB-006", why, call.actor, call.seq)
    return Finding("GM-LIB-002", "reported a submission that no JOB_CREATED answered", call.actor, call.seq)


def _argument_left_out(p: Packet, a: Mapping[str, Any]) -> bool:
    """A submission one argument short although its caller's workload (the last argument) is not empty."""
    spec = SPECS.get(int(p.type))
    return spec is not None and len(p.args) == len(spec.args) - 1 and bool(a.get("payload"))


def with_call_readings(sent: Sequence[Finding], from_calls: Sequence[Finding]) -> list[Finding]:
    """``sent`` then ``from_calls``, where what the caller asked rereads a packet the validator could not place.

    The validator reads a packet one argument short as a missing NUL before
    an empty last argument (GM-FRAME-006); when the caller gave a non-empty
    workload, the call's GM-FRAME-004 finding on that packet replaces it.
    """
    reread = {f.seq: f for f in from_calls if f.requirement == "GM-FRAME-004"}
    out = [reread.get(f.seq, f) if f.requirement == "GM-FRAME-006" else f for f in sent]
    used = {f.seq for f in out if f.requirement == "GM-FRAME-004"}
    return out + [f for f in from_calls if not (f.requirement == "GM-FRAME-004" and f.seq in used)]


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
        if not p.args or p.type not in WORK_TYPES or _handle_of(p) != handle:
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
        why = f"reported {outcome} with {show(data)}, but {terminal.name} carried {show(want_data)}"
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
    return "[" + ", ".join(f"{k} {show(v)}" for k, v in events) + "]" if events else "none"


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
        if p.type in ASSIGN_TYPES and p.args and p.args[0] == handle
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
            why = f"reported the job's {key} as {show(job.get(key))}, but {p.name} carried {show(value)}"
            out.append(Finding("GM-LIB-008", why, call.actor, call.seq))
    # what the worker sent for the job on the connection that got it, until the server closed that connection
    cut = next((r.seq for r in records if r.conn == at.conn and r.seq > at.seq and _server_closed(r)), None)
    sent = [
        q
        for r, q in _packets(records, call.actor, Direction.C2S, at.seq, end if cut is None else cut)
        if r.conn == at.conn and q.type in WORK_TYPES and q.args and q.args[0] == handle
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
    return p.name + ("" if len(p.args) < 2 else " " + " ".join(show(a) for a in p.args[1:]))
