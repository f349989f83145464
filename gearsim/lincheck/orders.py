"""Level 2 of the order search: other orders near the guessed one (PURE).

Where the guessed order fails, these look for an order of the ops that
explains the capture from a snapshot on: first :func:`repair`, a best-first
walk over orders a few moves away from the failing one (hints from the model
first); then :func:`search`, the exhaustive depth-first search over the
orders the capture allows (Wing & Gong's algorithm as Lowe refined it),
memoised on the machine's fingerprint and visited in limited-discrepancy
order. Both work on a :class:`~gearsim.lincheck.replay.Replay` and leave it
in the state they reached.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from gearsim.lincheck.history import NEVER, Op
from gearsim.lincheck.replay import UNEXPLAINED, Budget, Failure, Replay, State

#: (failure, ops run since the snapshot, the failing op (or nothing), each connection's next op,
#: each connection's next op index) -> moves worth trying first: (ops, the op to place them just
#: before; None: before the failing op)
Hints = Callable[[Any, list[Op], list[Op], list[Op], dict[int, int]], list[tuple[list[Op], Op | None]]]

#: ops past the goal a search may still run early
_EXTRA: Final[int] = 64
#: orders a repair tries before the memoised search takes over
_REPAIR_CAP: Final[int] = 200
#: a repair starts from a snapshot at least this many ops before the failure, if one is kept
_MIN_BACK: Final[int] = 24


@dataclass(frozen=True, slots=True)
class Knobs:
    """How far the searches go: the budget of explored states, and the engine's settings."""

    budget: Budget
    discrepancies: int
    reach: int
    hints: Hints | None


@dataclass(slots=True)
class _Node:
    """An order tried by the repair: how far it got (observations explained), the ops it ran, and how it failed."""

    reached: int
    order: list[Op]
    failure: Failure
    pos_op: dict[int, int]


def repair(r: Replay, failure: Failure, k: int, goal: int, knobs: Knobs) -> tuple[int | None, int]:
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
    base_position, base = r.snaps[0]
    for position, state in reversed(r.snaps):
        if len(r.log) - state.log >= _MIN_BACK:
            base_position, base = position, state
            break
    done = [op for _p, op in r.log[base.log :]]
    root = _Node(r.progress(), done, failure, dict(r.pos_op))
    frontier: list[tuple[int, int, _Node, Iterator[list[Op]] | None]] = [(-root.reached, 0, root, None)]
    tried: set[tuple[tuple[int, int], ...]] = {tuple((op.conn, op.index) for op in done)}
    serial = 0
    best = root
    out_of_budget = False
    while frontier:
        rank, at, node, moves = heapq.heappop(frontier)
        if moves is None:
            moves = iter(_moves(r, node, goal, knobs))
        order = next(moves, None)
        if order is None:
            continue
        heapq.heappush(frontier, (rank, at, node, moves))  # its other moves, later
        key = tuple((op.conn, op.index) for op in order)
        if key in tried or not _valid(base, order):
            continue
        tried.add(key)
        if len(tried) > _REPAIR_CAP:
            break  # the exhaustive search (memoised on states) takes over
        if knobs.budget(len(tried)):
            out_of_budget = True
            break
        child = _try(r, base_position, base, order, goal)
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
        _try(r, base_position, base, order, base_position)
        return r.first_unrun(base_position), len(tried)
    return (-1 if out_of_budget else None), len(tried)


def _moves(r: Replay, node: _Node, goal: int, knobs: Knobs) -> list[list[Op]]:
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
        ops = r.tracks[conn].ops
        if index < len(ops) and (failing is None or conn != failing.conn) and r.position[(conn, index)] < goal + _EXTRA:
            nexts.append(ops[index])
    nexts.sort(key=lambda o: r.position[(o.conn, o.index)])
    tail = [failing] if failing is not None else []
    moves: list[list[Op]] = []
    if knobs.hints is not None:
        for place, before in knobs.hints(failure, seq, tail, nexts, node.pos_op):
            moved = _place(seq + tail, place, before, bool(tail))
            if moved is not None:
                moves.append(moved)
    if failing is not None:
        for j in range(len(seq) - 1, max(-1, len(seq) - 1 - knobs.reach), -1):
            moves.append([*seq[:j], failing, *seq[j:]])
    moves.extend([*seq, op, *tail] for op in nexts)
    if failing is not None:
        for j in range(len(seq) - 1, max(-1, len(seq) - 1 - knobs.reach), -1):
            moves.append([*seq[:j], *seq[j + 1 :], failing, seq[j]])
    return moves


def _valid(base: State, order: list[Op]) -> bool:
    """Each connection's ops in ``order`` follow on from the snapshot, in their own order."""
    nxt = dict(base.pos_op)
    for op in order:
        if nxt.get(op.conn) != op.index:
            return False
        nxt[op.conn] = op.index + 1
    return True


def _try(r: Replay, base_position: int, base: State, order: list[Op], goal: int) -> _Node | None:
    """Restore ``base``, run ``order``, then follow the guess up to ``goal``.

    Returns the node for where it failed, with its progress (None: it
    reached ``goal``, and the engine is left in that state).
    """
    r.restore(base)
    for op in order:
        failure = r.apply(op, r.position[(op.conn, op.index)])
        if failure is not None:
            return _Node(r.progress(), [o for _p, o in r.log[base.log :]], failure, dict(r.pos_op))
    schedule = r.schedule
    for position in range(base_position, goal):
        op = schedule[position]
        if r.pos_op[op.conn] > op.index:
            continue
        failure = r.apply(op, position) or r.stuck(position)
        if failure is not None:
            return _Node(r.progress(), [o for _p, o in r.log[base.log :]], failure, dict(r.pos_op))
    return None


def search(r: Replay, base_position: int, base: State, goal: int, knobs: Knobs) -> tuple[bool | None, int]:
    """Depth-first search from ``base`` for an order running every op before ``goal``.

    Returns (True: found, the engine is in that state; False: none; None:
    out of budget) and the states explored.
    """
    schedule = r.schedule
    window = schedule[base_position : min(goal + _EXTRA, len(schedule))]
    conns = sorted({op.conn for op in window})
    needed = [op for op in schedule[base_position:goal]]
    since = _pairs(base.machine)
    explored = 0
    for allowed in range(1, knobs.discrepancies + 1):
        memo: set[Hashable] = set()
        stack: list[tuple[State, int, list[tuple[int, Op]] | None, int]] = [(base, 0, None, 0)]
        while stack:
            state, spent, candidates, index = stack[-1]
            if candidates is None:
                r.restore(state)
                if all(r.pos_op[op.conn] > op.index for op in needed):
                    return True, explored
                candidates = _candidates(r, conns, goal + _EXTRA)
                stack[-1] = (state, spent, candidates, 0)
                continue
            cost = 0 if index == 0 else 1
            if index >= len(candidates) or spent + cost > allowed:
                stack.pop()
                continue
            stack[-1] = (state, spent, candidates, index + 1)
            position, op = candidates[index]
            if index:
                r.restore(state)
            failure = r.apply(op, position) or _stuck_in(r, conns)
            if failure is not None:
                continue
            child = r.state()
            key = (
                tuple(r.pos_op[c] for c in conns),
                tuple(r.pos_seen[c] for c in conns),
                r.machine.fingerprint(child.machine, since),
            )
            if key in memo:
                continue
            memo.add(key)
            explored += 1
            if knobs.budget(explored):
                return None, explored
            stack.append((child, spent + cost, None, 0))
    return False, explored


def _candidates(r: Replay, conns: list[int], limit: int) -> list[tuple[int, Op]]:
    """The ops that may run next: each connection's next op, captured before every unexplained observation."""
    horizon = r.horizon()
    out: list[tuple[int, Op]] = []
    for conn in conns:
        ops = r.tracks[conn].ops
        index = r.pos_op[conn]
        if index >= len(ops):
            continue
        op = ops[index]
        position = r.position[(conn, index)]
        if position < limit and op.time_ns <= horizon:
            out.append((position, op))
    out.sort(key=lambda c: c[0])
    return out


def _stuck_in(r: Replay, conns: list[int]) -> Failure | None:
    """During a search: an observation captured before every op the window's connections have left."""
    top = r.horizon()
    low = NEVER
    for conn in conns:
        ops = r.tracks[conn].ops
        index = r.pos_op[conn]
        if index < len(ops):
            low = min(low, ops[index].time_ns)
    if top < low:
        _t, conn, pos = r.heads[0]
        return Failure(UNEXPLAINED, -1, None, conn, None, r.seen[conn][pos])
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
