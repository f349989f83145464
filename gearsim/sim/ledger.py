"""The accounting of a workload run: what became of every submission and every job.

PURE. ``Ledger`` is an oracle with global knowledge, shared by the scripted
actors (who report to it) and ``gearsim.sim.workload`` (which reads it for the
results). A job is identified by (server, incarnation, handle), where a server
restart starts a new incarnation. A submission is *coalesced* when its
JOB_CREATED names a job already alive, a *duplicate* when it created a new
job while a job of the same function and unique was alive elsewhere in the
pool (coalescing broke), and it ends *completed*, *failed*, *lost* (with a
reason) or *unfinished*. The ledger also counts the work still open (client
instances with arrivals left, status polls running), which tells a run when
it is done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from gearsim.sim.simulator import Clock

__all__ = ["Clock", "JobKey", "JobRecord", "Ledger", "Submission"]

#: (server, incarnation, handle)
JobKey = tuple[str, int, bytes]


@dataclass(slots=True, eq=False)
class Submission:
    """One submission by one client instance, and what became of it."""

    client: str
    number: int
    function: str
    unique: bytes
    payload: bytes
    priority: str
    background: bool
    at: int
    server: str = ""
    handle: bytes = b""
    coalesced: bool = False
    duplicate: bool = False
    outcome: str | None = None
    reason: str = ""
    done_at: int | None = None

    @property
    def key(self) -> bytes:
        """What gearmand coalesces on: the unique, or the payload for ``-``."""
        return self.payload if self.unique == b"-" else self.unique


@dataclass(slots=True, eq=False)
class JobRecord:
    """One job on one server incarnation, as the oracle saw it."""

    key: JobKey
    function: str
    unique: bytes
    created: int
    subs: list[Submission] = field(default_factory=list)
    runs: int = 0
    outcome: str | None = None
    done_at: int | None = None


class Ledger:
    """Submissions, jobs and open work of one run.

    Args:
        servers: the names of the run's servers (each starts at incarnation 0).
        clock: tells the current tick (the simulator).
    """

    def __init__(self, servers: Iterable[str], clock: Clock) -> None:
        self._clock = clock
        self.incarnation: dict[str, int] = {name: 0 for name in servers}
        self.jobs: dict[JobKey, JobRecord] = {}
        self.live: dict[JobKey, JobRecord] = {}
        self.alive_keys: Counter[tuple[str, bytes]] = Counter()
        self.subs: list[Submission] = []
        self.lost_reasons: Counter[str] = Counter()
        self._unsettled = 0
        self._active = 0
        #: ``done()`` as a plain attribute, kept up to date: a run's ``stop_when``
        #: reads it after every event (see ``Workload.run``)
        self.all_done = True

    @property
    def unsettled(self) -> int:
        """Submissions without an outcome yet."""
        return self._unsettled

    @property
    def active(self) -> int:
        """Work still to come: client instances with arrivals left, polls running."""
        return self._active

    @active.setter
    def active(self, value: int) -> None:
        self._active = value
        self.all_done = value == 0 and self._unsettled == 0

    def done(self) -> bool:
        """Every submission settled and no work left to come."""
        return self.all_done

    def track(self, sub: Submission) -> None:
        """A new submission exists."""
        self.subs.append(sub)
        self._unsettled += 1
        self.all_done = False

    def settle(self, sub: Submission, outcome: str, reason: str = "") -> None:
        """Give ``sub`` its outcome (the first one sticks)."""
        if sub.outcome is not None:
            return
        sub.outcome = outcome
        sub.reason = reason
        sub.done_at = self._clock.now
        self._unsettled -= 1
        if not self._unsettled and not self._active:
            self.all_done = True
        if outcome == "lost":
            self.lost_reasons[reason] += 1

    def created(self, sub: Submission, server: str, inc: int, handle: bytes) -> None:
        """A JOB_CREATED for ``sub``: a new job, or a coalesced one."""
        key = (server, inc, handle)
        sub.handle = handle
        rec = self.jobs.get(key)
        if rec is None:
            unique = sub.unique
            # Submission.key, inlined: what gearmand coalesces on
            rec = JobRecord(key, sub.function, sub.payload if unique == b"-" else unique, self._clock.now)
            self.jobs[key] = self.live[key] = rec
            if rec.unique:
                ukey = (sub.function, rec.unique)
                sub.duplicate = self.alive_keys[ukey] > 0
                self.alive_keys[ukey] += 1
        else:
            sub.coalesced = True
        rec.subs.append(sub)
        if rec.outcome is not None and sub.background:
            self.settle(sub, rec.outcome)
            sub.done_at = max(sub.at, rec.done_at or sub.at)

    def started(self, server: str, inc: int, handle: bytes) -> None:
        """A worker was assigned the job."""
        rec = self.jobs.get((server, inc, handle))
        if rec is not None:
            rec.runs += 1

    def finished(self, server: str, inc: int, handle: bytes, outcome: str) -> None:
        """A worker sent WORK_COMPLETE or WORK_FAIL; background submissions settle now."""
        rec = self.jobs.get((server, inc, handle))
        if rec is None or rec.outcome is not None:
            return
        self._end(rec, outcome)
        now = self._clock.now
        for sub in rec.subs:
            if sub.background and sub.outcome is None:
                # settle, inlined (once per job)
                sub.outcome = outcome
                sub.reason = ""
                sub.done_at = now
                self._unsettled -= 1
                if not self._unsettled and not self._active:
                    self.all_done = True
                if outcome == "lost":
                    self.lost_reasons[""] += 1

    def restarted(self, server: str) -> None:
        """``server`` restarted: a new incarnation; the old one's live jobs are lost."""
        old = self.incarnation[server]
        self.incarnation[server] = old + 1
        for rec in [r for k, r in self.live.items() if k[0] == server and k[1] == old]:
            self._end(rec, "lost")
            for sub in rec.subs:
                self.settle(sub, "lost", "server restart: in-memory queue gone")

    def _end(self, rec: JobRecord, outcome: str) -> None:
        rec.outcome = outcome
        rec.done_at = self._clock.now
        self.live.pop(rec.key, None)
        if rec.unique:
            self.alive_keys[rec.function, rec.unique] -= 1
