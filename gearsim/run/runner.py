"""Replay vector cases against a server peer and judge what comes back.

PURE and pytest-free. This module owns playing one case (:func:`run_case`)
and the ``ServerPeer`` protocol a server under test is reached through; the
verdicts and results themselves are ``gearsim.run.result``. The runner plays a case's clients, workers and admin
connections (its *actors*) against a ``ServerPeer``: the reference model inside
the simulator, or a real server over TCP (gearsim.io). It only ever talks to
the peer through the ``ServerPeer`` protocol below, so the same vectors judge
both, and time is whatever the peer says it is (virtual or wall milliseconds).

Verdicts: PASS (every expectation met as written), ACCEPTABLE (some step met an
alternative the vector allows for the profile under test), KNOWN_DEFECT (some
step met an alternative that is a recorded defect of that profile: it breaks a
rule, and the profile says this implementation does so), FAIL (an expectation
not met, with expected and actual and the trace around it), INCONCLUSIVE (the
harness could not decide: the peer broke), NOT_APPLICABLE (the case is for other
profiles). Any other exception while a case is played is a gearsim bug: it is
raised as ``gearsim.errors.GearsimBug``, never turned into a verdict.

Under the neutral profile ``spec`` only the rules judge: every alternative that
breaks no rule is accepted whatever profiles it names, one that breaks a SHOULD
fails unless the run's level is ``must``, a defect (a broken MUST) always
fails, ERROR code words and texts are labels (GM-ERROR-003) and admin lines may
end in LF or CR LF (GM-ADMIN-014).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from gearsim.errors import GearsimBug, GearsimError, InputError
from gearsim.model.admin import unanswered_line
from gearsim.model.profiles import DEFAULT_PROFILE, PROFILES, SPEC_PROFILE
from gearsim.protocol import codec
from gearsim.protocol.codec import encode
from gearsim.protocol.packets import SPECS, Magic, Message, Packet, PacketType, Role
from gearsim.protocol.trace import TraceRecord
from gearsim.protocol.validate import check
from gearsim.run.result import LEVELS, CaseResult, StepFailed, Verdict, bug, failed, inconclusive
from gearsim.run.unanswered import admin_lines, request_types, silent_admin_rules, unanswered_defect
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
    AnyValue,
    Capture,
    Case,
    LineParts,
    PacketPattern,
    Reaction,
    Ref,
    Step,
    VectorFile,
)

__all__ = [
    "DEFAULT_WITHIN",
    "LEVELS",
    "SETTLE",
    "CaseResult",
    "PeerFactory",
    "ServerPeer",
    "Verdict",
    "check_profile",
    "default_profile",
    "known_profiles",
    "run_case",
    "run_file",
]

#: how long (ms) an expect waits unless the step says ``within``
DEFAULT_WITHIN = 1000
#: how long (ms) a case waits at its end for stray messages
SETTLE = 50
#: the actor name of the connection that checks whether a server still serves
_LIVENESS = "(liveness)"


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

    # A peer that can restart its server also has ``restart() -> None``: it stops the
    # server, starts it again on the same address and returns once it serves; every
    # connection is then closed (the actors connect again). The runner looks it up
    # with getattr, so peers that cannot (a user's long-lived server) need not define it.

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


class _Inconclusive(Exception):
    pass


class _Crashed(Exception):
    """The server died in the way the profile's defect records: the case cannot go on."""


class _Unsupported(Exception):
    """The server refused what the case tests, and a rule lets it: the rest of the case does not apply."""


def known_profiles() -> tuple[str, ...]:
    """The profile names a run may be judged under, in the profile table's order."""
    return tuple(PROFILES)


def default_profile(*, real_server: bool) -> str:
    """The profile a run is judged under when none is named.

    The reference model is gearmand-1.1 (it models gearmand). A real server
    given by the user (``--server``, ``--server-command``) is judged by the
    neutral ``spec`` profile (issue 12.4) as soon as that profile is known;
    until then by gearmand-1.1 too.
    """
    if real_server and SPEC_PROFILE in PROFILES:
        return SPEC_PROFILE
    return DEFAULT_PROFILE


def check_profile(profile: str) -> str:
    """``profile``, if it names a known profile.

    Raises:
        InputError: no profile has that name (the message lists the known ones).
    """
    if profile not in PROFILES:
        raise InputError(f"unknown profile {profile!r}; known profiles: {', '.join(known_profiles())}")
    return profile


@dataclass
class _Play:
    """The state of one case being played: captured values and notes."""

    peer: ServerPeer
    profile: str
    level: str = "should"
    captures: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    acceptable: bool = False
    #: known defects of the profile met so far
    defects: list[str] = field(default_factory=list)
    #: branches of alternatives taken, and branches ruled out by a step passing otherwise
    branches: set[str] = field(default_factory=set)
    ruled_out: set[str] = field(default_factory=set)
    #: the step being played, for a gearsim bug's report
    step: Step | None = None
    #: per actor, the request types sent since its last expect step
    sent: dict[str, list[int]] = field(default_factory=dict)
    #: per actor, the admin lines sent since its last expect step
    lines: dict[str, list[bytes]] = field(default_factory=dict)
    #: a failed step awaiting an unanswered request of a profile's defect ends the case
    #: (a codec reaction tries its alternatives first and judges the wire after)
    stop_unanswered: bool = True

    @property
    def neutral(self) -> bool:
        return self.profile == SPEC_PROFILE


# --------------------------------------------------------------------------- matching


def _resolve(play: _Play, pattern: PacketPattern, default_magic: Magic) -> Packet:
    args: list[bytes] = []
    for arg in pattern.args:
        if isinstance(arg, Ref):
            if arg.name not in play.captures:
                raise _Inconclusive(
                    f"{arg.name} was not captured (an alternative accepted earlier does not capture it)"
                )
            args.append(play.captures[arg.name])
        elif isinstance(arg, bytes):
            args.append(arg)
        elif isinstance(arg, LineParts):
            try:
                args.append(line_text(arg, play.captures))
            except UnsendableLine as exc:
                raise _Inconclusive(str(exc)) from None
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
        return sum(len(codec.wire(m)) for m in box) >= size or peer.closed(actor)

    peer.wait(deadline, enough)
    got: list[Message] = []
    have = 0
    while box and have < size:
        m = box.popleft()
        got.append(m)
        have += len(codec.wire(m))
    return got


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
        written = list(wanted)
        if play.neutral:
            wanted = [_error_as_label(p) for p in wanted]
            packet = wanted[0] if packet is not None else None
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
            if play.neutral:
                _note_error_words(play, written, received[: len(wanted)])
        return problem, expected, received, len(wanted)
    if admin is not None:
        expected = " | ".join(describe_line(line, play.captures) for line in admin.lines)
        if received is None:
            received = _take(play, actor, len(admin.lines), within)
        # under spec a server's admin lines may end either way (GM-ADMIN-014 binds the reader), and
        # so under a profile whose server ends them in LF: the vectors write gearmand's CR LF
        any_eol = play.neutral or not PROFILES[play.profile].admin_ok.endswith("\r\n")
        problem = match_admin(admin, received[: len(admin.lines)], play.captures, any_eol=any_eol)
        return problem, expected, received, len(admin.lines)
    if wire is not None:
        expected = wire.hex()
        if received is None:
            received = _take_bytes(play, actor, len(wire), within)
        used, got = 0, b""
        while used < len(received) and len(got) < len(wire):
            got += codec.wire(received[used])
            used += 1
        return ("" if got == wire else f"bytes {got.hex()}"), expected, received, used
    raise _Inconclusive("an expectation with nothing to expect")


def _error_as_label(pattern: PacketPattern) -> PacketPattern:
    """Under ``spec`` an expected ERROR's code word and text match anything (GM-ERROR-003)."""
    if pattern.type is not PacketType.ERROR or not pattern.args:
        return pattern
    return replace(pattern, args=tuple(AnyValue() for _ in pattern.args))


def _note_error_words(play: _Play, patterns: Sequence[PacketPattern], got: Sequence[Message]) -> None:
    """Note an ERROR whose code word differs from the vector's (GM-ERROR-002 asks for the table's words)."""
    for pattern, message in zip(patterns, got, strict=False):
        if pattern.type is not PacketType.ERROR or not isinstance(message, Packet):
            continue
        want = pattern.args[0] if pattern.args and isinstance(pattern.args[0], bytes) else None
        code = message.args[0] if message.args else b""
        if want is not None and code.lower() != want.lower():
            play.notes.append(f"ERROR code word {code!r} where the error table has {want!r} (GM-ERROR-002)")


def _server_down(play: _Play) -> str:
    """Why the server no longer serves (a new connection is refused or closed at once), or ""."""
    peer = play.peer
    try:
        peer.connect(_LIVENESS)
    except GearsimError as exc:
        return str(exc)
    peer.wait(peer.now() + peer.span(SETTLE, "within"), lambda: peer.closed(_LIVENESS))
    gone = peer.closed(_LIVENESS)
    peer.disconnect(_LIVENESS)
    return "a new connection is closed at once" if gone else ""


def _behaviour(alt: Alternative) -> str:
    return f"{', '.join(alt.profiles)} behaviour" + (f" ({alt.note})" if alt.note else "")


def _judge(play: _Play, step: Step, alt: Alternative, problem: str, expected: str, received: list[Message]) -> None:
    """An alternative matched where the step's own expectation did not: accept it, record a defect, or fail.

    Raises:
        StepFailed: the alternative is not one the profile may show (under spec: it breaks a rule).
    """
    where = f"step {step.index}"
    broken = ", ".join(alt.breaks)
    if play.neutral:
        if alt.defect:
            reason = f"{step.actor}: {problem}; this is {alt.defect}, a known defect of {', '.join(alt.profiles)}"
            raise StepFailed(step, f"{reason} (breaks {broken})", expected, _show(received), alt.breaks)
        if alt.breaks and play.level != "must":
            reason = f"{step.actor}: {problem}; this {_behaviour(alt)} breaks {broken}"
            raise StepFailed(step, reason, expected, _show(received), alt.breaks)
        play.acceptable = True
        deviates = f" (deviates from {broken})" if broken else ""
        play.notes.append(f"{where}: the {_behaviour(alt)}, which the spec allows{deviates}")
        return
    if play.profile in alt.profiles:
        if alt.defect:
            play.defects.append(f"{where}: known defect {alt.defect} of {play.profile} (breaks {broken})")
        else:
            play.acceptable = True
            play.notes.append(f"{where}: {_behaviour(alt)}")
        return
    # what is broken is what that behaviour breaks: none when the spec allows it
    reason = f"{step.actor}: {problem}; this matches the {where}: {_behaviour(alt)}"
    raise StepFailed(step, reason, expected, _show(received), alt.breaks)


def _expect_step(play: _Play, step: Step) -> None:
    within = step.within if step.within is not None else DEFAULT_WITHIN
    problem, expected, received, used = _check_expectation(
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
    _check_crash(play, step, problem, expected, received)
    if not problem and (step.packet is not None or step.packets):
        _check_rules(play, step, [step.packet] if step.packet is not None else step.packets, received[:used], expected)
    # a branch taken at an earlier step commits this step to its alternative of that branch
    forced = next((a for a in step.accept if a.branch and a.branch in play.branches), None)
    if forced is not None:
        if not problem:
            problem = f"the step's own outcome, where the branch {forced.branch!r} taken earlier needs its alternative"
        ordered = [forced]
    elif not problem:
        play.ruled_out.update(a.branch for a in step.accept if a.branch)
        return
    elif play.neutral:
        # what the spec allows before what breaks a rule
        ordered = sorted(step.accept, key=lambda a: (bool(a.defect), bool(a.breaks)))
    else:
        # the profile's own alternatives first, so another profile's never shadows them
        ordered = sorted(step.accept, key=lambda a: play.profile not in a.profiles)
    for alt in ordered:
        if alt.skip or alt.crash or alt.branch in play.ruled_out:
            continue
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
        _judge(play, step, alt, problem, expected, received)
        if not alt.breaks and (alt.packet is not None or alt.packets):
            _check_rules(play, step, [alt.packet] if alt.packet is not None else alt.packets, received[:used], expected)
        if alt.unsupported:
            why = f" ({alt.note})" if alt.note else ""
            raise _Unsupported(f"step {step.index}: the server does not implement what the case tests{why}")
        if alt.branch:
            play.branches.add(alt.branch)
        play.ruled_out.update(a.branch for a in step.accept if a.branch and a.branch != alt.branch)
        return
    _deviation(play, step, problem, expected, received)


def _breakable(step: Step) -> tuple[str, ...]:
    """The rules a server breaks by not meeting ``step``'s expectation (all its rules until derived)."""
    return step.server_rules if step.server_rules is not None else step.rules


def _deviation(play: _Play, step: Step, problem: str, expected: str, received: list[Message]) -> None:
    """Neither the step's expectation nor an alternative was met: fail, or accept what the spec leaves open.

    A failure names the rules the server broke at this step: the step's MUST
    and SHOULD rules that bind a server, else the rules the packets it sent
    break (the validator, server role), else none. A step whose expectation
    rests only on rules no server behaviour breaks (MAY rules, other roles'
    rules) expects one behaviour among several the spec allows: under spec the
    server's is accepted unless its packets break a rule; under another
    profile it fails as a difference from that profile's recorded behaviour,
    naming no rule broken.

    Raises:
        StepFailed: always, except under spec for a behaviour the spec leaves open.
    """
    actual = _show(received)
    rules = _breakable(step)
    if rules or step.server_rules is None or not step.rules:
        raise StepFailed(step, f"{step.actor}: {problem}", expected, actual, rules)
    for message in received:
        if isinstance(message, Packet):
            for violation in check(message, Role.SERVER):
                reason = f"{step.actor}: {problem}; {message.name} breaks {violation}"
                raise StepFailed(step, reason, expected, actual, (violation.requirement,))
    resting = ", ".join(step.rules)
    if not play.neutral:
        recorded = f"not the {play.profile} behaviour the vector records"
        reason = f"{step.actor}: {problem}; {recorded} (the spec leaves it open: {resting})"
        raise StepFailed(step, reason, expected, actual, ())
    if step.action in ("expect_silence", "expect_close"):
        # the expectation only looked at these messages; the server's own behaviour consumes them
        box = play.peer.inbox(step.actor)
        for _ in range(min(len(received), len(box))):
            box.popleft()
    play.acceptable = True
    play.notes.append(
        f"step {step.index}: {problem}, where the vector expects {expected}: a behaviour the spec leaves open"
        f" (the step rests only on {resting}, which no server behaviour breaks)"
    )


def _check_rules(
    play: _Play, step: Step, patterns: Sequence[PacketPattern | None], matched: Sequence[Message], expected: str
) -> None:
    """An argument a pattern left open must still keep the spec's packet rules.

    A capture or ``any`` accepts anything: a 70-byte handle, a NUL inside a
    unique, a status flag of 2 would match it. Arguments the vector wrote out
    are the vector's word (a server repeats what a peer sent, valid or not),
    and outcomes that declare what they break are not checked here. Under
    ``spec`` an ERROR's words are open too (they match as labels).

    Raises:
        StepFailed: the first broken rule, cited as the step's.
    """
    for message in matched:
        if not isinstance(message, Packet):
            continue
        open_args = {
            i
            for p in patterns
            if p is not None and int(p.type) == int(message.type)
            for i, arg in enumerate(p.args)
            if isinstance(arg, (Capture, AnyValue)) or (play.neutral and p.type is PacketType.ERROR)
        }
        names = SPECS[int(message.type)].args if int(message.type) in SPECS else ()
        for violation in check(message, Role.SERVER):
            if violation.argument and violation.argument in names and names.index(violation.argument) in open_args:
                reason = f"{step.actor}: {message.name} breaks {violation}"
                raise StepFailed(step, reason, expected, repr(message), (violation.requirement,))


def _check_crash(play: _Play, step: Step, problem: str, expected: str, received: list[Message]) -> None:
    """On a step that lists a crash outcome, a closed connection is checked: did the server die?

    A server that died closes the connection too, so a close alone (even one
    the step expects) says nothing; a refused new connection does.
    """
    crash = next((a for a in step.accept if a.crash), None)
    if crash is None or not play.peer.closed(step.actor):
        return
    down = _server_down(play)
    if down:
        what = f"{problem}; " if problem else ""
        _judge(play, step, crash, f"{what}the connection closed and the server is down ({down})", expected, received)
        raise _Crashed(down)


def _show(messages: Iterable[Message]) -> str:
    return "; ".join(repr(m) for m in messages)


# --------------------------------------------------------------------------- playing


def _skips(play: _Play, step: Step) -> Alternative | None:
    # a skip is a profile's habit, never the spec's: under spec it applies only when it names spec
    for alt in step.accept:
        if alt.skip and play.profile in alt.profiles:
            return alt
    return None


def _play_step(play: _Play, step: Step) -> None:
    peer = play.peer
    play.step = step
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
    elif step.action == "restart_server":
        restart: Callable[[], None] | None = getattr(peer, "restart", None)
        if restart is None:
            raise _Unsupported(f"step {step.index}: the server cannot be restarted here (needs a fresh server)")
        restart()
    elif step.action == "send":
        if step.packet is not None:
            play.sent.setdefault(step.actor, []).append(int(step.packet.type))
            peer.send(step.actor, _encode_pattern(play, step.packet))
        elif step.admin is not None:
            try:
                texts = [line_text(line, play.captures) for line in step.admin.lines]
            except UnsendableLine as exc:
                raise _Inconclusive(str(exc)) from None
            play.lines.setdefault(step.actor, []).extend(texts)
            peer.send(step.actor, b"".join(t + step.admin.eol for t in texts))
        elif step.wire is not None:
            play.sent.setdefault(step.actor, []).extend(request_types(step.wire))
            play.lines.setdefault(step.actor, []).extend(admin_lines(step.wire))
            peer.send(step.actor, step.wire)
    else:
        try:
            _expect_step(play, step)
        except StepFailed as failure:
            if play.stop_unanswered:
                _unanswered(play, step.actor, play.sent.get(step.actor, ()), f"step {step.index}")
            _not_coalesced(play, step, failure)
            lines = play.lines.get(step.actor, [])
            if step.admin is None or failure.actual or not lines:
                raise
            if play.stop_unanswered:
                _unanswered_admin(play.profile, lines, f"step {step.index}")
            # nothing came back for an admin line: judge the silence, not the reply the vector wrote out
            raise StepFailed(
                step, str(failure), failure.expected, failure.actual, silent_admin_rules(lines[0])
            ) from None
        play.sent.pop(step.actor, None)
        play.lines.pop(step.actor, None)


def _unanswered_admin(profile: str, lines: Sequence[bytes], where: str) -> None:
    """Admin lines the profile answers with nothing: the case tests what that server does not have.

    Raises:
        _Unsupported: a line names no command of the profile, whose server answers no unknown one.
    """
    if profile == SPEC_PROFILE or profile not in PROFILES:
        return
    for text in lines:
        word = unanswered_line(PROFILES[profile], text)
        if word is not None:
            shown = word.decode("latin-1") or "an empty line"
            raise _Unsupported(
                f"{where}: {profile} has no {shown!r} admin command and answers no unknown one"
                " (it breaks the SHOULD GM-ADMIN-006)"
            )


def _not_coalesced(play: _Play, step: Step, failure: StepFailed) -> None:
    """A submission the vector expects coalesced onto an earlier job got a handle of its own.

    That is one rule, the SHOULD GM-COAL-001, whatever the step cites; under a
    profile whose server does not coalesce at all (gear) the case tests what
    that server does not have.

    Raises:
        _Unsupported: under a profile that does not coalesce.
        StepFailed: otherwise, naming GM-COAL-001.
    """
    pattern = step.packet
    if pattern is None or pattern.type is not PacketType.JOB_CREATED or not pattern.args:
        return
    if not isinstance(pattern.args[0], Ref) or not failure.actual.startswith("Packet(RES JOB_CREATED "):
        return
    if not play.neutral and not PROFILES[play.profile].coalesce_uniques:
        raise _Unsupported(
            f"step {step.index}: {play.profile} does not coalesce submissions (it breaks the SHOULD GM-COAL-001)"
        )
    reason = f"{failure}; the submission was not coalesced onto the job it names"
    raise StepFailed(step, reason, failure.expected, failure.actual, ("GM-COAL-001",)) from None


def _unanswered(play: _Play, actor: str, types: Iterable[int], where: str) -> None:
    """A failed expectation awaiting the reply to a request the profile's defect leaves unanswered.

    Raises:
        _Unsupported: with the defect recorded, so the case is that known defect and stops there.
    """
    found = unanswered_defect(play.profile, types)
    if found is None:
        return
    defect, name = found
    play.defects.append(
        f"{where}: known defect {defect.id} of {play.profile} (breaks {', '.join(defect.rules)}): "
        f"{actor}'s {name} is never answered"
    )
    raise _Unsupported(f"{where}: {name} is not implemented")


def _encode_pattern(play: _Play, pattern: PacketPattern) -> bytes:
    try:
        return encode(_resolve(play, pattern, Magic.REQ), length=pattern.length)
    except ValueError as exc:  # a magic or length that does not fit the header
        raise _Inconclusive(f"cannot send the step's packet: {exc}") from None


def _leftovers(play: _Play, actors: Iterable[str]) -> None:
    peer = play.peer
    play.step = None
    peer.wait(peer.now() + peer.span(SETTLE, "settle"), lambda: False)
    for actor in actors:
        box = peer.inbox(actor)
        if box:
            raise StepFailed(None, f"{actor}: unexpected {box[0]!r} after the last step", "nothing more", _show(box))


def _reaction_steps(case: Case, reaction: Reaction) -> list[Step]:
    """A codec case's server reaction as lifecycle steps on one connection.

    A codec case is one check of its bytes, so each step checks every rule the case cites.
    """
    rules = case.requirements
    if case.server_rules:  # the reaction's own rules, derived from the registry, before the case's citations
        rules = case.server_rules + tuple(r for r in rules if r not in case.server_rules)
    breakable = case.server_rules
    steps = [Step(1, "connect", "c"), Step(2, "send", "c", wire=case.wire)]
    for reply in reaction.replies:
        if isinstance(reply, PacketPattern):
            steps.append(Step(len(steps) + 1, "expect", "c", packet=reply, rules=rules, server_rules=breakable))
        else:
            steps.append(Step(len(steps) + 1, "expect", "c", admin=reply, rules=rules, server_rules=breakable))
    if reaction.then == "close":
        steps.append(Step(len(steps) + 1, "expect_close", "c", rules=rules, server_rules=breakable))
    else:
        steps.append(Step(len(steps) + 1, "expect_silence", "c", ms=200, rules=rules, server_rules=breakable))
    return steps


def _play_steps(play: _Play, steps: Sequence[Step], actors: Iterable[str]) -> None:
    for step in steps:
        _play_step(play, step)
    _leftovers(play, actors)


def _harness(base: CaseResult, peer: ServerPeer | None, exc: Exception) -> CaseResult:
    """INCONCLUSIVE for a harness error, with whatever the peer recorded before it."""
    if peer is None:
        return inconclusive(base, exc)
    return inconclusive(base, exc, trace=peer.trace_tail(), records=peer.records())


def run_case(vf: VectorFile, case: Case, factory: PeerFactory, profile: str, *, level: str = "should") -> CaseResult:
    """Play one case against a fresh peer from ``factory`` and judge it.

    ``level`` (one of ``LEVELS``) matters under the ``spec`` profile: at
    "must" an alternative that breaks only SHOULD rules is acceptable.

    A peer's behaviour and a harness failure (a GearsimError, such as a server
    that cannot be reached) become FAIL and INCONCLUSIVE verdicts.

    Raises:
        InputError: ``profile`` is not a known profile.
        GearsimBug: anything else went wrong inside gearsim (a bug, not a verdict).
    """
    check_profile(profile)
    base = CaseResult(vf.name, case.id, vf.area, Verdict.PASS, case.requirements, vector_sha256=vf.sha256)
    if case.is_program:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="a program case: run it with gearsim run --client")
    if case.is_library:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="a library case: run it with gearsim run --driver")
    if not case.applies_to(profile):
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=f"only for {', '.join(case.profiles)}")
    if case.is_codec:
        problems = check_codec_case(case)
        if problems:
            return replace(
                base, verdict=Verdict.FAIL, reason=problems[0], notes=tuple(problems[1:]), rules=case.requirements
            )
        if case.server is None:
            return base
        return _run_reaction(case, factory, profile, base, level)
    peer: ServerPeer | None = None
    play: _Play | None = None
    try:
        peer = factory(case)
        play = _Play(peer, profile, level)
        try:
            _play_steps(play, case.steps, case.actors)
        except _Crashed:
            pass  # the known defect is recorded; nothing more can be played
        except _Unsupported as unsupported:
            if not play.defects:
                return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=str(unsupported), records=peer.records())
    except StepFailed as failure:
        assert play is not None and peer is not None  # StepFailed is only raised while playing
        return failed(base, failure, trace=peer.trace_tail(), records=peer.records(), notes=play.notes)
    except (_Inconclusive, GearsimError) as exc:
        return _harness(base, peer, exc)
    except GearsimBug:
        raise
    except Exception as exc:
        raise bug(base, play.step if play is not None else None, exc) from exc
    if play.defects:
        reason = "; ".join(play.defects)
        notes = tuple(play.notes)
        return replace(base, verdict=Verdict.KNOWN_DEFECT, reason=reason, notes=notes, records=peer.records())
    verdict = Verdict.ACCEPTABLE if play.acceptable else Verdict.PASS
    return replace(base, verdict=verdict, notes=tuple(play.notes), records=peer.records())


def _reaction_verdict(profile: str, level: str, reaction: Reaction) -> tuple[Verdict, str]:
    """What an alternative reaction that the server showed means under ``profile``."""
    shown = f"server reacts as {', '.join(reaction.profiles)}" + (f" ({reaction.note})" if reaction.note else "")
    broken = ", ".join(reaction.breaks)
    if profile == SPEC_PROFILE:
        if reaction.defect:
            return Verdict.FAIL, f"{shown}: {reaction.defect}, a known defect (breaks {broken})"
        if reaction.breaks and level != "must":
            return Verdict.FAIL, f"{shown}, which breaks {broken}"
        return Verdict.ACCEPTABLE, shown + (f"; deviates from {broken}" if broken else "")
    if reaction.defect:
        return Verdict.KNOWN_DEFECT, f"known defect {reaction.defect} of {profile} (breaks {broken}): {shown}"
    return Verdict.ACCEPTABLE, shown


def _run_reaction(case: Case, factory: PeerFactory, profile: str, base: CaseResult, level: str) -> CaseResult:
    assert case.server is not None  # checked by the caller
    outcomes: list[tuple[Reaction, bool]] = [(case.server, False)]
    outcomes += [(r, True) for r in case.server_accept]
    first_failure: CaseResult | None = None
    for reaction, alternative in outcomes:
        if alternative and profile not in reaction.profiles and profile != SPEC_PROFILE:
            continue
        peer: ServerPeer | None = None
        play: _Play | None = None
        try:
            peer = factory(case)
            play = _Play(peer, profile, level, stop_unanswered=False)
            _play_steps(play, _reaction_steps(case, reaction), ["c"])
        except StepFailed as failure:
            assert peer is not None  # StepFailed is only raised while playing
            if first_failure is None:
                first_failure = failed(
                    base, failure, trace=peer.trace_tail(), records=peer.records(), prefix="server reaction: "
                )
            continue
        except (_Inconclusive, GearsimError) as exc:
            return _harness(base, peer, exc)
        except GearsimBug:
            raise
        except Exception as exc:
            raise bug(base, play.step if play is not None else None, exc) from exc
        if alternative:
            verdict, note = _reaction_verdict(profile, level, reaction)
            if verdict is Verdict.ACCEPTABLE:
                return replace(base, verdict=verdict, notes=(note,), records=peer.records())
            if verdict is Verdict.KNOWN_DEFECT:
                return replace(base, verdict=verdict, reason=note, records=peer.records())
            step = len(_reaction_steps(case, reaction))
            return replace(base, verdict=verdict, reason=note, step=step, rules=reaction.breaks, records=peer.records())
        verdict = Verdict.ACCEPTABLE if play.acceptable else Verdict.PASS
        return replace(base, verdict=verdict, notes=tuple(play.notes), records=peer.records())
    assert first_failure is not None  # the primary reaction always runs
    lines = admin_lines(case.wire or b"")
    if lines:
        try:
            _unanswered_admin(profile, lines, "step 3")
        except _Unsupported as unsupported:
            return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=str(unsupported))
    found = unanswered_defect(profile, request_types(case.wire or b""))
    if found is not None:
        defect, name = found
        reason = f"known defect {defect.id} of {profile} (breaks {', '.join(defect.rules)}): {name} is never answered"
        return replace(
            first_failure,
            verdict=Verdict.KNOWN_DEFECT,
            reason=reason,
            step=None,
            rules=(),
            expected="",
            actual="",
            trace="",
            notes=(),
        )
    return first_failure


def run_file(
    vf: VectorFile,
    factory: PeerFactory,
    profile: str,
    only: Callable[[Case], bool] | None = None,
    *,
    level: str = "should",
) -> list[CaseResult]:
    """Run every case of a file (or those ``only`` selects), in file order.

    Raises:
        InputError, GearsimBug: as :func:`run_case`.
    """
    return [run_case(vf, c, factory, profile, level=level) for c in vf.cases if only is None or only(c)]
