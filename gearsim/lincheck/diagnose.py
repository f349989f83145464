"""Which requirement a divergence breaks, and how to say it (PURE).

This module owns naming the rule behind a ``Divergence``: the engine only
knows that no order of the ops makes the model send what the server sent;
the rule is read from the two messages that differ (the model's, with its
handles shown as the server's, and the server's) and from what the capture
says about the handles involved:

* a JOB_CREATED whose handle stands for another job than the model's:
  the server coalesced where the model does not (GM-COAL-003 for an empty
  unique, GM-COAL-002 across functions, else a handle naming two jobs,
  GM-LIMIT-005), or did not coalesce where the model does (GM-COAL-001);
* a job handed out (JOB_ASSIGN*) under a handle no JOB_CREATED gave, while
  the model's job went out under a handle that was never seen again: the
  JOB_CREATED gave the wrong handle (GM-SUBMIT-001, at that JOB_CREATED);
* a worker's report the server forwarded on a job no captured JOB_ASSIGN
  had handed out, or took without an ERROR (where the model refuses it) on
  a job no captured JOB_ASSIGN gave that worker, or a STATUS_RES finding a
  job running that no JOB_ASSIGN captured before it had handed out while a
  grab went unanswered: the job went out in a JOB_ASSIGN the server never
  sent (GM-WORKER-007, at the report or at the unanswered grab; the job's
  other divergences are its consequences);
* otherwise the rule of the reply the model sends there (an ERROR where a
  JOB_CREATED was due breaks GM-SUBMIT-001, a missing WORK_COMPLETE forward
  GM-WORK-004), or, for a packet nothing explains, the rule of that packet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gearsim.lincheck.history import Op
from gearsim.lincheck.machine import ALIAS, HANDLE_ARGS
from gearsim.lincheck.search import DIFFERS, EARLY, UNEXPLAINED, UNSENT, Failure
from gearsim.protocol.packets import Message, Packet, PacketType
from gearsim.protocol.trace import format_message

__all__ = ["REPLY_RULES", "REQUEST_RULES", "Context", "Diagnosis", "diagnose", "handles_in", "rule_of"]

T = PacketType
#: reply type -> the requirement a matching (or differing) reply meets (or breaks)
REPLY_RULES: Final[dict[int, str]] = {
    T.JOB_CREATED: "GM-SUBMIT-001",
    T.STATUS_RES: "GM-STATUS-001",
    T.STATUS_RES_UNIQUE: "GM-STATUS-009",
    T.ECHO_RES: "GM-ECHO-001",
    T.OPTION_RES: "GM-OPTION-001",
    T.ERROR: "GM-ERROR-001",
    T.NO_JOB: "GM-WORKER-007",
    T.JOB_ASSIGN: "GM-WORKER-008",
    T.JOB_ASSIGN_UNIQ: "GM-WORKER-009",
    T.JOB_ASSIGN_ALL: "GM-WORKER-010",
    T.NOOP: "GM-SLEEP-002",
    T.WORK_STATUS: "GM-WORK-003",
    T.WORK_DATA: "GM-WORK-003",
    T.WORK_WARNING: "GM-WORK-003",
    T.WORK_COMPLETE: "GM-WORK-004",
    T.WORK_FAIL: "GM-WORK-005",
    T.WORK_EXCEPTION: "GM-WORK-008",
}
#: the rule for a difference in admin text, or a close
ADMIN_RULE: Final[str] = "GM-ADMIN-004"
CLOSE_RULE: Final[str] = "GM-SERVER-001"
_OTHER: Final[str] = "GM-FRAME-003"
_ASSIGNS: Final[frozenset[int]] = frozenset({T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL})
_REFUSABLE: Final[dict[int, str]] = {
    int(t): "GM-SUBMIT-002"
    for t in (
        T.SUBMIT_JOB,
        T.SUBMIT_JOB_BG,
        T.SUBMIT_JOB_HIGH,
        T.SUBMIT_JOB_HIGH_BG,
        T.SUBMIT_JOB_LOW,
        T.SUBMIT_JOB_LOW_BG,
        T.SUBMIT_JOB_EPOCH,
        T.SUBMIT_REDUCE_JOB,
        T.SUBMIT_REDUCE_JOB_BACKGROUND,
    )
}


_WORK_REQUESTS: Final[frozenset[int]] = frozenset(
    int(t) for t in (T.WORK_STATUS, T.WORK_DATA, T.WORK_WARNING, T.WORK_COMPLETE, T.WORK_FAIL, T.WORK_EXCEPTION)
)
#: request type -> the rule of the reply due to it (an ERROR nothing explains in its place breaks it)
REQUEST_RULES: Final[dict[int, str]] = {
    **dict.fromkeys(_REFUSABLE, "GM-SUBMIT-001"),
    int(T.GRAB_JOB): "GM-WORKER-008",
    int(T.GRAB_JOB_UNIQ): "GM-WORKER-009",
    int(T.GRAB_JOB_ALL): "GM-WORKER-010",
    int(T.GET_STATUS): "GM-STATUS-001",
    int(T.GET_STATUS_UNIQUE): "GM-STATUS-009",
    int(T.ECHO_REQ): "GM-ECHO-001",
    int(T.OPTION_REQ): "GM-OPTION-001",
}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The rule a divergence breaks, where (connection, frame), and the sentence that says how."""

    requirement: str
    conn: int
    frame: int
    reason: str
    #: the captured handles the divergence is about (to report one defect once)
    handles: frozenset[bytes]
    #: the defect the job's other divergences follow from, even those captured before it (a job handed out in
    #: a JOB_ASSIGN the capture lacks: status polls found it running before its worker's first report showed it)
    root: bool = False


def rule_of(message: Message | None) -> str:
    """The rule that governs the server sending ``message`` (a close: GM-SERVER-001)."""
    if message is None:
        return CLOSE_RULE
    if type(message) is not Packet:
        return ADMIN_RULE
    return REPLY_RULES.get(int(message.type), _OTHER)


def handles_in(message: Message | None) -> list[bytes]:
    """The non-empty handle arguments of ``message``."""
    if type(message) is not Packet:
        return []
    return [message.args[i] for i in HANDLE_ARGS.get(message.type, ()) if i < len(message.args) and message.args[i]]


@dataclass(frozen=True, slots=True)
class Context:
    """What the whole capture says about handles and requests, read once per server."""

    #: captured handle -> (conn, frame) of the JOB_CREATED that first gave it
    created: Mapping[bytes, tuple[int, int]]
    #: captured handle -> the submission that JOB_CREATED answered
    creator: Mapping[bytes, Op]
    #: (conn, observation index) -> the request it answers
    answers: Mapping[tuple[int, int], Op]
    #: (conn, captured handle) of every job assignment the server sent
    assigned: frozenset[tuple[int, bytes]]
    #: (type, args) of a WORK_* report the server forwarded, on a job created in the capture that no JOB_ASSIGN
    #: captured before the report had handed out, sent by no worker one did -> (conn, frame) of the first
    strays: Mapping[tuple[int, tuple[bytes, ...]], tuple[int, int]] = field(default_factory=dict)
    #: captured handle -> the frame of the first JOB_ASSIGN* that handed it out
    first_assigned: Mapping[bytes, int] = field(default_factory=dict)
    #: (frame, conn) of every grab the server never answered, in frame order
    unanswered_grabs: tuple[tuple[int, int], ...] = ()


def diagnose(
    failure: Failure, to_seen: Mapping[bytes, bytes], to_model: Mapping[bytes, bytes], ctx: Context
) -> Diagnosis:
    """The rule ``failure`` breaks.

    ``to_seen``: model handle -> captured handle (the machine's pairing),
    ``to_model`` the other way.
    """
    created, creator = ctx.created, ctx.creator
    expected = _shown(failure.expected, to_seen)
    got = failure.seen.message if failure.seen is not None else None
    frame = failure.seen.frame if failure.seen is not None else (failure.op.frame if failure.op is not None else 0)
    handles = frozenset(_captured(failure.expected, to_seen) + handles_in(got) + _reported_on(failure))
    sent = _text(got) if failure.seen is not None else "nothing more"
    want = _text(expected)
    op = failure.op
    if (
        type(failure.expected) is Packet
        and failure.expected.type == T.ERROR
        and op is not None
        and type(op.message) is Packet
        and op.message.type in _WORK_REQUESTS
        and op.message.args
    ):
        handle = op.message.args[0]
        if handle in created and (op.conn, handle) not in ctx.assigned and got is not failure.expected:
            # the server took a worker's report on a job it never handed that worker in the capture
            why = f"took {_text(op.message)} from c{op.conn}, which no JOB_ASSIGN gave the job to"
            return Diagnosis("GM-WORKER-007", op.conn, op.frame, why, handles | {handle}, root=True)
    if ctx.strays:
        for message in (op.message if op is not None else None, got):
            if type(message) is Packet and message.type in _WORK_REQUESTS and message.args:
                stray = ctx.strays.get((int(message.type), message.args))
                if stray is not None:
                    # the server forwarded a report from a worker no captured JOB_ASSIGN gave the job to
                    why = f"forwarded {_text(message)} from c{stray[0]}, which no JOB_ASSIGN gave the job to"
                    return Diagnosis("GM-WORKER-007", stray[0], stray[1], why, handles | {message.args[0]}, root=True)
    lost = _lost_assignment(failure, ctx)
    if lost is not None:
        return lost
    if failure.why == UNEXPLAINED:
        rule = rule_of(got)
        if failure.seen is not None and type(got) is Packet and got.type == T.ERROR:
            asked = ctx.answers.get((failure.conn, failure.seen.origin))
            if asked is not None and type(asked.message) is Packet:
                rule = REQUEST_RULES.get(int(asked.message.type), rule)
        return Diagnosis(rule, failure.conn, frame, f"sent {sent}, which no order of the requests explains", handles)
    if failure.why == UNSENT:
        return Diagnosis(
            rule_of(failure.expected), failure.conn, frame, f"never sent {want}, which the model sends", handles
        )
    if failure.why == EARLY:
        return Diagnosis(
            rule_of(got),
            failure.conn,
            frame,
            f"sent {sent} before the request it answers could have been acted on",
            handles,
        )
    assert failure.why == DIFFERS
    reason = f"sent {sent}; the model sends {want}"
    rule = rule_of(failure.expected)
    if type(got) is Packet and type(failure.expected) is Packet:
        model = failure.expected
        if model.type == T.JOB_CREATED and got.type == T.JOB_CREATED and model.args and got.args:
            rule = _coalescing(model.args[0], got.args[0], to_seen, to_model, creator, failure.op) or rule
        elif model.type in _ASSIGNS and got.type in _ASSIGNS and model.args and got.args:
            mine = to_seen.get(model.args[0])
            if (
                mine is not None
                and not model.args[0].startswith(ALIAS)
                and got.args[0] not in created
                and mine in created
            ):
                conn, at = created[mine]
                return Diagnosis(
                    "GM-SUBMIT-001",
                    conn,
                    at,
                    f"JOB_CREATED gave {_quote(mine)}, but the job went to a worker as {_quote(got.args[0])} "
                    f"(frame {frame})",
                    handles | {mine},
                )
        elif got.type == T.ERROR and model.type != T.ERROR:
            rule = rule_of(model)
        elif model.type == T.ERROR and got.type != T.ERROR and failure.op is not None:
            request = failure.op.message
            if type(request) is Packet:
                rule = _REFUSABLE.get(int(request.type), rule_of(got))
    return Diagnosis(rule, failure.conn, frame, reason, handles)


def _lost_assignment(failure: Failure, ctx: Context) -> Diagnosis | None:
    """A STATUS_RES finding running a job no captured JOB_ASSIGN had handed out, beside an unanswered grab.

    Only a grab hands a job out; the server says it did, and the grab that
    got it went unanswered in the capture.
    """
    got = failure.seen.message if failure.seen is not None else None
    model = failure.expected
    if (
        failure.why != DIFFERS
        or failure.seen is None
        or type(got) is not Packet
        or type(model) is not Packet
        or got.type != T.STATUS_RES
        or model.type != T.STATUS_RES
        or len(got.args) != 5
        or len(model.args) != 5
        or got.args[2] != b"1"
        or model.args[2] != b"0"
    ):
        return None
    handle = got.args[0]
    made = ctx.created.get(handle)
    at = failure.seen.frame
    if made is None or ctx.first_assigned.get(handle, at + 1) < at:
        return None
    for frame, conn in ctx.unanswered_grabs:
        if made[1] < frame < at:
            why = (
                f"never answered the grab; STATUS_RES at frame {at} finds {_quote(handle)} running, "
                "which no JOB_ASSIGN had handed out"
            )
            return Diagnosis("GM-WORKER-007", conn, frame, why, frozenset({handle}), root=True)
    return None


def _reported_on(failure: Failure) -> list[bytes]:
    """The handle a worker's WORK_* request names when the model answers it with an ERROR (the job it is about)."""
    op = failure.op
    if type(failure.expected) is Packet and failure.expected.type == T.ERROR and op is not None:
        request = op.message
        if type(request) is Packet and request.type in _WORK_REQUESTS and request.args and request.args[0]:
            return [request.args[0]]
    return []


def _coalescing(
    model: bytes,
    got: bytes,
    to_seen: Mapping[bytes, bytes],
    to_model: Mapping[bytes, bytes],
    creator: Mapping[bytes, Op],
    op: Op | None,
) -> str | None:
    """The coalescing (or handle) rule a differing JOB_CREATED breaks, if one is more exact than GM-SUBMIT-001."""
    request = op.message if op is not None else None
    if type(request) is not Packet or len(request.args) < 2:
        return None
    function, unique = request.args[0], request.args[1]
    if model in to_seen and got not in to_model:
        return "GM-COAL-001"  # the model coalesces onto a job it holds; the server made a new one
    first = creator.get(got)
    if first is None or first is op:
        return None
    earlier = first.message
    if type(earlier) is not Packet or len(earlier.args) < 2:
        return "GM-LIMIT-005"
    if not unique:
        return "GM-COAL-003"
    if earlier.args[0] != function:
        return "GM-COAL-002"
    return "GM-LIMIT-005"


def _captured(message: Message | None, to_seen: Mapping[bytes, bytes]) -> list[bytes]:
    out = []
    for handle in handles_in(message):
        seen = to_seen.get(handle)
        if seen is not None:
            out.append(seen)
    return out


def _shown(message: Message | None, to_seen: Mapping[bytes, bytes]) -> Message | None:
    """The model's message with its handles written as the server's (or marked as the model's own)."""
    if type(message) is not Packet:
        return message
    where = HANDLE_ARGS.get(message.type)
    if not where:
        return message
    args = list(message.args)
    for i in where:
        if i < len(args) and args[i]:
            seen = to_seen.get(args[i])
            if seen is not None:
                args[i] = seen
            elif args[i].startswith(ALIAS):
                args[i] = args[i][len(ALIAS) :]
            else:
                args[i] = b"<new handle>"
    return message._replace(args=tuple(args))


def _text(message: Message | None) -> str:
    return "a close" if message is None else format_message(message, "s>c")


def _quote(handle: bytes) -> str:
    return handle.decode("latin-1")
