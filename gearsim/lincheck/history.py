"""The observed history of one server: what each connection sent and received, in order (PURE).

This module owns the values the checker works on. A ``Track`` is one
connection: its ``ops`` (connect, each message it sent, its disconnect) and
what the server sent it (``seen``: messages, and the server's close), each
with the capture time and frame that proved it. TCP gives the order within a
connection; across connections only times relate events: a request cannot
have been acted on before it was captured, a reply cannot have been written
after it was captured.

The engine's first guess at the server's order is
``gearsim.lincheck.schedule.guess_order``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Final

from gearsim.protocol.packets import ADMIN_COMMANDS, SPECS, AdminLine, Message, Packet, PacketType

__all__ = [
    "CONNECT",
    "DISCONNECT",
    "NEVER",
    "REPLIES",
    "REPLY_TYPES",
    "SEND",
    "History",
    "Op",
    "Seen",
    "Track",
    "forward_times",
    "is_listing",
    "observed_op",
    "observed_seen",
    "replies_of",
    "set_due_times",
]

#: a time after every capture: pcapng counts up to 2**64 ticks of as much as one second each, so capture
#: times reach 2**94 ns (a corrupt or coarse timestamp easily passes 2**62, the year 2116)
NEVER: Final[int] = 1 << 96
#: ``Op.kind`` values
CONNECT: Final[str] = "connect"
SEND: Final[str] = "send"
DISCONNECT: Final[str] = "disconnect"

T = PacketType
#: request type -> the reply types that answer it on the same connection
REPLIES: Final[dict[int, frozenset[int]]] = {
    **{
        int(t): frozenset({T.JOB_CREATED, T.ERROR})
        for t in (
            T.SUBMIT_JOB,
            T.SUBMIT_JOB_BG,
            T.SUBMIT_JOB_HIGH,
            T.SUBMIT_JOB_HIGH_BG,
            T.SUBMIT_JOB_LOW,
            T.SUBMIT_JOB_LOW_BG,
            T.SUBMIT_JOB_EPOCH,
            T.SUBMIT_JOB_SCHED,
            T.SUBMIT_REDUCE_JOB,
            T.SUBMIT_REDUCE_JOB_BACKGROUND,
        )
    },
    **{
        int(t): frozenset({T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL, T.NO_JOB, T.ERROR})
        for t in (T.GRAB_JOB, T.GRAB_JOB_UNIQ, T.GRAB_JOB_ALL)
    },
    int(T.ECHO_REQ): frozenset({T.ECHO_RES, T.ERROR}),
    int(T.OPTION_REQ): frozenset({T.OPTION_RES, T.ERROR}),
    int(T.GET_STATUS): frozenset({T.STATUS_RES, T.ERROR}),
    int(T.GET_STATUS_UNIQUE): frozenset({T.STATUS_RES_UNIQUE, T.ERROR}),
}
#: every reply type (an observation that answers a request of its own connection)
REPLY_TYPES: Final[frozenset[int]] = frozenset(t for kinds in REPLIES.values() for t in kinds)
_WORK: Final[frozenset[int]] = frozenset(int(s.type) for s in SPECS.values() if s.work)


@dataclass(frozen=True, slots=True)
class Op:
    """One thing a connection did to the server: connect, send a message, or disconnect."""

    conn: int
    #: position among the connection's ops
    index: int
    kind: str
    time_ns: int
    frame: int
    message: Message | None = None
    #: the client's address, for ``connect``
    peer: str = ""
    #: the server must have acted on it by then: the capture time of the first reply to it or to a later
    #: request of its connection (a server reads a connection's requests in order)
    due_ns: int = NEVER


@dataclass(frozen=True, slots=True)
class Seen:
    """One thing the server did to a connection: a message it sent, or (``message`` None) closing it."""

    conn: int
    #: position among the connection's observations
    index: int
    time_ns: int
    frame: int
    message: Message | None
    #: its index in the connection's whole history (a partition keeps a subset, re-indexed)
    origin: int = -1


_new_object = object.__new__
# the slots' own setters: ``observed_op`` and ``observed_seen`` make the frozen values without the
# dataclass __init__'s object.__setattr__ per field (twice as fast, and a capture's reader makes one per message)
_op_conn, _op_index, _op_kind, _op_time, _op_frame, _op_message, _op_peer, _op_due = (
    Op.__dict__[name].__set__ for name in ("conn", "index", "kind", "time_ns", "frame", "message", "peer", "due_ns")
)
_seen_conn, _seen_index, _seen_time, _seen_frame, _seen_message, _seen_origin = (
    Seen.__dict__[name].__set__ for name in ("conn", "index", "time_ns", "frame", "message", "origin")
)


def observed_op(conn: int, index: int, kind: str, time_ns: int, frame: int, message: Message | None = None) -> Op:
    """``Op(conn, index, kind, time_ns, frame, message)`` with no peer and no due time yet, made faster."""
    op = _new_object(Op)
    _op_conn(op, conn)
    _op_index(op, index)
    _op_kind(op, kind)
    _op_time(op, time_ns)
    _op_frame(op, frame)
    _op_message(op, message)
    _op_peer(op, "")
    _op_due(op, NEVER)
    return op


def observed_seen(conn: int, index: int, time_ns: int, frame: int, message: Message | None) -> Seen:
    """``Seen(conn, index, time_ns, frame, message, index)`` (its own origin), made faster."""
    seen = _new_object(Seen)
    _seen_conn(seen, conn)
    _seen_index(seen, index)
    _seen_time(seen, time_ns)
    _seen_frame(seen, frame)
    _seen_message(seen, message)
    _seen_origin(seen, index)
    return seen


@dataclass(slots=True)
class Track:
    """One connection: what it sent, what it received, and what the capture missed."""

    conn: int
    client: str
    server: str
    #: the capture joined the connection after it began
    midstream: bool = False
    ops: list[Op] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    #: index into ``ops`` from which requests may be missing (a gap or undecodable bytes), else None
    ops_lost_at: int | None = None
    #: index into ``seen`` from which replies may be missing, else None
    seen_lost_at: int | None = None
    #: the server closed the connection first (its close is the last of ``seen``)
    server_closed: bool = False
    #: notes on what was lost, for the report
    losses: list[str] = field(default_factory=list)

    @property
    def binary(self) -> bool:
        """True when the connection carried at least one binary packet."""
        return any(isinstance(op.message, Packet) for op in self.ops) or any(
            isinstance(s.message, Packet) for s in self.seen
        )

    @property
    def admin(self) -> bool:
        """True when the connection sent admin text lines."""
        return any(isinstance(op.message, AdminLine) for op in self.ops)


@dataclass(slots=True)
class History:
    """Every connection of one server seen in a capture."""

    server: str
    tracks: dict[int, Track] = field(default_factory=dict)

    @property
    def origin_ns(self) -> int:
        """The time of the first op (the model's tick 0)."""
        return min((t.ops[0].time_ns for t in self.tracks.values() if t.ops), default=0)


_fill: Final = object.__setattr__


def set_due_times(history: History) -> dict[int, dict[int, Seen]]:
    """Give every op its ``due_ns``: the earliest capture time of a reply to it or to a later op of its connection.

    Returns each connection's ``replies_of``, which the judge needs again.
    """
    replies: dict[int, dict[int, Seen]] = {}
    for conn, track in history.tracks.items():
        answered = replies[conn] = replies_of(track)
        due = NEVER
        ops = track.ops
        for i in range(len(ops) - 1, -1, -1):
            reply = answered.get(i)
            if reply is not None and reply.time_ns < due:
                due = reply.time_ns
            op = ops[i]
            if op.due_ns != due:
                if op.due_ns == NEVER:
                    # the op as the history was read (observe's, or a test's), not yet shared with anything
                    # else: its due time is filled in, the one field left to fill, rather than the op made
                    # again (a frozen dataclass costs 2 us to make, and this runs once per request)
                    _fill(op, "due_ns", due)
                else:
                    ops[i] = Op(op.conn, op.index, op.kind, op.time_ns, op.frame, op.message, op.peer, due)
    return replies


def replies_of(track: Track) -> dict[int, Seen]:
    """Op index -> the observation that answered it.

    Replies come in request order, and a request cannot be answered by what
    was captured before it was sent. A reply answers the first waiting
    request of a type it can answer; the requests before that one went
    unanswered (a server that ignores ECHO_REQ does not shift every later
    pairing). An ERROR can answer anything: it answers the first waiting
    WORK_* packet when its code says the job was not found, else the first
    waiting request that expects a reply, else the first waiting request.
    """
    waiting: list[Op] = []
    out: dict[int, Seen] = {}
    ops = iter(track.ops)
    pending = next(ops, None)
    for seen in track.seen:
        # the requests sent before this reply was captured
        while pending is not None and pending.time_ns <= seen.time_ns:
            if pending.message is not None:
                waiting.append(pending)
            pending = next(ops, None)
        message = seen.message
        if not waiting or message is None:
            continue
        if isinstance(message, AdminLine):
            at = next((i for i, op in enumerate(waiting) if isinstance(op.message, AdminLine)), -1)
            if at < 0:
                continue
            head = waiting[at]
            out.setdefault(head.index, seen)
            assert isinstance(head.message, AdminLine)
            if message.text == b"." or not is_listing(head.message):
                del waiting[: at + 1]
            else:
                del waiting[:at]
            continue
        if not isinstance(message, Packet):
            continue
        at = _answered(waiting, message)
        if at >= 0:
            out[waiting[at].index] = seen
            del waiting[: at + 1]
    return out


def _answered(waiting: list[Op], reply: Packet) -> int:
    """The position in ``waiting`` of the request ``reply`` answers, or -1."""
    kind = int(reply.type)
    if kind != PacketType.ERROR:
        for at, op in enumerate(waiting):
            request = op.message
            if isinstance(request, Packet) and kind in REPLIES.get(int(request.type), frozenset()):
                return at
        return -1
    packets = [(at, op.message) for at, op in enumerate(waiting) if isinstance(op.message, Packet)]
    if b"NOT_FOUND" in (reply.args[0].upper() if reply.args else b""):
        for at, request in packets:
            if int(request.type) in _WORK:
                return at
    for at, request in packets:
        if int(request.type) in REPLIES:
            return at
    return packets[0][0] if packets else -1


def forward_times(history: History) -> dict[tuple[int, int], int]:
    """(conn, op index) of a WORK_* op -> the time its copy first reached another connection.

    A copy is credited to the latest identical WORK_* op sent before it was
    captured: two workers that send the same WORK_STATUS of one job (the job
    was requeued between them) each get their own copies, not the first one
    every copy.
    """
    # keyed by the type as given (a PacketType equals and hashes as its number): no int() per packet
    copies: dict[tuple[int, tuple[bytes, ...]], list[int]] = {}
    work = _WORK
    for track in history.tracks.values():
        for seen in track.seen:
            message = seen.message
            if type(message) is Packet and message.type in work:
                key = (message.type, message.args)
                times = copies.get(key)
                if times is None:
                    copies[key] = [seen.time_ns]
                else:
                    times.append(seen.time_ns)
    out: dict[tuple[int, int], int] = {}
    if not copies:
        return out
    senders: dict[tuple[int, tuple[bytes, ...]], list[tuple[int, int, int]]] = {}
    for track in history.tracks.values():
        for op in track.ops:
            message = op.message
            if type(message) is Packet and message.type in work:
                key = (message.type, message.args)
                if key in copies:
                    sent = senders.get(key)
                    if sent is None:
                        senders[key] = [(op.time_ns, op.conn, op.index)]
                    else:
                        sent.append((op.time_ns, op.conn, op.index))
    for key, ops in senders.items():
        whens = copies[key]
        if len(ops) == 1 and len(whens) == 1:
            # the usual case (one report, forwarded once): credited when it was sent before the copy
            when = whens[0]
            sent_ns, conn, index = ops[0]
            if sent_ns <= when:
                out.setdefault((conn, index), when)
            continue
        ops.sort()
        times = [t for t, _c, _i in ops]
        for when in sorted(whens):
            at = bisect_right(times, when) - 1
            if at >= 0:
                _t, conn, index = ops[at]
                out.setdefault((conn, index), when)
    return out


def is_listing(line: AdminLine) -> bool:
    """True when the admin command on ``line`` answers with rows and a closing full stop."""
    words = line.text.lower().split()
    for spec in ADMIN_COMMANDS:
        name = spec.name.split()
        if words[: len(name)] == [w.encode() for w in name]:
            return spec.reply == "listing"
    return False
