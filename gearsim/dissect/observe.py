"""A capture's events as observed histories, one per server (``gearsim.lincheck.history``).

This module owns reading the checker's input out of the event stream: each
connection becomes a ``Track`` of ops (its connect, every message it sent,
its disconnect when the client ended the connection first or at all) and
observations (every message the server sent, and the server's close when the
server ended it first). Times never run backwards within a connection.

What the capture could not see is recorded, not guessed: bytes lost in a gap
(or that could not be framed) in the client's direction make the requests
from there on untrusted (``ops_lost_at``), in the server's direction the
replies (``seen_lost_at``); a connection joined mid-stream is marked.
"""

from __future__ import annotations

from collections.abc import Iterable

from gearsim.dissect.events import Event, EventKind
from gearsim.lincheck.history import (
    CONNECT,
    DISCONNECT,
    SEND,
    History,
    Op,
    Seen,
    Track,
    observed_op,
    observed_seen,
    set_due_times,
)
from gearsim.protocol.trace import Direction

__all__ = ["histories", "histories_and_replies"]

_C2S = Direction.C2S.value
_LOSSES = EventKind.PROBLEMS
_OPEN = EventKind.OPEN
_MESSAGE = EventKind.MESSAGE
_FIN = EventKind.FIN
_CLOSE = EventKind.CLOSE


def histories(events: Iterable[Event]) -> dict[str, History]:
    """Every server's history, keyed by its endpoint, in the order servers first appear."""
    return {server: history for server, (history, _replies) in histories_and_replies(events).items()}


def histories_and_replies(events: Iterable[Event]) -> dict[str, tuple[History, dict[int, dict[int, Seen]]]]:
    """Every server's history (as ``histories``) with each of its connections' ``replies_of``.

    The replies are paired while the due times are set; the judge takes them
    rather than pairing every reply of the capture a second time.
    """
    out: dict[str, History] = {}
    tracks: dict[int, Track] = {}
    closed: dict[int, set[str]] = {}
    for event in events:
        kind = event.kind
        if kind == _OPEN:
            info = event.info
            if info is None:
                continue
            opened = Track(event.conn, info.client, info.server, midstream=info.midstream)
            opened.ops.append(Op(event.conn, 0, CONNECT, event.time_ns, event.frame, peer=info.client))
            tracks[event.conn] = opened
            closed[event.conn] = set()
            out.setdefault(info.server, History(info.server)).tracks[event.conn] = opened
            continue
        track = tracks.get(event.conn)
        if track is None:
            continue
        if kind == _MESSAGE and event.message is not None:
            if event.direction == _C2S:
                last = track.ops[-1].time_ns if track.ops else event.time_ns
                track.ops.append(
                    observed_op(event.conn, len(track.ops), SEND, max(event.time_ns, last), event.frame, event.message)
                )
            else:
                last = track.seen[-1].time_ns if track.seen else event.time_ns
                index = len(track.seen)
                track.seen.append(
                    observed_seen(event.conn, index, max(event.time_ns, last), event.frame, event.message)
                )
        elif kind == _FIN:
            ends = closed[event.conn]
            if event.direction == _C2S:
                if not ends:
                    last = track.ops[-1].time_ns if track.ops else event.time_ns
                    op = Op(event.conn, len(track.ops), DISCONNECT, max(event.time_ns, last), event.frame)
                    track.ops.append(op)
            elif not ends:
                last = track.seen[-1].time_ns if track.seen else event.time_ns
                index = len(track.seen)
                track.seen.append(Seen(event.conn, index, max(event.time_ns, last), event.frame, None, index))
                track.server_closed = True
            ends.add(event.direction)
        elif kind in _LOSSES:
            where = f"frame {event.frame}: {kind} [{event.offset}, {event.end}) {event.direction}: {event.note}"
            track.losses.append(where)
            if event.direction == _C2S:
                if track.ops_lost_at is None:
                    track.ops_lost_at = len(track.ops)
            elif track.seen_lost_at is None:
                track.seen_lost_at = len(track.seen)
        elif kind == _CLOSE:
            tracks.pop(event.conn, None)
            closed.pop(event.conn, None)
    return {server: (history, set_due_times(history)) for server, history in out.items()}
