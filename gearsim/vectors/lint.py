"""``gearsim lint``: everything that makes a vector file acceptable, as findings.

PURE over text. Each finding is one line naming the file, the case and (where
there is one) the step. Lint refuses:

* a file that does not parse: not YAML, not schema-valid, an undeclared actor,
  a ref to a value no earlier step captured, a duplicate case id (the parser's
  errors, gearsim.vectors.parse);
* a file not in canonical form, and a codec case whose hex and structured
  forms (or decode and validator expectations) disagree;
* an unknown or retired requirement id, wherever it is cited;
* an unknown profile name (case ``profiles``, alternatives, reactions);
* an expectation that the server sends a packet the packet table has no
  server send (a request: ``SUBMIT_JOB``, ``TEXT``), or sends one with a
  number of arguments the table gives it in no layout;
* an ``expect_silence`` without a duration (``ms``);
* an alternative outcome that breaks a MUST without naming the defect it is
  (a broken MUST is never an acceptable variant), a ``defect`` that one of the
  named profiles does not record, ``breaks`` that names a MAY rule, and a
  ``crash`` outcome that is not a defect breaking GM-SERVER-005.

Some findings make a vector contradict itself or the spec, so that no verdict
played from it could be about the peer: an unknown requirement id (a FAIL
would cite a rule that does not exist), an unknown profile name (an
alternative or a case that no run can ever select, a typo turning an
acceptable outcome into a FAIL), an expected reply no server sends, a codec
case whose bytes, messages, decoding and violations disagree
(gearsim.vectors.codec_checks), an alternative that breaks a MUST without
being a defect, and one naming a defect its profiles do not record (for the
MUSTs it breaks: it would be graded a known defect "as its profile records").
:func:`contradictions` is their one list, and every path that runs vectors
refuses a case that has one as a broken vector (:func:`refuse_broken`, called
by gearsim.files.read_vector_file; the runner and the pytest plugin per case),
so an unlinted file cannot slip one past the runner as a verdict on the peer. The other findings (canonical form, a
retired id, ``expect_silence`` without ``ms``, a defect without ``breaks``,
``breaks`` naming a MAY or another role's rule) are left to lint.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from gearsim.errors import VectorError
from gearsim.model.profiles import PROFILES
from gearsim.protocol.packets import SPECS
from gearsim.protocol.requirements import SERVER_SUBJECTS, Requirement
from gearsim.vectors.codec_checks import codec_errors
from gearsim.vectors.parse import Alternative, Case, Reaction, VectorFile, dump_vector_file, parse_vector_text

__all__ = ["CRASH_RULE", "contradictions", "lint_text", "refuse_broken"]

#: the rule a crash breaks
CRASH_RULE = "GM-SERVER-005"


def _where(name: str, case: Case, step: int | None = None) -> str:
    return f"{name}::{case.id}" + (f" step {step}" if step is not None else "")


def _cited(case: Case) -> Iterator[tuple[int | None, str]]:
    """(step or None, id) for every requirement id the case cites or an alternative breaks."""
    for rid in (*case.requirements, *(case.violations or ())):
        yield None, rid
    for reaction in (case.server, *case.server_accept):
        for rid in reaction.breaks if reaction is not None else ():
            yield None, rid
    for step in case.steps:
        for rid in step.requirements:
            yield step.index, rid
        for alt in step.accept:
            for rid in alt.breaks:
                yield step.index, rid


def _requirement_findings(
    case: Case, name: str, requirements: Mapping[str, Requirement], *, retired: bool = True
) -> Iterator[VectorError]:
    """Each unknown requirement id the case cites (and, with ``retired``, each retired one)."""
    for step, rid in _cited(case):
        req = requirements.get(rid)
        if req is None:
            yield VectorError(f"unknown requirement id {rid}", file=name, case=case.id, step=step)
        elif retired and req.status == "retired":
            yield VectorError(f"cites retired requirement {rid}", file=name, case=case.id, step=step)


def _profile_findings(case: Case, name: str) -> Iterator[VectorError]:
    known = ", ".join(PROFILES)
    for profile in case.profiles:
        if profile not in PROFILES:
            yield VectorError(f"unknown profile {profile!r} (known: {known})", file=name, case=case.id)
    outcomes: list[tuple[int | None, Sequence[str]]] = [(None, r.profiles) for r in case.server_accept]
    outcomes += [(s.index, a.profiles) for s in case.steps for a in s.accept]
    for step, profiles in outcomes:
        for profile in profiles:
            if profile not in PROFILES:
                yield VectorError(f"unknown profile {profile!r} (known: {known})", file=name, case=case.id, step=step)


def _impossible_replies(case: Case, name: str) -> Iterator[VectorError]:
    """Each packet a server case expects the server to send that the packet table says no server sends as expected.

    Only the primary expectation: an alternative may be a defect in which a
    server sends what it must not. Program and library cases are left alone:
    their expect steps check what a program or library sent.
    """
    if case.is_program or case.is_library:
        return
    for step in case.steps:
        if step.action != "expect":
            continue
        for pattern in (step.packet, *step.packets):
            spec = SPECS.get(int(pattern.type)) if pattern is not None else None
            if pattern is None or spec is None:
                continue
            why = ""
            if not spec.res:
                senders = " and ".join(sorted(spec.req)) or "nobody"
                why = f"which the packet table has no server send (sent by: {senders})"
            elif all(len(pattern.args) != len(layout) for layout in (spec.args, *spec.variants.values())):
                layout = ", ".join(spec.args) or "none"
                why = f"with {len(pattern.args)} arguments; the packet table gives it {len(spec.args)} ({layout})"
            if why:
                yield VectorError(
                    f"expects the server to send {pattern.name}, {why}", file=name, case=case.id, step=step.index
                )


def _musts(outcome: Alternative | Reaction, requirements: Mapping[str, Requirement]) -> list[str]:
    return [rid for rid in outcome.breaks if rid in requirements and requirements[rid].level == "MUST"]


def _acceptable_must(outcome: Alternative | Reaction, requirements: Mapping[str, Requirement]) -> str:
    """Why this outcome would be a broken MUST graded acceptable (it names no defect), or ""."""
    musts = _musts(outcome, requirements)
    crash = isinstance(outcome, Alternative) and outcome.crash
    if (musts or crash) and not outcome.defect:
        what = ", ".join(musts) or CRASH_RULE
        return f"this outcome breaks {what} (MUST): name the defect it is (defect: ID), it cannot be acceptable"
    return ""


def _outcome_contradictions(case: Case, name: str, requirements: Mapping[str, Requirement]) -> Iterator[VectorError]:
    """Each alternative outcome of the case that breaks a MUST (or crashes) without being a defect, or that
    names a defect its profiles do not record (for the MUSTs it breaks)."""
    for step in case.steps:
        for alt in step.accept:
            why = _acceptable_must(alt, requirements)
            if why:
                yield VectorError(why, file=name, case=case.id, step=step.index)
            for why in _unrecorded(alt, requirements):
                yield VectorError(why, file=name, case=case.id, step=step.index)
    for reaction in case.server_accept:
        why = _acceptable_must(reaction, requirements)
        if why:
            yield VectorError(f"server reaction: {why}", file=name, case=case.id)
        for why in _unrecorded(reaction, requirements):
            yield VectorError(f"server reaction: {why}", file=name, case=case.id)


def contradictions(name: str, case: Case, requirements: Mapping[str, Requirement] | None = None) -> list[VectorError]:
    """What makes ``case`` (of file ``name``) a broken vector that no run may judge a peer by (empty: nothing).

    Each error names the file, the case and, where there is one, the step (a
    codec case's says the byte offset and message). Without ``requirements``
    (a caller that holds no registry) the checks that need one are left out:
    unknown requirement ids, MUST-breaking alternatives and defects their
    profiles do not record.
    """
    found: list[VectorError] = []
    if requirements is not None:
        found += _requirement_findings(case, name, requirements, retired=False)
    found += _profile_findings(case, name)
    found += _impossible_replies(case, name)
    if requirements is not None:
        found += _outcome_contradictions(case, name, requirements)
    found += codec_errors(name, case)
    return found


def refuse_broken(vf: VectorFile, requirements: Mapping[str, Requirement]) -> None:
    """Refuse a file with a case that contradicts itself or the spec (:func:`contradictions`).

    Raises:
        VectorError: the first such contradiction, naming file, case and step.
    """
    for case in vf.cases:
        found = contradictions(vf.name, case, requirements)
        if found:
            raise found[0]


def _outcome_findings(
    outcome: Alternative | Reaction, at: str, requirements: Mapping[str, Requirement]
) -> Iterator[str]:
    """A MUST-breaking outcome must be a recorded defect of every profile it names."""
    for rid in outcome.breaks:
        if rid in requirements and requirements[rid].level == "MAY":
            yield f"{at}: breaks names {rid}, a MAY rule, which nothing can break"
        elif rid in requirements and requirements[rid].subject not in SERVER_SUBJECTS | {"sender"}:
            yield f"{at}: breaks names {rid}, a rule of the {requirements[rid].subject}, which no server can break"
    if isinstance(outcome, Alternative) and outcome.crash and CRASH_RULE not in outcome.breaks:
        yield f"{at}: a crash outcome must list breaks: [{CRASH_RULE}]"
    why = _acceptable_must(outcome, requirements)
    if why:
        yield f"{at}: {why}"
    if outcome.defect and not outcome.breaks:
        yield f"{at}: defect {outcome.defect!r} without breaks: list the rules it breaks"
    for why in _unrecorded(outcome, requirements):
        yield f"{at}: {why}"


def _unrecorded(outcome: Alternative | Reaction, requirements: Mapping[str, Requirement]) -> Iterator[str]:
    """Why the outcome's ``defect`` is not what its profiles record: none by that name, or not for those MUSTs.

    Played, such an outcome was graded "known defect ... as its profile records" when no profile did.
    """
    if not outcome.defect:
        return
    musts = _musts(outcome, requirements)
    for profile in outcome.profiles:
        recorded = PROFILES[profile].defect(outcome.defect) if profile in PROFILES else None
        if profile in PROFILES and recorded is None:
            yield f"profile {profile} records no defect {outcome.defect!r}"
        elif recorded is not None:
            missing = [rid for rid in musts if rid not in recorded.rules]
            if missing:
                yield f"defect {outcome.defect!r} of {profile} does not list {', '.join(missing)} in its rules"


def _step_findings(
    case: Case, name: str, requirements: Mapping[str, Requirement], raw: Mapping[str, object]
) -> Iterator[str]:
    raw_steps = raw.get("steps", [])
    for step in case.steps:
        at = _where(name, case, step.index)
        raw_step = raw_steps[step.index - 1] if isinstance(raw_steps, list) else {}
        if step.action == "expect_silence" and (not isinstance(raw_step, dict) or not raw_step.get("ms")):
            yield f"{at}: expect_silence needs a duration: ms > 0"
        for alt in step.accept:
            yield from _outcome_findings(alt, at, requirements)
            if alt.crash and step.action not in ("expect", "expect_close"):
                yield f"{at}: a crash outcome belongs to an expect or expect_close step"
    for reaction in case.server_accept:
        yield from _outcome_findings(reaction, f"{_where(name, case)} server reaction", requirements)


def lint_text(
    text: str, name: str, schema_text: str, requirements: Mapping[str, Requirement]
) -> tuple[VectorFile | None, list[str]]:
    """Lint one vector file's text; return the parsed file (if it parsed) and the findings.

    Each finding is one line starting with the file name (and case id, and step).
    """
    try:
        vf = parse_vector_text(text, name, schema_text)
    except VectorError as exc:
        return None, [str(exc)]
    findings: list[str] = []
    if dump_vector_file(vf.raw) != text:
        findings.append(f"{name}: not in canonical form (run: gearsim fmt {name})")
    raw_cases = vf.raw.get("cases", [])
    for index, case in enumerate(vf.cases):
        findings.extend(str(e) for e in _requirement_findings(case, name, requirements))
        findings.extend(str(e) for e in _profile_findings(case, name))
        findings.extend(str(e) for e in _impossible_replies(case, name))
        findings.extend(_step_findings(case, name, requirements, raw_cases[index]))
        findings.extend(str(e) for e in codec_errors(name, case))
    return vf, findings
