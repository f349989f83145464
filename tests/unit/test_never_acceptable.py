"""A broken MUST is never acceptable: in the bundled vectors, in a user's vector, and in the verdicts.

An alternative outcome that breaks a MUST rule (or crashes the server) is a
recorded defect of the profiles it names: KNOWN_DEFECT under those profiles,
FAIL under ``spec``, never ACCEPTABLE. These tests walk every bundled vector
for it, show that a vector file breaking it is refused before anything runs,
and check what the reference model's runs actually grade acceptable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.files import load_requirements, load_schema_text, select
from gearsim.model.profiles import PROFILES, SPEC_PROFILE
from gearsim.protocol.requirements import Requirement
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.result import at_level
from gearsim.run.runner import Verdict, run_case
from gearsim.vectors.lint import CRASH_RULE
from gearsim.vectors.parse import Alternative, Reaction, parse_vector_text

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "vectors"
BASELINES = ROOT / "baselines"
RULE = re.compile(r"GM-[A-Z]+-\d{3}")


def _outcomes() -> Iterator[tuple[str, Alternative | Reaction]]:
    """Every alternative outcome of every bundled case, with where it is."""
    schema = load_schema_text()
    for path in sorted(VECTORS.rglob("*.yaml")):
        name = path.relative_to(VECTORS).as_posix()
        vf = parse_vector_text(path.read_text(encoding="utf-8"), name, schema)
        for case in vf.cases:
            for step in case.steps:
                for alt in step.accept:
                    yield f"{name}::{case.id} step {step.index}", alt
            for reaction in case.server_accept:
                yield f"{name}::{case.id} server reaction", reaction


def _musts(rules: Iterator[str] | tuple[str, ...], registry: dict[str, Requirement]) -> list[str]:
    return [rid for rid in rules if registry[rid].level == "MUST"]


def test_every_bundled_alternative_that_breaks_a_must_is_a_defect_its_profiles_record() -> None:
    registry = dict(load_requirements())
    walked = graded = 0
    problems: list[str] = []
    for where, outcome in _outcomes():
        walked += 1
        crash = isinstance(outcome, Alternative) and outcome.crash
        musts = _musts(outcome.breaks, registry) + ([CRASH_RULE] if crash else [])
        if not musts:
            continue
        graded += 1
        if not outcome.defect:
            problems.append(f"{where}: breaks {musts} and is no defect")
            continue
        for profile in outcome.profiles:
            recorded = PROFILES[profile].defect(outcome.defect)
            if recorded is None or not set(musts) <= set(recorded.rules):
                problems.append(f"{where}: {profile} does not record {outcome.defect} breaking {musts}")
    assert problems == []
    # the walk saw the bundled vectors' alternatives, MUST-breaking ones among them
    assert walked > 150 and graded > 40


def test_the_spec_profile_records_no_defect_and_no_defect_is_spec_behaviour() -> None:
    assert PROFILES[SPEC_PROFILE].defects == ()
    assert all(PROFILES[p].defects for p in PROFILES if p != SPEC_PROFILE)  # every implementation records some
    for where, outcome in _outcomes():
        assert not (outcome.defect and SPEC_PROFILE in outcome.profiles), where


BROKEN = """\
schema: gearsim-vectors/1
area: server
title: a MUST-breaking alternative offered as acceptable
header:
- Example.
notes: {}
cases:
- id: status
  comment: an unknown handle, and an alternative that reads it as known
  requirements: [GM-STATUS-002]
  result: valid
  actors: {c1: client}
  steps:
  - {connect: c1}
  - {send: c1, packet: {type: GET_STATUS, args: ['H:x:1']}}
  - expect: c1
    packet: {type: STATUS_RES, args: ['H:x:1', '1', '0', '0', '0']}
    accept:
    - profiles: [gearmand-1.1, spec]
      breaks: [GM-STATUS-002]
      packet: {type: STATUS_RES, args: ['H:x:1', '0', '0', '0', '0']}
"""


@pytest.mark.parametrize(
    "argv",
    [[], ["--profile", "spec", "--level", "must"], ["--profile", "gearmand-1.1"]],
    ids=["default", "spec-level-must", "gearmand"],
)
def test_a_vector_offering_a_broken_must_as_acceptable_is_refused_before_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    assert main(["run", str(path), *argv]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"gearsim run: {path}::status step 3: this outcome breaks GM-STATUS-002 (MUST): "
        "name the defect it is (defect: ID), it cannot be acceptable"
    ]


@pytest.mark.parametrize("server", [p for p in PROFILES if p != SPEC_PROFILE])
def test_judged_under_spec_each_modelled_server_s_must_defects_fail_and_nothing_acceptable_breaks_a_must(
    server: str,
) -> None:
    """The model behaving as ``server``, judged by its own profile and by ``spec`` at ``--level must``.

    ``--level must`` is the most lenient judge: SHOULD deviations are acceptable
    there. An acceptable verdict under ``spec`` names the rules its alternative
    deviates from, and none may be a MUST; every case in which ``server`` shows
    a known defect that breaks a MUST is a FAIL under ``spec`` that ``--level
    must`` keeps (its failing step breaks a MUST), never acceptable or n/a.
    """
    registry = dict(load_requirements())
    factory = ModelPeerFactory(profile=server)
    deviations: list[str] = []
    failed = 0
    for vf in select([]).files:
        for case in vf.cases:
            neutral = run_case(vf, case, factory, SPEC_PROFILE, level="must")
            if neutral.verdict is Verdict.ACCEPTABLE:
                deviates = [rid for note in neutral.notes for rid in RULE.findall(note.partition("deviates from")[2])]
                assert _musts(tuple(deviates), registry) == [], (vf.name, case.id, neutral.notes)
                deviations += deviates
            if neutral.verdict is Verdict.FAIL:
                failed += 1
                if at_level(neutral, "must", registry).verdict is Verdict.FAIL:
                    continue  # what `gearsim run --level must` reports as FAIL too
            own = run_case(vf, case, factory, server)
            if own.verdict is Verdict.KNOWN_DEFECT:
                broken = [rid for part in own.reason.split("(breaks ")[1:] for rid in RULE.findall(part.split(")")[0])]
                assert _musts(tuple(broken), registry) == [], (vf.name, case.id, neutral.verdict, own.reason)
    # the server's MUST defects were met and failed; perl and gear deviate from SHOULDs besides
    assert failed > 0
    assert server not in ("perl-1.130", "gear-0.16") or deviations
