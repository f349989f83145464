"""Playing the vectors against mutants: which cases kill which mutant, and whether they name its rule.

PURE. This module owns ``MutantFactory`` (a runner ``PeerFactory`` around a
mutant), ``unmutated_verdicts`` (the model's own verdicts a mutant is held
against) and ``run_mutation``, which calls a mutation *killed* when some
case's verdict turns to FAIL or INCONCLUSIVE where the model's does not.

Killed at the default level is not all a maintainer relies on. A mutant of a
MUST is judged at ``--level must`` too (as ``gearsim run --level must`` judges
a server): killed only at the default level, a server with that defect would
PASS a must-level run. And a kill is only as useful as the rule it reports:
the outcome records whether some killing FAIL names the mutant's rule at its
failing step (``CaseResult.rules``, the report's "rule broken"), and which
rules the kills name otherwise. The other way round, played exhaustively, a
mutant of a SHOULD or MAY rule must FAIL no case at ``--level must``: such a
FAIL tells a server that breaks only that rule that it broke a MUST.

``gearsim spec mutate`` (gearsim.cli.spec) runs it for every mutation, and
gearsim.report.coverage turns the outcomes into rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from gearsim.model import Server, ServerOptions
from gearsim.protocol.node import ServerNode
from gearsim.protocol.requirements import Requirement
from gearsim.run.model_peer import SimPeer, restarted_server
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.result import CaseResult, Verdict, at_level
from gearsim.run.runner import run_case
from gearsim.sim.simulator import Simulator
from gearsim.vectors.parse import Case, VectorFile
from gearsim.vectors.rules import cited_ids


class MutantFactory:
    """A ``PeerFactory`` for the runner: each case gets a fresh simulator around a fresh mutant.

    Unlike ``ModelPeerFactory`` it keeps no trace: a mutation run plays every
    vector again for every mutant, and only verdicts count.
    """

    def __init__(self, mutant: Mutation | None, profile: str, seed: int = 0) -> None:
        self.mutant = mutant
        self.profile = profile
        self.seed = seed

    def __call__(self, case: Case) -> SimPeer:
        options = ServerOptions(**dict(case.options))  # type: ignore[arg-type]
        mutant = self.mutant
        node = Server(self.profile, options) if mutant is None else mutant.server(options)
        sim = Simulator(self.seed)
        sim.add_server("gearmand", node)

        def restarted(old: ServerNode) -> ServerNode:
            if mutant is None:
                return restarted_server(old, self.profile, options)
            return mutant.restart(old) if mutant.restart is not None else mutant.server(options)

        return SimPeer(sim, restarted=restarted)


#: verdicts that say the vectors noticed
_KILLING: Final[frozenset[Verdict]] = frozenset({Verdict.FAIL, Verdict.INCONCLUSIVE})

#: the level a mutant of a MUST is judged at besides the default one
MUST_LEVEL: Final = "must"


@dataclass(frozen=True, slots=True)
class MutationOutcome:
    """What the vectors made of one mutant."""

    mutation: Mutation
    #: the cases (``FILE::CASE``) that failed against the mutant and pass against the model, at the default level
    killed_by: tuple[str, ...] = ()
    #: the mutant itself raised (a bug in the mutation, not a verdict): the exception, one line
    error: str = ""
    #: how many cases were played (at both levels)
    played: int = 0
    #: the first case that killed it cites the mutant's rule (a case about the rule noticed)
    by_citing_case: bool = False
    #: the level the naming below is judged at: "must" for a MUST's mutant the default level kills, else "should"
    level: str = "should"
    #: for a mutant judged at --level must: the cases that kill it there (empty: a must-level run PASSes it);
    #: None when not judged there (not a MUST's mutant, or the default level did not kill it either)
    killed_at_must: tuple[str, ...] | None = None
    #: a case (``FILE::CASE``) whose killing FAIL names the mutant's rule at its failing step, at ``level``
    named_by: str | None = None
    #: when no killing FAIL names the rule: the rules they name instead, first seen first
    names_instead: tuple[str, ...] = ()
    #: for a mutant of a SHOULD or MAY rule played exhaustively: the cases it FAILs at --level must, each a false
    #: FAIL (a server breaking that rule alone is told it broke a MUST); None when not checked
    failed_at_must: tuple[str, ...] | None = None

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)

    @property
    def survives_at_must(self) -> bool:
        """Judged at --level must and not killed there: a server with this defect passes a must-level run."""
        return self.killed_at_must is not None and not self.killed_at_must and not self.error

    @property
    def status(self) -> str:
        """One phrase: what a maintainer learns from the vectors about this mutant."""
        if self.error:
            return "error"
        if not self.killed:
            return "survives"
        if self.survives_at_must:
            return "survives at --level must"
        if self.failed_at_must:
            return "FAILs at --level must"
        if self.named_by is not None:
            return "killed, named"
        if self.names_instead:
            return f"killed, names {', '.join(self.names_instead)} instead"
        return "killed, names no rule"


def _cases(files: Sequence[VectorFile]) -> list[tuple[VectorFile, Case]]:
    return [(vf, case) for vf in files for case in vf.cases if not (case.is_program or case.is_library)]


def unmutated_verdicts(
    files: Sequence[VectorFile],
    profile: str,
    seed: int = 0,
    *,
    level: str | None = None,
    requirements: Mapping[str, Requirement] | None = None,
) -> dict[str, Verdict]:
    """The model's own verdict on every case under ``profile``, by ``FILE::CASE``: what a mutant is held against.

    With ``level`` the cases are played and judged as ``gearsim run --level``
    does (``requirements`` is the registry that judging needs).
    """
    factory = MutantFactory(None, profile, seed)
    return {
        f"{vf.name}::{case.id}": _judge(vf, case, factory, profile, level, requirements).verdict
        for vf, case in _cases(files)
    }


def _judge(
    vf: VectorFile,
    case: Case,
    factory: MutantFactory,
    profile: str,
    level: str | None,
    requirements: Mapping[str, Requirement] | None,
) -> CaseResult:
    if level is None:
        return run_case(vf, case, factory, profile)
    if requirements is None:
        raise ValueError(f"judging at --level {level} needs the requirement registry")
    return at_level(run_case(vf, case, factory, profile, level=level), level, requirements)


@dataclass(frozen=True, slots=True)
class _Pass:
    """One level's play of the vectors against a mutant."""

    kills: tuple[str, ...]
    played: int
    by_citing_case: bool
    named_by: str | None
    names: tuple[str, ...]
    error: str
    #: of ``kills``, those whose verdict is FAIL
    fails: tuple[str, ...] = ()


def _play(
    m: Mutation,
    order: Sequence[tuple[VectorFile, Case]],
    unmutated: Mapping[str, Verdict],
    factory: MutantFactory,
    level: str | None,
    requirements: Mapping[str, Requirement] | None,
    *,
    until_named: bool,
    exhaustive: bool,
) -> _Pass:
    """Play ``order`` until a case kills the mutant (``until_named``: until a killing FAIL names its rule)."""
    kills: list[str] = []
    fails: list[str] = []
    names: list[str] = []
    named_by: str | None = None
    citing = False
    played = 0
    for vf, case in order:
        ref = f"{vf.name}::{case.id}"
        if unmutated.get(ref) in _KILLING or unmutated.get(ref) is Verdict.NOT_APPLICABLE:
            continue
        played += 1
        try:
            result = _judge(vf, case, factory, m.profile, level, requirements)
        except Exception as exc:  # a mutant that raises is a broken mutation, reported as such
            error = f"{ref}: {type(exc).__name__}: {exc}"
            return _Pass(tuple(kills), played, citing, named_by, tuple(names), error)
        if result.verdict not in _KILLING:
            continue
        citing = citing or (not kills and m.rule in cited_ids(case))
        kills.append(ref)
        if result.verdict is Verdict.FAIL:
            fails.append(ref)
            if m.rule in result.rules:
                named_by = named_by or ref
            else:
                names.extend(r for r in result.rules if r not in names)
        if not exhaustive and (named_by is not None or not until_named):
            break
    return _Pass(tuple(kills), played, citing, named_by, () if named_by else tuple(names), "", tuple(fails))


def run_mutation(
    m: Mutation,
    files: Sequence[VectorFile],
    unmutated: Mapping[str, Verdict],
    *,
    seed: int = 0,
    exhaustive: bool = False,
    requirements: Mapping[str, Requirement] | None = None,
    unmutated_must: Mapping[str, Verdict] | None = None,
) -> MutationOutcome:
    """Play the vectors against the mutant until one case fails that the model passes, and one names its rule.

    The cases citing the mutant's rule go first, so a killed mutant usually
    costs a handful of cases; only when no killing FAIL names the rule are the
    rest played, to find one that does. ``exhaustive`` plays them all and
    lists every case that kills it. ``unmutated`` is ``unmutated_verdicts``
    for the mutation's profile.

    When ``requirements`` (the registry) says the mutant's rule is a MUST and
    the default level kills it, the cases are played again at --level must,
    held against ``unmutated_must`` (``unmutated_verdicts`` at that level); the
    naming is judged there. A mutant of a SHOULD or MAY rule that the default
    level kills is, when ``exhaustive`` and ``unmutated_must`` is given, played
    on every case at --level must too: each case it FAILs there is a false FAIL
    (``failed_at_must``), since that level lets only MUST rules fail.

    Raises:
        ValueError: the rule is a MUST and ``unmutated_must`` is missing.
    """
    factory = MutantFactory(m, m.profile, seed)
    order = sorted(_cases(files), key=lambda fc: m.rule not in cited_ids(fc[1]))
    rule = requirements.get(m.rule) if requirements is not None else None
    at_must = rule is not None and rule.level == "MUST"
    if at_must and unmutated_must is None:
        raise ValueError(f"{m.id} breaks the MUST {m.rule}: judging it at --level must needs unmutated_must")
    default = _play(m, order, unmutated, factory, None, None, until_named=not at_must, exhaustive=exhaustive)
    outcome = MutationOutcome(
        m,
        default.kills,
        default.error,
        default.played,
        default.by_citing_case,
        named_by=default.named_by,
        names_instead=default.names,
    )
    # a mutant the default level does not kill survives whatever --level must says: spare the second play
    if default.error or not default.kills or unmutated_must is None:
        return outcome
    if not at_must:
        if rule is None or not exhaustive:
            return outcome
        lesser = _play(m, order, unmutated_must, factory, MUST_LEVEL, requirements, until_named=False, exhaustive=True)
        return replace(outcome, error=lesser.error, played=default.played + lesser.played, failed_at_must=lesser.fails)
    must = _play(m, order, unmutated_must, factory, MUST_LEVEL, requirements, until_named=True, exhaustive=exhaustive)
    return replace(
        outcome,
        error=must.error,
        played=default.played + must.played,
        level=MUST_LEVEL,
        killed_at_must=must.kills,
        named_by=must.named_by,
        names_instead=must.names,
    )
