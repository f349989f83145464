"""Playing the vectors against mutants: which cases kill which mutant.

PURE. This module owns ``MutantFactory`` (a runner ``PeerFactory`` around a
mutant), ``unmutated_verdicts`` (the model's own verdicts a mutant is held
against) and ``run_mutation``, which calls a mutation *killed* when some
case's verdict turns to FAIL or INCONCLUSIVE where the model passes.
``gearsim spec mutate`` (gearsim.cli.spec) runs it for every mutation, and
gearsim.report.coverage turns the outcomes into rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from gearsim.model import Server, ServerOptions
from gearsim.protocol.node import ServerNode
from gearsim.run.model_peer import SimPeer, restarted_server
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.result import Verdict
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


@dataclass(frozen=True, slots=True)
class MutationOutcome:
    """What the vectors made of one mutant."""

    mutation: Mutation
    #: the cases (``FILE::CASE``) that failed against the mutant and pass against the model
    killed_by: tuple[str, ...] = ()
    #: the mutant itself raised (a bug in the mutation, not a verdict): the exception, one line
    error: str = ""
    #: how many cases were played
    played: int = 0
    #: the first case that killed it cites the mutant's rule (a case about the rule noticed)
    by_citing_case: bool = False

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)


def _cases(files: Sequence[VectorFile]) -> list[tuple[VectorFile, Case]]:
    return [(vf, case) for vf in files for case in vf.cases if not (case.is_program or case.is_library)]


def unmutated_verdicts(files: Sequence[VectorFile], profile: str, seed: int = 0) -> dict[str, Verdict]:
    """The model's own verdict on every case under ``profile``, by ``FILE::CASE``: what a mutant is held against."""
    factory = MutantFactory(None, profile, seed)
    return {f"{vf.name}::{case.id}": run_case(vf, case, factory, profile).verdict for vf, case in _cases(files)}


def run_mutation(
    m: Mutation,
    files: Sequence[VectorFile],
    unmutated: Mapping[str, Verdict],
    *,
    seed: int = 0,
    exhaustive: bool = False,
) -> MutationOutcome:
    """Play the vectors against the mutant until one case fails that the model passes.

    The cases citing the mutant's rule go first, so a killed mutant usually
    costs a handful of cases; ``exhaustive`` plays them all and lists every
    case that kills it. ``unmutated`` is ``unmutated_verdicts`` for the
    mutation's profile.
    """
    factory = MutantFactory(m, m.profile, seed)
    order = sorted(_cases(files), key=lambda fc: m.rule not in cited_ids(fc[1]))
    killed: list[str] = []
    citing = False
    played = 0
    for vf, case in order:
        ref = f"{vf.name}::{case.id}"
        if unmutated.get(ref) in _KILLING or unmutated.get(ref) is Verdict.NOT_APPLICABLE:
            continue
        played += 1
        try:
            verdict = run_case(vf, case, factory, m.profile).verdict
        except Exception as exc:  # a mutant that raises is a broken mutation, reported as such
            return MutationOutcome(m, tuple(killed), f"{ref}: {type(exc).__name__}: {exc}", played, citing)
        if verdict in _KILLING:
            citing = citing or (not killed and m.rule in cited_ids(case))
            killed.append(ref)
            if not exhaustive:
                break
    return MutationOutcome(m, tuple(killed), "", played, citing)
