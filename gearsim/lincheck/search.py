"""The search for an order in which the model sends exactly what the server sent (PURE).

A capture fixes each connection's order; across connections the server could
have acted on requests in any order that respects time: a request is acted
on after it was captured, and an op's replies are captured after it. An order
*explains* the capture when replaying the ops in it makes the machine send,
connection by connection, exactly the observed messages, and no observation
was captured before an op that produced it could have run.

The engine works in two levels.

1. **Replay of a guessed order** (linear): ``History.schedule`` places each op
   at the time its effect was observed. The ops are replayed in that order;
   each output must equal the next unconsumed observation of its connection
   (``Machine.match``, which pairs handles), and be captured no earlier than
   every op applied so far. The engine keeps a snapshot of its state every
   ``snapshot_every`` ops (the machine's own, plus the positions).
2. **Search** where the guess fails: from the newest snapshot, a depth-first
   search over the orders the capture allows (Wing & Gong's algorithm as
   Lowe refined it: an op may run only when no unexplained observation was
   captured before it; memoised on the machine's fingerprint and the
   positions reached), visited in limited-discrepancy order (first the
   guessed order, then every order one step away from it, then two...), until
   the failure point plus ``margin`` is passed. If none is found it widens to
   older snapshots.

If no order explains the capture (or ``budget`` runs out: *undecided*), the
engine records a ``Divergence`` at the guessed order's failure, **adopts the
server's behaviour** and goes on: it tries each way of reading the
difference (the server sent this instead of what the model sends; the model's
message was never sent; the server's message is extra), keeps the one under
which the rest of the capture agrees best, and never searches back across it.
So one defect is reported once.

The engine knows nothing of Gearman: the ``Machine`` protocol is its whole
view of the model.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from gearsim.lincheck.history import DISCONNECT, NEVER, Op, Seen, Track
from gearsim.protocol.packets import Message, Packet

__all__ = ["Budget", "Divergence", "Engine", "Failure", "Machine", "Outcome"]

#: what applying an op makes the machine send: (connection, message) or (connection, None) for a close
Out = tuple[int, Message | None]
#: told how many states the current search has explored, says whether to stop (True: out of budget)
Budget = Callable[[int], bool]
#: (failure, ops run since the snapshot, the failing op (or nothing), each connection's next op,
#: each connection's next op index) -> moves worth trying first: (ops, the op to place them just
#: before; None: before the failing op)
Hints = Callable[[Any, list[Op], list[Op], list[Op], dict[int, int]], list[tuple[list[Op], Op | None]]]

DIFFERS: Final[str] = "differs"
EARLY: Final[str] = "early"
UNSENT: Final[str] = "unsent"
UNEXPLAINED: Final[str] = "unexplained"
#: ways to adopt the server's behaviour at a divergence
SUBSTITUTE: Final[str] = "substitute"
DROP: Final[str] = "drop"
SKIP: Final[str] = "skip"
IGNORE: Final[str] = "ignore"
#: ops past the goal a search may still run early
_EXTRA: Final[int] = 64
#: snapshot spacing for a while after a failure (repairs replay from a snapshot: keep them near)
_TURBULENT_EVERY: Final[int] = 48
_TURBULENCE: Final[int] = 2048
#: a server acts on a request it has read within this (only to excuse replies the capture ended too soon for)
_PROMPT: Final[int] = 250_000_000
#: orders a repair tries before the memoised search takes over
_REPAIR_CAP: Final[int] = 200
#: a repair starts from a snapshot at least this many ops before the failure, if one is kept
_MIN_BACK: Final[int] = 24


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
class _Node:
    """An order tried by the repair: how far it got (observations explained), the ops it ran, and how it failed."""

    reached: int
    order: list[Op]
    failure: Failure
    pos_op: dict[int, int]


@dataclass(slots=True)
class _State:
    machine: Any
    pos_op: dict[int, int]
    pos_seen: dict[int, int]
    maxinv: int
    divergences: int
    log: int


class Engine:
    """Finds an order explaining one history (see the module docstring)."""

    def __init__(
        self,
        tracks: Mapping[int, Track],
        schedule: Sequence[Op],
        machine: Machine,
        budget: Budget,
        *,
        snapshot_every: int = 512,
        margin: int = 24,
        widen: int = 3,
        discrepancies: int = 3,
        lookahead: int = 48,
        reach: int = 8,
        hints: Hints | None = None,
        describe: Callable[[Failure], Any] | None = None,
    ) -> None:
        self.tracks = tracks
        self.seen: dict[int, list[Seen]] = {c: t.seen for c, t in tracks.items()}
        #: the time of the capture's last event in this history
        self.end_ns = max(
            max((t.ops[-1].time_ns for t in tracks.values() if t.ops), default=0),
            max((t.seen[-1].time_ns for t in tracks.values() if t.seen), default=0),
        )
        self.schedule = schedule
        self.position = {(op.conn, op.index): k for k, op in enumerate(schedule)}
        suffix = [0] * (len(schedule) + 1)
        low = NEVER
        suffix[-1] = low
        for k in range(len(schedule) - 1, -1, -1):
            low = min(low, schedule[k].time_ns)
            suffix[k] = low
        self.suffix_inv = suffix
        self.machine = machine
        self.budget = budget
        self.snapshot_every = snapshot_every
        self.margin = margin
        self.discrepancies = discrepancies
        self.lookahead = lookahead
        self.reach = reach
        self.hints = hints
        #: called with each failure as it becomes a divergence (the machine still in that state)
        self.describe = describe
        self.pos_op: dict[int, int] = dict.fromkeys(tracks, 0)
        self.pos_seen: dict[int, int] = dict.fromkeys(tracks, 0)
        self.maxinv = 0
        self.heads: list[tuple[int, int, int]] = [(t.seen[0].time_ns, c, 0) for c, t in tracks.items() if t.seen]
        heapq.heapify(self.heads)
        self.snaps: deque[tuple[int, _State]] = deque(maxlen=widen)
        self.outcome = Outcome()
        #: the op being matched when the last failure happened: (op, position, outputs, output index)
        self._pending: tuple[Op, int, list[Out], int] | None = None
        #: (position, op) of every op applied since the oldest snapshot kept, in the order applied
        self.log: list[tuple[int, Op]] = []
        #: True while a repair or search tries orders other than the guess (each op must then also come
        #: after every op that was due before it was captured)
        self._searching = False
        #: until this position, snapshots are taken every ``_CALM_AFTER`` ops (a failure happened near)
        self._turbulent = -1

    # ----------------------------------------------------------------- state

    def _state(self) -> _State:
        return _State(
            self.machine.snapshot(),
            dict(self.pos_op),
            dict(self.pos_seen),
            self.maxinv,
            len(self.outcome.divergences),
            len(self.log),
        )

    def _restore(self, state: _State) -> None:
        self.machine.restore(state.machine)
        self.pos_op = dict(state.pos_op)
        self.pos_seen = dict(state.pos_seen)
        self.maxinv = state.maxinv
        del self.outcome.divergences[state.divergences :]
        del self.log[state.log :]
        seen = self.seen
        self.heads = [(seen[c][p].time_ns, c, p) for c, p in self.pos_seen.items() if p < len(seen[c])]
        heapq.heapify(self.heads)

    def _snapshot(self, k: int) -> None:
        """Keep the state at position ``k``; the log is kept from the oldest snapshot on."""
        if not self.snaps:
            self.log.clear()
        elif len(self.snaps) == self.snaps.maxlen:
            self.snaps.popleft()
            drop = self.snaps[0][1].log if self.snaps else len(self.log)
            del self.log[:drop]
            for _k, state in self.snaps:
                state.log -= drop
        self.snaps.append((k, self._state()))

    def _since_snapshot(self) -> int:
        return len(self.log) - self.snaps[-1][1].log

    def _horizon(self) -> int:
        """The capture time of the earliest observation not yet explained."""
        heads = self.heads
        pos_seen = self.pos_seen
        while heads and pos_seen[heads[0][1]] != heads[0][2]:
            heapq.heappop(heads)
        return heads[0][0] if heads else NEVER

    # ----------------------------------------------------------------- level 1

    def run(self) -> Outcome:
        """Explain the whole history; every observation ends matched or adopted."""
        schedule = self.schedule
        n = len(schedule)
        k = 0
        self._snapshot(0)
        while k < n:
            op = schedule[k]
            if self.pos_op[op.conn] > op.index:
                k += 1  # already run by a search
                continue
            if self._since_snapshot() >= (_TURBULENT_EVERY if k < self._turbulent else self.snapshot_every):
                self._snapshot(k)
            failure = self._apply(op, k) or self._stuck(k)
            if failure is None:
                k += 1
            else:
                k = self._recover(failure, k)
        self._leftovers()
        return self.outcome

    def replay(self) -> bool:
        """Only level 1, without snapshots: does the guessed order alone explain every observation?

        True: ``outcome.matched`` holds every observation. False: it stopped
        at the first failure (the engine is then spent: build another).
        """
        tracks = self.tracks
        pos_op = self.pos_op
        # each connection's next op by when it was due: no op may run after one due before it was captured
        due = [(t.ops[0].due_ns, conn, 0) for conn, t in tracks.items() if t.ops]
        heapq.heapify(due)
        for k, op in enumerate(self.schedule):
            while due and pos_op[due[0][1]] != due[0][2]:
                heapq.heappop(due)
            if due and op.time_ns > due[0][0]:
                return False
            if self._apply(op, k) or self._stuck(k):
                return False
            following = tracks[op.conn].ops
            if op.index + 1 < len(following):
                heapq.heappush(due, (following[op.index + 1].due_ns, op.conn, op.index + 1))
            if len(self.log) >= 4096:
                self.log.clear()  # nothing searches back: keep memory flat
        return all(self.pos_seen[conn] == len(seen) for conn, seen in self.seen.items())

    def _apply(self, op: Op, k: int) -> Failure | None:
        """Run ``op`` (position ``k`` of the guess) and match what it sends; a failure, or None.

        An op captured after an observation nothing has explained yet cannot
        run (whatever produces that observation must run first): that is an
        ``unexplained`` failure naming the op, which is then not run.
        """
        heads = self.heads
        if heads:
            top = self._horizon()
            if op.time_ns > top:
                _t, conn, pos = heads[0]
                return Failure(UNEXPLAINED, k, op, conn, None, self.seen[conn][pos])
        if self._searching and op.time_ns > self._due(op.conn):
            # another connection's request was acted on before this one was even captured
            return Failure(UNEXPLAINED, k, op, op.conn, None, None)
        self.log.append((k, op))
        outs = self.machine.apply(op)
        self.pos_op[op.conn] = op.index + 1
        if op.time_ns > self.maxinv:
            self.maxinv = op.time_ns
        return self._match(op, k, outs, 0)

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

    def _match(self, op: Op, k: int, outs: list[Out], start: int) -> Failure | None:
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
                self._pending = (op, k, outs, j)
                return Failure(UNSENT, k, op, conn, message, None)
            got = seen[pos]
            if got.time_ns < self.maxinv:
                self._pending = (op, k, outs, j)
                return Failure(EARLY, k, op, conn, message, got)
            used = self.machine.match(message, seen, pos)
            if used == 0:
                self._pending = (op, k, outs, j)
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
        return last.time_ns <= min(self._horizon(), op.due_ns, op.time_ns + _PROMPT)

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

    def _stuck(self, k: int) -> Failure | None:
        """An observation captured before every op still to run: nothing can produce it any more."""
        top = self._horizon()
        if top >= self.suffix_inv[k + 1]:
            return None
        _t, conn, pos = self.heads[0]
        return Failure(UNEXPLAINED, k, None, conn, None, self.seen[conn][pos])

    def _leftovers(self) -> None:
        for conn, seen in self.seen.items():
            while self.pos_seen[conn] < len(seen):
                pos = self.pos_seen[conn]
                failure = Failure(UNEXPLAINED, len(self.schedule), None, conn, None, seen[pos])
                self._skip(conn)
                self.outcome.divergences.append(self._divergence(failure, SKIP, True, 0))

    def _divergence(self, failure: Failure, adopted: str, decided: bool, nodes: int) -> Divergence:
        note = self.describe(failure) if self.describe is not None else None
        return Divergence(failure, adopted, decided, nodes, note)

    # ----------------------------------------------------------------- level 2

    def _recover(self, failure: Failure, k: int) -> int:
        """Search for an order past ``failure``; else record a divergence and adopt. Returns where to go on."""
        self._turbulent = k + _TURBULENCE
        at_failure = self._state()
        pending = self._pending
        decided = True
        nodes = 0
        goal = min(k + self.margin, len(self.schedule))
        self.outcome.searches += 1
        self._searching = True
        try:
            resume, nodes, found = self._repair_or_search(failure, k, goal)
        finally:
            self._searching = False
        if resume is not None and resume >= 0:
            self.outcome.nodes += nodes
            self.outcome.repaired += 1
            return resume
        decided = found is not None
        self.outcome.nodes += nodes
        if found:
            self.outcome.repaired += 1
            return goal
        options = self._options(failure)
        before_op = self._before_op(at_failure, failure)
        if before_op is None and IGNORE in options:
            options.remove(IGNORE)
        states = {option: (before_op if option == IGNORE else at_failure) for option in options}
        choice = options[0]
        if len(options) > 1:
            scores = []
            for option in options:
                self._restore(states[option])  # type: ignore[arg-type]
                self._pending = pending
                scores.append((self._score(failure, option, k), options.index(option), option))
            choice = min(scores)[2]
        self._restore(states[choice])  # type: ignore[arg-type]
        self._pending = pending
        self.outcome.divergences.append(self._divergence(failure, choice, decided, nodes))
        self._adopt(failure, choice)
        # never search back across a divergence
        self.snaps.clear()
        self.log.clear()
        if failure.op is not None and self.pos_op[failure.op.conn] == failure.op.index:
            self._snapshot(k)
            return k  # the op could not run yet: try it again
        while (again := self._stuck(k)) is not None:
            self.outcome.divergences.append(self._divergence(again, SKIP, decided, 0))
            self._skip(again.conn)
        self._snapshot(k + 1)
        return k + 1

    def _repair_or_search(self, failure: Failure, k: int, goal: int) -> tuple[int | None, int, bool | None]:
        """A repair, then the memoised search: (where to go on, or None), states explored, and whether
        the search found an order (None: out of budget)."""
        resume, nodes = self._repair(failure, k, goal)
        if resume is not None and resume >= 0:
            return resume, nodes, True
        found: bool | None = None if resume == -1 else False
        if resume is None:
            for base_position, base in reversed(self.snaps):
                found, used = self._search(base_position, base, goal)
                nodes += used
                if found is not False:
                    break
        return None, nodes, found

    @staticmethod
    def _options(failure: Failure) -> list[str]:
        if failure.why == DIFFERS:
            return [SUBSTITUTE, SKIP, DROP, IGNORE]
        if failure.why == EARLY:
            return [SKIP, DROP, SUBSTITUTE, IGNORE]
        if failure.why == UNSENT:
            return [DROP, IGNORE]
        return [SKIP]

    def _before_op(self, at_failure: _State, failure: Failure) -> _State | None:
        """The state just before the failing op ran (rebuilt from the newest snapshot), or None."""
        if failure.op is None or failure.why == UNEXPLAINED or not self.snaps:
            return None
        self._restore(at_failure)
        entries = list(self.log[self.snaps[-1][1].log : -1])
        if not self.log or self.log[-1][1] is not failure.op:
            return None
        self._restore(self.snaps[-1][1])
        for position, op in entries:
            if self._apply(op, position) is not None:
                return None
        return self._state()

    def _skip(self, conn: int) -> None:
        """The observation at the head of ``conn`` is taken as the server's doing, unexplained by the model."""
        pos = self.pos_seen[conn]
        self.outcome.matched[(conn, pos)] = None
        self.pos_seen[conn] = pos + 1
        if pos + 1 < len(self.seen[conn]):
            heapq.heappush(self.heads, (self.seen[conn][pos + 1].time_ns, conn, pos + 1))

    def _adopt(self, failure: Failure, choice: str) -> None:
        """Take the server's behaviour at ``failure`` as ``choice`` says, then finish matching the op's outputs.

        Further differences in the same op's outputs are divergences of their
        own, adopted the first way their kind allows.
        """
        if failure.why == UNEXPLAINED:
            self._skip(failure.conn)
            return
        if choice == IGNORE:
            # the server did not act on the op as the model would: the model does not run it
            op = failure.op
            assert op is not None
            self._pending = None
            self.pos_op[op.conn] = op.index + 1
            if failure.conn == op.conn and failure.seen is not None:
                self._skip(failure.conn)
            return
        assert self._pending is not None
        op, k, outs, j = self._pending
        self._pending = None
        start = self._take(failure, choice, j)
        while (nxt := self._match(op, k, outs, start)) is not None:
            assert self._pending is not None
            j = self._pending[3]
            self._pending = None
            option = self._options(nxt)[0]
            self.outcome.divergences.append(self._divergence(nxt, option, True, 0))
            start = self._take(nxt, option, j)

    def _take(self, failure: Failure, choice: str, j: int) -> int:
        """Apply ``choice`` at output ``j``; returns the output to go on matching from."""
        if choice == SUBSTITUTE and failure.seen is not None:
            self.machine.substitute(failure.expected, failure.seen.message)
            self._skip(failure.conn)
            return j + 1
        if choice == SKIP and failure.seen is not None:
            self._skip(failure.conn)
            return j  # the output may stand for the observation after
        return j + 1

    def _score(self, failure: Failure, option: str, k: int) -> int:
        """How many divergences the guessed order meets in the next ops after adopting ``option``."""
        before = len(self.outcome.divergences)
        self._adopt(failure, option)
        schedule = self.schedule
        end = min(k + 1 + self.lookahead, len(schedule))
        for position in range(k + 1, end):
            op = schedule[position]
            if self.pos_op[op.conn] > op.index:
                continue
            nxt = self._apply(op, position) or self._stuck(position)
            if nxt is not None:
                option = self._options(nxt)[0]
                self.outcome.divergences.append(self._divergence(nxt, option, True, 0))
                self._adopt(nxt, option)
        return len(self.outcome.divergences) - before

    def _repair(self, failure: Failure, k: int, goal: int) -> tuple[int | None, int]:
        """Best-first search over orders a few moves away from the one that failed.

        A move places one op just before another: an op the ``hints`` name
        (the op whose effect the failing reply shows, or that must come
        first), the failing op earlier, an op that has not run yet before it,
        or an op that ran before it after it. Each order is replayed from the
        newest snapshot and then the guess is followed until it fails; the
        order that got furthest is expanded next (its own failure generating
        moves in turn), so several wrong guesses in one burst are undone one
        after the other, and a move that led nowhere is backed out of. The
        first order that runs to ``goal`` wins. Returns (where to go on;
        None: no order found; -1: out of budget) and the orders tried.
        """
        base_position, base = self.snaps[0]
        for position, state in reversed(self.snaps):
            if len(self.log) - state.log >= _MIN_BACK:
                base_position, base = position, state
                break
        done = [op for _p, op in self.log[base.log :]]
        root = _Node(self._progress(), done, failure, dict(self.pos_op))
        frontier: list[tuple[int, int, _Node, Iterator[list[Op]] | None]] = [(-root.reached, 0, root, None)]
        tried: set[tuple[tuple[int, int], ...]] = {tuple((op.conn, op.index) for op in done)}
        serial = 0
        best = root
        out_of_budget = False
        while frontier:
            rank, at, node, moves = heapq.heappop(frontier)
            if moves is None:
                moves = iter(self._moves(node, goal))
            order = next(moves, None)
            if order is None:
                continue
            heapq.heappush(frontier, (rank, at, node, moves))  # its other moves, later
            key = tuple((op.conn, op.index) for op in order)
            if key in tried or not self._valid(base, order):
                continue
            tried.add(key)
            if len(tried) > _REPAIR_CAP:
                break  # the exhaustive search (memoised on states) takes over
            if self.budget(len(tried)):
                out_of_budget = True
                break
            child = self._try(base_position, base, order, goal)
            if child is None:
                return goal, len(tried)  # the engine is in the state that reached the goal
            if child.reached > best.reached:
                best = child
            if child.reached >= node.reached - 2:
                serial += 1
                heapq.heappush(frontier, (-child.reached, serial, child, None))
        if best is not root:
            # no order reached the goal, but one explains more than the guess: go on from its failure
            order = best.order[:-1] if best.failure.why != UNEXPLAINED else best.order
            self._try(base_position, base, order, base_position)
            return self._first_unrun(base_position), len(tried)
        return (-1 if out_of_budget else None), len(tried)

    def _first_unrun(self, start: int) -> int:
        """The first position from ``start`` on whose op has not run."""
        schedule = self.schedule
        for position in range(start, len(schedule)):
            op = schedule[position]
            if self.pos_op[op.conn] <= op.index:
                return position
        return len(schedule)

    def _moves(self, node: _Node, goal: int) -> list[list[Op]]:
        """The orders one move away from ``node``'s."""
        failure = node.failure
        seq = list(node.order)
        failing: Op | None = None
        if failure.why != UNEXPLAINED:
            failing = seq.pop()
        elif failure.op is not None:
            failing = failure.op
        nexts = []
        for conn, index in node.pos_op.items():
            ops = self.tracks[conn].ops
            if (
                index < len(ops)
                and (failing is None or conn != failing.conn)
                and self.position[(conn, index)] < goal + _EXTRA
            ):
                nexts.append(ops[index])
        nexts.sort(key=lambda o: self.position[(o.conn, o.index)])
        tail = [failing] if failing is not None else []
        moves: list[list[Op]] = []
        if self.hints is not None:
            for place, before in self.hints(failure, seq, tail, nexts, node.pos_op):
                moved = _place(seq + tail, place, before, bool(tail))
                if moved is not None:
                    moves.append(moved)
        if failing is not None:
            for j in range(len(seq) - 1, max(-1, len(seq) - 1 - self.reach), -1):
                moves.append([*seq[:j], failing, *seq[j:]])
        moves.extend([*seq, op, *tail] for op in nexts)
        if failing is not None:
            for j in range(len(seq) - 1, max(-1, len(seq) - 1 - self.reach), -1):
                moves.append([*seq[:j], *seq[j + 1 :], failing, seq[j]])
        return moves

    def _valid(self, base: _State, order: list[Op]) -> bool:
        """Each connection's ops in ``order`` follow on from the snapshot, in their own order."""
        nxt = dict(base.pos_op)
        for op in order:
            if nxt.get(op.conn) != op.index:
                return False
            nxt[op.conn] = op.index + 1
        return True

    def _progress(self) -> int:
        """How many observations are explained so far."""
        return sum(self.pos_seen.values())

    def _try(self, base_position: int, base: _State, order: list[Op], goal: int) -> _Node | None:
        """Restore ``base``, run ``order``, then follow the guess up to ``goal``.

        Returns the node for where it failed, with its progress (None: it
        reached ``goal``, and the engine is left in that state).
        """
        self._restore(base)
        for op in order:
            failure = self._apply(op, self.position[(op.conn, op.index)])
            if failure is not None:
                return _Node(self._progress(), [o for _p, o in self.log[base.log :]], failure, dict(self.pos_op))
        schedule = self.schedule
        for position in range(base_position, goal):
            op = schedule[position]
            if self.pos_op[op.conn] > op.index:
                continue
            failure = self._apply(op, position) or self._stuck(position)
            if failure is not None:
                return _Node(self._progress(), [o for _p, o in self.log[base.log :]], failure, dict(self.pos_op))
        return None

    def _search(self, base_position: int, base: _State, goal: int) -> tuple[bool | None, int]:
        """Depth-first search from ``base`` for an order running every op before ``goal``.

        Returns (True: found, the engine is in that state; False: none; None:
        out of budget) and the states explored.
        """
        schedule = self.schedule
        window = schedule[base_position : min(goal + _EXTRA, len(schedule))]
        conns = sorted({op.conn for op in window})
        needed = [op for op in schedule[base_position:goal]]
        since = _pairs(base.machine)
        explored = 0
        for allowed in range(1, self.discrepancies + 1):
            memo: set[Hashable] = set()
            stack: list[tuple[_State, int, list[tuple[int, Op]] | None, int]] = [(base, 0, None, 0)]
            while stack:
                state, spent, candidates, index = stack[-1]
                if candidates is None:
                    self._restore(state)
                    if all(self.pos_op[op.conn] > op.index for op in needed):
                        return True, explored
                    candidates = self._candidates(conns, goal + _EXTRA)
                    stack[-1] = (state, spent, candidates, 0)
                    continue
                cost = 0 if index == 0 else 1
                if index >= len(candidates) or spent + cost > allowed:
                    stack.pop()
                    continue
                stack[-1] = (state, spent, candidates, index + 1)
                position, op = candidates[index]
                if index:
                    self._restore(state)
                failure = self._apply(op, position) or self._stuck_in(conns)
                if failure is not None:
                    continue
                child = self._state()
                key = (
                    tuple(self.pos_op[c] for c in conns),
                    tuple(self.pos_seen[c] for c in conns),
                    self.machine.fingerprint(child.machine, since),
                )
                if key in memo:
                    continue
                memo.add(key)
                explored += 1
                if self.budget(explored):
                    return None, explored
                stack.append((child, spent + cost, None, 0))
        return False, explored

    def _candidates(self, conns: list[int], limit: int) -> list[tuple[int, Op]]:
        """The ops that may run next: each connection's next op, captured before every unexplained observation."""
        horizon = self._horizon()
        out: list[tuple[int, Op]] = []
        for conn in conns:
            ops = self.tracks[conn].ops
            index = self.pos_op[conn]
            if index >= len(ops):
                continue
            op = ops[index]
            position = self.position[(conn, index)]
            if position < limit and op.time_ns <= horizon:
                out.append((position, op))
        out.sort(key=lambda c: c[0])
        return out

    def _stuck_in(self, conns: list[int]) -> Failure | None:
        """During a search: an observation captured before every op the window's connections have left."""
        top = self._horizon()
        low = NEVER
        for conn in conns:
            ops = self.tracks[conn].ops
            index = self.pos_op[conn]
            if index < len(ops):
                low = min(low, ops[index].time_ns)
        if top < low:
            _t, conn, pos = self.heads[0]
            return Failure(UNEXPLAINED, -1, None, conn, None, self.seen[conn][pos])
        return None


def _place(order: list[Op], ops: list[Op], before: Op | None, last: bool) -> list[Op] | None:
    """``order`` with ``ops`` moved (or added) just before ``before``; None if ``before`` is not in it.

    ``before`` None: just before the last op of ``order`` when ``last`` (the
    failing op), else at the end.
    """
    moving = {id(o) for o in ops}
    rest = [o for o in order if id(o) not in moving]
    if before is None:
        if last and rest and id(order[-1]) not in moving:
            return [*rest[:-1], *ops, rest[-1]]
        return [*rest, *ops]
    for i, o in enumerate(rest):
        if o is before:
            return [*rest[:i], *ops, *rest[i:]]
    return None


def _pairs(snap: Any) -> int:
    """The pairing count recorded in a machine snapshot (0 for machines that record none)."""
    if isinstance(snap, tuple) and len(snap) >= 3 and isinstance(snap[2], int):
        return snap[2]
    return 0
