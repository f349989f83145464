"""P-compositionality: one server's history split into histories the model can judge apart (PURE).

Porcupine checks a key-value store one key at a time because the rules of
one key never look at another's. Gearman's rules split the same way along
three seams, and this module owns cutting a ``History`` along them:

* **jobs**: what happens to one job (its submission and the submissions
  coalesced onto it, the grab that handed it out, the worker's WORK_*
  packets and their forwards, status polls) depends on no other job. Jobs
  that share a function and non-empty unique (coalescing), a unique asked
  by GET_STATUS_UNIQUE, or a handle, are one partition. A job partition
  keeps each worker's registrations (silent), so the one queued job is what
  its grab gets, and each listener's OPTION_REQ (silent), which decides how
  WORK_EXCEPTION is forwarded;
* **queues**: which job a grab gets, NO_JOB, NOOP, priorities and
  first-in-first-out order depend on every job of the functions one worker
  can do. Functions registered on one connection (or handed to it) are one
  partition, with every submission, grab, PRE_SLEEP and registration of
  them, and the packets that end a job (silent: they free coalescing);
* **connections**: ECHO, OPTION_REQ, SET_CLIENT_ID, admin text, packets
  the server rejects: each connection alone.

An op can belong to several partitions (a submission is judged for its
JOB_CREATED in its queue and in its job); ``Part.silent`` names the ops a
partition runs for their effect on its state but whose output it does not
judge, and ``Part.judged`` the packet types it compares. Every observation
belongs to the partitions its content names (the handle, unique or function
it carries, the request it answers), so a spurious packet is still judged
where it belongs. A connection takes part in a partition with its connect
and its disconnect; a close by the server is judged with the connection's
own traffic and is a disconnect everywhere else.

Admin commands that change the server (``cancel job``, ``shutdown``,
``maxqueue``...) couple everything: a history holding one is not split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from gearsim.lincheck.history import CONNECT, DISCONNECT, History, Op, Seen, Track, replies_of
from gearsim.protocol.packets import SPECS, AdminLine, Message, Packet, PacketType

__all__ = ["CONNECTION", "JOB", "QUEUE", "WHOLE", "Part", "split"]

T = PacketType
#: ``Part.kind`` values
JOB: Final[str] = "job"
QUEUE: Final[str] = "queue"
CONNECTION: Final[str] = "connection"
WHOLE: Final[str] = "whole"

SUBMITS: Final[frozenset[int]] = frozenset(
    int(t)
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
)
GRABS: Final[frozenset[int]] = frozenset(int(t) for t in (T.GRAB_JOB, T.GRAB_JOB_UNIQ, T.GRAB_JOB_ALL))
ASSIGNS: Final[frozenset[int]] = frozenset(int(t) for t in (T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL))
REGISTERS: Final[frozenset[int]] = frozenset(int(t) for t in (T.CAN_DO, T.CAN_DO_TIMEOUT, T.CANT_DO, T.RESET_ABILITIES))
WORK: Final[frozenset[int]] = frozenset(int(n) for n, s in SPECS.items() if s.work)
ENDS: Final[frozenset[int]] = frozenset(int(n) for n, s in SPECS.items() if s.work == "terminal")

#: packet types each kind of partition compares (others the model sends there are not its business)
JUDGED: Final[dict[str, frozenset[int] | None]] = {
    JOB: frozenset({T.JOB_CREATED, T.STATUS_RES, T.STATUS_RES_UNIQUE, T.ERROR}) | ASSIGNS | WORK,
    QUEUE: frozenset({T.JOB_CREATED, T.NO_JOB, T.NOOP, T.ERROR}) | ASSIGNS,
    CONNECTION: None,
    WHOLE: None,
}
#: admin commands that only read the server's state
_READ_ONLY_ADMIN: Final[frozenset[bytes]] = frozenset(
    {b"workers", b"status", b"prioritystatus", b"version", b"getpid", b"verbose", b"show"}
)


@dataclass(slots=True)
class Part:
    """One partition: a history of its own, what it judges, and why it exists."""

    kind: str
    #: what ties the partition together, for the report (a handle, a function, a connection)
    key: str
    history: History
    #: (conn, op index in this partition) of ops run for their effect only
    silent: set[tuple[int, int]] = field(default_factory=set)
    #: packet types compared (None: everything, admin text and closes included)
    judged: frozenset[int] | None = None
    #: captured handles the partition is about
    handles: set[bytes] = field(default_factory=set)


class _Union:
    """Union-find over hashable atoms."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, atom: object) -> object:
        parent = self.parent
        root = parent.setdefault(atom, atom)
        while root != parent[root]:
            root = parent[root]
        while atom != root:
            parent[atom], atom = root, parent[atom]
        return root

    def join(self, atoms: Iterable[object]) -> None:
        first: object | None = None
        for atom in atoms:
            root = self.find(atom)
            if first is None:
                first = root
            elif root != first:
                self.parent[root] = first


@dataclass(slots=True)
class _Builder:
    """The tracks of one partition as they are gathered, original indices kept."""

    part: Part
    #: conn -> (original op indices, original observation indices)
    ops: dict[int, list[int]] = field(default_factory=dict)
    seen: dict[int, list[int]] = field(default_factory=dict)
    silent: set[tuple[int, int]] = field(default_factory=set)


def split(history: History, answered: Mapping[int, Mapping[int, Seen]] | None = None) -> list[Part]:
    """The partitions of ``history`` (see the module docstring), jobs first, then queues, then connections.

    A history that a partition would misjudge (an admin command that changes
    the server) is one ``whole`` partition. ``answered``: each connection's
    ``replies_of``, when the caller has them already.
    """
    tracks = history.tracks
    for track in tracks.values():
        for op in track.ops:
            if isinstance(op.message, AdminLine) and not _read_only(op.message):
                return [Part(WHOLE, "the whole server", history)]
    replies = answered if answered is not None else {conn: replies_of(track) for conn, track in tracks.items()}
    answer_of: dict[tuple[int, int], int] = {}  # (conn, seen index) -> op index it answers
    for conn, found in replies.items():
        for index, seen in found.items():
            answer_of[(conn, seen.index)] = index

    # --- which functions go together (a worker's), which job atoms go together
    functions = _Union()
    jobs = _Union()
    creator_function: dict[bytes, bytes] = {}
    worker_functions: dict[int, set[bytes]] = {}
    for conn, track in tracks.items():
        mine = worker_functions.setdefault(conn, set())
        for op in track.ops:
            m = op.message
            if type(m) is not Packet:
                continue
            kind = int(m.type)
            if kind in REGISTERS and m.args:
                mine.add(m.args[0])
            elif kind in SUBMITS and m.args:
                functions.find(m.args[0])
                reply = replies[conn].get(op.index)
                handle = _created(reply)
                atoms: list[object] = []
                if handle is not None:
                    atoms.append(("h", handle))
                    creator_function.setdefault(handle, m.args[0])
                if len(m.args) > 1 and m.args[1]:
                    atoms.append(("u", m.args[0], m.args[1]))
                    jobs.join([("u", m.args[0], m.args[1]), ("unique", m.args[1])])
                jobs.join(atoms)
            elif (kind in WORK and m.args) or (kind == T.GET_STATUS and m.args):
                jobs.find(("h", m.args[0]))
            elif kind == T.GET_STATUS_UNIQUE and m.args:
                jobs.find(("unique", m.args[0]))
        for seen in track.seen:
            m = seen.message
            if type(m) is Packet and int(m.type) in ASSIGNS and len(m.args) > 1:
                mine.add(m.args[1])
                jobs.find(("h", m.args[0]))
        if mine:
            functions.join(sorted(mine))

    for handle, candidates in _unmade(tracks, replies).items():
        # joining partitions is always sound: it only spends search on what could have been judged apart
        jobs.join([("h", handle), *(("h", c) for c in candidates)])

    def queue_of_function(function: bytes) -> object:
        return ("q", functions.find(function))

    def queue_of_worker(conn: int) -> object:
        mine = worker_functions.get(conn)
        if mine:
            return ("q", functions.find(min(mine)))
        return ("q~", conn)

    def job_of(handle: bytes) -> object:
        return ("j", jobs.find(("h", handle)))

    builders: dict[object, _Builder] = {}

    def builder(key: object) -> _Builder:
        found = builders.get(key)
        if found is None:
            kind = {"j": JOB, "q": QUEUE, "q~": QUEUE, "c": CONNECTION}[str(key[0])]  # type: ignore[index]
            found = builders[key] = _Builder(Part(kind, "", History(history.server), judged=JUDGED[kind]))
        return found

    def put_op(key: object, op: Op, silent: bool = False) -> None:
        b = builder(key)
        b.ops.setdefault(op.conn, []).append(op.index)
        if silent:
            b.silent.add((op.conn, op.index))

    def put_seen(key: object, seen: Seen) -> None:
        builder(key).seen.setdefault(seen.conn, []).append(seen.index)

    # --- ops
    listener_jobs: dict[int, set[object]] = {}
    worker_jobs: dict[int, set[object]] = {}
    for conn, track in tracks.items():
        own = ("c", conn)
        for op in track.ops:
            if op.kind in (CONNECT, DISCONNECT):
                continue
            m = op.message
            if type(m) is not Packet:
                put_op(own, op)
                continue
            kind = int(m.type)
            reply = replies[conn].get(op.index)
            answer = reply.message if reply is not None else None
            refused = type(answer) is Packet and answer.type == T.ERROR
            if kind in SUBMITS and m.args:
                put_op(queue_of_function(m.args[0]), op)
                handle = _created(reply)
                if handle is not None:
                    put_op(job_of(handle), op)
                    listener_jobs.setdefault(conn, set()).add(job_of(handle))
                elif not refused and len(m.args) > 1 and m.args[1]:
                    coalesced: object = ("j", jobs.find(("u", m.args[0], m.args[1])))
                    put_op(coalesced, op)
                    listener_jobs.setdefault(conn, set()).add(coalesced)
            elif kind in GRABS:
                put_op(queue_of_worker(conn), op)
                if type(answer) is Packet and int(answer.type) in ASSIGNS and answer.args:
                    put_op(job_of(answer.args[0]), op)
                    worker_jobs.setdefault(conn, set()).add(job_of(answer.args[0]))
            elif kind == T.PRE_SLEEP or kind in REGISTERS:
                put_op(queue_of_worker(conn), op)
            elif kind in WORK and m.args:
                put_op(job_of(m.args[0]), op)
                worker_jobs.setdefault(conn, set()).add(job_of(m.args[0]))
                if kind in ENDS:
                    function = creator_function.get(m.args[0])
                    queue = queue_of_function(function) if function is not None else queue_of_worker(conn)
                    put_op(queue, op, silent=True)
            elif kind == T.GET_STATUS and m.args:
                put_op(job_of(m.args[0]), op)
            elif kind == T.GET_STATUS_UNIQUE and m.args:
                put_op(("j", jobs.find(("unique", m.args[0]))), op)
            else:
                put_op(own, op)
    # registrations and options travel (silently) to the jobs a connection works on or listens to
    for conn, track in tracks.items():
        for op in track.ops:
            m = op.message
            if type(m) is not Packet:
                continue
            kind = int(m.type)
            if kind in REGISTERS:
                for key in worker_jobs.get(conn, ()):
                    put_op(key, op, silent=True)
            elif kind == T.OPTION_REQ:
                for key in listener_jobs.get(conn, ()):
                    put_op(key, op, silent=True)

    # an abandoned job is freed by whichever grab of its function reaches it next (B-U11), a grab its own
    # partition does not hold; a later submission of its (function, unique) given a job of its own shows
    # that one did, so the last grab or PRE_SLEEP in between travels (silently) to the abandoned job's
    # partition, with the worker's registrations (else the model there keeps it, coalescing onto it)
    for handle, conn, index in _freed_abandoned(tracks, replies):
        key = job_of(handle)
        track = tracks[conn]
        function = creator_function.get(handle)
        for op in track.ops[:index]:
            m = op.message
            if type(m) is Packet and int(m.type) in REGISTERS and m.args and m.args[0] == function:
                put_op(key, op, silent=True)
        put_op(key, track.ops[index], silent=True)

    # --- observations, by what they carry
    for conn, track in tracks.items():
        own = ("c", conn)
        for seen in track.seen:
            m = seen.message
            if type(m) is not Packet:
                put_seen(own, seen)  # admin text and the server's close
                continue
            kind = int(m.type)
            asked = answer_of.get((conn, seen.index))
            request = track.ops[asked].message if asked is not None else None
            if kind == T.JOB_CREATED:
                if m.args:
                    put_seen(job_of(m.args[0]), seen)
                if type(request) is Packet and request.args and int(request.type) in SUBMITS:
                    put_seen(queue_of_function(request.args[0]), seen)
                elif not m.args:
                    put_seen(own, seen)
            elif kind in ASSIGNS:
                if m.args:
                    put_seen(job_of(m.args[0]), seen)
                put_seen(queue_of_worker(conn), seen)
            elif kind in (T.NO_JOB, T.NOOP):
                put_seen(queue_of_worker(conn), seen)
            elif kind in WORK or kind == T.STATUS_RES:
                # gearmand forwards WORK_FAIL as the handle and a NUL (GM-WORK-012)
                put_seen(job_of(m.args[0].split(b"\0", 1)[0]) if m.args else own, seen)
            elif kind == T.STATUS_RES_UNIQUE:
                put_seen(("j", jobs.find(("unique", m.args[0]))) if m.args else own, seen)
            elif kind == T.ERROR and type(request) is Packet:
                for owner in _keys_of_op(builders, conn, asked):
                    put_seen(owner, seen)
            else:
                put_seen(own, seen)

    parts: list[Part] = []
    order = {"j": 0, "q": 1, "q~": 1, "c": 2}
    for key, b in sorted(builders.items(), key=lambda kv: (order[str(kv[0][0])], _first(kv[1]))):  # type: ignore[index]
        part = b.part
        part.key = _describe(key, b, tracks)
        _fill(part, b, tracks)
        if part.history.tracks:
            parts.append(part)
    return parts


def _unmade(tracks: dict[int, Track], replies: Mapping[int, Mapping[int, Seen]]) -> dict[bytes, list[bytes]]:
    """Handles handed out that no JOB_CREATED gave -> the handles of the jobs they may stand for.

    A job handed out under a handle no JOB_CREATED gave is either one made
    before the capture, or the server gave its submission another handle
    (GM-SUBMIT-001). The evidence of the second is in two jobs: a submission
    of the same function, unique and workload, captured before, whose handle
    no worker was ever handed. They are judged together, so the defect is seen
    beside its evidence.
    """
    made: list[tuple[int, bytes, bytes, bytes, bytes]] = []  # (time, function, unique, workload, handle)
    handed: dict[bytes, tuple[int, bytes, bytes | None, bytes]] = {}  # handle -> (time, function, unique, workload)
    for conn, track in tracks.items():
        for index, seen in replies[conn].items():
            handle = _created(seen)
            m = track.ops[index].message
            if handle is not None and type(m) is Packet and len(m.args) >= 3:
                made.append((track.ops[index].time_ns, m.args[0], m.args[1], m.args[-1], handle))
        for seen in track.seen:
            m = seen.message
            if type(m) is Packet and int(m.type) in ASSIGNS and len(m.args) >= 3:
                unique = m.args[2] if m.type != T.JOB_ASSIGN and len(m.args) >= 4 else None
                handed.setdefault(m.args[0], (seen.time_ns, m.args[1], unique, m.args[-1]))
    given = {handle for *_rest, handle in made}
    out: dict[bytes, list[bytes]] = {}
    for handle, (when, function, unique, workload) in handed.items():
        if handle in given:
            continue
        found = [
            h
            for t, f, u, w, h in made
            if t < when and f == function and w == workload and (unique is None or u == unique) and h not in handed
        ]
        if found:
            out[handle] = sorted(set(found))
    return out


_FOREGROUND: Final[frozenset[int]] = frozenset(int(t) for t in (T.SUBMIT_JOB, T.SUBMIT_JOB_HIGH, T.SUBMIT_JOB_LOW))


def _freed_abandoned(
    tracks: dict[int, Track], replies: Mapping[int, Mapping[int, Seen]]
) -> list[tuple[bytes, int, int]]:
    """(handle, conn, op index): an abandoned job and the grab (or PRE_SLEEP) that must have freed it.

    Abandoned: every connection that submitted it in the foreground left before any worker was
    assigned it. Freed: a later submission of its function and unique got another handle. The grab
    is the last one captured between the two, from a connection registered for the function.
    """
    listeners: dict[bytes, list[tuple[int, bytes, bytes]]] = {}  # handle -> (conn, function, unique)
    created: list[tuple[int, bytes, bytes, bytes]] = []  # (time, function, unique, handle) of every submission
    assigned: dict[bytes, int] = {}
    left: dict[int, int] = {}
    unknown: list[tuple[int, bytes, bytes]] = []  # (time, handle, unique) of a STATUS_RES(_UNIQUE) "not known"
    for conn, track in tracks.items():
        last = track.ops[-1] if track.ops else None
        if last is not None and last.kind == DISCONNECT:
            left[conn] = last.time_ns
        elif track.server_closed and track.seen:
            left[conn] = track.seen[-1].time_ns
        for op in track.ops:
            m = op.message
            if type(m) is Packet and int(m.type) in SUBMITS and len(m.args) > 1:
                handle = _created(replies[conn].get(op.index))
                if handle is None:
                    continue
                created.append((op.time_ns, m.args[0], m.args[1], handle))
                if int(m.type) in _FOREGROUND:
                    listeners.setdefault(handle, []).append((conn, m.args[0], m.args[1]))
        for seen in track.seen:
            m = seen.message
            if type(m) is Packet and int(m.type) in ASSIGNS and m.args:
                assigned.setdefault(m.args[0], seen.time_ns)
            elif type(m) is Packet and m.type == T.STATUS_RES and len(m.args) > 1 and m.args[1] == b"0":
                unknown.append((seen.time_ns, m.args[0], b""))
            elif type(m) is Packet and m.type == T.STATUS_RES_UNIQUE and len(m.args) > 1 and m.args[1] == b"0":
                unknown.append((seen.time_ns, b"", m.args[0]))
    out: list[tuple[bytes, int, int]] = []
    for handle, who in listeners.items():
        if any(conn not in left for conn, _f, _u in who):
            continue
        gone = max(left[conn] for conn, _f, _u in who)
        _conn, function, unique = who[0]
        if not unique or assigned.get(handle, gone + 1) <= gone:
            continue
        later = [t for t, f, u, h in created if t > gone and f == function and u == unique and h != handle]
        # a status poll answered "unknown" after the last listener left shows the job freed as well
        later += [t for t, h, u in unknown if t > gone and (h == handle or u == unique)]
        if not later:
            continue
        until = min(later)
        best: tuple[int, int, int] | None = None
        for conn, track in tracks.items():
            registered = False
            for op in track.ops:
                m = op.message
                if type(m) is not Packet:
                    continue
                kind = int(m.type)
                if kind in REGISTERS and m.args and m.args[0] == function:
                    registered = kind != T.CANT_DO
                elif (
                    registered
                    and (kind in GRABS or kind == T.PRE_SLEEP)
                    and gone < op.time_ns < until
                    and (best is None or op.time_ns > best[0])
                ):
                    best = (op.time_ns, conn, op.index)
        if best is not None:
            out.append((handle, best[1], best[2]))
    return out


def _keys_of_op(builders: dict[object, _Builder], conn: int, index: int | None) -> list[object]:
    """The partitions that judge op ``index`` of ``conn`` (not silently)."""
    if index is None:
        return [("c", conn)]
    out = [key for key, b in builders.items() if index in b.ops.get(conn, ()) and (conn, index) not in b.silent]
    return out or [("c", conn)]


def _created(reply: Seen | None) -> bytes | None:
    message = reply.message if reply is not None else None
    if type(message) is Packet and message.type == T.JOB_CREATED and message.args:
        return message.args[0]
    return None


def _read_only(line: AdminLine) -> bool:
    words = line.text.split()
    return not words or words[0].lower() in _READ_ONLY_ADMIN


def _first(b: _Builder) -> tuple[int, int]:
    return min(((c, i[0]) for c, i in b.ops.items() if i), default=(1 << 30, 0))


def _describe(key: object, b: _Builder, tracks: dict[int, Track]) -> str:
    kind = key[0]  # type: ignore[index]
    if kind == "c":
        return f"connection c{key[1]}"  # type: ignore[index]
    if kind == "q~":
        return f"the queue of c{key[1]}"  # type: ignore[index]
    names: set[bytes] = set()
    handles: set[bytes] = set()
    for conn, indices in b.ops.items():
        for i in indices:
            m = tracks[conn].ops[i].message
            if type(m) is not Packet or not m.args:
                continue
            if kind == "q" and (int(m.type) in SUBMITS or int(m.type) in REGISTERS):
                names.add(m.args[0])
            elif kind == "j" and int(m.type) in WORK | {T.GET_STATUS}:
                handles.add(m.args[0])
    for conn, indices in b.seen.items():
        for i in indices:
            m = tracks[conn].seen[i].message
            if kind == "j" and type(m) is Packet and m.args and m.type in (T.JOB_CREATED, *ASSIGNS):
                handles.add(m.args[0])
    b.part.handles = handles
    if kind == "q":
        return "the queue of " + ", ".join(sorted(n.decode("latin-1") for n in names) or ["?"])
    return "job " + ", ".join(sorted(h.decode("latin-1") for h in handles) or ["?"])


def _fill(part: Part, b: _Builder, tracks: dict[int, Track]) -> None:
    """Build the partition's tracks: each connection's chosen ops and observations, re-indexed.

    A connection the server closed sees its close only in its own
    connection partition; elsewhere the close is a disconnect at its time.
    """
    for conn in sorted(set(b.ops) | set(b.seen)):
        track = tracks[conn]
        chosen_ops = sorted(set(b.ops.get(conn, ())))
        chosen_seen = sorted(set(b.seen.get(conn, ())))
        sub = Track(conn, track.client, track.server, midstream=track.midstream)
        first = track.ops[0] if track.ops and track.ops[0].kind == CONNECT else None
        if first is not None:
            sub.ops.append(_reindex(first, 0))
        for i in chosen_ops:
            op = track.ops[i]
            if track.ops_lost_at is not None and sub.ops_lost_at is None and i >= track.ops_lost_at:
                sub.ops_lost_at = len(sub.ops)
            if (conn, i) in b.silent:
                part.silent.add((conn, len(sub.ops)))
            sub.ops.append(_reindex(op, len(sub.ops)))
        if track.ops_lost_at is not None and sub.ops_lost_at is None:
            sub.ops_lost_at = len(sub.ops)
        own = part.kind in (CONNECTION, WHOLE)
        for i in chosen_seen:
            seen = track.seen[i]
            if track.seen_lost_at is not None and sub.seen_lost_at is None and i >= track.seen_lost_at:
                sub.seen_lost_at = len(sub.seen)
            sub.seen.append(Seen(conn, len(sub.seen), seen.time_ns, seen.frame, seen.message, seen.index))
        if track.seen_lost_at is not None and sub.seen_lost_at is None:
            sub.seen_lost_at = len(sub.seen)
        last = track.ops[-1] if track.ops else None
        if last is not None and last.kind == DISCONNECT:
            sub.ops.append(_reindex(last, len(sub.ops)))
        elif track.server_closed:
            close = track.seen[-1]
            if own:
                if not sub.seen or sub.seen[-1].message is not None:
                    sub.seen.append(Seen(conn, len(sub.seen), close.time_ns, close.frame, None, close.index))
                sub.server_closed = True
            else:
                sub.ops.append(Op(conn, len(sub.ops), DISCONNECT, close.time_ns, close.frame))
        sub.losses = list(track.losses)
        part.history.tracks[conn] = sub


def _reindex(op: Op, index: int) -> Op:
    return replace(op, index=index)


def messages_of(part: Part) -> Iterable[Message]:
    """Every message of the partition's ops (for tests and descriptions)."""
    for track in part.history.tracks.values():
        for op in track.ops:
            if op.message is not None:
                yield op.message
