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
from itertools import accumulate, islice
from typing import Final

from gearsim.lincheck.history import History, Op, Seen, Track, forward_times, replies_of
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
    tracks = history.tracks
    replies: dict[_Key, Seen] = {}
    for track in tracks.values():
        conn = track.conn
        mine = answered[conn] if answered is not None else replies_of(track)
        for index, seen in mine.items():
            replies[(conn, index)] = seen
    forwards = forward_times(history)
    # each connection's estimates, in its ops' order (lists, not a dict of (conn, index): a few of every op's
    # times are read and written here, and this runs once per check)
    est: _Est = {conn: [op.time_ns for op in track.ops] for conn, track in tracks.items()}
    for (conn, index), when in forwards.items():
        times = est[conn]
        if when > times[index]:
            times[index] = when
    # a reply's time, where there is one, rather than a forward's
    for (conn, index), reply in replies.items():
        times = est[conn]
        times[index] = max(reply.time_ns, tracks[conn].ops[index].time_ns)
    creators, _number = _counter_order(tracks, replies, est)
    edges = _causes(replies, creators)
    _relax(tracks, edges, est)
    keyed = [
        (when, op.time_ns, conn, op.index, op)
        for conn, track in tracks.items()
        for op, when in zip(track.ops, est[conn], strict=True)
    ]
    keyed.sort()  # (conn, index) is unique: the op itself is never compared
    return [k[4] for k in keyed]


#: connection -> the estimated time of each of its ops, by op index
_Est = dict[int, list[int]]


def _relax(tracks: Mapping[int, Track], edges: list[tuple[_Key, _Key]], est: _Est) -> None:
    """Push each effect after its cause, and each op after the one before it on its connection."""
    for _round in range(3):
        _in_connection_order(tracks, est)
        moved = False
        for (bc, bi), (ac, ai) in edges:
            before = est[bc][bi]
            if est[ac][ai] <= before:
                est[ac][ai] = before + 1
                moved = True
        if not moved:
            break
    _in_connection_order(tracks, est)


def _in_connection_order(tracks: Mapping[int, Track], est: _Est) -> None:
    """No op estimated before it was captured, or before the op before it on its connection."""
    for conn, track in tracks.items():
        times = est[conn]
        # a running maximum from 0, in C
        times[:] = islice(accumulate(map(max, times, [op.time_ns for op in track.ops]), max, initial=0), 1, None)


def _causes(replies: dict[_Key, Seen], creators: dict[bytes, _Key]) -> list[tuple[_Key, _Key]]:
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
    tracks: Mapping[int, Track], replies: dict[_Key, Seen], est: _Est
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
    for key, handle in sorted(answered, key=lambda a: (tracks[a[0][0]].ops[a[0][1]].time_ns, a[0])):
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

    _permute([k for h, k in created.items() if h in number], by_counter, tracks, replies, est)
    # grabs that took a job: one first-in-first-out queue per function and priority
    queues: dict[tuple[bytes, int], list[_Key]] = {}
    for key, seen in replies.items():
        message = seen.message
        if isinstance(message, Packet) and message.type in _ASSIGNS and len(message.args) > 1:
            handle = message.args[0]
            maker = created.get(handle)
            if handle in number and maker is not None:
                submit = tracks[maker[0]].ops[maker[1]].message
                rank = _PRIORITY.get(int(submit.type), 1) if isinstance(submit, Packet) else 1
                queues.setdefault((message.args[1], rank), []).append(key)
    for keys in queues.values():
        _permute(keys, by_counter, tracks, replies, est)
    return created, number


def _handle(seen: Seen) -> bytes:
    message = seen.message
    assert isinstance(message, Packet)
    return message.args[0]


def _permute(
    keys: list[_Key], rank: Callable[[_Key], int], tracks: Mapping[int, Track], replies: dict[_Key, Seen], est: _Est
) -> None:
    """Give ``keys`` their own estimated times, reassigned in ``rank`` order, each kept within [sent, replied]."""
    if len(keys) < 2:
        return
    times = sorted(est[c][i] for c, i in keys)
    ordered = sorted(keys, key=rank)
    for key, when in zip(ordered, times, strict=True):
        conn, index = key
        low = tracks[conn].ops[index].time_ns
        high = replies[key].time_ns
        est[conn][index] = min(max(when, low), high)
