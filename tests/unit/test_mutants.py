"""Coverage by mutation: the model broken one rule at a time, and the vectors noticing.

The fast set (a dozen mutants, a second or two) runs on every change; the
whole registry takes a few seconds more and is marked slow.
"""

from __future__ import annotations

import argparse
import json
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
    UNTESTABLE,
    MutationOutcome,
    mutation,
    run_mutation,
    unmutated_verdicts,
)
from gearsim.vectors.parse import VectorFile


@pytest.fixture(scope="module")
def registry() -> dict[str, Requirement]:
    return dict(loading.load_requirements())


@pytest.fixture(scope="module")
def vector_files() -> list[VectorFile]:
    return loading.select([]).files


def _run(selected: list[str], files: list[VectorFile]) -> list[MutationOutcome]:
    unmutated: dict[str, dict[str, object]] = {}
    outcomes = []
    for m in (mutation(i) for i in selected):
        if m.profile not in unmutated:
            unmutated[m.profile] = dict(unmutated_verdicts(files, m.profile))
        outcomes.append(run_mutation(m, files, unmutated[m.profile]))  # type: ignore[arg-type]
    return outcomes


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
    vector_files: list[VectorFile], registry: dict[str, Requirement]
) -> None:
    outcomes = _run([m.id for m in MUTATIONS], vector_files)
    assert [(o.mutation.id, o.error) for o in outcomes if not o.killed] == []
    assert [o.mutation.id for o in outcomes if not o.by_citing_case] == []
    rows = mutation_rows(vector_files, registry, outcomes)
    assert surviving_musts(rows) == []
    summary = mutation_summary(rows)
    assert summary["MUST"]["surviving"] == summary["MUST"]["error"] == 0


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
