"""Replay vector cases against a server peer and judge what comes back.

PURE and pytest-free. The runner plays a case's clients, workers and admin
connections (its *actors*) against a ``ServerPeer``: the reference model inside
the simulator, or a real server over TCP (gearsim.io). It only ever talks to
the peer through the ``ServerPeer`` protocol below, so the same vectors judge
both, and time is whatever the peer says it is (virtual or wall milliseconds).

Verdicts: PASS (every expectation met as written), ACCEPTABLE (some step met an
alternative the vector allows for the profile under test), FAIL (an expectation
not met, with expected and actual and the trace around it), INCONCLUSIVE (the
harness could not decide: the peer broke), NOT_APPLICABLE (the case is for other
profiles).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from gearsim.errors import GearsimError
from gearsim.protocol.codec import encode, encode_admin
from gearsim.protocol.packets import Magic, Message, Packet
from gearsim.protocol.trace import TraceRecord
from gearsim.vectors.codec_checks import check_codec_case
from gearsim.vectors.matching import (
    UnsendableLine,
    describe_line,
    describe_packet,
    line_text,
    match_admin,
    match_packet,
    match_unordered,
)
from gearsim.vectors.parse import (
    AdminPattern,
    Alternative,
    Case,
    PacketPattern,
    Reaction,
    Ref,
    Step,
    VectorFile,
)

__all__ = [
    "DEFAULT_WITHIN",
    "CaseResult",
    "PeerFactory",
    "ServerPeer",
    "Verdict",
    "run_case",
    "run_file",
]

#: how long (ms) an expect waits unless the step says ``within``
DEFAULT_WITHIN = 1000
#: how long (ms) a case waits at its end for stray messages
SETTLE = 50


class Verdict(enum.Enum):
    PASS = "pass"
    ACCEPTABLE = "acceptable"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "n/a"


class ServerPeer(Protocol):
    """A server under test, seen from its clients' side of the wire.

    Each actor of a case owns at most one connection at a time. Received
    messages queue in ``inbox(actor)`` until the runner pops them.
    """

    def now(self) -> int:
        """Current time in ms (virtual for the simulator, wall for TCP)."""
        ...

    def connect(self, actor: str) -> None:
        """Open a connection for ``actor``."""
        ...

    def send(self, actor: str, data: bytes) -> None:
        """Write bytes on the actor's connection."""
        ...

    def disconnect(self, actor: str) -> None:
        """Close the actor's connection from the client side."""
        ...

    def wait(self, until: int, ready: Callable[[], bool]) -> None:
        """Let time pass until ``until`` or until ``ready()`` is true, whichever is first."""
        ...

    def inbox(self, actor: str) -> deque[Message]:
        """Messages received on the actor's connection and not yet consumed."""
        ...

    def closed(self, actor: str) -> bool:
        """True once the server (or the link) closed the actor's connection."""
        ...

    def trace_tail(self, lines: int = 12) -> str:
        """The last lines of the peer's trace, for failure reports."""
        ...

    def records(self) -> tuple[TraceRecord, ...]:
        """Everything the peer recorded, in order (records labelled by actor)."""
        ...

    def span(self, ms: int, kind: str) -> int:
        """How long to really wait for a vector's ``ms`` of ``kind``.

        ``kind`` is ``advance``, ``silence``, ``within`` (the most an expect
        waits) or ``settle`` (the end-of-case wait for strays). The simulator
        returns ``ms``; a wall-clock peer may shorten advances and silences
        that no server timer depends on, and lengthen expect timeouts.
        """
        ...


#: builds a fresh peer for a case (options applied, profile chosen)
PeerFactory = Callable[[Case], ServerPeer]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The verdict on one case, with enough to understand a failure."""

    file: str
    case: str
    area: str
    verdict: Verdict
    requirements: tuple[str, ...]
    reason: str = ""
    step: int | None = None
    expected: str = ""
    actual: str = ""
    trace: str = ""
    notes: tuple[str, ...] = ()
    #: sha256 of the vector file's canonical text, so a report names exactly what ran
    vector_sha256: str = ""
    #: the whole conversation, for reports that draw it (empty for codec-only checks)
    records: tuple[TraceRecord, ...] = field(default=(), repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.file}::{self.case}"


class _Failed(Exception):
    def __init__(self, step: Step | None, reason: str, expected: str = "", actual: str = "", rids: Sequence[str] = ()):
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.expected = expected
        self.actual = actual
        self.rids = tuple(rids)


class _Inconclusive(Exception):
    pass


@dataclass
class _Play:
    """The state of one case being played: captured values and notes."""

    peer: ServerPeer
    profile: str
    captures: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    acceptable: bool = False


# --------------------------------------------------------------------------- matching


def _resolve(play: _Play, pattern: PacketPattern, default_magic: Magic) -> Packet:
    args: list[bytes] = []
    for arg in pattern.args:
        if isinstance(arg, Ref):
            args.append(play.captures[arg.name])
        elif isinstance(arg, bytes):
            args.append(arg)
        else:  # the loader refuses capture/any in sends
            raise _Inconclusive(f"cannot send a {type(arg).__name__} argument")
    return Packet(pattern.magic if pattern.magic is not None else default_magic, pattern.type, tuple(args))


# --------------------------------------------------------------------------- waiting


def _take(play: _Play, actor: str, count: int, within: int) -> list[Message]:
    peer = play.peer
    box = peer.inbox(actor)
    deadline = peer.now() + peer.span(within, "within")
    peer.wait(deadline, lambda: len(box) >= count or peer.closed(actor))
    got: list[Message] = []
    while box and len(got) < count:
        got.append(box.popleft())
    return got


def _take_bytes(play: _Play, actor: str, size: int, within: int) -> list[Message]:
    peer = play.peer
    box = peer.inbox(actor)
    deadline = peer.now() + peer.span(within, "within")

    def enough() -> bool:
        return sum(len(_wire(m)) for m in box) >= size or peer.closed(actor)

    peer.wait(deadline, enough)
    got: list[Message] = []
    have = 0
    while box and have < size:
        m = box.popleft()
        got.append(m)
        have += len(_wire(m))
    return got


def _wire(message: Message) -> bytes:
    return encode(message) if isinstance(message, Packet) else encode_admin(message)


# --------------------------------------------------------------------------- expectations


def _check_expectation(
    play: _Play,
    actor: str,
    within: int,
    *,
    packet: PacketPattern | None,
    packets: Sequence[PacketPattern],
    admin: AdminPattern | None,
    wire: bytes | None,
    close: bool,
    silence: bool,
    ms: int,
    received: list[Message] | None,
) -> tuple[str, str, list[Message], int]:
    """Match one expectation; returns (problem, expected text, messages seen, how many it used).

    ``received`` is None on the first try: a packet, admin or wire expectation
    then takes messages from the inbox, while silence and close only look.
    When an alternative is tried, ``received`` is what the first try saw.
    """
    peer = play.peer
    if silence or close:
        if received is None:
            box = peer.inbox(actor)
            if close:
                peer.wait(peer.now() + peer.span(within, "within"), lambda: bool(box) or peer.closed(actor))
            else:
                peer.wait(peer.now() + peer.span(ms, "silence"), lambda: bool(box))
            received = list(box)
        expected = "the connection closed" if close else f"silence for {ms} ms"
        if received:
            return f"got {received[0]!r}", expected, received, 0
        if close and not peer.closed(actor):
            return f"the connection is still open after {within} ms", expected, received, 0
        return "", expected, received, 0
    if packet is not None or packets:
        wanted = [packet] if packet is not None else list(packets)
        expected = "; ".join(describe_packet(p, play.captures) for p in wanted)
        if received is None:
            received = _take(play, actor, len(wanted), within)
        if len(received) < len(wanted):
            closed = " (the connection is closed)" if peer.closed(actor) else ""
            problem = f"got {len(received)} of {len(wanted)} packets within {within} ms{closed}"
            return problem, expected, received, 0
        bind: dict[str, bytes] = {}
        if packet is not None:
            problem = match_packet(packet, received[0], play.captures, bind)
        else:
            problem = match_unordered(wanted, received[: len(wanted)], play.captures, bind)
        if not problem:
            play.captures.update(bind)
        return problem, expected, received, len(wanted)
    if admin is not None:
        expected = " | ".join(describe_line(line, play.captures) for line in admin.lines)
        if received is None:
            received = _take(play, actor, len(admin.lines), within)
        return match_admin(admin, received[: len(admin.lines)], play.captures), expected, received, len(admin.lines)
    if wire is not None:
        expected = wire.hex()
        if received is None:
            received = _take_bytes(play, actor, len(wire), within)
        used, got = 0, b""
        while used < len(received) and len(got) < len(wire):
            got += _wire(received[used])
            used += 1
        return ("" if got == wire else f"bytes {got.hex()}"), expected, received, used
    raise _Inconclusive("an expectation with nothing to expect")


def _expect_step(play: _Play, step: Step) -> None:
    within = step.within if step.within is not None else DEFAULT_WITHIN
    problem, expected, received, _ = _check_expectation(
        play,
        step.actor,
        within,
        packet=step.packet,
        packets=step.packets,
        admin=step.admin,
        wire=step.wire,
        close=step.action == "expect_close",
        silence=step.action == "expect_silence",
        ms=step.ms,
        received=None,
    )
    if not problem:
        return
    for alt in step.accept:
        alt_problem, _, _, used = _check_expectation(
            play,
            step.actor,
            within,
            packet=alt.packet,
            packets=alt.packets,
            admin=alt.admin,
            wire=alt.wire,
            close=alt.close,
            silence=alt.silence,
            ms=step.ms,
            received=received,
        )
        if alt_problem:
            continue
        if step.action in ("expect_silence", "expect_close"):
            # the first try only looked at these messages; the alternative takes them
            box = play.peer.inbox(step.actor)
            for _ in range(used):
                box.popleft()
        note = f"step {step.index}: {', '.join(alt.profiles)} behaviour" + (f" ({alt.note})" if alt.note else "")
        if play.profile in alt.profiles:
            play.acceptable = True
            play.notes.append(note)
            return
        reason = f"{step.actor}: {problem}; this matches the {note}"
        raise _Failed(step, reason, expected, _show(received), step.requirements)
    raise _Failed(step, f"{step.actor}: {problem}", expected, _show(received), step.requirements)


def _show(messages: Iterable[Message]) -> str:
    return "; ".join(repr(m) for m in messages)


# --------------------------------------------------------------------------- playing


def _skips(play: _Play, step: Step) -> Alternative | None:
    for alt in step.accept:
        if alt.skip and play.profile in alt.profiles:
            return alt
    return None


def _play_step(play: _Play, step: Step) -> None:
    peer = play.peer
    skip = _skips(play, step)
    if skip is not None:
        play.notes.append(f"step {step.index} skipped for {play.profile}" + (f" ({skip.note})" if skip.note else ""))
        play.acceptable = True
        return
    if step.action == "connect":
        peer.connect(step.actor)
    elif step.action == "disconnect":
        peer.disconnect(step.actor)
    elif step.action == "advance":
        peer.wait(peer.now() + peer.span(step.ms, "advance"), lambda: False)
    elif step.action == "send":
        if step.packet is not None:
            peer.send(step.actor, _encode_pattern(play, step.packet))
        elif step.admin is not None:
            try:
                text = b"".join(line_text(line, play.captures) + step.admin.eol for line in step.admin.lines)
            except UnsendableLine as exc:
                raise _Inconclusive(str(exc)) from None
            peer.send(step.actor, text)
        elif step.wire is not None:
            peer.send(step.actor, step.wire)
    else:
        _expect_step(play, step)


def _encode_pattern(play: _Play, pattern: PacketPattern) -> bytes:
    return encode(_resolve(play, pattern, Magic.REQ), length=pattern.length)


def _leftovers(play: _Play, actors: Iterable[str]) -> None:
    peer = play.peer
    peer.wait(peer.now() + peer.span(SETTLE, "settle"), lambda: False)
    for actor in actors:
        box = peer.inbox(actor)
        if box:
            raise _Failed(None, f"{actor}: unexpected {box[0]!r} after the last step", "nothing more", _show(box))


def _reaction_steps(case: Case, reaction: Reaction) -> list[Step]:
    """A codec case's server reaction as lifecycle steps on one connection."""
    steps = [Step(1, "connect", "c"), Step(2, "send", "c", wire=case.wire)]
    for reply in reaction.replies:
        if isinstance(reply, PacketPattern):
            steps.append(Step(len(steps) + 1, "expect", "c", packet=reply))
        else:
            steps.append(Step(len(steps) + 1, "expect", "c", admin=reply))
    if reaction.then == "close":
        steps.append(Step(len(steps) + 1, "expect_close", "c"))
    else:
        steps.append(Step(len(steps) + 1, "expect_silence", "c", ms=200))
    return steps


def _play_steps(play: _Play, steps: Sequence[Step], actors: Iterable[str]) -> None:
    for step in steps:
        _play_step(play, step)
    _leftovers(play, actors)


def run_case(vf: VectorFile, case: Case, factory: PeerFactory, profile: str) -> CaseResult:
    """Play one case against a fresh peer from ``factory`` and judge it.

    Never raises for a peer's behaviour or a harness failure: those become
    FAIL and INCONCLUSIVE verdicts.
    """
    base = CaseResult(vf.name, case.id, vf.area, Verdict.PASS, case.requirements, vector_sha256=vf.sha256)
    if case.is_program:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="a program case: run it with gearsim run --client")
    if not case.applies_to(profile):
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=f"only for {', '.join(case.profiles)}")
    if case.is_codec:
        problems = check_codec_case(case)
        if problems:
            return replace(base, verdict=Verdict.FAIL, reason=problems[0], notes=tuple(problems[1:]))
        if case.server is None:
            return base
        return _run_reaction(case, factory, profile, base)
    peer: ServerPeer | None = None
    play: _Play | None = None
    try:
        peer = factory(case)
        play = _Play(peer, profile)
        _play_steps(play, case.steps, case.actors)
    except _Failed as failed:
        assert play is not None and peer is not None  # _Failed is only raised while playing
        return replace(
            base,
            verdict=Verdict.FAIL,
            reason=failed.reason,
            step=failed.step.index if failed.step else None,
            expected=failed.expected,
            actual=failed.actual,
            trace=peer.trace_tail(),
            notes=tuple(play.notes) + tuple(f"cites {r}" for r in failed.rids),
            records=peer.records(),
        )
    except (_Inconclusive, GearsimError, KeyError) as exc:
        trace = peer.trace_tail() if peer is not None else ""
        records = peer.records() if peer is not None else ()
        return replace(base, verdict=Verdict.INCONCLUSIVE, reason=f"harness: {exc}", trace=trace, records=records)
    verdict = Verdict.ACCEPTABLE if play.acceptable else Verdict.PASS
    return replace(base, verdict=verdict, notes=tuple(play.notes), records=peer.records())


def _run_reaction(case: Case, factory: PeerFactory, profile: str, base: CaseResult) -> CaseResult:
    assert case.server is not None  # checked by the caller
    outcomes: list[tuple[Reaction, bool]] = [(case.server, False)]
    outcomes += [(r, True) for r in case.server_accept]
    first_failure: CaseResult | None = None
    for reaction, alternative in outcomes:
        if alternative and profile not in reaction.profiles:
            continue
        try:
            peer = factory(case)
            play = _Play(peer, profile)
            _play_steps(play, _reaction_steps(case, reaction), ["c"])
        except _Failed as failed:
            if first_failure is None:
                first_failure = replace(
                    base,
                    verdict=Verdict.FAIL,
                    reason=f"server reaction: {failed.reason}",
                    step=failed.step.index if failed.step else None,
                    expected=failed.expected,
                    actual=failed.actual,
                    trace=peer.trace_tail(),
                    records=peer.records(),
                )
            continue
        except (_Inconclusive, GearsimError, KeyError) as exc:
            return replace(base, verdict=Verdict.INCONCLUSIVE, reason=f"harness: {exc}")
        if alternative:
            note = f"server reacts as {', '.join(reaction.profiles)}" + (f" ({reaction.note})" if reaction.note else "")
            return replace(base, verdict=Verdict.ACCEPTABLE, notes=(note,), records=peer.records())
        return replace(base, records=peer.records())
    assert first_failure is not None  # the primary reaction always runs
    return first_failure


def run_file(
    vf: VectorFile, factory: PeerFactory, profile: str, only: Callable[[Case], bool] | None = None
) -> list[CaseResult]:
    """Run every case of a file (or those ``only`` selects), in file order."""
    return [run_case(vf, c, factory, profile) for c in vf.cases if only is None or only(c)]
