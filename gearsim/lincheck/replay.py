"""Replaying ops into a model in one order and matching what it sends against a capture (PURE).

This is level 1 of the order search (``gearsim.lincheck.search`` tells the
whole story): :class:`Replay` holds the positions reached on every
connection, the observations not yet explained (a heap by capture time) and
snapshots to come back to, and applies ops one at a time, each output
checked against the next observation of its connection. A mismatch is a
:class:`Failure`; what to do about one (search other orders, or adopt the
server's behaviour) is the engine's business, not this module's.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Final, Protocol

from gearsim.lincheck.history import DISCONNECT, NEVER, Op, Seen, Track
from gearsim.protocol.packets import Message, Packet

#: what applying an op makes the machine send: (connection, message) or (connection, None) for a close
Out = tuple[int, Message | None]
#: told how many states the current search has explored, says whether to stop (True: out of budget)
Budget = Callable[[int], bool]

DIFFERS: Final[str] = "differs"
EARLY: Final[str] = "early"
UNSENT: Final[str] = "unsent"
UNEXPLAINED: Final[str] = "unexplained"
#: a server acts on a request it has read within this (only to excuse replies the capture ended too soon for)
_PROMPT: Final[int] = 250_000_000
#: the same, for the necessary conditions that must agree with ``Replay._may_go_unseen``
PROMPT_NS: Final[int] = _PROMPT


class Machine(Protocol):
    """A deterministic state machine the engine replays ops into."""

    def apply(self, op: Op) -> list[Out]:
        """Run one op; what it sends."""
        ...

    def match(self, message: Message | None, seen: Sequence[Seen], pos: int) -> int:
        """How many observations from ``pos`` the output stands for (0: none, it differs; -1: it needs none)."""
        ...

    def substitute(self, message: Message | None, got: Message | None) -> None:
        """Adopt the observed ``got`` in place of the output ``message``."""
        ...

    def snapshot(self) -> Any:
        """Its state, to come back to."""
        ...

    def restore(self, snap: Any) -> None:
        """Go back to a snapshot."""
        ...

    def fingerprint(self, snap: Any, since: int) -> Hashable:
        """A key equal for equal states (may tell equal states apart; never merges different ones)."""
        ...


@dataclass(frozen=True, slots=True)
class Failure:
    """Where the guessed order stopped explaining the capture.

    ``why``: ``differs`` (the output and the observation differ), ``early``
    (the observation was captured before this op could have run), ``unsent``
    (the server sent nothing more on that connection), ``unexplained`` (an
    observation no remaining op can produce).
    """

    why: str
    position: int
    op: Op | None
    conn: int
    #: the machine's output (None: a close); meaningless for ``unexplained``
    expected: Message | None
    seen: Seen | None


@dataclass(frozen=True, slots=True)
class Divergence:
    """A failure no order could explain, and how the engine adopted the server's behaviour."""

    failure: Failure
    adopted: str
    #: False when the search ran out of budget before proving no order works
    decided: bool
    #: states the searches explored before giving up
    nodes: int
    #: what the engine's ``describe`` said of the failure when it happened (None without one)
    note: Any = None


@dataclass(slots=True)
class Outcome:
    """What the engine found."""

    divergences: list[Divergence] = field(default_factory=list)
    #: (conn, observation index) -> the output it matched (None: adopted at a divergence)
    matched: dict[tuple[int, int], Message | None] = field(default_factory=dict)
    searches: int = 0
    repaired: int = 0
    nodes: int = 0


@dataclass(slots=True)
class State:
    """Everything a replay goes back to: the machine's snapshot and the positions."""

    machine: Any
    pos_op: dict[int, int]
    pos_seen: dict[int, int]
    maxinv: int
    divergences: int
    log: int


class Replay:
    """One history replayed into a machine: positions, unexplained observations, snapshots, the outcome so far.

    Args:
        tracks: each connection's ops and observations.
        schedule: the guessed order of every op.
        machine: the model the ops are replayed into.
        widen: how many snapshots are kept (searches start from them).
    """

    def __init__(self, tracks: Mapping[int, Track], schedule: Sequence[Op], machine: Machine, widen: int) -> None:
        self.tracks = tracks
        self.seen: dict[int, list[Seen]] = {c: t.seen for c, t in tracks.items()}
        #: the time of the capture's last event in this history
        self.end_ns = max(
            max((t.ops[-1].time_ns for t in tracks.values() if t.ops), default=0),
            max((t.seen[-1].time_ns for t in tracks.values() if t.seen), default=0),
        )
        self.schedule = schedule
        self._position: dict[tuple[int, int], int] | None = None
        #: the earliest capture time of the ops from each position of the guess on (NEVER past the last)
        self.suffix_inv = list(accumulate(reversed([op.time_ns for op in schedule]), min, initial=NEVER))[::-1]
        self.machine = machine
        self.pos_op: dict[int, int] = dict.fromkeys(tracks, 0)
        self.pos_seen: dict[int, int] = dict.fromkeys(tracks, 0)
        self.maxinv = 0
        self.heads: list[tuple[int, int, int]] = [(t.seen[0].time_ns, c, 0) for c, t in tracks.items() if t.seen]
        heapq.heapify(self.heads)
        self.snaps: deque[tuple[int, State]] = deque(maxlen=widen)
        self.outcome = Outcome()
        #: the op being matched when the last failure happened: (op, position, outputs, output index)
        self.pending: tuple[Op, int, list[Out], int] | None = None
        #: (position, op) of every op applied since the oldest snapshot kept, in the order applied
        self.log: list[tuple[int, Op]] = []
        #: True while a repair or search tries orders other than the guess (each op must then also come
        #: after every op that was due before it was captured)
        self.searching = False

    @property
    def position(self) -> dict[tuple[int, int], int]:
        """(conn, op index) -> the op's position in the guess (made when a search first needs it)."""
        if self._position is None:
            self._position = {(op.conn, op.index): k for k, op in enumerate(self.schedule)}
        return self._position

    def replay(self) -> bool:
        """Only level 1, without snapshots: does the guessed order alone explain every observation?

        True: ``outcome.matched`` holds every observation. False: it stopped
        at the first failure (the engine is then spent: build another).
        """
        # ``apply``, ``match`` and ``stuck`` inlined for the common case, one output standing for the next
        # observation of its connection (this loop runs once per op of every capture checked); anything
        # else goes through ``match``. No log is kept: nothing searches back from here.
        tracks = self.tracks
        pos_op = self.pos_op
        pos_seen = self.pos_seen
        seen_of = self.seen
        heads = self.heads
        matched = self.outcome.matched
        suffix = self.suffix_inv
        run = self.machine.apply
        stands_for = self.machine.match
        heappop = heapq.heappop
        heappush = heapq.heappush
        maxinv = self.maxinv
        # each connection's next op by when it was due: no op may run after one due before it was captured
        due = [(t.ops[0].due_ns, conn, 0) for conn, t in tracks.items() if t.ops]
        heapq.heapify(due)
        for k, op in enumerate(self.schedule):
            while due and pos_op[due[0][1]] != due[0][2]:
                heappop(due)
            time_ns = op.time_ns
            if due and time_ns > due[0][0]:
                return False
            # an op captured after an observation nothing has explained yet cannot run (``apply``)
            while heads and pos_seen[heads[0][1]] != heads[0][2]:
                heappop(heads)
            if heads and time_ns > heads[0][0]:
                return False
            outs = run(op)
            conn = op.conn
            index = op.index + 1
            pos_op[conn] = index
            if time_ns > maxinv:
                maxinv = self.maxinv = time_ns
            for j, (to, message) in enumerate(outs):
                seen = seen_of.get(to)
                if seen is None:
                    continue
                pos = pos_seen[to]
                if pos < len(seen):
                    got = seen[pos]
                    if got.time_ns < maxinv:
                        return False  # early
                    used = stands_for(message, seen, pos)
                    if used == 0:
                        return False  # differs
                    if used > 0:
                        for i in range(pos, pos + used):
                            matched[(to, i)] = message
                        pos += used
                        pos_seen[to] = pos
                        if pos < len(seen):
                            heappush(heads, (seen[pos].time_ns, to, pos))
                    continue
                # an output past the connection's last observation: may it go unseen?
                if self.match(op, k, outs, j) is not None:
                    return False
                break
            # ``stuck``: an observation captured before every op still to run
            while heads and pos_seen[heads[0][1]] != heads[0][2]:
                heappop(heads)
            if heads and heads[0][0] < suffix[k + 1]:
                return False
            following = tracks[conn].ops
            if index < len(following):
                heappush(due, (following[index].due_ns, conn, index))
        return all(pos_seen[conn] == len(seen) for conn, seen in seen_of.items())

    def state(self) -> State:
        return State(
            self.machine.snapshot(),
            dict(self.pos_op),
            dict(self.pos_seen),
            self.maxinv,
            len(self.outcome.divergences),
            len(self.log),
        )

    def restore(self, state: State) -> None:
        self.machine.restore(state.machine)
        self.pos_op = dict(state.pos_op)
        self.pos_seen = dict(state.pos_seen)
        self.maxinv = state.maxinv
        del self.outcome.divergences[state.divergences :]
        del self.log[state.log :]
        seen = self.seen
        self.heads = [(seen[c][p].time_ns, c, p) for c, p in self.pos_seen.items() if p < len(seen[c])]
        heapq.heapify(self.heads)

    def snapshot(self, k: int) -> None:
        """Keep the state at position ``k``; the log is kept from the oldest snapshot on."""
        if not self.snaps:
            self.log.clear()
        elif len(self.snaps) == self.snaps.maxlen:
            self.snaps.popleft()
            drop = self.snaps[0][1].log if self.snaps else len(self.log)
            del self.log[:drop]
            for _k, state in self.snaps:
                state.log -= drop
        self.snaps.append((k, self.state()))

    def since_snapshot(self) -> int:
        return len(self.log) - self.snaps[-1][1].log

    def horizon(self) -> int:
        """The capture time of the earliest observation not yet explained."""
        heads = self.heads
        pos_seen = self.pos_seen
        while heads and pos_seen[heads[0][1]] != heads[0][2]:
            heapq.heappop(heads)
        return heads[0][0] if heads else NEVER

    def apply(self, op: Op, k: int) -> Failure | None:
        """Run ``op`` (position ``k`` of the guess) and match what it sends; a failure, or None.

        An op captured after an observation nothing has explained yet cannot
        run (whatever produces that observation must run first): that is an
        ``unexplained`` failure naming the op, which is then not run.
        """
        heads = self.heads
        if heads:
            top = self.horizon()
            if op.time_ns > top:
                _t, conn, pos = heads[0]
                return Failure(UNEXPLAINED, k, op, conn, None, self.seen[conn][pos])
        if self.searching and op.time_ns > self._due(op.conn):
            # another connection's request was acted on before this one was even captured
            return Failure(UNEXPLAINED, k, op, op.conn, None, None)
        self.log.append((k, op))
        outs = self.machine.apply(op)
        self.pos_op[op.conn] = op.index + 1
        if op.time_ns > self.maxinv:
            self.maxinv = op.time_ns
        return self.match(op, k, outs, 0)

    def _due(self, conn: int) -> int:
        """The earliest time by which an op not yet run, on another connection than ``conn``, was acted on."""
        due = NEVER
        tracks = self.tracks
        for other, index in self.pos_op.items():
            if other != conn:
                ops = tracks[other].ops
                if index < len(ops) and ops[index].due_ns < due:
                    due = ops[index].due_ns
        return due

    def match(self, op: Op, k: int, outs: list[Out], start: int) -> Failure | None:
        seen_of = self.seen
        pos_seen = self.pos_seen
        matched = self.outcome.matched
        for j in range(start, len(outs)):
            conn, message = outs[j]
            seen = seen_of.get(conn)
            if seen is None:
                continue
            pos = pos_seen[conn]
            if pos >= len(seen):
                if self._may_go_unseen(conn, op) and not self._learnt_later(conn, op, message):
                    continue
                self.pending = (op, k, outs, j)
                return Failure(UNSENT, k, op, conn, message, None)
            got = seen[pos]
            if got.time_ns < self.maxinv:
                self.pending = (op, k, outs, j)
                return Failure(EARLY, k, op, conn, message, got)
            used = self.machine.match(message, seen, pos)
            if used == 0:
                self.pending = (op, k, outs, j)
                return Failure(DIFFERS, k, op, conn, message, got)
            if used > 0:
                for i in range(pos, pos + used):
                    matched[(conn, i)] = message
                pos += used
                pos_seen[conn] = pos
                if pos < len(seen):
                    heapq.heappush(self.heads, (seen[pos].time_ns, conn, pos))
        return None

    def _may_go_unseen(self, conn: int, op: Op) -> bool:
        """May an output to ``conn`` be missing from the capture?

        Yes when the capture lost that direction's bytes, when the capture
        ended with the connection open before anything proves ``op`` was
        acted on, or when the client's disconnect (not yet run) could have
        been acted on first (before ``op`` was due); no when the server
        closed the connection.
        """
        track = self.tracks[conn]
        if track.seen_lost_at is not None:
            return True
        if track.server_closed:
            return False
        last = track.ops[-1] if track.ops else None
        if last is None or last.kind != DISCONNECT:
            # the capture ended first: only what the server may have done after its last frame is missing
            # (an op is acted on by when it is due, and a server acts on what it read within _PROMPT)
            return min(op.due_ns, op.time_ns + _PROMPT) >= self.end_ns
        if self.pos_op[conn] > last.index:
            return False  # the model already knows the client left: it would not send
        return last.time_ns <= min(self.horizon(), op.due_ns, op.time_ns + _PROMPT)

    def _learnt_later(self, conn: int, op: Op, message: Message | None) -> bool:
        """Did ``conn`` later send what only ``message`` told it (the job handle it carries)?

        Then the message reached the peer and the capture would hold it: a
        missing one is not excused by the peer's disconnect or the capture's
        end. The machine names what a message carries (``carries``, optional).
        """
        carries = getattr(self.machine, "carries", None)
        if carries is None or message is None:
            return False
        told = carries(message)
        if not told:
            return False
        track = self.tracks[conn]
        for later in track.ops[op.index + 1 :] if op.conn == conn else track.ops:
            said = later.message
            if later.time_ns >= op.time_ns and type(said) is Packet and said.args and said.args[0] == told:
                return True
        return False

    def stuck(self, k: int) -> Failure | None:
        """An observation captured before every op still to run: nothing can produce it any more."""
        top = self.horizon()
        if top >= self.suffix_inv[k + 1]:
            return None
        _t, conn, pos = self.heads[0]
        return Failure(UNEXPLAINED, k, None, conn, None, self.seen[conn][pos])

    def skip(self, conn: int) -> None:
        """The observation at the head of ``conn`` is taken as the server's doing, unexplained by the model."""
        pos = self.pos_seen[conn]
        self.outcome.matched[(conn, pos)] = None
        self.pos_seen[conn] = pos + 1
        if pos + 1 < len(self.seen[conn]):
            heapq.heappush(self.heads, (self.seen[conn][pos + 1].time_ns, conn, pos + 1))

    def progress(self) -> int:
        """How many observations are explained so far."""
        return sum(self.pos_seen.values())

    def first_unrun(self, start: int) -> int:
        """The first position from ``start`` on whose op has not run."""
        schedule = self.schedule
        for position in range(start, len(schedule)):
            op = schedule[position]
            if self.pos_op[op.conn] <= op.index:
                return position
        return len(schedule)
