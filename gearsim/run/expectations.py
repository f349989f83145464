"""Judging one expect step: what arrived against what the vector expects, its alternatives and the rules.

PURE. This module owns the state of a case being played (``Play``: captured
values, notes, branches taken, defects met), the outcomes that end a case
early (``Inconclusive``, ``Crashed``, ``Unsupported``), and ``expect_step``:
taking messages from the peer within the step's time, matching them against
the expectation and its alternatives for the profile, and, under the neutral
``spec`` profile, judging a deviation by the rules it breaks. How long an
expect waits (``DEFAULT_WITHIN``) and how long a case settles (``SETTLE``)
are here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from gearsim.errors import GearsimError
from gearsim.model.profiles import PROFILES, SPEC_PROFILE
from gearsim.protocol import codec
from gearsim.protocol.packets import SPECS, Magic, Message, Packet, PacketType, Role, type_name
from gearsim.protocol.validate import check
from gearsim.run.framing import frame_breaks
from gearsim.run.inbox import closes_listing, take, take_bytes, with_held
from gearsim.run.peer import ServerPeer
from gearsim.run.result import StepFailed
from gearsim.run.should_only import EMPTY_NUMBERS, code_word_only, empty_numbers
from gearsim.vectors.matching import (
    UnsendableLine,
    describe_line,
    describe_packet,
    line_text,
    match_admin,
    match_packet,
    match_unordered,
    mismatched_argument,
)
from gearsim.vectors.parse import (
    AdminPattern,
    Alternative,
    AnyValue,
    Capture,
    LineMatch,
    LineParts,
    PacketPattern,
    Ref,
    Step,
)
from gearsim.vectors.rules import argument_rules

#: how long (ms) an expect waits unless the step says ``within``
DEFAULT_WITHIN = 1000


#: how long (ms) a case waits at its end for stray messages
SETTLE = 50


#: the actor name of the connection that checks whether a server still serves
_LIVENESS = "(liveness)"


class Inconclusive(Exception):
    pass


class Crashed(Exception):
    """The server died in the way the profile's defect records: the case cannot go on."""


class Unsupported(Exception):
    """The server refused what the case tests, and a rule lets it: the rest of the case does not apply."""


@dataclass
class Play:
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
    #: per actor, the requests sent since its last expect step, named as defects' requests name them
    sent: dict[str, list[str]] = field(default_factory=dict)
    #: per actor, the admin lines sent since its last expect step
    lines: dict[str, list[bytes]] = field(default_factory=dict)
    #: a failed step awaiting an unanswered request of a profile's defect ends the case
    #: (a codec reaction tries its alternatives first and judges the wire after)
    stop_unanswered: bool = True
    #: rules the reaction being played declares that it breaks: the packet checks leave them to its verdict
    tolerated: frozenset[str] = frozenset()
    #: a submission was coalesced onto an earlier job as the case expects: the server is one that coalesces
    coalesced: bool = False
    #: a worker sent WORK_STATUS 0 0: an expected 0 0 may be progress, which GM-STATUS-007 binds, not its absence
    zero_progress: bool = False

    @property
    def neutral(self) -> bool:
        return self.profile == SPEC_PROFILE

    @property
    def labels(self) -> bool:
        """ERROR code words and texts, and admin ERR lines, match as labels (GM-ERROR-003, GM-ADMIN-015).

        Under spec, and under a profile whose server has its own error
        vocabulary: the vectors write gearmand's words, which only gearmand's
        profiles are held to.
        """
        return self.neutral or (self.profile in PROFILES and PROFILES[self.profile].error_vocabulary != "gearmand")


def resolve(play: Play, pattern: PacketPattern, default_magic: Magic) -> Packet:
    args: list[bytes] = []
    for arg in pattern.args:
        if isinstance(arg, Ref):
            if arg.name not in play.captures:
                raise Inconclusive(f"{arg.name} was not captured (an alternative accepted earlier does not capture it)")
            args.append(play.captures[arg.name])
        elif isinstance(arg, bytes):
            args.append(arg)
        elif isinstance(arg, LineParts):
            try:
                args.append(line_text(arg, play.captures))
            except UnsendableLine as exc:
                raise Inconclusive(str(exc)) from None
        else:  # the loader refuses capture/any in sends
            raise Inconclusive(f"cannot send a {type(arg).__name__} argument")
    return Packet(pattern.magic if pattern.magic is not None else default_magic, pattern.type, tuple(args))


def _check_expectation(
    play: Play,
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
        if play.labels:
            wanted = [_error_as_label(p) for p in wanted]
            packet = wanted[0] if packet is not None else None
        if received is None:
            received = take(play.peer, actor, len(wanted), within)
        if len(received) < len(wanted):
            closed = " (the connection is closed)" if peer.closed(actor) else ""
            problem = f"got {len(received)} of {len(wanted)} packets within {within} ms{closed}"
            return with_held(play.peer, actor, problem), expected, received, 0
        bind: dict[str, bytes] = {}
        if packet is not None:
            problem = match_packet(packet, received[0], play.captures, bind)
        else:
            problem = match_unordered(wanted, received[: len(wanted)], play.captures, bind)
        if not problem:
            play.captures.update(bind)
            if play.labels:
                _note_error_words(play, written, received[: len(wanted)])
        return problem, expected, received, len(wanted)
    if admin is not None:
        expected = " | ".join(describe_line(line, play.captures) for line in admin.lines)
        if admin.extra is not None:  # rows not counted in advance: the listing up to its "."
            expected += f" (and any rows matching {describe_line(admin.extra, play.captures)})"
        if received is None:
            received = take(play.peer, actor, len(admin.lines) if admin.extra is None else None, within)
        ends = (n + 1 for n, m in enumerate(received) if closes_listing(m))
        count = len(admin.lines) if admin.extra is None else next(ends, len(received))
        # under spec a server's admin lines may end either way (GM-ADMIN-014 binds the reader), and
        # so under a profile whose server ends them in LF: the vectors write gearmand's CR LF
        any_eol = play.neutral or not PROFILES[play.profile].admin_ok.endswith("\r\n")
        pattern = _err_as_label(admin) if play.labels else admin
        problem = match_admin(pattern, received[:count], play.captures, any_eol=any_eol)
        if len(received) < count or (admin.extra is not None and not any(map(closes_listing, received))):
            problem = with_held(play.peer, actor, problem)
        return problem, expected, received, count
    if wire is not None:
        expected = wire.hex()
        if received is None:
            received = take_bytes(play.peer, actor, len(wire), within)
        used, got = 0, b""
        while used < len(received) and len(got) < len(wire):
            got += codec.wire(received[used])
            used += 1
        problem = "" if got == wire else f"bytes {got.hex()}"
        return (with_held(play.peer, actor, problem) if len(got) < len(wire) else problem), expected, received, used
    raise Inconclusive("an expectation with nothing to expect")


def _error_as_label(pattern: PacketPattern) -> PacketPattern:
    """Under ``spec`` an expected ERROR's code word and text match anything (GM-ERROR-003)."""
    if pattern.type is not PacketType.ERROR or not pattern.args:
        return pattern
    return replace(pattern, args=tuple(AnyValue() for _ in pattern.args))


def _err_as_label(admin: AdminPattern) -> AdminPattern:
    """Under ``spec`` an expected admin ERR line matches any line starting ERR: GM-ADMIN-015 asks only for the ERR."""
    lines = tuple(
        LineMatch(r"ERR(\s.*)?") if isinstance(line, bytes) and (line == b"ERR" or line.startswith(b"ERR ")) else line
        for line in admin.lines
    )
    return replace(admin, lines=lines)


def _note_error_words(play: Play, patterns: Sequence[PacketPattern], got: Sequence[Message]) -> None:
    """Note an ERROR whose code word differs from the vector's (GM-ERROR-002 asks for the table's words)."""
    for pattern, message in zip(patterns, got, strict=False):
        if pattern.type is not PacketType.ERROR or not isinstance(message, Packet):
            continue
        want = pattern.args[0] if pattern.args and isinstance(pattern.args[0], bytes) else None
        code = message.args[0] if message.args else b""
        if want is not None and code.lower() != want.lower():
            play.notes.append(f"ERROR code word {code!r} where the error table has {want!r} (GM-ERROR-002)")
            # under a named profile the vector's words are its server's unless it has its own vocabulary
            play.acceptable = play.acceptable or not play.neutral


def _server_down(play: Play) -> str:
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


def _judge(play: Play, step: Step, alt: Alternative, problem: str, expected: str, received: list[Message]) -> None:
    """An alternative matched where the step's own expectation did not: accept it, record a defect, or fail.

    Raises:
        StepFailed: the alternative is not one the profile may show (under spec: it breaks a rule).
    """
    where = f"step {step.index}"
    broken = ", ".join(alt.breaks)
    if play.neutral:
        if alt.defect:
            reason = f"{step.actor}: {problem}; this is {alt.defect}, a known defect of {', '.join(alt.profiles)}"
            reason += f" (breaks {broken})"
            raise StepFailed(step, reason, expected, show(received), alt.breaks, declared=True, received=received)
        if alt.breaks and play.level != "must":
            reason = f"{step.actor}: {problem}; this {_behaviour(alt)} breaks {broken}"
            raise StepFailed(step, reason, expected, show(received), alt.breaks, declared=True, received=received)
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
    raise StepFailed(step, reason, expected, show(received), alt.breaks, declared=True, received=received)


def expect_step(play: Play, step: Step) -> None:
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
        received = _await_forced(play, step, forced, received, within)
    elif not problem:
        play.ruled_out.update(a.branch for a in step.accept if a.branch)
        play.coalesced = play.coalesced or _names_earlier_job(step)
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
            raise Unsupported(f"step {step.index}: the server does not implement what the case tests{why}")
        if alt.branch:
            play.branches.add(alt.branch)
        play.ruled_out.update(a.branch for a in step.accept if a.branch and a.branch != alt.branch)
        return
    if forced is None and _no_progress_empty(play, step, received):
        _judge(play, step, EMPTY_NUMBERS, problem, expected, received)
        play.ruled_out.update(a.branch for a in step.accept if a.branch)
        return
    _deviation(play, step, problem, expected, received)


def _await_forced(play: Play, step: Step, alt: Alternative, received: list[Message], within: int) -> list[Message]:
    """What a silence step's inbox holds once the reply its branch needs had the time an expect gives it.

    The silence only looked for ``step.ms``; a server slow within limits (one
    thread per connection, a delayed write) may answer after that, and the
    branch's alternative is an expectation like any other. The messages are
    looked at, not taken: the alternative's caller takes what it uses.
    """
    wanted = len(alt.packets) + (alt.packet is not None) + (len(alt.admin.lines) if alt.admin is not None else 0)
    if step.action != "expect_silence" or len(received) >= wanted:
        return received
    peer, actor = play.peer, step.actor
    box = peer.inbox(actor)
    peer.wait(peer.now() + peer.span(within, "within"), lambda: len(box) >= wanted or peer.closed(actor))
    return list(box)


def _no_progress_empty(play: Play, step: Step, received: list[Message]) -> bool:
    """Under spec, with no WORK_STATUS 0 0 sent, the reply is the status the step expects but for empty numbers.

    Takes the values the reply captures when so (``gearsim.run.should_only.empty_numbers``).
    """
    if not play.neutral or play.zero_progress:
        return False
    bind = empty_numbers(step.packet, received, play.captures)
    if bind is None:
        return False
    play.captures.update(bind)
    return True


def _names_earlier_job(step: Step) -> bool:
    """The step expects a JOB_CREATED carrying a handle captured before: a coalesced submission."""
    pattern = step.packet
    return (
        pattern is not None
        and pattern.type is PacketType.JOB_CREATED
        and bool(pattern.args)
        and isinstance(pattern.args[0], Ref)
    )


def _breakable(step: Step) -> tuple[str, ...]:
    """The rules a server breaks by not meeting ``step``'s expectation (all its rules until derived)."""
    return step.server_rules if step.server_rules is not None else step.rules


def _deviation(play: Play, step: Step, problem: str, expected: str, received: list[Message]) -> None:
    """Neither the step's expectation nor an alternative was met: fail, or accept what the spec leaves open.

    A failure names the rules the server broke at this step: the step's MUST
    and SHOULD rules that bind a server, else the rules the packets it sent
    break (the validator, server role), else none. The framing rules the
    server's packets break come first (``gearsim.run.framing``: a reply framed
    with \\0REQ, a NUL after its last argument, the NUL before an empty last
    argument missing): a maintainer reads the sentence the bytes break before
    the step's. A step whose expectation
    rests only on rules no server behaviour breaks (MAY rules, other roles'
    rules) expects one behaviour among several the spec allows: under spec the
    server's is accepted unless its packets break a rule; under another
    profile it fails as a difference from that profile's recorded behaviour,
    naming no rule broken.

    Raises:
        StepFailed: always, except under spec for a behaviour the spec leaves open.
    """
    actual = show(received)
    reworded = (
        None
        if play.labels
        else code_word_only(step, received, play.captures, play.profile, play.branches, play.ruled_out)
    )
    if reworded is not None:
        # the server did what the step expects and said so with another code word: that is GM-ERROR-002's
        reason = f"{step.actor}: {problem}; the ERROR differs only in its code word (GM-ERROR-002)"
        raise StepFailed(step, reason, expected, actual, ("GM-ERROR-002", *reworded), received=received)
    rules = _argument_rules(play, step, received) or _breakable(step)
    framing = frame_breaks(step.packet, received, play.captures, play.tolerated)
    if framing:
        # the bytes break the framing rules first: a maintainer reads those sentences, then the step's
        first = tuple(dict.fromkeys(rule for rule, _ in framing))
        problem += "".join(f"; {why}" for _, why in framing)
        rules = (*first, *(r for r in rules if r not in first))
    if rules or step.server_rules is None or not step.rules:
        raise StepFailed(step, f"{step.actor}: {problem}", expected, actual, rules, received=received)
    for message in received:
        if isinstance(message, Packet):
            for violation in check(message, Role.SERVER):
                reason = f"{step.actor}: {problem}; {message.name} breaks {violation}"
                raise StepFailed(step, reason, expected, actual, (violation.requirement,), received=received)
    resting = ", ".join(step.rules)
    if not play.neutral:
        recorded = f"not the {play.profile} behaviour the vector records"
        reason = f"{step.actor}: {problem}; {recorded} (the spec leaves it open: {resting})"
        raise StepFailed(step, reason, expected, actual, (), received=received)
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


def _argument_rules(play: Play, step: Step, received: list[Message]) -> tuple[str, ...]:
    """The rules about the one argument of a status reply that differs, where the vector pins no rule for the step."""
    pattern = step.packet
    if step.requirements or pattern is None or not received:
        return ()
    got = received[0]
    index = mismatched_argument(pattern, got, play.captures)
    if index is None or not isinstance(got, Packet):
        return ()
    expected = [
        arg if isinstance(arg, bytes) else play.captures.get(arg.name) if isinstance(arg, Ref) else None
        for arg in pattern.args
    ]
    issued = bool(pattern.args) and isinstance(pattern.args[0], Ref)  # a handle the server gave: a job that existed
    return argument_rules(type_name(pattern.type), index, expected, got.args[index], issued=issued)


def _check_rules(
    play: Play, step: Step, patterns: Sequence[PacketPattern | None], matched: Sequence[Message], expected: str
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
            if isinstance(arg, (Capture, AnyValue)) or (play.labels and p.type is PacketType.ERROR)
        }
        names = SPECS[int(message.type)].args if int(message.type) in SPECS else ()
        violations = [v for v in check(message, Role.SERVER) if v.requirement not in play.tolerated]
        for violation in violations:
            if violation.argument and violation.argument in names and names.index(violation.argument) in open_args:
                # every rule the argument breaks, the most specific sentence first as the validator orders them
                broken = [v for v in violations if v.argument == violation.argument]
                rules = tuple(dict.fromkeys(v.requirement for v in broken))
                reason = f"{step.actor}: {message.name} breaks " + "; ".join(str(v) for v in broken)
                raise StepFailed(step, reason, expected, show([message]), rules, received=(message,))


def _check_crash(play: Play, step: Step, problem: str, expected: str, received: list[Message]) -> None:
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
        raise Crashed(down)


def show(messages: Iterable[Message]) -> str:
    return "; ".join(repr(m) for m in messages)
