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

Level 1 is ``gearsim.lincheck.replay`` (a :class:`Replay` of one order),
level 2 ``gearsim.lincheck.orders`` (repairs and the search); this module
owns the engine that drives them and adopts the server's behaviour at a
divergence. The engine knows nothing of Gearman: the ``Machine`` protocol is its whole
view of the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from gearsim.lincheck.history import Op, Track
from gearsim.lincheck.orders import Hints, Knobs, repair, search
from gearsim.lincheck.replay import (
    DIFFERS,
    EARLY,
    UNEXPLAINED,
    UNSENT,
    Budget,
    Divergence,
    Failure,
    Machine,
    Outcome,
    Replay,
    State,
)

__all__ = [
    "DIFFERS",
    "EARLY",
    "UNEXPLAINED",
    "UNSENT",
    "Budget",
    "Divergence",
    "Engine",
    "Failure",
    "Hints",
    "Machine",
    "Outcome",
]

#: ways to adopt the server's behaviour at a divergence
SUBSTITUTE: Final[str] = "substitute"
DROP: Final[str] = "drop"
SKIP: Final[str] = "skip"
IGNORE: Final[str] = "ignore"
#: snapshot spacing for a while after a failure (repairs replay from a snapshot: keep them near)
_TURBULENT_EVERY: Final[int] = 48
_TURBULENCE: Final[int] = 2048


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
        impossible: Callable[[Failure], bool] | None = None,
    ) -> None:
        self.r = Replay(tracks, schedule, machine, widen)
        self.knobs = Knobs(budget, discrepancies, reach, hints)
        self.snapshot_every = snapshot_every
        self.margin = margin
        self.lookahead = lookahead
        #: called with each failure as it becomes a divergence (the machine still in that state)
        self.describe = describe
        #: says of a failure that no order could explain it (a necessary condition): no search is spent on it
        self.impossible = impossible
        #: until this position, snapshots are taken every ``_TURBULENT_EVERY`` ops (a failure happened near)
        self._turbulent = -1

    @property
    def outcome(self) -> Outcome:
        """What the engine found so far."""
        return self.r.outcome

    def replay(self) -> bool:
        """Only level 1, without snapshots: does the guessed order alone explain every observation?

        True: ``outcome.matched`` holds every observation. False: it stopped
        at the first failure (the engine is then spent: build another).
        """
        return self.r.replay()

    def run(self) -> Outcome:
        """Explain the whole history; every observation ends matched or adopted."""
        schedule = self.r.schedule
        n = len(schedule)
        k = 0
        self.r.snapshot(0)
        while k < n:
            op = schedule[k]
            if self.r.pos_op[op.conn] > op.index:
                k += 1  # already run by a search
                continue
            if self.r.since_snapshot() >= (_TURBULENT_EVERY if k < self._turbulent else self.snapshot_every):
                self.r.snapshot(k)
            failure = self.r.apply(op, k) or self.r.stuck(k)
            if failure is None:
                k += 1
            else:
                k = self._recover(failure, k)
        self._leftovers()
        return self.r.outcome

    def _leftovers(self) -> None:
        for conn, seen in self.r.seen.items():
            while self.r.pos_seen[conn] < len(seen):
                pos = self.r.pos_seen[conn]
                failure = Failure(UNEXPLAINED, len(self.r.schedule), None, conn, None, seen[pos])
                self.r.skip(conn)
                self.r.outcome.divergences.append(self._divergence(failure, SKIP, True, 0))

    def _divergence(self, failure: Failure, adopted: str, decided: bool, nodes: int) -> Divergence:
        note = self.describe(failure) if self.describe is not None else None
        return Divergence(failure, adopted, decided, nodes, note)

    def _recover(self, failure: Failure, k: int) -> int:
        """Search for an order past ``failure``; else record a divergence and adopt. Returns where to go on."""
        self._turbulent = k + _TURBULENCE
        at_failure = self.r.state()
        pending = self.r.pending
        decided = True
        nodes = 0
        goal = min(k + self.margin, len(self.r.schedule))
        self.r.outcome.searches += 1
        self.r.searching = True
        try:
            resume: int | None = None
            found: bool | None = False
            if self.impossible is None or not self.impossible(failure):
                resume, nodes, found = self._repair_or_search(failure, k, goal)
        finally:
            self.r.searching = False
        if resume is not None and resume >= 0:
            self.r.outcome.nodes += nodes
            self.r.outcome.repaired += 1
            return resume
        decided = found is not None
        self.r.outcome.nodes += nodes
        if found:
            self.r.outcome.repaired += 1
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
                self.r.restore(states[option])  # type: ignore[arg-type]
                self.r.pending = pending
                scores.append((self._score(failure, option, k), options.index(option), option))
            choice = min(scores)[2]
        self.r.restore(states[choice])  # type: ignore[arg-type]
        self.r.pending = pending
        self.r.outcome.divergences.append(self._divergence(failure, choice, decided, nodes))
        self._adopt(failure, choice)
        # never search back across a divergence
        self.r.snaps.clear()
        self.r.log.clear()
        if failure.op is not None and self.r.pos_op[failure.op.conn] == failure.op.index:
            self.r.snapshot(k)
            return k  # the op could not run yet: try it again
        while (again := self.r.stuck(k)) is not None:
            self.r.outcome.divergences.append(self._divergence(again, SKIP, decided, 0))
            self.r.skip(again.conn)
        self.r.snapshot(k + 1)
        return k + 1

    def _repair_or_search(self, failure: Failure, k: int, goal: int) -> tuple[int | None, int, bool | None]:
        """A repair, then the memoised search: (where to go on, or None), states explored, and whether
        the search found an order (None: out of budget)."""
        resume, nodes = repair(self.r, failure, k, goal, self.knobs)
        if resume is not None and resume >= 0:
            return resume, nodes, True
        found: bool | None = None if resume == -1 else False
        if resume is None:
            for base_position, base in reversed(self.r.snaps):
                found, used = search(self.r, base_position, base, goal, self.knobs)
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

    def _before_op(self, at_failure: State, failure: Failure) -> State | None:
        """The state just before the failing op ran (rebuilt from the newest snapshot), or None."""
        if failure.op is None or failure.why == UNEXPLAINED or not self.r.snaps:
            return None
        self.r.restore(at_failure)
        entries = list(self.r.log[self.r.snaps[-1][1].log : -1])
        if not self.r.log or self.r.log[-1][1] is not failure.op:
            return None
        self.r.restore(self.r.snaps[-1][1])
        for position, op in entries:
            if self.r.apply(op, position) is not None:
                return None
        return self.r.state()

    def _adopt(self, failure: Failure, choice: str) -> None:
        """Take the server's behaviour at ``failure`` as ``choice`` says, then finish matching the op's outputs.

        Further differences in the same op's outputs are divergences of their
        own, adopted the first way their kind allows.
        """
        if failure.why == UNEXPLAINED:
            self.r.skip(failure.conn)
            return
        if choice == IGNORE:
            # the server did not act on the op as the model would: the model does not run it
            op = failure.op
            assert op is not None
            self.r.pending = None
            self.r.pos_op[op.conn] = op.index + 1
            if failure.conn == op.conn and failure.seen is not None:
                self.r.skip(failure.conn)
            return
        assert self.r.pending is not None
        op, k, outs, j = self.r.pending
        self.r.pending = None
        start = self._take(failure, choice, j)
        while (nxt := self.r.match(op, k, outs, start)) is not None:
            assert self.r.pending is not None
            j = self.r.pending[3]
            self.r.pending = None
            option = self._options(nxt)[0]
            self.r.outcome.divergences.append(self._divergence(nxt, option, True, 0))
            start = self._take(nxt, option, j)

    def _take(self, failure: Failure, choice: str, j: int) -> int:
        """Apply ``choice`` at output ``j``; returns the output to go on matching from."""
        if choice == SUBSTITUTE and failure.seen is not None:
            self.r.machine.substitute(failure.expected, failure.seen.message)
            self.r.skip(failure.conn)
            return j + 1
        if choice == SKIP and failure.seen is not None:
            self.r.skip(failure.conn)
            return j  # the output may stand for the observation after
        return j + 1

    def _score(self, failure: Failure, option: str, k: int) -> int:
        """How many divergences the guessed order meets in the next ops after adopting ``option``."""
        before = len(self.r.outcome.divergences)
        self._adopt(failure, option)
        schedule = self.r.schedule
        end = min(k + 1 + self.lookahead, len(schedule))
        for position in range(k + 1, end):
            op = schedule[position]
            if self.r.pos_op[op.conn] > op.index:
                continue
            nxt = self.r.apply(op, position) or self.r.stuck(position)
            if nxt is not None:
                option = self._options(nxt)[0]
                self.r.outcome.divergences.append(self._divergence(nxt, option, True, 0))
                self._adopt(nxt, option)
        return len(self.r.outcome.divergences) - before
