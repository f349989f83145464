"""Invariants every conforming server keeps, checked on each side on its own.

PURE. The differential comparison says *that* two sides disagree; these
checks say which side is wrong when one breaks a rule no profile relaxes, and
catch the bugs both sides share. A ``Tracker`` follows one side's normalised
conversation (actions and ``View``s) and reports violations as text:

* **handles unique**: a JOB_CREATED handle is new, or belongs to a live job
  the submission coalesces with (same function and the same non-empty unique;
  for '-', the same non-empty workload). A handle never comes back after its
  job ended.
* **at most one terminal packet per listener**: a listener is one foreground
  submission, so a client connection gets at most as many WORK_COMPLETE /
  WORK_FAIL / WORK_EXCEPTION (when the profile makes it terminal) for a job as
  it made foreground submissions that attached to the job (gearmand and the
  model both answer a connection that submitted the same unique twice with
  two WORK_COMPLETEs: each submission is answered once).
* **a sleeping worker is woken when work arrives**: a worker that sent
  PRE_SLEEP, has not grabbed since and got no NOOP, and can do a function for
  which a new job is created, gets a NOOP in that same step.
* **no job lost that the profile keeps** (checked by ``lost`` after the
  end-of-example drain): a job not ended, not cancelled, whose function was
  not dropped, is kept when no foreground submitter ever attached, or one of
  them is still connected, or (profiles with ``background_keeps_abandoned``)
  a background submission attached. Every kept job is handed out exactly
  once by the drain.

Under a profile that records ``drop-function-keeps-queued-jobs``, a ``drop
function`` answered OK while jobs of the function live leaves the server's
state undefined (``Tracker.undefined``), as does ``maxqueue F 0`` under one
that records ``maxqueue-zero-refuses-all`` (Perl): the example compares
nothing after it (unless known bugs are reported rather than counted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from gearsim.fuzz.actions import BACKGROUND, SUBMITS, Action, Fn, Hd, Kind, Uq
from gearsim.fuzz.normalise import CAdmin, CPacket, View
from gearsim.model.profiles import PROFILES, Profile
from gearsim.protocol.packets import ASSIGN_TYPES, GRAB_TYPES, PacketType

__all__ = ["KNOWN_SERVER_BUGS", "Tracker"]

#: the defects the Tracker below recognises by id (it counts a hit instead of
#: reporting it); each is recorded, with its bytes and the rules it breaks, in the
#: ``defects`` of the profiles whose switches reproduce it (gearsim/model/profiles/)
_EXCUSED_DEFECTS: Final[tuple[str, ...]] = (
    "cancel-refails",
    "resubmit-onto-abandoned",
    "drop-function-keeps-queued-jobs",
    "maxqueue-zero-refuses-all",
)


def _known_server_bugs() -> tuple[tuple[str, str, str], ...]:
    """(id, the profiles that record it, what it is), read from the profile table."""
    rows: dict[str, tuple[list[str], str]] = {}
    for profile in PROFILES.values():
        for defect in profile.defects:
            if defect.id in _EXCUSED_DEFECTS:
                rows.setdefault(defect.id, ([], defect.summary))[0].append(profile.name)
    missing = set(_EXCUSED_DEFECTS) - set(rows)
    if missing:
        raise LookupError(f"no profile records the defects {sorted(missing)} (gearsim/model/profiles/)")
    return tuple((i, ", ".join(rows[i][0]), rows[i][1]) for i in _EXCUSED_DEFECTS)


#: server bugs the machine has found and the profiles' switches reproduce:
#: (id, profiles recording it, what it is). A hit is counted, not raised.
KNOWN_SERVER_BUGS: Final[tuple[tuple[str, str, str], ...]] = _known_server_bugs()


@dataclass
class _Job:
    function: str
    unique: str
    workload: bytes
    background: bool
    fg_submitters: Counter[tuple[str, int]] = field(default_factory=Counter)
    bg_attached: bool = False
    ended: bool = False
    excused: str = ""
    cancelled: bool = False
    #: every foreground submitter left while the job was live (gearmand flags it 'ignore')
    abandoned: bool = False


@dataclass
class _Worker:
    abilities: set[str] = field(default_factory=set)
    sleeping: bool = False


class Tracker:
    """One side's view of the jobs, connections and sleepers of a conversation."""

    def __init__(self, profile: Profile, *, excuse_known: bool = True) -> None:
        """``excuse_known``: count hits of KNOWN_SERVER_BUGS instead of reporting them."""
        self.profile = profile
        self.excuse_known = excuse_known
        self.jobs: dict[int, _Job] = {}
        self.generation: dict[str, int] = {}
        self.alive: set[tuple[str, int]] = set()
        self.workers: dict[str, _Worker] = {}
        self.terminals: Counter[tuple[str, int, int]] = Counter()
        self.drained: list[int] = []
        #: the worker each assigned job was last given to (a worker's jobs end with it under worker_disconnect "fail")
        self.holder: dict[int, str] = {}
        #: known server bugs (KNOWN_SERVER_BUGS ids) this conversation ran into
        self.known_hits: list[str] = []
        #: why the server's state is undefined from here on ("" while it is not): the profile's
        #: server freed what live jobs point to (``_admin``), so nothing after can be compared
        self.undefined = ""
        defects = {d.id for d in profile.defects}
        self._drop_keeps_jobs = "drop-function-keeps-queued-jobs" in defects
        self._maxqueue_zero_refuses = "maxqueue-zero-refuses-all" in defects

    @property
    def exception_terminal(self) -> bool:
        return self.profile.work_exception != "forward-only-with-option-nonterminal"

    def _terminal(self, p: CPacket) -> bool:
        if p.type in (PacketType.WORK_COMPLETE, PacketType.WORK_FAIL):
            return True
        return p.type == PacketType.WORK_EXCEPTION and self.exception_terminal

    def step(self, action: Action, views: Mapping[str, View], *, drain: bool = False) -> list[str]:
        """Follow one step; return the invariant violations it shows."""
        problems: list[str] = []
        actor = action.actor
        own = views.get(actor, View())
        packets = [m for m in own.messages if isinstance(m, CPacket)]
        errored = any(p.type == PacketType.ERROR for p in packets)
        sleepers = {w: set(s.abilities) for w, s in self.workers.items() if s.sleeping}

        if action.kind is Kind.CONNECT:
            gen = self.generation.get(actor, 0) + 1
            self.generation[actor] = gen
            self.alive.add((actor, gen))
            if actor.startswith("w"):
                self.workers[actor] = _Worker()
        elif action.kind is Kind.DISCONNECT:
            self.alive.discard((actor, self.generation.get(actor, 0)))
            self._worker_gone(actor)
            self._abandon()
        elif action.kind is Kind.PACKET and action.type is not None and action.type.name in self.profile.implemented:
            # a request the profile's server does not act on changes nothing it keeps (gear registers
            # nothing for CAN_DO_TIMEOUT: its sleeper was then expected to be woken for the function)
            problems += self._packet(action, packets, errored, sleepers, views, drain)
        elif action.kind is Kind.ADMIN:
            self._admin(action, own)

        for name, view in views.items():
            gen = self.generation.get(name, 0)
            for m in view.messages:
                if not isinstance(m, CPacket):
                    continue
                if m.type == PacketType.NOOP and name in self.workers:
                    self.workers[name].sleeping = False
                if self._terminal(m) and m.args and isinstance(m.args[0], Hd) and name.startswith("c"):
                    key = (name, gen, m.args[0].index)
                    self.terminals[key] += 1
                    job = self.jobs.get(key[2])
                    if job is not None:
                        # ended, whoever ended it: gear fails the job of a worker that closes
                        # (the drain then expected it, and both sides "lost" it)
                        job.ended = True
                    allowed = max(1, job.fg_submitters[(name, gen)]) if job is not None else 1
                    if self.terminals[key] > allowed and self.excuse_known and self._cancel_refail(key[2]):
                        self.known_hits.append("cancel-refails")
                    elif self.terminals[key] > allowed:
                        problems.append(f"{name} got a second terminal packet ({m.describe()}) for H#{key[2]}")
            if view.closed:
                self.alive.discard((name, gen))
                self._worker_gone(name)
                self._abandon()
        return problems

    def _worker_gone(self, actor: str) -> None:
        """``actor`` closed: a worker no more, and its jobs end where the profile fails them (gear)."""
        if self.workers.pop(actor, None) is None:
            return
        for k, held_by in list(self.holder.items()):
            if held_by == actor:
                del self.holder[k]
                job = self.jobs.get(k)
                if job is not None and self.profile.worker_disconnect == "fail":
                    job.ended = True  # WORK_FAIL to a client that may have gone: the drain has nothing to find

    def _abandon(self) -> None:
        for job in self.jobs.values():
            if not job.ended and job.fg_submitters and not set(job.fg_submitters) & self.alive:
                job.abandoned = True

    def _cancel_refail(self, k: int) -> bool:
        job = self.jobs.get(k)
        return self.profile.admin_cancel == "flag-and-fail" and job is not None and job.cancelled

    def _packet(
        self,
        action: Action,
        packets: list[CPacket],
        errored: bool,
        sleepers: Mapping[str, set[str]],
        views: Mapping[str, View],
        drain: bool,
    ) -> list[str]:
        problems: list[str] = []
        type_ = action.type
        actor = action.actor
        worker = self.workers.get(actor)
        fn = action.args[0].name if action.args and isinstance(action.args[0], Fn) else ""
        if type_ in SUBMITS:
            created = [p for p in packets if p.type == PacketType.JOB_CREATED and p.args]
            for p in created:
                handle = p.args[0]
                if isinstance(handle, Hd):
                    problems += self._created(action, handle.index, fn, views, sleepers)
        elif worker is not None and type_ in (PacketType.CAN_DO, PacketType.CAN_DO_TIMEOUT) and not errored:
            worker.abilities.add(fn)
        elif worker is not None and type_ == PacketType.CANT_DO:
            worker.abilities.discard(fn)
        elif worker is not None and type_ == PacketType.RESET_ABILITIES:
            worker.abilities.clear()
        elif worker is not None and type_ == PacketType.PRE_SLEEP:
            worker.sleeping = True
        elif worker is not None and type_ in GRAB_TYPES:
            worker.sleeping = False
            for p in packets:
                if p.type in ASSIGN_TYPES and p.args and isinstance(p.args[0], Hd):
                    self.holder[p.args[0].index] = actor
            if drain:
                for p in packets:
                    if p.type in ASSIGN_TYPES and p.args and isinstance(p.args[0], Hd):
                        self.drained.append(p.args[0].index)
        elif type_ in (PacketType.WORK_COMPLETE, PacketType.WORK_FAIL) or (
            type_ == PacketType.WORK_EXCEPTION and self.exception_terminal
        ):
            target = action.args[0] if action.args else None
            if not errored and isinstance(target, Hd) and target.index in self.jobs:
                self.jobs[target.index].ended = True
        return problems

    def _created(
        self, action: Action, k: int, fn: str, views: Mapping[str, View], sleepers: Mapping[str, set[str]]
    ) -> list[str]:
        unique = action.args[1].name if len(action.args) > 1 and isinstance(action.args[1], Uq) else ""
        workload = action.args[-1] if isinstance(action.args[-1], bytes) else b""
        background = action.type in BACKGROUND
        submitter = (action.actor, self.generation.get(action.actor, 0))
        job = self.jobs.get(k)
        problems: list[str] = []
        if job is None:
            job = _Job(fn, unique, workload, background)
            self.jobs[k] = job
            for w, abilities in sleepers.items():
                woken = any(isinstance(m, CPacket) and m.type == PacketType.NOOP for m in views.get(w, View()).messages)
                if fn in abilities and not woken:
                    problems.append(f"sleeping worker {w} (can do {fn}) got no NOOP when job H#{k} was created")
        elif job.ended:
            problems.append(f"JOB_CREATED reuses H#{k}, whose job already ended")
        else:
            same_key = job.function == fn and unique != "" and job.unique == unique
            if unique == "-":
                same_key = same_key and workload != b"" and job.workload == workload
            if not same_key:
                problems.append(
                    f"H#{k} handed to a submission of ({fn}, {unique!r}) while its job ({job.function}, "
                    f"{job.unique!r}) is live: two jobs share a handle"
                )
        if background:
            job.bg_attached = True
        else:
            job.fg_submitters[submitter] += 1
        return problems

    def _admin(self, action: Action, view: View) -> None:
        replies = [m for m in view.messages if isinstance(m, CAdmin)]
        ok = bool(replies) and bool(replies[0].lines) and replies[0].lines[0].startswith(b"OK")
        if not ok:
            return
        if action.command == "cancel" and len(action.args) > 2 and isinstance(action.args[2], Hd):
            job = self.jobs.get(action.args[2].index)
            if job is not None:
                job.excused = "cancelled"
                job.cancelled = True
        if action.command == "drop" and len(action.args) > 2 and isinstance(action.args[2], Fn):
            kept = False
            for job in self.jobs.values():
                if job.function == action.args[2].name and not job.ended:
                    job.excused = "function dropped"
                    kept = True
            if kept and self._drop_keeps_jobs and self.excuse_known:
                # gearmand frees the function and keeps its queued jobs pointing at it: a function
                # allocated later at that address inherits them (another function's SUBMIT_JOB was
                # given a dropped job's handle, seeds 1 and 2), which no model can follow
                self.known_hits.append("drop-function-keeps-queued-jobs")
                self.undefined = "drop-function-keeps-queued-jobs"
        limit = action.args[2] if action.command == "maxqueue" and len(action.args) > 2 else None
        if limit == b"0" and self._maxqueue_zero_refuses and self.excuse_known:
            # Perl then dies inside every submission for the function (ERROR server_error with its
            # file and line), evicting the queued jobs first: a known defect the model does not copy
            self.known_hits.append("maxqueue-zero-refuses-all")
            self.undefined = "maxqueue-zero-refuses-all"

    def kept(self) -> set[int]:
        """Jobs the profile keeps: they must come out of the drain."""
        out = set()
        for k, job in self.jobs.items():
            if job.ended or job.excused:
                continue
            live = not job.fg_submitters or bool(set(job.fg_submitters) & self.alive)
            if job.bg_attached and self.profile.background_keeps_abandoned:
                out.add(k)
            elif job.abandoned and self.profile.client_disconnect == "drop-when-reached":
                if live and self.excuse_known:
                    self.known_hits.append("resubmit-onto-abandoned")
                elif live:
                    out.add(k)
            elif live:
                out.add(k)
        return out

    def lost(self) -> list[str]:
        """Violations of 'no job lost' and 'handed out once', after the drain."""
        problems = []
        counts = Counter(self.drained)
        for k in sorted(self.kept()):
            if counts[k] == 0:
                job = self.jobs[k]
                problems.append(
                    f"job H#{k} ({job.function}, {job.unique!r}) is kept by the profile but never handed out"
                )
        for k, n in sorted(counts.items()):
            if n > 1:
                problems.append(f"job H#{k} handed out {n} times by the drain")
        return problems
