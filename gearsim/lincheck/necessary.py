"""Replies no order of the requests could produce, told without searching (PURE).

The search proves a divergence by trying the orders the capture allows; in a
burst of seventy connections that can take the whole budget, and a
partition whose budget ran out is *undecided*, as is everything after its
first undecided divergence. Some replies need no search: whatever the order,
the model could only send them if the capture held something it does not.
``Impossible`` knows three such necessary conditions, read from the
partition's history once:

* a job handed out (JOB_ASSIGN*) under a captured handle no JOB_CREATED of
  the partition gave, and the model never paired: a server hands out only
  handles it gave when it created the job, and every JOB_CREATED is captured;
* a STATUS_RES whose numerator or denominator no WORK_STATUS of its handle
  carried (and that is not a fresh job's 0, or a profile's empty field): a
  server reports only the last numbers a worker sent;
* a WORK_* report the server took (no ERROR) from a worker that no captured
  JOB_ASSIGN gave the job to: the model takes one only from the job's worker,
  and only a JOB_ASSIGN the capture shows makes a worker hold a job; and so
  a WORK_DATA, WORK_WARNING or WORK_COMPLETE forward that no worker the job
  was assigned to sent (the same type and bytes);
* an ERROR where the model answers a grab, a status poll or an echo
  otherwise: whether those are refused depends on the request alone, never
  on what other connections did, so no order makes the model refuse them;
  and so is a submission's, in a history without admin commands (only an
  admin 'maxqueue' makes the model refuse a submission for the state of
  its queue);
* a JOB_ASSIGN* or NO_JOB on a connection that by then had got more of
  them than it had sent grabs: the model answers each grab once, and only
  a grab captured before the answer can have asked for it;
* a JOB_CREATED answering a submission with an empty unique, in a history
  without admin commands, with a handle a JOB_CREATED of the history gave
  before the submission was captured: no profile coalesces an empty
  unique, so the model makes a new job, and the captured handle already
  stands for the job it made then;
* a JOB_CREATED answering a submission with a function and non-empty
  unique a live job already had, with another handle, in a history without
  admin commands or CAN_DO_TIMEOUT, under a profile that coalesces: the
  job's JOB_CREATED was captured before the submission was, and before the
  reply was captured no worker had sent a WORK_COMPLETE, WORK_FAIL or
  WORK_EXCEPTION of it and no connection that got its handle or was given
  it had disconnected (the only ways a job ends or may be dropped), so
  every order finds the job live and coalesces onto it;
* a WORK_COMPLETE forward missing on a listener: the server took the
  report (no ERROR to its worker, to whom a captured JOB_ASSIGN gave the
  job), the listener's foreground submission got the job's handle before
  the report was captured and it got no WORK_COMPLETE of that handle, and
  neither its disconnect nor the capture's end came soon enough for any
  order to spare the forward: the report had to be acted on before the
  listener's disconnect was captured.

None of them depends on the order the model ran before the failure, so a
divergence they decide is broken even past one a search left undecided
(``told`` keeps them for ``verdict``).

A history with lost bytes decides nothing here (a JOB_CREATED in the gap
leaves the model's handle free to pair at a JOB_ASSIGN). A connection joined
mid-stream does not stop them: the model holds no job, number or worker from
before the capture in any order either (``verdict`` reports such findings
unknown, not broken).
These conditions only save the search its budget; what a divergence breaks
is still ``gearsim.lincheck.diagnose``'s to say.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from gearsim.lincheck.history import DISCONNECT, History, Track, replies_of
from gearsim.lincheck.machine import GearmanMachine
from gearsim.lincheck.partition import SUBMITS
from gearsim.lincheck.replay import DIFFERS, PROMPT_NS, UNEXPLAINED, UNSENT, Failure
from gearsim.protocol.packets import ASSIGN_TYPES, GRAB_TYPES, WORK_TYPES, AdminLine, Packet, PacketType

__all__ = ["Impossible"]

T = PacketType
#: reports a server forwards to listeners as they came (WORK_STATUS numbers and WORK_FAIL/EXCEPTION vary)
_FORWARDED: Final[frozenset[int]] = frozenset({T.WORK_DATA, T.WORK_WARNING, T.WORK_COMPLETE})
#: requests whose refusal depends on the request alone, and the replies the model gives them when it accepts
_ASKS: Final[frozenset[int]] = frozenset(
    {T.GRAB_JOB, T.GRAB_JOB_UNIQ, T.GRAB_JOB_ALL, T.GET_STATUS, T.GET_STATUS_UNIQUE, T.ECHO_REQ}
)
_NEVER_REFUSED: Final[frozenset[int]] = ASSIGN_TYPES | {T.NO_JOB, T.STATUS_RES, T.STATUS_RES_UNIQUE, T.ECHO_RES}
_FOREGROUND: Final[frozenset[int]] = frozenset({T.SUBMIT_JOB, T.SUBMIT_JOB_HIGH, T.SUBMIT_JOB_LOW})
#: submissions that coalesce by function and unique alone (no epoch, no reducer)
_PLAIN_SUBMITS: Final[frozenset[int]] = _FOREGROUND | {T.SUBMIT_JOB_BG, T.SUBMIT_JOB_HIGH_BG, T.SUBMIT_JOB_LOW_BG}
#: the reports that end a job
_ENDS: Final[frozenset[int]] = frozenset({T.WORK_COMPLETE, T.WORK_FAIL, T.WORK_EXCEPTION})


def _number(text: bytes) -> int:
    """The unsigned number a server reads from a status field (its leading digits; none: 0)."""
    digits = 0
    for byte in text:
        if not 0x30 <= byte <= 0x39:
            break
        digits = digits * 10 + byte - 0x30
    return digits


class Impossible:
    """Tells whether a failure's observation is one no order could make the model send (see the module)."""

    def __init__(self, history: History, machine: GearmanMachine) -> None:
        self.machine = machine
        #: the failures found impossible so far
        self.told: list[Failure] = []
        #: those of them no history before the capture could explain either (broken beside a connection
        #: joined mid-stream)
        self.unconditional: list[Failure] = []
        tracks = history.tracks
        #: a history with lost bytes may hide a creation or an assignment: it decides nothing here
        self.whole = not any(_lossy(t) for t in tracks.values())
        #: captured handles some JOB_CREATED gave
        self.created: set[bytes] = set()
        #: captured handle -> the capture time of the first JOB_CREATED that gave it
        self.first_created: dict[bytes, int] = {}
        #: (conn, captured handle) of every job assignment captured
        self.assigned: set[tuple[int, bytes]] = set()
        #: captured handle -> the numbers its WORK_STATUS packets carried (each field, raw and as read)
        self.numbers: dict[bytes, set[bytes | int]] = {}
        #: (type, args) of every WORK_* report a connection sent, with the connection
        reports: list[tuple[int, tuple[int, tuple[bytes, ...]]]] = []
        for track in tracks.values():
            for seen in track.seen:
                m = seen.message
                if type(m) is Packet and m.args:
                    if m.type == T.JOB_CREATED:
                        self.created.add(m.args[0])
                        first = self.first_created.get(m.args[0])
                        if first is None or seen.time_ns < first:
                            self.first_created[m.args[0]] = seen.time_ns
                    elif m.type in ASSIGN_TYPES:
                        self.assigned.add((track.conn, m.args[0]))
            for op in track.ops:
                m = op.message
                if type(m) is Packet and m.type in _FORWARDED and m.args:
                    reports.append((track.conn, (int(m.type), m.args)))
                if type(m) is Packet and m.type == T.WORK_STATUS and m.args:
                    found = self.numbers.setdefault(m.args[0], set())
                    for field in m.args[1:3]:
                        found.add(field)
                        found.add(_number(field))
        self.tracks = tracks
        #: no admin command in the history: no queue limit, a submission's refusal depends on it alone
        self.unlimited = not any(type(op.message) is AdminLine for t in tracks.values() for op in t.ops)
        #: the time of the history's last event (as ``Replay.end_ns``)
        self.end_ns = max(
            max((t.ops[-1].time_ns for t in tracks.values() if t.ops), default=0),
            max((t.seen[-1].time_ns for t in tracks.values() if t.seen), default=0),
        )
        #: the reports sent by a worker the job (the handle) was assigned to
        self.reports = {report for conn, report in reports if (conn, report[1][0]) in self.assigned}
        #: (function, unique) -> (capture time, handle) of each JOB_CREATED answering such a plain submission;
        #: made when a coalescing failure first asks
        self._made: dict[tuple[bytes, bytes], list[tuple[int, bytes]]] | None = None

    def __call__(self, failure: Failure) -> bool:
        """True when no order of the partition's ops could make the model send what ``failure`` shows."""
        if self.whole and self._impossible(failure):
            self.told.append(failure)
            if self._regardless(failure):
                self.unconditional.append(failure)
            return True
        return False

    def _regardless(self, failure: Failure) -> bool:
        """Is ``failure`` impossible whatever a connection joined mid-stream did before the capture?

        A refusal of a grab, poll or echo depends on the request alone, and a
        connection seen from its start got no grab answer it did not ask for.
        """
        seen = failure.seen.message if failure.seen is not None else None
        op = failure.op
        if type(seen) is not Packet:
            return False
        if seen.type == T.ERROR:
            return (
                failure.why == DIFFERS
                and type(failure.expected) is Packet
                and failure.expected.type in _NEVER_REFUSED
                and op is not None
                and type(op.message) is Packet
                and op.message.type in _ASKS
            )
        return (seen.type in ASSIGN_TYPES or seen.type == T.NO_JOB) and self._unasked(failure.conn, failure.seen.index)  # type: ignore[union-attr]

    def _impossible(self, failure: Failure) -> bool:
        seen = failure.seen.message if failure.seen is not None else None
        if (
            failure.why in (DIFFERS, UNEXPLAINED)
            and type(seen) is Packet
            and failure.seen is not None
            and (seen.type in ASSIGN_TYPES or seen.type == T.NO_JOB)
            and self._unasked(failure.conn, failure.seen.index)
        ):
            return True
        op = failure.op
        if (
            failure.why == DIFFERS
            and type(seen) is Packet
            and seen.type == T.JOB_CREATED
            and seen.args
            and op is not None
            and op.conn == failure.conn
            and type(op.message) is Packet
            and op.message.type in SUBMITS
            and len(op.message.args) > 1
            and op.message.args[1] == b""
            and self.unlimited
            and self.first_created.get(seen.args[0], op.time_ns) < op.time_ns
        ):
            return True
        if (
            failure.why == DIFFERS
            and type(seen) is Packet
            and seen.type == T.JOB_CREATED
            and seen.args
            and failure.seen is not None
            and op is not None
            and op.conn == failure.conn
            and type(op.message) is Packet
            and op.message.type in _PLAIN_SUBMITS
            and self.unlimited
        ):
            return self._not_coalesced(op.message.args, seen.args[0], op.time_ns, failure.seen.time_ns)
        if failure.why in (DIFFERS, UNEXPLAINED) and type(seen) is Packet and seen.args:
            if seen.type in ASSIGN_TYPES:
                handle = seen.args[0]
                return handle not in self.created and self.machine.describe_handle(handle) != "paired"
            if seen.type == T.STATUS_RES and len(seen.args) == 5:
                return self._numbers_unsent(seen.args[0], seen.args[3:5])
            if seen.type in _FORWARDED and seen.args[0] in self.created:
                return (int(seen.type), seen.args) not in self.reports
        if (
            failure.why == DIFFERS
            and type(seen) is Packet
            and seen.type == T.ERROR
            and type(failure.expected) is Packet
            and op is not None
            and type(op.message) is Packet
            and (
                (failure.expected.type in _NEVER_REFUSED and op.message.type in _ASKS)
                or (failure.expected.type == T.JOB_CREATED and op.message.type in SUBMITS and self.unlimited)
            )
        ):
            return True
        if (
            failure.why in (DIFFERS, UNSENT)
            and op is not None
            and type(failure.expected) is Packet
            and failure.expected.type == T.ERROR
            and seen is not failure.expected
            and type(op.message) is Packet
            and op.message.type in WORK_TYPES
            and op.message.args
        ):
            handle = op.message.args[0]
            return handle in self.created and (op.conn, handle) not in self.assigned
        if (
            failure.why == UNSENT
            and op is not None
            and op.conn != failure.conn
            and type(failure.expected) is Packet
            and failure.expected.type == T.WORK_COMPLETE
            and type(op.message) is Packet
            and op.message.type == T.WORK_COMPLETE
            and op.message.args
        ):
            return self._forward_due(op.conn, op.index, failure.conn, op.message.args[0])
        return False

    def _unasked(self, conn: int, index: int) -> bool:
        """Had ``conn`` got more grab answers up to observation ``index`` than it had sent grabs before it?"""
        track = self.tracks[conn]
        if track.midstream:
            return False  # grabs from before the capture
        seen = track.seen
        answers = sum(
            1
            for s in seen[: index + 1]
            if type(s.message) is Packet and (s.message.type in ASSIGN_TYPES or s.message.type == T.NO_JOB)
        )
        until = seen[index].time_ns
        grabs = sum(
            1
            for op in track.ops
            if op.time_ns <= until and type(op.message) is Packet and op.message.type in GRAB_TYPES
        )
        return answers > grabs

    def _forward_due(self, worker: int, index: int, listener: int, handle: bytes) -> bool:
        """Is the WORK_COMPLETE forward of ``handle`` due to ``listener`` in every order (see the module)?"""
        if handle not in self.created or (worker, handle) not in self.assigned:
            return False
        mine = self.tracks[worker]
        if any(type(s.message) is Packet and s.message.type == T.ERROR for s in mine.seen):
            return False  # a report refused: which one is for the search to say
        report = mine.ops[index]
        track = self.tracks[listener]
        if track.server_closed or track.midstream:
            return False
        for seen in track.seen:
            m = seen.message
            if type(m) is Packet and m.type == T.WORK_COMPLETE and m.args and m.args[0].split(b"\0", 1)[0] == handle:
                return False
        if not any(
            handle_ == handle and created_ns < report.time_ns and asked.type in _FOREGROUND
            for created_ns, handle_, asked in _creations(track)
        ):
            return False
        last = track.ops[-1] if track.ops else None
        if last is not None and last.kind == DISCONNECT:
            # no order runs the disconnect before a report due before it was captured
            return last.time_ns > report.due_ns
        return min(report.due_ns, report.time_ns + PROMPT_NS) < self.end_ns

    def _not_coalesced(self, args: tuple[bytes, ...], handle: bytes, sent_ns: int, answered_ns: int) -> bool:
        """Was a job of the submission's function and unique live in every order, under another handle?

        ``args``: the submission's; ``sent_ns``/``answered_ns``: when it and its JOB_CREATED were captured.
        """
        if len(args) < 2 or not args[1] or args[1] == b"-":
            return False  # an empty unique never coalesces; what "-" means is the profile's (dash_unique)
        profile = self.machine.node.profile
        limit = profile.unique_stored_max
        if not profile.coalesce_uniques or (limit is not None and len(args[1]) >= limit):
            return False  # a cut unique never matches again
        made = self._made
        if made is None:
            made = self._made = self._plain_creations()
        for created_ns, live in made.get((args[0], args[1]), ()):
            if created_ns < sent_ns and live != handle and self._live(live, answered_ns):
                return True
        return False

    def _plain_creations(self) -> dict[tuple[bytes, bytes], list[tuple[int, bytes]]]:
        made: dict[tuple[bytes, bytes], list[tuple[int, bytes]]] = {}
        for track in self.tracks.values():
            for created_ns, handle, asked in _creations(track):
                if asked.type in _PLAIN_SUBMITS and len(asked.args) > 1:
                    made.setdefault((asked.args[0], asked.args[1]), []).append((created_ns, handle))
        return made

    def _live(self, handle: bytes, until_ns: int) -> bool:
        """Had nothing that ends or may drop job ``handle`` been captured before ``until_ns``?

        A job ends when a worker's WORK_COMPLETE, WORK_FAIL or WORK_EXCEPTION
        reaches the server, and may be dropped or failed when a client
        waiting on it or the worker holding it goes away; a worker's timeout
        (CAN_DO_TIMEOUT) fails it without a report.
        """
        for track in self.tracks.values():
            holds = False
            for seen in track.seen:
                m = seen.message
                if seen.time_ns >= until_ns:
                    break
                if (
                    type(m) is Packet
                    and m.args
                    and m.args[0] == handle
                    and (m.type == T.JOB_CREATED or m.type in ASSIGN_TYPES)
                ):
                    holds = True
            for op in track.ops:
                if op.time_ns >= until_ns:
                    break
                m = op.message
                if op.kind == DISCONNECT and holds:
                    return False
                if type(m) is Packet and (
                    m.type == T.CAN_DO_TIMEOUT or (m.type in _ENDS and m.args and m.args[0] == handle)
                ):
                    return False
            if track.server_closed and holds and track.seen and track.seen[-1].time_ns < until_ns:
                return False
        return True

    def _numbers_unsent(self, handle: bytes, fields: tuple[bytes, ...]) -> bool:
        sent = self.numbers.get(handle, set())
        for field in fields:
            if field in sent or not field:
                continue
            if field.isdigit() and (int(field) == 0 or int(field) in sent):
                continue
            return True
        return False


def _creations(track: Track) -> Iterator[tuple[int, bytes, Packet]]:
    """(capture time, handle, the request it answers) of each JOB_CREATED on ``track`` answering a packet."""
    for at, seen in replies_of(track).items():
        m = seen.message
        asked = track.ops[at].message
        if type(m) is Packet and m.type == T.JOB_CREATED and m.args and type(asked) is Packet:
            yield seen.time_ns, m.args[0], asked


def _lossy(track: Track) -> bool:
    return track.ops_lost_at is not None or track.seen_lost_at is not None or bool(track.losses)
