"""Mutants of admin and queue-limit SHOULD rules are not failed at ``--level must``, and still fail at the default.

``gearsim run --level must`` promises that only MUST violations fail. Each row
is a mutant of the reference model that breaks one SHOULD rule, and a case
that used to FAIL it at that level under a MUST it keeps: an upper-case
command word taken for an unknown one (GM-ADMIN-003) or a prefix match
(GM-ADMIN-020) charged the listing rules GM-ADMIN-004/005 or the line-end
rule GM-ADMIN-001; a success spelled DONE (GM-ADMIN-015) charged GM-ADMIN-001;
no version command (GM-ADMIN-009) charged GM-FRAME-010 and GM-ECHO-001; a limit
not kept (GM-ADMIN-010), an eviction (GM-QUEUE-002) or a limit that counts
queued jobs alone (GM-QUEUE-004) charged the refusal rule GM-QUEUE-001 or the
eviction rule GM-QUEUE-003 although nothing was refused or evicted silently.
The vectors now judge each behaviour under the SHOULD it breaks: at
``--level must`` the case is not failed, at the default level it fails naming
that SHOULD, and the unmutated model passes either way.

The prefix-match mutant used to be gear's whole match, case-sensitive too, so
it also broke GM-ADMIN-003: it now breaks GM-ADMIN-020 alone, and the
upper-case cases pass it.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from gearsim import files as loading
from gearsim.protocol.requirements import Requirement
from gearsim.run.mutants.play import MutantFactory
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import CaseResult, Verdict, at_level
from gearsim.run.runner import run_case
from gearsim.vectors.parse import Case, VectorFile


class Row(NamedTuple):
    mutant: str
    case: str
    rule: str


ROWS = [
    Row("upper-case-unknown", "admin/listings.yaml::empty-server", "GM-ADMIN-003"),
    Row("upper-case-unknown", "codec/admin.yaml::status-upper-case", "GM-ADMIN-003"),
    # ECHO_RES first, then ERR for version: the ERR is not the first reply, so no rule named it before
    Row("no-version", "codec/framing.yaml::binary-then-admin", "GM-ADMIN-009"),
    # maxqueue answers OK and keeps no limit: the first job's status tells it from an eviction
    Row("no-maxqueue", "server/maxqueue.yaml::limits-per-priority", "GM-ADMIN-010"),
    Row("no-maxqueue", "server/maxqueue.yaml::full-queue-refuses-or-evicts", "GM-ADMIN-010"),
    Row("ok-spelled-done", "admin/listings.yaml::create-function-newline-bug", "GM-ADMIN-015"),
    Row("ok-spelled-done", "codec/admin.yaml::create-function-crlf", "GM-ADMIN-015"),
    Row("ok-spelled-done", "codec/admin.yaml::create-function-lf-then-status", "GM-ADMIN-015"),
    Row("ok-spelled-done", "codec/admin.yaml::create-then-drop-function", "GM-ADMIN-015"),
    Row("ok-spelled-done", "server/maxqueue.yaml::limit-zero-unlimited", "GM-ADMIN-015"),
    Row("prefix-commands", "admin/commands.yaml::unknown-commands", "GM-ADMIN-020"),
    Row("prefix-commands", "codec/framing.yaml::version-cr-cr-lf", "GM-ADMIN-020"),
    # h2 evicts h1 (a background job: nobody to tell) where the HIGH limit is reached
    Row("evict", "server/maxqueue.yaml::limits-per-priority", "GM-QUEUE-002"),
    Row("limit-counts-queued", "server/maxqueue.yaml::limit-one", "GM-QUEUE-004"),
]

#: cases the prefix-match mutant failed only because it matched case-sensitively too (GM-ADMIN-003)
CASE_ASIDE = ["admin/listings.yaml::empty-server", "codec/admin.yaml::status-upper-case"]

#: gearsim run's default --level
_DEFAULT_LEVEL = "may"
_NOT_FAILED = frozenset({Verdict.PASS, Verdict.ACCEPTABLE, Verdict.KNOWN_DEFECT, Verdict.NOT_APPLICABLE})


@pytest.fixture(scope="module")
def registry() -> dict[str, Requirement]:
    return dict(loading.load_requirements())


def _case(ref: str) -> tuple[VectorFile, Case]:
    name, case_id = ref.split("::")
    (vf,) = loading.select([name]).files
    return vf, next(c for c in vf.cases if c.id == case_id)


def _judged(mutant: str, ref: str, mutated: bool, level: str, registry: dict[str, Requirement]) -> CaseResult:
    m = mutation(mutant)
    vf, case = _case(ref)
    factory = MutantFactory(m if mutated else None, m.profile)
    return at_level(run_case(vf, case, factory, m.profile, level=level), level, registry)


_IDS = [f"{r.mutant}-{r.case.split('::')[1]}" for r in ROWS]


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_not_failed_at_level_must(row: Row, registry: dict[str, Requirement]) -> None:
    assert mutation(row.mutant).rule == row.rule
    assert registry[row.rule].level == "SHOULD"
    model = _judged(row.mutant, row.case, False, "must", registry)
    assert model.verdict in _NOT_FAILED, model.reason
    result = _judged(row.mutant, row.case, True, "must", registry)
    assert result.verdict in _NOT_FAILED, (result.verdict, result.step, result.rules, result.reason)


@pytest.mark.parametrize("row", ROWS, ids=_IDS)
def test_failed_at_the_default_level_naming_the_should(row: Row, registry: dict[str, Requirement]) -> None:
    model = _judged(row.mutant, row.case, False, _DEFAULT_LEVEL, registry)
    assert model.verdict in _NOT_FAILED, model.reason
    result = _judged(row.mutant, row.case, True, _DEFAULT_LEVEL, registry)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason, result.notes)
    assert row.rule in result.rules, (result.step, result.rules, result.reason)
    # no MUST beside it: the maintainer is sent to the SHOULD's sentence alone
    assert [r for r in result.rules if registry[r].level == "MUST"] == [], result.rules


@pytest.mark.parametrize("ref", CASE_ASIDE)
def test_the_prefix_match_mutant_matches_regardless_of_case(ref: str, registry: dict[str, Requirement]) -> None:
    result = _judged("prefix-commands", ref, True, _DEFAULT_LEVEL, registry)
    assert result.verdict in (Verdict.PASS, Verdict.ACCEPTABLE), (result.verdict, result.rules, result.reason)
