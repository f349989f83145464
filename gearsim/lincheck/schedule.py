"""The engine's first guess at the order in which the server acted on the ops (PURE).

A good guess makes the check linear; a bad one costs searches. The guess
uses only what the capture shows:

* an op whose reply was observed is placed at that reply's time (a server
  writes a reply as it acts), a WORK_* op at the time its copy first reached
  a listener, any other op at its own time;
* servers number jobs: gearmand, Perl Gearman::Server and gear all end a
  handle with a counter that only new jobs advance (GM-LIMIT-005's reason).
  When the handles of the capture follow that pattern, the submissions that
  created jobs are put in counter order (their replies can be written out of
  order by a server's I/O threads, the counter cannot), and so are the grabs
  that took jobs of one function and priority from its first-in-first-out
  queue. The counter only orders the guess: handles are still never
  compared as literals, and a wrong guess merely costs a search;
* within a connection the order is the capture's, and no op is placed
  before it was captured or after its reply.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Final

from gearsim.lincheck.history import History, Op, Seen, forward_times, replies_of
from gearsim.protocol.packets import Packet, PacketType

__all__ = ["guess_order"]

T = PacketType
_COUNTED: Final = re.compile(rb"^(.*?)(\d+)$")
_ASSIGNS: Final[frozenset[int]] = frozenset({T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL})
#: submission type -> priority rank (0 high)
_PRIORITY: Final[dict[int, int]] = {
    T.SUBMIT_JOB_HIGH: 0,
    T.SUBMIT_JOB_HIGH_BG: 0,
    T.SUBMIT_JOB_LOW: 2,
    T.SUBMIT_JOB_LOW_BG: 2,
}

_Key = tuple[int, int]


def guess_order(
    history: History, per_function: bool = True, answered: Mapping[int, Mapping[int, Seen]] | None = None
) -> list[Op]:
    """Every op of ``history`` in the guessed order (see the module docstring).

    ``per_function``: the server serves a worker's functions one after the
    other (gearmand 1.1) rather than by priority across them. ``answered``:
    each connection's ``replies_of``, when the caller has them already.
    """
    replies: dict[_Key, Seen] = {}
    for track in history.tracks.values():
        conn = track.conn
        mine = answered[conn] if answered is not None else replies_of(track)
        for index, seen in mine.items():
            replies[(conn, index)] = seen
    forwards = forward_times(history)
    ops: dict[_Key, Op] = {(op.conn, op.index): op for t in history.tracks.values() for op in t.ops}
    est: dict[_Key, int] = {}
    for key, op in ops.items():
        reply = replies.get(key)
        est[key] = max(reply.time_ns if reply is not None else forwards.get(key, op.time_ns), op.time_ns)
    creators, _number = _counter_order(ops, replies, est)
    edges = _causes(ops, replies, creators)
    _relax(history, edges, est)
    keyed = sorted((est[key], op.time_ns, key[0], key[1]) for key, op in ops.items())
    return [ops[(k[2], k[3])] for k in keyed]


def _relax(history: History, edges: list[tuple[_Key, _Key]], est: dict[_Key, int]) -> None:
    """Push each effect after its cause, and each op after the one before it on its connection."""
    for _round in range(3):
        _in_connection_order(history, est)
        moved = False
        for before, after in edges:
            if est[after] <= est[before]:
                est[after] = est[before] + 1
                moved = True
        if not moved:
            break
    _in_connection_order(history, est)


def _in_connection_order(history: History, est: dict[_Key, int]) -> None:
    for track in history.tracks.values():
        last = 0
        for op in track.ops:
            key = (op.conn, op.index)
            when = max(est[key], op.time_ns, last)
            est[key] = last = when


def _causes(ops: dict[_Key, Op], replies: dict[_Key, Seen], creators: dict[bytes, _Key]) -> list[tuple[_Key, _Key]]:
    """(cause, effect) pairs the replies prove across connections.

    A grab whose reply names a job, a submission coalesced onto it, a status
    poll that found it known: each came after the submission that created
    it, whatever the order their replies were captured in.
    """
    edges: list[tuple[_Key, _Key]] = []
    for key, seen in replies.items():
        message = seen.message
        if not isinstance(message, Packet) or not message.args:
            continue
        kind = message.type
        if kind in _ASSIGNS or kind == T.JOB_CREATED or (kind == T.STATUS_RES and message.args[1:2] == (b"1",)):
            maker = creators.get(message.args[0])
            if maker is not None and maker != key:
                edges.append((maker, key))
    return edges


def _counter_order(
    ops: dict[_Key, Op], replies: dict[_Key, Seen], est: dict[_Key, int]
) -> tuple[dict[bytes, _Key], dict[bytes, int]]:
    """Reorder the creating submissions, and the grabs of each queue, by the server's job counter.

    Returns the submission that created each handle (of those answered with
    it, the first sent) and the counter of each counted handle.
    """
    answered: list[tuple[_Key, bytes]] = []
    for key, seen in replies.items():
        message = seen.message
        if isinstance(message, Packet) and message.type == T.JOB_CREATED and message.args:
            answered.append((key, message.args[0]))
    created: dict[bytes, _Key] = {}
    for key, handle in sorted(answered, key=lambda a: (ops[a[0]].time_ns, a[0])):
        created.setdefault(handle, key)
    counted: dict[bytes, tuple[bytes, int]] = {}
    for handle in created:
        match = _COUNTED.match(handle)
        if match:
            counted[handle] = (match[1], int(match[2]))
    if len(counted) < 2:
        return created, {}
    prefix, _n = Counter(p for p, _c in counted.values()).most_common(1)[0]
    number = {h: c for h, (p, c) in counted.items() if p == prefix}

    def by_counter(key: _Key) -> int:
        return number[_handle(replies[key])]

    _permute([k for h, k in created.items() if h in number], by_counter, ops, replies, est)
    # grabs that took a job: one first-in-first-out queue per function and priority
    queues: dict[tuple[bytes, int], list[_Key]] = {}
    for key, seen in replies.items():
        message = seen.message
        if isinstance(message, Packet) and message.type in _ASSIGNS and len(message.args) > 1:
            handle = message.args[0]
            maker = created.get(handle)
            if handle in number and maker is not None:
                submit = ops[maker].message
                rank = _PRIORITY.get(int(submit.type), 1) if isinstance(submit, Packet) else 1
                queues.setdefault((message.args[1], rank), []).append(key)
    for keys in queues.values():
        _permute(keys, by_counter, ops, replies, est)
    return created, number


def _handle(seen: Seen) -> bytes:
    message = seen.message
    assert isinstance(message, Packet)
    return message.args[0]


def _permute(
    keys: list[_Key], rank: Callable[[_Key], int], ops: dict[_Key, Op], replies: dict[_Key, Seen], est: dict[_Key, int]
) -> None:
    """Give ``keys`` their own estimated times, reassigned in ``rank`` order, each kept within [sent, replied]."""
    if len(keys) < 2:
        return
    times = sorted(est[k] for k in keys)
    ordered = sorted(keys, key=rank)
    for key, when in zip(ordered, times, strict=True):
        low = ops[key].time_ns
        high = replies[key].time_ns
        est[key] = min(max(when, low), high)
