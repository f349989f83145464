"""Coverage by mutation: the model broken one rule at a time, and the vectors noticing.

The fast set (a dozen mutants, a second or two) runs on every change; the
whole registry takes a few seconds more and is marked slow. A MUST's mutant
must die at --level must by a FAIL naming its rule at the failing step, or be
listed in the registry's ``NOT_NAMED`` with the reason it is not.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pytest

from gearsim import files as loading
from gearsim.cli.spec import add_spec_commands
from gearsim.model import Server, ServerOptions
from gearsim.model.profiles import PROFILES, SPEC_PROFILE
from gearsim.protocol.packets import PacketType
from gearsim.protocol.requirements import Requirement
from gearsim.report.coverage import mutation_rows, mutation_summary, surviving_musts
from gearsim.run.mutants import (
    CLIENT_RULES,
    MUTATIONS,
    NOT_NAMED,
    UNTESTABLE,
    MutationOutcome,
    mutation,
    run_mutation,
    unmutated_verdicts,
)
from gearsim.run.mutants import registry as registry_module
from gearsim.run.result import Verdict
from gearsim.vectors.parse import VectorFile


@pytest.fixture(scope="module")
def vector_files() -> list[VectorFile]:
    return loading.select([]).files


def _run(selected: list[str], files: list[VectorFile], *, exhaustive: bool = False) -> list[MutationOutcome]:
    """The outcomes of the mutants ``selected``; a MUST's mutant judged at --level must too, as the CLI does.

    ``exhaustive`` as ``spec mutate --exhaustive``: every case played, and a
    SHOULD's or MAY's mutant also played at --level must, for false FAILs.
    """
    registry = loading.load_requirements()
    unmutated: dict[tuple[str, str | None], dict[str, Verdict]] = {}

    def held_against(profile: str, level: str | None) -> dict[str, Verdict]:
        if (profile, level) not in unmutated:
            unmutated[profile, level] = unmutated_verdicts(files, profile, level=level, requirements=registry)
        return unmutated[profile, level]

    outcomes = []
    for m in (mutation(i) for i in selected):
        must = held_against(m.profile, "must") if registry[m.rule].level == "MUST" or exhaustive else None
        own = held_against(m.profile, None)
        outcomes.append(run_mutation(m, files, own, exhaustive=exhaustive, requirements=registry, unmutated_must=must))
    return outcomes


@pytest.fixture(scope="module")
def every_outcome(vector_files: list[VectorFile]) -> dict[str, MutationOutcome]:
    """Every mutant's outcome, by id: played once for the slow tests that read it."""
    return {o.mutation.id: o for o in _run([m.id for m in MUTATIONS], vector_files)}


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gearsim")
    sub = parser.add_subparsers(dest="command", required=True)
    add_spec_commands(sub)
    args = parser.parse_args(argv)
    rc: int = args.func(args)
    return rc


def test_mutation_ids_are_unique_and_name_known_rules(registry: dict[str, Requirement]) -> None:
    ids = [m.id for m in MUTATIONS]
    assert len(ids) == len(set(ids))
    for m in MUTATIONS:
        assert m.rule in registry, m.id
        assert registry[m.rule].status == "active", m.id
        assert m.profile in PROFILES, m.id
    for rid in (*CLIENT_RULES, *UNTESTABLE):
        assert rid in registry, rid


def test_every_server_must_and_should_has_a_mutant_or_a_reason(registry: dict[str, Requirement]) -> None:
    mutated = {m.rule for m in MUTATIONS}
    missing = [
        rid
        for rid, req in registry.items()
        if req.level in ("MUST", "SHOULD")
        and req.status == "active"
        and req.area != "library"
        and rid not in mutated
        and rid not in CLIENT_RULES
        and rid not in UNTESTABLE
    ]
    assert missing == []


def test_fast_mutants_are_killed(vector_files: list[VectorFile]) -> None:
    fast = [m.id for m in MUTATIONS if m.fast]
    assert 5 <= len(fast) <= 20
    outcomes = _run(fast, vector_files)
    assert [(o.mutation.id, o.error) for o in outcomes if not o.killed] == []


@pytest.mark.slow
def test_every_mutant_is_killed_by_a_case_citing_its_rule(
    vector_files: list[VectorFile], registry: dict[str, Requirement], every_outcome: dict[str, MutationOutcome]
) -> None:
    outcomes = list(every_outcome.values())
    assert [(o.mutation.id, o.error) for o in outcomes if not o.killed] == []
    assert [o.mutation.id for o in outcomes if not o.by_citing_case] == []
    rows = mutation_rows(vector_files, registry, outcomes)
    assert surviving_musts(rows) == []
    summary = mutation_summary(rows)
    assert summary["MUST"]["surviving"] == summary["MUST"]["error"] == 0


def _must_mutants(registry: dict[str, Requirement], every_outcome: dict[str, MutationOutcome]) -> list[MutationOutcome]:
    return [o for o in every_outcome.values() if registry[o.mutation.rule].level == "MUST"]


@pytest.mark.slow
def test_every_must_mutant_is_killed_at_level_must(
    registry: dict[str, Requirement], every_outcome: dict[str, MutationOutcome]
) -> None:
    """A MUST's mutant only the default level kills is a server with that defect PASSing ``--level must``."""
    musts = _must_mutants(registry, every_outcome)
    assert musts and all(o.level == "must" and o.killed_at_must is not None for o in musts)
    assert [o.mutation.id for o in musts if o.survives_at_must] == []  # never a reason for NOT_NAMED either


@pytest.mark.slow
def test_every_must_mutant_dies_by_a_fail_naming_its_rule_or_is_listed_with_the_reason(
    registry: dict[str, Requirement], every_outcome: dict[str, MutationOutcome]
) -> None:
    """The report's "rule broken" must send a maintainer to the mutant's rule; ``NOT_NAMED`` says where not, and why.

    Strict both ways: an unlisted mutant whose kills name other rules fails,
    and so does a listed one whose kills now name its rule (remove it from the table).
    """
    known = {m.id: m for m in MUTATIONS}
    assert [i for i in NOT_NAMED if i not in known or registry[known[i].rule].level != "MUST"] == []
    assert all(reason.strip() and "\n" not in reason for reason in NOT_NAMED.values())
    killed = [o for o in _must_mutants(registry, every_outcome) if o.killed_at_must and not o.error]
    unnamed = {o.mutation.id: f"{o.status} ({o.killed_at_must[0]})" for o in killed if o.named_by is None}
    assert {i: s for i, s in unnamed.items() if i not in NOT_NAMED} == {}, "name the rule at the failing step"
    named = [o.mutation.id for o in killed if o.named_by is not None]
    assert [i for i in named if i in NOT_NAMED] == [], "named now: remove it from NOT_NAMED"


@pytest.mark.slow
def test_no_should_or_may_mutant_fails_a_bundled_case_at_level_must(
    vector_files: list[VectorFile], registry: dict[str, Requirement]
) -> None:
    """--level must lets only MUST rules fail: a server that breaks one SHOULD or MAY rule is no FAIL there.

    Each such FAIL sent a maintainer to a MUST their server keeps; sessions
    25-26 fixed 18 of them (test_should_at_must_*.py). This plays every lesser
    mutant on every bundled case at --level must, so a vector change that
    charges a MUST for a SHOULD's behaviour again fails here.
    """
    lesser = [m.id for m in MUTATIONS if registry[m.rule].level != "MUST"]
    assert len(lesser) >= 20
    outcomes = _run(lesser, vector_files, exhaustive=True)
    assert [o.mutation.id for o in outcomes if o.killed and o.failed_at_must is None] == []
    assert {o.mutation.id: o.failed_at_must for o in outcomes if o.failed_at_must or o.error} == {}


def test_a_mutant_no_case_notices_is_reported_surviving_with_its_reason(
    registry: dict[str, Requirement], tmp_path: Path
) -> None:
    # only the status vectors: nothing there sends ECHO_REQ
    files = loading.select(["server/status.yaml"]).files
    outcomes = _run(["echo-loses-last-byte"], files)
    assert not outcomes[0].killed and not outcomes[0].error
    row = next(r for r in mutation_rows(files, registry, outcomes) if r.id == "GM-ECHO-001")
    assert row.state == "surviving"
    assert "echo-loses-last-byte" in row.reason and "ECHO_RES drops the last byte" in row.reason
    assert [r.id for r in surviving_musts([row])] == ["GM-ECHO-001"]
    out = tmp_path / "mut.json"
    assert (
        _cli(
            ["spec", "mutate", "server/status.yaml", "--mutation", "echo-loses-last-byte", "--json", "--out", str(out)]
        )
        == 1
    )
    doc = json.loads(out.read_text())
    assert doc["mutants"][0]["killed_by"] == [] and doc["mutants"][0]["rule"] == "GM-ECHO-001"


_ECHO_VECTOR = """\
schema: gearsim-vectors/1
area: client
title: one echo, for the mutation gate's own tests
header: []
notes: {{}}
source: {{author: gearsim, checked: against the reference model}}
cases:
- id: echo-{name}
  comment: ECHO_REQ echoed byte for byte
  requirements: [GM-ECHO-001]
  result: valid
  actors: {{c1: client}}
  steps:
  - {{connect: c1}}
  - {{send: c1, packet: {{type: ECHO_REQ, args: [abc]}}}}
  - expect: c1
    requirements: [{rule}]
    packet: {{type: ECHO_RES, args: [abc]}}
{accept}"""

#: an alternative that breaks only a SHOULD: a FAIL at the default level, acceptable at --level must
_SHOULD_ONLY = """\
    accept:
    - profiles: [spec]
      breaks: [GM-COAL-001]
      packet: {type: ECHO_RES, args: [ab]}
"""


def _echo_vector(tmp_path: Path, name: str, rule: str, accept: str = "") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(_ECHO_VECTOR.format(name=name, rule=rule, accept=accept), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("rule", "accept", "status", "said", "rc"),
    [
        ("GM-ECHO-001", "", "killed, named", "at --level must: named by ", 0),
        ("GM-SERVER-001", "", "killed, names GM-SERVER-001 instead", "at --level must: names GM-SERVER-001 instead", 0),
        ("GM-ECHO-001", _SHOULD_ONLY, "survives at --level must", "SURVIVES at --level must", 1),
    ],
    ids=["named", "names-instead", "survives-at-must"],
)
def test_spec_mutate_says_whether_the_kill_names_the_rule_at_level_must(
    tmp_path: Path, rule: str, accept: str, status: str, said: str, rc: int
) -> None:
    """echo-loses-last-byte (a MUST's mutant) against one echo whose failing step names ``rule``."""
    vector = _echo_vector(tmp_path, "echo", rule, accept)
    out = tmp_path / "mut.json"
    argv = ["spec", "mutate", vector, "--mutation", "echo-loses-last-byte"]
    assert _cli([*argv, "--json", "--out", str(out)]) == rc
    (doc,) = json.loads(out.read_text())["mutants"]
    assert doc["status"] == status and doc["level"] == "must"
    assert doc["killed_by"] == [f"{vector}::echo-echo"]  # killed at the default level every time
    assert doc["killed_at_must"] == ([] if accept else [f"{vector}::echo-echo"])
    assert doc["named_by"] == (f"{vector}::echo-echo" if status == "killed, named" else None)
    assert doc["names_instead"] == (["GM-SERVER-001"] if rule == "GM-SERVER-001" else [])
    text = tmp_path / "mut.txt"
    assert _cli([*argv, "--out", str(text)]) == rc
    assert said in text.read_text().splitlines()[0]


def test_a_must_mutant_killed_only_at_the_default_level_is_a_surviving_rule(tmp_path: Path) -> None:
    vector = _echo_vector(tmp_path, "echo", "GM-ECHO-001", _SHOULD_ONLY)
    out = tmp_path / "cov.json"
    assert _cli(["spec", "coverage", vector, "--mutate", "--json", "--out", str(out)]) == 1
    doc = json.loads(out.read_text())
    (row,) = [r for r in doc["rules"] if r["id"] == "GM-ECHO-001"]
    assert row["state"] == "surviving" and "echo-loses-last-byte" in row["reason"] and "--level must" in row["reason"]
    assert row["naming"]["echo-loses-last-byte"] == "SURVIVES at --level must"
    assert "GM-ECHO-001" in doc["surviving_musts"]


#: the same shortened echo taken for a server bound on bodies (the SHOULD GM-LIMIT-004): judged under it
_LIMIT_ONLY = """\
    accept:
    - profiles: [spec]
      breaks: [GM-LIMIT-004]
      packet: {type: ECHO_RES, args: [ab]}
"""


@pytest.mark.parametrize(
    ("accept", "false_fail"), [("", True), (_LIMIT_ONLY, False)], ids=["must-charged", "should-judged"]
)
def test_spec_mutate_exhaustive_finds_a_should_mutant_failed_at_level_must(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accept: str, false_fail: bool
) -> None:
    """A SHOULD's mutant whose behaviour a step charges to a MUST: a must-level run would fail such a server."""
    # echo-loses-last-byte's behaviour filed under a SHOULD, as a mutant of a SHOULD that does more than its rule
    should = replace(mutation("echo-loses-last-byte"), id="echo-cut-under-a-should", rule="GM-LIMIT-004")
    monkeypatch.setattr(registry_module, "MUTATIONS", (*MUTATIONS, should))
    vector = _echo_vector(tmp_path, "echo", "GM-ECHO-001", accept)
    ref = f"{vector}::echo-echo"
    out = tmp_path / "mut.json"
    argv = ["spec", "mutate", vector, "--mutation", should.id]
    # the default play does not look: a SHOULD's mutant is not judged at --level must
    assert _cli([*argv, "--json", "--out", str(out)]) == 0
    (doc,) = json.loads(out.read_text())["mutants"]
    assert doc["killed_by"] == [ref] and doc["failed_at_must"] is None
    assert _cli([*argv, "--exhaustive", "--json", "--out", str(out)]) == (1 if false_fail else 0)
    (doc,) = json.loads(out.read_text())["mutants"]
    assert doc["killed_by"] == [ref]
    assert doc["failed_at_must"] == ([ref] if false_fail else [])
    assert doc["status"] == ("FAILs at --level must" if false_fail else "killed, named")
    text = tmp_path / "mut.txt"
    assert _cli([*argv, "--exhaustive", "--out", str(text)]) == (1 if false_fail else 0)
    lines = text.read_text().splitlines()
    assert ("FAILS at --level must (a false FAIL): " + ref in lines[0]) is false_fail, lines[0]
    assert (
        lines[-1]
        == f"{1 if false_fail else 0}/1 SHOULD and MAY mutants FAIL a case at --level must (each a false FAIL)"
    )


def test_client_rules_are_reported_as_such(registry: dict[str, Requirement], vector_files: list[VectorFile]) -> None:
    rows = {r.id: r for r in mutation_rows(vector_files, registry, [])}
    assert rows["GM-FIELD-006"].state == "client"
    assert rows["GM-LIB-001"].state == "client"
    assert rows["GM-FRAME-009"].state == "untestable" and rows["GM-FRAME-009"].reason


def test_the_cli_runs_one_mutant_and_the_coverage_view(tmp_path: Path) -> None:
    assert _cli(["spec", "mutate", "server/status.yaml", "--mutation", "unknown-is-known"]) == 0
    assert _cli(["spec", "mutate", "--mutation", "no-such-mutant"]) == 3
    out = tmp_path / "cov.json"
    assert _cli(["spec", "coverage", "server/status.yaml", "--mutate", "--json", "--out", str(out)]) == 1
    doc = json.loads(out.read_text())
    states = {r["id"]: r["state"] for r in doc["rules"]}
    assert states["GM-STATUS-002"] == "killed"
    assert doc["surviving_musts"]  # most mutants live on when only the status vectors run


def test_mutants_leave_the_model_alone() -> None:
    """A mutant patches its own instance: a server built afterwards is the plain model."""
    before = dict(PROFILES)
    for m in MUTATIONS:
        m.server(ServerOptions())
    assert before == PROFILES and all(PROFILES[n] is p for n, p in before.items())
    plain = Server(SPEC_PROFILE, ServerOptions())
    for type_, handler in plain._handlers.items():
        assert getattr(handler, "__self__", None) in (plain, plain.clients, plain.workers), PacketType(type_)
    assert "_choose" not in vars(plain.store) and "_room_for" not in vars(plain.store)
