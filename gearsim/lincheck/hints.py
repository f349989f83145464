"""Which reorderings to try first when the guessed order fails, read from the captured replies (PURE).

When the model's reply differs from the server's, the server's reply usually
names the op the server must have run first: a grab answered with job Y ran
after the submission that created Y; a grab answered NO_JOB ran before the
submission of the job the model handed out, or after the grab that took it
in the capture (or before the disconnect of the worker that gave it back);
a status poll ran between two WORK_STATUS packets of its job.
``GearmanHints`` indexes the history once (who created, took, polled and
reported on each captured handle) and, for a failure, proposes moves: the
ops to place just before another op. The engine tries them before its
generic moves; they only speed the search up, never decide anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from gearsim.lincheck.history import History, Op, replies_of
from gearsim.lincheck.machine import ALIAS, HANDLE_ARGS, GearmanMachine
from gearsim.lincheck.partition import SUBMITS
from gearsim.lincheck.search import UNEXPLAINED, Failure
from gearsim.protocol.packets import ASSIGN_TYPES, GRAB_TYPES, Message, Packet, PacketType

__all__ = ["GearmanHints"]

T = PacketType
#: how many places before the ops of others a PRE_SLEEP is tried at, for an unexplained NOOP
_SLEEP_REACH: Final[int] = 12
Move = tuple[list[Op], Op | None]


class GearmanHints:
    """Moves worth trying first for a failure, from what the capture shows about each job."""

    def __init__(self, history: History, machine: GearmanMachine) -> None:
        self.machine = machine
        self.tracks = history.tracks
        #: captured handle -> the ops that created it, took it, or named it
        self.related: dict[bytes, list[Op]] = {}
        #: (type, args) of a WORK_* request -> the ops that sent it
        self.work: dict[tuple[int, tuple[bytes, ...]], list[Op]] = {}
        self.submits: list[Op] = []
        for track in history.tracks.values():
            for index, seen in replies_of(track).items():
                message = seen.message
                if (
                    isinstance(message, Packet)
                    and message.args
                    and (message.type == T.JOB_CREATED or message.type in ASSIGN_TYPES)
                ):
                    self.related.setdefault(message.args[0], []).append(track.ops[index])
            for op in track.ops:
                message = op.message
                if not isinstance(message, Packet):
                    continue
                if message.type in SUBMITS:
                    self.submits.append(op)
                for i in HANDLE_ARGS.get(message.type, ()):
                    if i < len(message.args):
                        self.related.setdefault(message.args[i], []).append(op)
                if message.type in HANDLE_ARGS and message.type not in (T.GET_STATUS,):
                    self.work.setdefault((int(message.type), message.args), []).append(op)

    def __call__(
        self, failure: Failure, seq: list[Op], tail: list[Op], nexts: list[Op], pos_op: dict[int, int]
    ) -> list[Move]:
        failing = tail[0] if tail else None
        applied = {(op.conn, op.index) for op in seq}
        moves: list[Move] = []

        def before_failing(op: Op) -> None:
            chain = self._chain(op, pos_op)
            if chain:
                moves.append((chain, None))

        def failing_before(op: Op) -> None:
            if failing is not None and (op.conn, op.index) in applied and op.conn != failing.conn:
                moves.append(([failing], op))

        for handle in self._handles(failure):
            for op in self.related.get(handle, ()):
                if failing is not None and op is failing:
                    continue
                if (op.conn, op.index) in applied:
                    failing_before(op)
                else:
                    before_failing(op)
        if failure.why == UNEXPLAINED and failure.seen is not None:
            seen = failure.seen.message
            if isinstance(seen, Packet) and seen.type in HANDLE_ARGS:
                for op in self.work.get((int(seen.type), seen.args), ()):
                    before_failing(op)
            ops = self.tracks[failure.conn].ops
            index = pos_op.get(failure.conn, len(ops))
            if index < len(ops):
                before_failing(ops[index])
            if isinstance(seen, Packet) and seen.type == T.NOOP:
                for op in nexts:
                    if isinstance(op.message, Packet) and op.message.type in SUBMITS:
                        before_failing(op)
                moves.extend(_earlier_sleep(failure.conn, seq))
        return moves

    def _chain(self, op: Op, pos_op: dict[int, int]) -> list[Op]:
        """``op`` with the ops of its connection that must run before it and have not."""
        start = pos_op.get(op.conn, 0)
        if op.index < start:
            return []
        return self.tracks[op.conn].ops[start : op.index + 1]

    def _handles(self, failure: Failure) -> Iterable[bytes]:
        """The captured handles a failure is about: those in the server's reply and the model's, mapped."""
        out: list[bytes] = []
        seen = failure.seen.message if failure.seen is not None else None
        for message, mine in ((seen, False), (failure.expected if failure.why != UNEXPLAINED else None, True)):
            for handle in _handles_in(message):
                if mine:
                    mapped = self.machine.to_seen.get(handle)
                    if mapped is None:
                        continue
                    handle = mapped
                elif handle.startswith(ALIAS):
                    handle = handle[len(ALIAS) :]
                if handle not in out:
                    out.append(handle)
        if failure.op is not None:
            for handle in _handles_in(failure.op.message):
                if handle not in out:
                    out.append(handle)
        return out


def _earlier_sleep(conn: int, seq: list[Op]) -> list[Move]:
    """An unexplained NOOP to ``conn``: its PRE_SLEEP, already run, placed before ops of others that ran before it.

    A PRE_SLEEP that finds work pending is answered by a NOOP at once; when the
    guess ran it after the grab that took that work (or after the CANT_DO or
    disconnect that removed it), it found nothing and the NOOP is left
    unexplained. Grabs are tried first (they take the work), nearest first.
    """
    at = next((i for i in range(len(seq) - 1, -1, -1) if seq[i].conn == conn), None)
    if at is None:
        return []
    sleep = seq[at]
    if not isinstance(sleep.message, Packet) or sleep.message.type != T.PRE_SLEEP:
        return []
    start = next((i + 1 for i in range(at - 1, -1, -1) if seq[i].conn == conn), 0)
    others = [op for op in reversed(seq[start:at]) if op.conn != conn]
    grabs = [op for op in others if isinstance(op.message, Packet) and op.message.type in GRAB_TYPES]
    rest = [op for op in others if not (isinstance(op.message, Packet) and op.message.type in GRAB_TYPES)]
    return [([sleep], op) for op in (grabs + rest)[:_SLEEP_REACH]]


def _handles_in(message: Message | None) -> list[bytes]:
    if not isinstance(message, Packet):
        return []
    return [message.args[i] for i in HANDLE_ARGS.get(message.type, ()) if i < len(message.args) and message.args[i]]
