"""One server's verdict: every partition of its history searched, divergences named and sorted (PURE).

This module owns turning a ``History`` into findings. Each partition
(``gearsim.lincheck.partition``) gets a fresh model under the profile and an
``Engine`` with its own budget of explored states; each divergence the engine
records becomes a finding with one of four statuses:

* ``broken``: no order the capture allows makes the model send what the
  server sent: the rule (``gearsim.lincheck.diagnose``) is broken;
* ``unknown``: the difference depends on history the capture did not see:
  a partition where the model differs on a connection joined mid-stream (what
  it did before the capture shows there), or a job the capture never saw
  created;
* ``inconclusive``: bytes of a connection involved were lost (a TCP gap),
  so its requests or replies may be missing;
* ``undecided``: the partition's budget ran out before the search could
  prove that no order works.

One defect is reported once: a divergence about a job (a captured handle)
already reported, or repeating the same rule on the same connection in the
same partition, is a consequence and kept as a note. Observations that
matched are counted as met under the rule of their type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Final

from gearsim.lincheck.diagnose import Context, Diagnosis, diagnose, rule_of
from gearsim.lincheck.hints import GearmanHints
from gearsim.lincheck.history import History, Op, Seen, replies_of
from gearsim.lincheck.machine import GearmanMachine
from gearsim.lincheck.necessary import Impossible
from gearsim.lincheck.partition import Part, split
from gearsim.lincheck.schedule import guess_order
from gearsim.lincheck.search import Budget, Engine, Failure
from gearsim.model import ServerOptions
from gearsim.protocol.packets import GRAB_TYPES, WORK_TYPES, Message, Packet, PacketType

__all__ = ["BROKEN", "INCONCLUSIVE", "UNDECIDED", "UNKNOWN", "Finding", "Verdict", "judge", "state_budget"]

BROKEN: Final[str] = "broken"
UNKNOWN: Final[str] = "unknown"
INCONCLUSIVE: Final[str] = "inconclusive"
UNDECIDED: Final[str] = "undecided"
_ASSIGNS: Final[frozenset[int]] = frozenset(
    {PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL}
)
#: explored states allowed per partition by default
DEFAULT_BUDGET: Final[int] = 2_000


@dataclass(frozen=True, slots=True)
class Finding:
    """A divergence, judged: its status, the rule, where, why, and the partition it was found in."""

    status: str
    requirement: str
    conn: int
    frame: int
    reason: str
    part: str


@dataclass(slots=True)
class Verdict:
    """What one server's history showed."""

    findings: list[Finding] = field(default_factory=list)
    #: conn -> rule -> observations that met it
    met: dict[int, Counter[str]] = field(default_factory=dict)
    #: conn -> notes (consequences of a finding, admin text differences)
    notes: dict[int, list[str]] = field(default_factory=dict)
    #: every server message the model, under the profile, sends as well (``agreed`` keys them)
    agreeing: list[Seen] = field(default_factory=list)
    #: (conn, frame) of every server message in a partition whose search ran out of budget: the model's
    #: view of it is not settled either way
    undecided: set[tuple[int, int]] = field(default_factory=set)
    parts: int = 0
    searches: int = 0
    nodes: int = 0

    @property
    def agreed(self) -> set[tuple[int, int, Message]]:
        """(conn, frame, message) of every server message the model, under the profile, sends as well.

        Made when asked (hashing every message is a tenth of judging a large capture, and only a server
        packet that breaks a rule on its own is looked up in it).
        """
        return {(seen.conn, seen.frame, seen.message) for seen in self.agreeing if seen.message is not None}


def state_budget(limit: int) -> Callable[[], Budget]:
    """A budget factory: each partition may explore ``limit`` states in all its searches."""

    def make() -> Budget:
        spent = [0]

        def over(_explored: int) -> bool:
            spent[0] += 1
            return spent[0] > limit

        return over

    return make


def judge(
    history: History,
    profile: str,
    options: ServerOptions | None = None,
    budget: Callable[[], Budget] | None = None,
    answered: Mapping[int, Mapping[int, Seen]] | None = None,
) -> Verdict:
    """Search every partition of ``history`` under ``profile``; the findings and what was met.

    ``answered``: each connection's ``replies_of``, when the caller has them
    already (``set_due_times`` returns them).

    Raises:
        KeyError: ``profile`` is not a known profile.
    """
    make_budget = budget or state_budget(DEFAULT_BUDGET)
    verdict = Verdict()
    if answered is None:
        answered = {conn: replies_of(track) for conn, track in history.tracks.items()}
    joined = frozenset(conn for conn, t in history.tracks.items() if t.midstream)
    reported: set[bytes] = set()
    repeated: set[tuple[str, str, int]] = set()
    outcome_of: dict[tuple[int, int], bool] = {}  # (conn, observation) -> matched everywhere it was judged
    candidates: list[tuple[Diagnosis, str, str]] = []
    origin = history.origin_ns
    # the fast path: the guessed order of the whole history, no search; most captures of a correct
    # server are explained by it, and then nothing needs splitting
    whole = GearmanMachine(profile, origin, options)
    engine = Engine(history.tracks, guess_order(history, answered=answered), whole, make_budget())
    parts = [] if engine.replay() else split(history, answered)
    # who created and answered what: only the diagnoses of a search need it
    ctx = _context(history, answered) if parts else Context({}, {}, {}, frozenset())
    created = ctx.created
    if not parts:
        verdict.parts = 1
        for (conn, pos), message in engine.outcome.matched.items():
            outcome_of[(conn, history.tracks[conn].seen[pos].origin)] = message is not None
        for note in whole.notes:
            for conn in history.tracks:
                verdict.notes.setdefault(conn, []).append(note)
                break
    for part in parts:
        verdict.parts += 1
        machine = GearmanMachine(profile, origin, options, judged=part.judged, silent=part.silent)
        tracks = part.history.tracks
        engine = Engine(
            tracks,
            guess_order(part.history),
            machine,
            make_budget(),
            hints=GearmanHints(part.history, machine),
            describe=partial(_diagnose, machine=machine, ctx=ctx),
            impossible=(impossible := Impossible(part.history, machine)),
        )
        outcome = engine.run()
        verdict.searches += outcome.searches
        verdict.nodes += outcome.nodes
        for (conn, pos), message in outcome.matched.items():
            origin = tracks[conn].seen[pos].origin
            key = (conn, origin)
            outcome_of[key] = outcome_of.get(key, True) and message is not None
        # past a divergence the search could not decide, the model runs on a guess at the server's state:
        # what it finds there is contingent on that guess, so it is undecided too, never broken
        guessed_from = min(
            (d.note.frame for d in outcome.divergences if not d.decided and isinstance(d.note, Diagnosis)),
            default=None,
        )
        # a connection joined mid-stream did unseen things; they show where the model, knowing none of them,
        # differs on that connection: a partition where it never does is judged as if it had nothing unseen
        unseen = any(
            d.failure.conn in joined or (d.failure.op is not None and d.failure.op.conn in joined)
            for d in outcome.divergences
        )
        for divergence in outcome.divergences:
            found = divergence.note
            assert isinstance(found, Diagnosis)
            regardless = any(divergence.failure is told for told in impossible.unconditional)
            status = _status(found, part, divergence.decided, unseen and not regardless, created, machine)
            certain = any(divergence.failure is told for told in impossible.told)
            if status == BROKEN and guessed_from is not None and found.frame > guessed_from and not certain:
                status = UNDECIDED
                found = replace(found, reason=f"{found.reason} (after the undecided frame {guessed_from})")
            candidates.append((found, status, part.key))
        if any(not divergence.decided for divergence in outcome.divergences):
            verdict.undecided.update((conn, seen.frame) for conn, t in tracks.items() for seen in t.seen)
        for note in machine.notes:
            for conn in tracks:
                verdict.notes.setdefault(conn, []).append(note)
                break
    # one defect once: the earliest divergence about a job stands for it, the later ones are its consequences
    # (a root cause first, wherever it was captured)
    for found, status, where in sorted(candidates, key=lambda c: (not c[0].root, c[0].frame, c[0].conn)):
        if status == BROKEN:
            about = found.handles
            if about and about & reported:
                _note(verdict, found, "consequence of a defect already reported for this job")
                continue
            once = (where, found.requirement, found.conn)
            if not about and once in repeated:
                _note(verdict, found, "repeats the divergence reported before")
                continue
            reported |= about
            repeated.add(once)
        verdict.findings.append(Finding(status, found.requirement, found.conn, found.frame, found.reason, where))
    agreeing = verdict.agreeing
    for track in history.tracks.values():
        conn = track.conn
        met = verdict.met.setdefault(conn, Counter())
        for seen in track.seen:
            if outcome_of.get((conn, seen.index)) and seen.message is not None:
                met[rule_of(seen.message)] += 1
                agreeing.append(seen)
    verdict.findings.sort(key=lambda f: (f.conn, f.frame))
    return verdict


def _diagnose(failure: Failure, machine: GearmanMachine, ctx: Context) -> Diagnosis:
    return diagnose(failure, machine.to_seen, machine.to_model, ctx)


def _note(verdict: Verdict, found: Diagnosis, why: str) -> None:
    verdict.notes.setdefault(found.conn, []).append(f"frame {found.frame}: {found.requirement}: {found.reason} ({why})")


def _status(
    found: Diagnosis,
    part: Part,
    decided: bool,
    joined: bool,
    created: Mapping[bytes, tuple[int, int]],
    machine: GearmanMachine,
) -> str:
    tracks = part.history.tracks
    if any(t.ops_lost_at is not None or t.seen_lost_at is not None for t in tracks.values()):
        return INCONCLUSIVE
    if not decided:
        return UNDECIDED
    if joined:
        return UNKNOWN
    unseen = [h for h in found.handles if h not in created and machine.describe_handle(h) != "paired"]
    if found.handles and len(unseen) == len(found.handles):
        return UNKNOWN  # only jobs the capture never saw created: made before it began?
    return BROKEN


def _context(history: History, answered: Mapping[int, Mapping[int, Seen]]) -> Context:
    """Who created, answered and was assigned what, over the whole history (``answered``: ``replies_of``)."""
    created: dict[bytes, tuple[int, int]] = {}
    creator: dict[bytes, Op] = {}
    answers: dict[tuple[int, int], Op] = {}
    assigned: set[tuple[int, bytes]] = set()
    first_assigned: dict[bytes, int] = {}
    forwarded: set[tuple[int, tuple[bytes, ...]]] = set()
    unanswered: list[tuple[int, int]] = []
    for track in history.tracks.values():
        replies = answered[track.conn]
        for index, seen in replies.items():
            op = track.ops[index]
            answers[(track.conn, seen.index)] = op
            message = seen.message
            if type(message) is Packet and message.type == PacketType.JOB_CREATED and message.args:
                handle = message.args[0]
                first = creator.get(handle)
                if first is None or op.time_ns < first.time_ns:
                    created[handle] = (track.conn, seen.frame)
                    creator[handle] = op
        for seen in track.seen:
            message = seen.message
            if type(message) is Packet and message.args:
                if message.type in _ASSIGNS:
                    assigned.add((track.conn, message.args[0]))
                    if seen.frame < first_assigned.get(message.args[0], seen.frame + 1):
                        first_assigned[message.args[0]] = seen.frame
                elif message.type in WORK_TYPES:
                    forwarded.add((int(message.type), message.args))
        if not track.midstream:  # a grab before the capture may have been answered before it too
            for index, op in enumerate(track.ops):
                if index not in replies and type(op.message) is Packet and op.message.type in GRAB_TYPES:
                    unanswered.append((op.frame, track.conn))
    owned = set()
    reports: list[tuple[int, int, tuple[int, tuple[bytes, ...]]]] = []
    for track in history.tracks.values():
        for op in track.ops:
            message = op.message
            if type(message) is Packet and message.type in WORK_TYPES and message.args:
                report = (int(message.type), message.args)
                if (track.conn, message.args[0]) in assigned:
                    owned.add(report)
                elif (
                    message.args[0] in created
                    and report in forwarded
                    and first_assigned.get(message.args[0], op.frame) >= op.frame
                ):
                    reports.append((op.frame, track.conn, report))
    strays: dict[tuple[int, tuple[bytes, ...]], tuple[int, int]] = {}
    for frame, conn, report in sorted(reports):
        if report not in owned:
            strays.setdefault(report, (conn, frame))
    return Context(
        created,
        creator,
        answers,
        frozenset(assigned),
        strays,
        first_assigned,
        tuple(sorted(unanswered)),
    )
