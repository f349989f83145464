"""Job lifecycles reconstructed from a capture, across connections.

This module owns tying packets to jobs: a SUBMIT_* and the JOB_CREATED that
answers it on the same connection (replies come in request order), the job
keyed by (server, handle) from then on, later submits that got the same handle
(coalesced by unique) attached to it, JOB_ASSIGN* on worker connections,
WORK_* from the worker and as forwarded to each client, the terminal packet,
and GET_STATUS / GET_STATUS_UNIQUE polls with what they saw. It also computes
latency percentiles per function. Rendering is ``render_jobs`` (text) or
``Job.to_json``; the CLI only prints.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from gearsim.dissect.events import Event, EventKind
from gearsim.protocol.packets import ASSIGN_TYPES, TERMINAL_TYPES, WORK_TYPES, Packet, PacketType
from gearsim.protocol.trace import Direction, quote

__all__ = ["Job", "JobStep", "JobTracker", "StatusPoll", "latency_table", "render_jobs"]

_C2S: Final[str] = Direction.C2S.value
_SUBMITS: Final[dict[int, bool]] = {  # submit type -> background
    PacketType.SUBMIT_JOB: False,
    PacketType.SUBMIT_JOB_HIGH: False,
    PacketType.SUBMIT_JOB_LOW: False,
    PacketType.SUBMIT_REDUCE_JOB: False,
    PacketType.SUBMIT_JOB_BG: True,
    PacketType.SUBMIT_JOB_HIGH_BG: True,
    PacketType.SUBMIT_JOB_LOW_BG: True,
    PacketType.SUBMIT_JOB_EPOCH: True,
    PacketType.SUBMIT_JOB_SCHED: True,
    PacketType.SUBMIT_REDUCE_JOB_BACKGROUND: True,
}
_WORK: Final[frozenset[int]] = frozenset(WORK_TYPES - TERMINAL_TYPES)
_TERMINAL: Final[frozenset[int]] = frozenset(TERMINAL_TYPES)
# request type -> reply types that answer it, in order, on the same connection
_ANSWERS: Final[dict[int, frozenset[int]]] = {
    **{t: frozenset({PacketType.JOB_CREATED}) for t in _SUBMITS},
    PacketType.GET_STATUS: frozenset({PacketType.STATUS_RES}),
    PacketType.GET_STATUS_UNIQUE: frozenset({PacketType.STATUS_RES_UNIQUE}),
    PacketType.ECHO_REQ: frozenset({PacketType.ECHO_RES}),
    PacketType.OPTION_REQ: frozenset({PacketType.OPTION_RES}),
}


@dataclass(slots=True)
class JobStep:
    """One packet in a job's life: when, on which connection, which way, what."""

    time_ns: int
    frame: int
    conn: int
    direction: str
    name: str
    detail: str


@dataclass(slots=True)
class StatusPoll:
    """A GET_STATUS or GET_STATUS_UNIQUE and the reply it got."""

    time_ns: int
    conn: int
    name: str
    key: bytes
    reply_ns: int | None = None
    #: the reply's arguments after the handle or unique
    seen: tuple[bytes, ...] = ()


@dataclass(slots=True)
class Job:
    """Everything the capture shows about one job."""

    server: str
    handle: bytes
    function: bytes = b""
    unique: bytes = b""
    background: bool = False
    submit_ns: int | None = None
    created_ns: int | None = None
    assign_ns: int | None = None
    #: when the worker sent the terminal packet
    done_ns: int | None = None
    #: when the first client got the terminal packet
    delivered_ns: int | None = None
    outcome: str = ""
    submits: int = 0
    #: foreground submitters still waiting for the terminal packet
    waiting: set[int] = field(default_factory=set)
    steps: list[JobStep] = field(default_factory=list)
    polls: list[StatusPoll] = field(default_factory=list)

    @property
    def latency_ns(self) -> int | None:
        """Submit to the end the submitter sees (worker's terminal for background jobs)."""
        end = self.done_ns if self.background or self.delivered_ns is None else self.delivered_ns
        return None if end is None or self.submit_ns is None else end - self.submit_ns

    @property
    def queue_ns(self) -> int | None:
        """Submit to the first assignment."""
        return None if self.assign_ns is None or self.submit_ns is None else self.assign_ns - self.submit_ns

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes shown safely, times in nanoseconds)."""
        return {
            "server": self.server,
            "handle": _text(self.handle),
            "function": _text(self.function),
            "unique": _text(self.unique),
            "background": self.background,
            "submits": self.submits,
            "outcome": self.outcome or "open",
            "submit_ns": self.submit_ns,
            "created_ns": self.created_ns,
            "assign_ns": self.assign_ns,
            "done_ns": self.done_ns,
            "delivered_ns": self.delivered_ns,
            "latency_ns": self.latency_ns,
            "queue_ns": self.queue_ns,
            "steps": [
                {
                    "time_ns": s.time_ns,
                    "frame": s.frame,
                    "conn": s.conn,
                    "direction": s.direction,
                    "name": s.name,
                    "detail": s.detail,
                }
                for s in self.steps
            ],
            "polls": [
                {
                    "time_ns": p.time_ns,
                    "conn": p.conn,
                    "name": p.name,
                    "key": _text(p.key),
                    "reply_ns": p.reply_ns,
                    "seen": [_text(a) for a in p.seen],
                }
                for p in self.polls
            ],
        }


def _text(data: bytes) -> str:
    return quote(data)[1:-1] if len(data) <= 64 else quote(data)


def _detail(packet: Packet, skip: int) -> str:
    parts = []
    for arg in packet.args[skip:]:
        parts.append(quote(arg) if len(arg) <= 24 else f"<{len(arg)} bytes>")
    return " ".join(parts)


class JobTracker:
    """Builds ``Job`` values from capture events fed in order."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._active: dict[tuple[str, bytes], Job] = {}
        self._recent: dict[tuple[str, bytes], Job] = {}
        self._server: dict[int, str] = {}
        self._waiting: dict[int, deque[tuple[int, Event, Packet]]] = {}
        self.orphan_polls: list[StatusPoll] = []

    def feed(self, event: Event) -> None:
        """Take one event (non-message events only open and close connections)."""
        if event.kind == EventKind.OPEN and event.info is not None:
            self._server[event.conn] = event.info.server
            return
        if event.kind == EventKind.CLOSE:
            self._waiting.pop(event.conn, None)
            return
        packet = event.message
        if not isinstance(packet, Packet):
            return
        number = int(packet.type)
        server = self._server.get(event.conn, "?")
        if event.direction == _C2S:
            self._request(event, packet, number, server)
        else:
            self._reply(event, packet, number, server)

    def _job(self, server: str, handle: bytes) -> Job:
        key = (server, handle)
        job = self._active.get(key)
        if job is None:
            job = Job(server, handle)
            self._active[key] = job
            self.jobs.append(job)
        return job

    def _step(self, job: Job, event: Event, packet: Packet, skip: int) -> None:
        job.steps.append(
            JobStep(event.time_ns, event.frame, event.conn, event.direction, packet.name, _detail(packet, skip))
        )

    def _request(self, event: Event, packet: Packet, number: int, server: str) -> None:
        if number in _ANSWERS:
            self._waiting.setdefault(event.conn, deque()).append((number, event, packet))
        if (number in _WORK or number in _TERMINAL) and packet.args:
            job = self._job(server, packet.args[0])
            self._step(job, event, packet, 1)
            if number in _TERMINAL and job.done_ns is None:
                job.done_ns = event.time_ns
                job.outcome = packet.name
                if not job.waiting:
                    self._finish(job)

    def _reply(self, event: Event, packet: Packet, number: int, server: str) -> None:
        queue = self._waiting.get(event.conn)
        request: tuple[int, Event, Packet] | None = None
        if queue and (number in _ANSWERS[queue[0][0]] or number == PacketType.ERROR):
            request = queue.popleft()
        if number == PacketType.JOB_CREATED and packet.args:
            job = self._job(server, packet.args[0])
            if request is not None:
                req_type, req_event, req = request
                job.submits += 1
                if not _SUBMITS.get(req_type, False):
                    job.waiting.add(event.conn)
                if job.submit_ns is None:
                    job.submit_ns = req_event.time_ns
                    job.background = _SUBMITS.get(req_type, False)
                    job.function = req.args[0] if req.args else b""
                    job.unique = req.args[1] if len(req.args) > 1 else b""
                self._step(job, req_event, req, 1)
            if job.created_ns is None:
                job.created_ns = event.time_ns
            self._step(job, event, packet, 1)
        elif number in ASSIGN_TYPES and packet.args:
            job = self._job(server, packet.args[0])
            if not job.function and len(packet.args) > 1:
                job.function = packet.args[1]
            if number != PacketType.JOB_ASSIGN and len(packet.args) > 2 and not job.unique:
                job.unique = packet.args[2]
            if job.assign_ns is None:
                job.assign_ns = event.time_ns
            self._step(job, event, packet, 2)
        elif (number in _WORK or number in _TERMINAL) and packet.args:
            job = self._job(server, packet.args[0])
            self._step(job, event, packet, 1)
            if number in _TERMINAL:
                if job.delivered_ns is None:
                    job.delivered_ns = event.time_ns
                job.outcome = job.outcome or packet.name
                job.waiting.discard(event.conn)
                if not job.waiting:
                    self._finish(job)
        elif number in (PacketType.STATUS_RES, PacketType.STATUS_RES_UNIQUE) and request is not None:
            self._poll(event, packet, number, server, request)

    def _poll(self, event: Event, packet: Packet, number: int, server: str, request: tuple[int, Event, Packet]) -> None:
        _req_type, req_event, req = request
        key = req.args[0] if req.args else b""
        poll = StatusPoll(req_event.time_ns, event.conn, req.name, key, event.time_ns, packet.args[1:])
        if number == PacketType.STATUS_RES:
            job = self._active.get((server, key)) or self._recent.get((server, key))
        else:
            job = next((j for j in self._active.values() if j.server == server and j.unique == key and key), None)
        if job is None:
            self.orphan_polls.append(poll)
        else:
            job.polls.append(poll)

    def _finish(self, job: Job) -> None:
        key = (job.server, job.handle)
        if self._active.get(key) is job:
            del self._active[key]
        self._recent[key] = job


def _percentile(sorted_values: list[int], fraction: float) -> int:
    index = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[index]


def latency_table(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """Per function: job count, finished count, latency p50/p90/p99/max in nanoseconds (nearest rank)."""
    by_function: dict[bytes, list[Job]] = {}
    for job in jobs:
        by_function.setdefault(job.function, []).append(job)
    rows = []
    for function in sorted(by_function):
        group = by_function[function]
        values = sorted(v for v in (j.latency_ns for j in group) if v is not None)
        row: dict[str, Any] = {"function": _text(function), "jobs": len(group), "finished": len(values)}
        for label, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            row[label] = _percentile(values, fraction) if values else None
        row["max"] = values[-1] if values else None
        rows.append(row)
    return rows


def _ms(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e6:.3f}ms"


def render_jobs(tracker: JobTracker, origin_ns: int) -> str:
    """The text report: a table per job, then latency percentiles per function."""
    lines: list[str] = []
    for job in tracker.jobs:
        kind = "background" if job.background else "foreground"
        coalesced = f", {job.submits} submits coalesced" if job.submits > 1 else ""
        lines.append(
            f"job {_text(job.handle)} on {job.server}: function {quote(job.function)} unique {quote(job.unique)}"
            f" ({kind}{coalesced}) -> {job.outcome or 'not finished in capture'}"
        )
        for step in job.steps:
            t = (step.time_ns - origin_ns) / 1e9
            lines.append(
                f"  {t:12.6f}  #{step.frame:<6d} c{step.conn:<4d} {step.direction:3s} {step.name:16s} {step.detail}"
            )
        for poll in job.polls:
            t = (poll.time_ns - origin_ns) / 1e9
            seen = " ".join(quote(a) for a in poll.seen)
            lines.append(f"  {t:12.6f}  poll    c{poll.conn:<4d} {poll.name} saw {seen}")
        lines.append(f"  latency {_ms(job.latency_ns)} (queue {_ms(job.queue_ns)}); {len(job.polls)} status polls")
    if tracker.orphan_polls:
        lines.append(f"{len(tracker.orphan_polls)} status polls for jobs not seen in the capture")
    lines.append("")
    lines.append(f"{'function':24s} {'jobs':>6s} {'done':>6s} {'p50':>12s} {'p90':>12s} {'p99':>12s} {'max':>12s}")
    for row in latency_table(tracker.jobs):
        lines.append(
            f"{row['function'][:24]:24s} {row['jobs']:6d} {row['finished']:6d} {_ms(row['p50']):>12s}"
            f" {_ms(row['p90']):>12s} {_ms(row['p99']):>12s} {_ms(row['max']):>12s}"
        )
    return "\n".join(lines) + "\n"
