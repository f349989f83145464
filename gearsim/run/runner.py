"""Replay vector cases against a server peer and judge what comes back.

PURE and pytest-free. This module owns playing one case (:func:`run_case`,
:func:`run_file`): its steps in order, codec reactions, the profile a run is
judged under, and what a case that ended early leaves unanswered. How one
expect step is judged is ``gearsim.run.expectations``; the ``ServerPeer``
protocol a server under test is reached through is ``gearsim.run.peer``
(both re-exported here); the verdicts and results themselves are
``gearsim.run.result``. The runner plays a case's clients, workers and admin
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
fails, ERROR code words and texts are labels (GM-ERROR-003; so too under a
profile whose server has its own error vocabulary) and admin lines may
end in LF or CR LF (GM-ADMIN-014).

Whatever the profile, a server's ERROR to a request it has no handler for is
judged as such (a profile's recorded defect, a request a server MAY leave out,
or GM-SERVER-001/002 broken), and an ERR line for an optional admin command
it lacks is never a MUST failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from gearsim.errors import GearsimBug, GearsimError, InputError
from gearsim.model.admin import unanswered_line
from gearsim.model.profiles import DEFAULT_PROFILE, PROFILES, SPEC_PROFILE
from gearsim.protocol.codec import encode
from gearsim.protocol.packets import AdminLine, Magic, Packet, PacketType
from gearsim.run.expectations import (
    DEFAULT_WITHIN,
    SETTLE,
    Crashed,
    Inconclusive,
    Play,
    Unsupported,
    expect_step,
    resolve,
    show,
)
from gearsim.run.inbox import closes_listing
from gearsim.run.peer import PeerFactory, ServerPeer
from gearsim.run.refusals import absent_admin_line, error_code, is_err, is_error, refusal_met, refused
from gearsim.run.result import LEVELS, CaseResult, StepFailed, Verdict, bug, failed, inconclusive
from gearsim.run.unanswered import (
    ANSWERED,
    absent_admin,
    admin_lines,
    core_refused,
    refused_defect,
    refused_optional,
    request_name,
    request_names,
    silent_admin_rules,
    unanswered_defect,
)
from gearsim.vectors.lint import contradictions
from gearsim.vectors.matching import (
    UnsendableLine,
    line_text,
)
from gearsim.vectors.parse import (
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

#: a listing's lines each end in \n, the closing full stop's too
LISTING_RULE = "GM-ADMIN-004"


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


def _skips(play: Play, step: Step) -> Alternative | None:
    # a skip is a profile's habit, never the spec's: under spec it applies only when it names spec
    for alt in step.accept:
        if alt.skip and play.profile in alt.profiles:
            return alt
    return None


def _play_step(play: Play, step: Step) -> None:
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
            raise Unsupported(f"step {step.index}: the server cannot be restarted here (needs a fresh server)")
        restart()
    elif step.action == "send":
        if step.packet is not None:
            magic = step.packet.magic if step.packet.magic is not None else Magic.REQ
            play.sent.setdefault(step.actor, []).append(request_name(magic, int(step.packet.type)))
            play.zero_progress = play.zero_progress or _may_be_zero_progress(step.packet)
            peer.send(step.actor, _encode_pattern(play, step.packet))
        elif step.admin is not None:
            try:
                texts = [line_text(line, play.captures) for line in step.admin.lines]
            except UnsendableLine as exc:
                raise Inconclusive(str(exc)) from None
            play.lines.setdefault(step.actor, []).extend(texts)
            peer.send(step.actor, b"".join(t + step.admin.eol for t in texts))
        elif step.wire is not None:
            names = request_names(step.wire)
            play.sent.setdefault(step.actor, []).extend(names)
            # numbers in raw bytes are not read: any WORK_STATUS among them may be 0 0
            play.zero_progress = play.zero_progress or "WORK_STATUS" in names
            play.lines.setdefault(step.actor, []).extend(admin_lines(step.wire))
            peer.send(step.actor, step.wire)
    else:
        try:
            expect_step(play, step)
        except StepFailed as failure:
            refused(play, step, failure)
            if play.stop_unanswered:
                _unanswered(play, step.actor, play.sent.get(step.actor, ()), f"step {step.index}")
            _not_coalesced(play, step, failure)
            _unended_listing(play, step, failure)
            _silent(step, failure, play.sent.get(step.actor, ()))
            lines = play.lines.get(step.actor, [])
            if play.stop_unanswered and step.admin is not None and lines and is_err(failure.first):
                absent_admin_line(play, step, failure, lines[0])
            # a failure naming other rules than the step's (an alternative's declared breaks) is judged already
            if (
                step.admin is None
                or failure.received
                or not lines
                or failure.rules not in (step.rules, step.server_rules)
            ):
                raise
            if play.stop_unanswered:
                _unanswered_admin(play.profile, lines, f"step {step.index}")
            # nothing came back for an admin line: judge the silence, not the reply the vector wrote out
            rules = silent_admin_rules(lines[0])
            raise StepFailed(
                step, str(failure), failure.expected, failure.actual, rules, received=failure.received
            ) from None
        # an ERROR the step expects and gets passes under every profile, even where the profile's server
        # sends it for want of a handler: the wire shows the right reply, the defect shows in other cases
        play.sent.pop(step.actor, None)
        play.lines.pop(step.actor, None)


def _unended_listing(play: Play, step: Step, failure: StepFailed) -> None:
    """A listing short of its lines while the connection holds the start of one more.

    The server sent a line without its end of line (a closing full stop with
    no \n is the usual one): that is the listing's framing (GM-ADMIN-004),
    not a silence and not the rows the step checks, so GM-ADMIN-004 is the
    rule named. A failure naming an alternative's declared breaks is left as it is.

    Raises:
        StepFailed: the listing's framing broken.
    """
    admin = step.admin
    if admin is None or not admin.lines or admin.lines[-1] != b"." or failure.declared:
        return
    # short: fewer lines than the step counts, or (rows not counted) no closing full stop came
    short = (
        len(failure.received) < len(admin.lines)
        if admin.extra is None
        else not any(closes_listing(m) for m in failure.received if isinstance(m, AdminLine))
    )
    if not short or not play.peer.held(step.actor):
        return
    # the rows that came are not judged: the one rule the wire shows broken is named alone
    raise StepFailed(
        step, str(failure), failure.expected, failure.actual, (LISTING_RULE,), received=failure.received
    ) from None


def _unanswered_admin(profile: str, lines: Sequence[bytes], where: str) -> None:
    """Admin lines the profile answers with nothing: the case tests what that server does not have.

    Raises:
        Unsupported: a line names no command of the profile, whose server answers no unknown one.
    """
    if profile == SPEC_PROFILE or profile not in PROFILES:
        return
    for text in lines:
        word = unanswered_line(PROFILES[profile], text)
        if word is not None:
            shown = word.decode("latin-1") or "an empty line"
            raise Unsupported(
                f"{where}: {profile} has no {shown!r} admin command and answers no unknown one"
                " (it breaks the SHOULD GM-ADMIN-006)"
            )


def _silent(step: Step, failure: StepFailed, sent: Sequence[str]) -> None:
    """Nothing at all came back for a request that always has a reply.

    Whatever the step expected, the server either broke that type's rules or
    does not implement it and owed an ERROR (GM-SERVER-004): the MUST is
    named first, so ``--level must`` keeps the failure. Not when the silence
    or close is an alternative of the step, failed for the rules it declares
    broken (a server whose bound on bodies is lower closes the connection).

    Raises:
        StepFailed: naming GM-SERVER-004 and the step's own rules.
    """
    if (step.packet is None and not step.packets) or failure.received or "GM-SERVER-004" in failure.rules:
        return
    if failure.declared:
        # the silence or close is an alternative the vector wrote out, with the rules it breaks
        return
    if not any(name in ANSWERED for name in sent):
        return
    rules = ("GM-SERVER-004", *failure.rules)
    raise StepFailed(step, str(failure), failure.expected, failure.actual, rules, received=failure.received) from None


def _not_coalesced(play: Play, step: Step, failure: StepFailed) -> None:
    """A submission the vector expects coalesced onto an earlier job got a handle of its own.

    Until the server has coalesced a submission in this case that is one rule,
    the SHOULD GM-COAL-001, whatever the step cites; under a profile whose
    server does not coalesce at all (gear) the case tests what that server does
    not have. Once it has, it is a server that coalesces, bound by the MUST
    rules on when it does (GM-COAL-004: while the job runs too): the step's own
    rules are broken, then GM-COAL-001.

    Raises:
        Unsupported: under a profile that does not coalesce.
        StepFailed: otherwise, naming GM-COAL-001, after the step's rules once
            the server has coalesced.
    """
    pattern = step.packet
    if pattern is None or pattern.type is not PacketType.JOB_CREATED or not pattern.args:
        return
    got = failure.first  # the reply that came instead: a JOB_CREATED with a handle of its own
    created = isinstance(got, Packet) and got.magic is Magic.RES and int(got.type) == PacketType.JOB_CREATED
    if not isinstance(pattern.args[0], Ref) or not created:
        return
    if not play.neutral and not PROFILES[play.profile].coalesce_uniques:
        raise Unsupported(
            f"step {step.index}: {play.profile} does not coalesce submissions (it breaks the SHOULD GM-COAL-001)"
        )
    reason = f"{failure}; the submission was not coalesced onto the job it names"
    if not play.coalesced:
        raise StepFailed(
            step, reason, failure.expected, failure.actual, ("GM-COAL-001",), received=failure.received
        ) from None
    reason += ", though the server coalesced an earlier submission in this case"
    rules = (*(r for r in failure.rules if r != "GM-COAL-001"), "GM-COAL-001")
    raise StepFailed(step, reason, failure.expected, failure.actual, rules, received=failure.received) from None


def _unanswered(play: Play, actor: str, names: Iterable[str], where: str) -> None:
    """A failed expectation awaiting the reply to a request the profile's defect leaves unanswered.

    Raises:
        Unsupported: with the defect recorded, so the case is that known defect and stops there.
    """
    found = unanswered_defect(play.profile, names)
    if found is None:
        return
    defect, name = found
    play.defects.append(
        f"{where}: known defect {defect.id} of {play.profile} (breaks {', '.join(defect.rules)}): "
        f"the server ignored {actor}'s {name}"
    )
    raise Unsupported(f"{where}: the server ignored {name}")


def _may_be_zero_progress(pattern: PacketPattern) -> bool:
    """A WORK_STATUS whose numbers may be 0 0: written so, or sent from captured values.

    After it a status reply's expected 0 0 may be progress to repeat
    (GM-STATUS-007), not the absence of progress that empty numbers may report.
    """
    numbers = pattern.args[1:3]
    return pattern.type is PacketType.WORK_STATUS and not (
        all(isinstance(n, bytes) for n in numbers) and numbers != (b"0", b"0")
    )


def _encode_pattern(play: Play, pattern: PacketPattern) -> bytes:
    try:
        return encode(resolve(play, pattern, Magic.REQ), length=pattern.length)
    except ValueError as exc:  # a magic or length that does not fit the header
        raise Inconclusive(f"cannot send the step's packet: {exc}") from None


def _leftovers(play: Play, actors: Iterable[str]) -> None:
    peer = play.peer
    play.step = None
    peer.wait(peer.now() + peer.span(SETTLE, "settle"), lambda: False)
    for actor in actors:
        box = peer.inbox(actor)
        while box and is_error(box[0]) and refusal_met(play, actor, "after the last step"):
            box.popleft()  # an ERROR that refused a request: the defect recorded
        if box:
            reason = f"{actor}: unexpected {box[0]!r} after the last step"
            sent = play.sent.get(actor, ())
            stray = box[0]
            code = error_code(stray)
            core = core_refused(play.profile, sent, last=False, code=code) if is_error(stray) else None
            if core is not None:  # the stray ERROR refused a request every server must (should) act on
                why = f"{reason}; it refused {actor}'s {core[1]} ({core[0]})"
                raise StepFailed(None, why, "nothing more", show(box), (core[0],), received=box, actor=actor)
            raise StepFailed(None, reason, "nothing more", show(box), received=box, actor=actor)


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


def _play_steps(play: Play, steps: Sequence[Step], actors: Iterable[str]) -> None:
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
        VectorError: the case contradicts itself (gearsim.vectors.lint.contradictions: a
            codec case whose wire and messages disagree, an unknown profile name), so no
            verdict played from it would be about the peer. gearsim.select and
            read_vector_file refuse such a file before anything runs; this catches a
            case parsed by other means.
        GearsimBug: anything else went wrong inside gearsim (a bug, not a verdict).
    """
    check_profile(profile)
    broken = contradictions(vf.name, case)
    if broken:
        raise broken[0]
    base = CaseResult(vf.name, case.id, vf.area, Verdict.PASS, case.requirements, vector_sha256=vf.sha256)
    if case.is_program:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="a program case: run it with gearsim run --client")
    if case.is_library:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="a library case: run it with gearsim run --driver")
    if not case.applies_to(profile):
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=f"only for {', '.join(case.profiles)}")
    if case.is_codec:
        if case.server is None:
            return base
        return _run_reaction(case, factory, profile, base, level)
    peer: ServerPeer | None = None
    play: Play | None = None
    crash_met = False
    try:
        peer = factory(case)
        play = Play(peer, profile, level)
        try:
            _play_steps(play, case.steps, case.actors)
        except Crashed:
            crash_met = True  # the known defect is recorded; nothing more can be played
        except Unsupported as unsupported:
            if not play.defects:
                return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=str(unsupported), records=peer.records())
    except StepFailed as failure:
        assert play is not None and peer is not None  # StepFailed is only raised while playing
        return failed(base, failure, trace=peer.trace_tail(), records=peer.records(), notes=play.notes)
    except (Inconclusive, GearsimError) as exc:
        return _harness(base, peer, exc)
    except GearsimBug:
        raise
    except Exception as exc:
        raise bug(base, play.step if play is not None else None, exc) from exc
    if play.defects:
        reason = "; ".join(play.defects)
        notes = tuple(play.notes)
        verdict = Verdict.KNOWN_DEFECT
        return replace(base, verdict=verdict, reason=reason, notes=notes, records=peer.records(), crash_met=crash_met)
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
        play: Play | None = None
        try:
            peer = factory(case)
            play = Play(peer, profile, level, stop_unanswered=False, tolerated=frozenset(reaction.breaks))
            _play_steps(play, _reaction_steps(case, reaction), ["c"])
        except StepFailed as failure:
            assert peer is not None  # StepFailed is only raised while playing
            if first_failure is None:
                first_failure = failed(
                    base, failure, trace=peer.trace_tail(), records=peer.records(), prefix="server reaction: "
                )
            continue
        except (Inconclusive, GearsimError) as exc:
            return _harness(base, peer, exc)
        except GearsimBug:
            raise
        except Exception as exc:
            raise bug(base, play.step if play is not None else None, exc) from exc
        if play.defects and not alternative:
            return replace(base, verdict=Verdict.KNOWN_DEFECT, reason="; ".join(play.defects), records=peer.records())
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
    # what the primary reaction's failing step received first: an ERROR, an admin ERR line
    first_got = first_failure.received[0] if first_failure.received else None
    lines = admin_lines(case.wire or b"")
    if lines:
        try:
            _unanswered_admin(profile, lines, "step 3")
        except Unsupported as unsupported:
            return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=str(unsupported))
        absent = absent_admin(profile, lines[0]) if is_err(first_got) else None
        if absent is not None:
            word, rule, level = absent
            if profile == SPEC_PROFILE and level == "SHOULD":
                reason = f"{first_failure.reason}; the server has no {word!r} admin command"
                return replace(first_failure, reason=reason, rules=(rule,))
            reason = f"the server has no {word!r} admin command ({rule} is a {level})"
            return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=reason)
    names = request_names(case.wire or b"")
    was_refused = is_error(first_got)
    optional = refused_optional(profile, names) if was_refused else None
    if optional is not None:
        reason = f"{profile} answers {optional} with ERROR: it does not implement it (GM-SERVER-003: a server MAY)"
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=reason)
    found = refused_defect(profile, names) if was_refused else unanswered_defect(profile, names)
    if found is not None:
        defect, name = found
        how = "refused the {name} with ERROR" if was_refused else "ignored the {name}"
        reason = f"known defect {defect.id} of {profile} (breaks {', '.join(defect.rules)}): the server " + how.format(
            name=name
        )
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
            actor="",
            received=(),
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
