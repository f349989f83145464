"""Apply one action to the model and a real server at once, and compare.

``Differential`` owns one conversation (one hypothesis example): a namespace
for its names, the two ``Side``s, one ``HandleBook`` and one ``Tracker`` per
side, and the ``history`` of every step with both sides' normalised views.
``apply`` sends the action on both sides, runs the barrier, normalises what
each connection saw, checks each side's invariants, and raises:

* ``Divergence`` when the normalised views differ (the profile does not allow
  the difference), or
* ``InvariantBroken`` when a side breaks a rule on its own (the message says
  which side).

Both are ``AssertionError``s so hypothesis shrinks them. ``drain`` ends an
example: every worker leaves, a fresh worker takes every job left, and the
trackers check that no kept job was lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from gearsim.errors import HarnessError, ServerSilent
from gearsim.fuzz.actions import DRAIN_WORKER, FUNCTIONS, WORKERS, Action, Fn, Hd, Kind, Names
from gearsim.fuzz.invariants import Tracker
from gearsim.fuzz.normalise import CPacket, HandleBook, View, normalise
from gearsim.fuzz.sides import BARRIER_PREFIX, Side
from gearsim.model.profiles import Profile
from gearsim.protocol.packets import ASSIGN_TYPES, PacketType

__all__ = ["Differential", "Divergence", "FuzzFailure", "InvariantBroken", "Step"]


@dataclass(frozen=True)
class Step:
    """One applied action and what each side's connections saw (normalised)."""

    index: int
    action: Action
    model: dict[str, View]
    real: dict[str, View]
    problem: str = ""


class FuzzFailure(AssertionError):
    """A step the machine rejects; ``step`` is the offending one."""

    def __init__(self, message: str, step: Step) -> None:
        super().__init__(message)
        self.step = step


class Divergence(FuzzFailure):
    """The model and the server answered a step differently."""


class InvariantBroken(FuzzFailure):
    """A side broke an invariant on its own; ``side`` names it."""

    def __init__(self, message: str, step: Step, side: str) -> None:
        super().__init__(message, step)
        self.side = side


@dataclass
class _SideState:
    side: Side
    book: HandleBook = field(default_factory=HandleBook)
    tracker: Tracker | None = None


class Differential:
    """One conversation against two sides.

    Args:
        model: the reference side (its answers are the model's).
        real: the side under test (a real server, or a second model in tests).
        profile: the profile both are compared under (invariant switches).
        namespace: prefix of every function, unique and client id on the wire.
        excuse_known: known server bugs (invariants.KNOWN_SERVER_BUGS) are
            counted, not raised; False finds them again (to rewrite their vectors).
    """

    def __init__(
        self, model: Side, real: Side, profile: Profile, namespace: bytes, *, excuse_known: bool = True
    ) -> None:
        self.profile = profile
        self.names = Names(namespace)
        self.model = _SideState(model, tracker=Tracker(profile, excuse_known=excuse_known))
        self.real = _SideState(real, tracker=Tracker(profile, excuse_known=excuse_known))
        self.history: list[Step] = []
        self.connected: set[str] = set()
        self._barriers = 0
        self.failed = False

    @property
    def namespace(self) -> bytes:
        return self.names.namespace

    @property
    def undefined(self) -> str:
        """The known defect after which this example compares nothing more, or ""."""
        for state in (self.model, self.real):
            if state.tracker is not None and state.tracker.undefined:
                return state.tracker.undefined
        return ""

    def _token(self) -> bytes:
        self._barriers += 1
        return BARRIER_PREFIX + b"%d" % self._barriers

    def _run(self, state: _SideState, action: Action) -> None:
        side = state.side
        if action.kind is Kind.CONNECT:
            side.connect(action.actor)
            side.send(action.actor, self.names.wire(_set_id(action.actor, self.names), state.book.handles))
        elif action.kind is Kind.DISCONNECT:
            side.disconnect(action.actor, self.names.client_id(action.actor))
        else:
            side.send(action.actor, self.names.wire(action, state.book.handles))

    def _observe(self, state: _SideState, action: Action, stalled: set[str], actors: list[str]) -> dict[str, View]:
        views: dict[str, View] = {}
        for actor in actors:
            messages = state.side.take(actor)
            command = action.command if actor == action.actor else ""
            view = normalise(
                messages,
                book=state.book,
                namespace=self.namespace,
                command=command,
                closed=state.side.closed(actor),
                stalled=actor in stalled,
                error_labels=self.profile.neutral,
            )
            if view.messages or view.closed or view.stalled or actor == action.actor:
                views[actor] = view
        return views

    def apply(self, action: Action, *, drain: bool = False) -> Step:
        """Apply ``action`` on both sides and compare (connecting the actor first if needed).

        Raises:
            Divergence: the sides' views differ.
            InvariantBroken: a side broke an invariant.
            gearsim.errors.ServerSilent: the real side left a wait unanswered and a fresh
                connection's probe too: the server stopped answering (not a finding about the step).
            gearsim.errors.HarnessError: the real side cannot be reached.
        """
        if self.undefined:
            # the server's state is undefined since a known defect (Tracker.undefined): not compared
            return Step(len(self.history), action, {}, {})
        if action.kind not in (Kind.CONNECT, Kind.DISCONNECT) and action.actor not in self.connected:
            self.apply(Action(Kind.CONNECT, action.actor), drain=drain)
        if action.kind is Kind.DISCONNECT and action.actor not in self.connected:
            return Step(len(self.history), action, {}, {})
        if action.kind is Kind.CONNECT and action.actor in self.connected:
            self.apply(Action(Kind.DISCONNECT, action.actor), drain=drain)  # a reconnect
        token = self._token()
        seen = sorted(self.connected | {action.actor})
        observed: list[dict[str, View]] = []
        stalls: list[set[str]] = []
        for state in (self.model, self.real):
            try:
                self._run(state, action)
                stalled = state.side.barrier(action.actor, token)
            except HarnessError as exc:  # a wait of the side's own ran out: is the server still there at all?
                if state is self.real:
                    self._check_answering(action, set(), str(exc))
                raise
            stalls.append(stalled)
            observed.append(self._observe(state, action, stalled, seen))
        if stalls[1] - stalls[0]:  # the server left an echo unanswered that the model answered
            self._check_answering(action, stalls[1] - stalls[0])
        if action.kind is Kind.CONNECT:
            self.connected.add(action.actor)
        elif action.kind is Kind.DISCONNECT:
            self.connected.discard(action.actor)
        model_views, real_views = observed
        step = Step(len(self.history), action, model_views, real_views)
        if model_views != real_views:
            step = Step(step.index, action, model_views, real_views, _difference(model_views, real_views))
            self.history.append(step)
            self.failed = True
            raise Divergence(f"step {step.index} ({action.describe()}): {step.problem}", step)
        broken: dict[str, str] = {}
        for state, views in ((self.model, model_views), (self.real, real_views)):
            assert state.tracker is not None
            problems = state.tracker.step(action, views, drain=drain)
            if problems:
                broken[state.side.name] = "; ".join(problems)
        if broken:
            self._invariant(step, broken)
        for actor, view in real_views.items():
            if view.closed:
                self.connected.discard(actor)
        self.history.append(step)
        return step

    def _check_answering(self, action: Action, stalled: set[str], error: str = "") -> None:
        """Stop the example when the real side stopped answering altogether (``Side.stopped``).

        Raises:
            ServerSilent: naming the step and what was waited for; the
                example is then failed (no drain is attempted on a server
                that answers nothing).
        """
        stopped = getattr(self.real.side, "stopped", None)
        problem = stopped(stalled, error) if stopped is not None else None
        if problem is None:
            return
        self.failed = True
        raise ServerSilent(f"step {len(self.history)} ({action.describe()}): {problem}")

    def _invariant(self, step: Step, broken: dict[str, str], where: str = "") -> None:
        names = sorted(broken)
        side = " and ".join(names) if len(names) > 1 else names[0]
        problem = "; ".join(f"{name}: {broken[name]}" for name in names)
        failed = Step(step.index, step.action, step.model, step.real, problem)
        if self.history and self.history[-1].index == step.index:
            self.history[-1] = failed
        else:
            self.history.append(failed)
        self.failed = True
        where = where or f"step {step.index} ({step.action.describe()})"
        raise InvariantBroken(f"{where}: {problem}", failed, side)

    def known_hits(self) -> list[str]:
        """Known server bugs (invariants.KNOWN_SERVER_BUGS) hit by either side."""
        hits: list[str] = []
        for state in (self.model, self.real):
            assert state.tracker is not None
            hits += state.tracker.known_hits
        return hits

    def drain(self) -> None:
        """End the example: workers leave, a fresh worker takes every job left; check no job was lost.

        Nothing is done once the example's server state is undefined (``undefined``).

        Raises:
            Divergence, InvariantBroken: as ``apply``.
        """
        if self.undefined:
            return
        for worker in WORKERS:
            if worker in self.connected:
                self.apply(Action(Kind.DISCONNECT, worker), drain=True)
        assert self.model.tracker is not None and self.real.tracker is not None
        # a grab the profile's server implements: Perl has no GRAB_JOB_UNIQ (an ERROR, and every job
        # left looked lost on both sides), gear no GRAB_JOB
        grab = next(t for t in _DRAIN_GRABS if t.name in self.profile.implemented)
        # one function at a time: which of a worker's functions Perl looks at first is its hash order,
        # new in every server process (seed 0 diverged on it in the drain), which no model can follow
        for fn in FUNCTIONS:
            self.apply(Action(Kind.PACKET, DRAIN_WORKER, PacketType.CAN_DO, (Fn(fn),)), drain=True)
            for _ in range(len(self.model.tracker.jobs) + 2):
                step = self.apply(Action(Kind.PACKET, DRAIN_WORKER, grab), drain=True)
                handle = _assigned(step.real.get(DRAIN_WORKER, View()))
                if handle is None:
                    break
                self.apply(Action(Kind.PACKET, DRAIN_WORKER, PacketType.WORK_COMPLETE, (handle, b"")), drain=True)
            self.apply(Action(Kind.PACKET, DRAIN_WORKER, PacketType.CANT_DO, (Fn(fn),)), drain=True)
        broken: dict[str, str] = {}
        for state in (self.model, self.real):
            assert state.tracker is not None
            problems = state.tracker.lost()
            if problems:
                broken[state.side.name] = "; ".join(problems)
        if broken:
            self._invariant(self.history[-1], broken, "after the drain")

    def close(self) -> None:
        """Close every connection on both sides; a real server forgets this example's functions.

        Raises:
            gearsim.errors.ServerSilent: the server did not answer a ``drop function`` and no longer
                answers a fresh connection either.
        """
        for state in (self.model, self.real):
            state.side.close_all()
            forget = getattr(state.side, "forget", None)
            shutdown = getattr(state.side, "shutdown", None)
            try:
                if forget is not None:
                    forget([self.names.function(fn) for fn in FUNCTIONS])
            except HarnessError as exc:
                stopped = getattr(state.side, "stopped", None)
                problem = stopped(set(), str(exc)) if stopped is not None else None
                if problem is not None:
                    raise ServerSilent(f"after the example's last step, dropping its functions: {problem}") from None
                raise
            finally:
                if shutdown is not None:  # the control connection too, whatever the drop met
                    shutdown()


def _set_id(actor: str, names: Names) -> Action:
    return Action(Kind.PACKET, actor, PacketType.SET_CLIENT_ID, (names.client_id(actor),))


#: the grabs the drain may use, the first one the profile implements
_DRAIN_GRABS: Final = (PacketType.GRAB_JOB_UNIQ, PacketType.GRAB_JOB, PacketType.GRAB_JOB_ALL)


def _assigned(view: View) -> Hd | None:
    for m in view.messages:
        if isinstance(m, CPacket) and m.type in ASSIGN_TYPES and m.args and isinstance(m.args[0], Hd):
            return m.args[0]
    return None


def _difference(model: dict[str, View], real: dict[str, View]) -> str:
    parts = []
    for actor in sorted(set(model) | set(real)):
        a, b = model.get(actor, View()), real.get(actor, View())
        if a != b:
            parts.append(f"{actor}: model {a.describe()} / server {b.describe()}")
    return "; ".join(parts)
