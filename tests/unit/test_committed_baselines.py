"""The committed baselines are complete and say what the profiles claim.

``baselines/<peer>.json`` records each real server's verdict on every case a
real-server run plays; tests/interop/test_real_servers.py replays them against
the servers. These checks need no server: every case is in every baseline
(and no case that is gone), C gearmand is judged clean (its deviations are all
known defects of gearmand-1.1, and every defect that profile records shows
there), the model under gearmand-1.1 gives gearmand's own verdicts, and the
model baselines are what the model gives today.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from gearsim.cli.matrix import run_matrix
from gearsim.files import read_baseline, select
from gearsim.io.managed import PEER_PROFILES
from gearsim.model.profiles import PROFILES
from gearsim.report.baseline import Baseline, compare, format_comparison
from gearsim.run.batch import REAL_SERVER_AREAS, selected_cases
from gearsim.run.runner import Verdict

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
DEFECT = re.compile(r"known defect ([\w-]+) of (\S+) ")
#: a race between gearmand's threads: a run shows it or the acceptable close (spec/evidence.md B-P9)
RACY = "refusal-race"


@functools.cache
def _real_server_cases() -> frozenset[str]:
    selection = select([f"{area}/*" for area in REAL_SERVER_AREAS])
    return frozenset(f"{vf.name}::{case.id}" for vf, case in selected_cases(selection.files, selection.chosen))


def _baseline(name: str) -> Baseline:
    return read_baseline(BASELINES / f"{name}.json")


@pytest.mark.parametrize("peer", sorted(PEER_PROFILES))
def test_each_real_server_baseline_has_every_case_a_real_run_plays_and_no_other(peer: str) -> None:
    baseline = _baseline(peer)
    assert baseline.profile == PEER_PROFILES[peer]
    cases = _real_server_cases()
    assert len(cases) > 300
    assert sorted(cases - set(baseline.cases)) == []  # missing: run gearsim matrix --write-baselines
    assert sorted(set(baseline.cases) - cases) == []  # stale


def test_gearmand_is_judged_clean_every_deviation_a_defect_its_profile_records() -> None:
    baseline = _baseline("gearmand-c")
    recorded = {d.id for d in PROFILES["gearmand-1.1"].defects}
    shown: set[str] = set()
    for case_id, entry in baseline.cases.items():
        assert entry.verdict not in (Verdict.FAIL, Verdict.INCONCLUSIVE), (case_id, entry.reason)
        if entry.verdict is Verdict.KNOWN_DEFECT:
            named = DEFECT.findall(entry.reason)
            assert named, (case_id, entry.reason)
            assert {profile for _, profile in named} == {"gearmand-1.1"}, (case_id, entry.reason)
            shown |= {defect for defect, _ in named}
    assert shown <= recorded
    # each defect the profile records was seen on the real server, each with a vector
    assert sorted(recorded - shown) == []


def test_the_model_under_gearmand_1_1_gives_gearmand_s_verdicts() -> None:
    real, model = _baseline("gearmand-c"), _baseline("model-gearmand-1.1")
    differ = []
    for case_id, entry in real.cases.items():
        if entry.verdict is Verdict.NOT_APPLICABLE:
            continue  # e.g. cases that need the model's virtual clock
        modelled = model.cases[case_id]
        racy = RACY in entry.reason and modelled.verdict in (Verdict.PASS, Verdict.ACCEPTABLE)
        if modelled.verdict is not entry.verdict and not racy:
            differ.append((case_id, entry.verdict.value, modelled.verdict.value))
    assert differ == []


def test_the_model_baselines_are_what_the_model_gives_today() -> None:
    _, runs = run_matrix(select([]), peers=[], models=list(PROFILES))
    assert len(runs) == len(PROFILES)
    for impl, results in runs:
        cmp = compare(_baseline(f"model-{impl.profile}"), results)
        assert cmp.exact(complete=True), "\n" + format_comparison(cmp, show_missing=True, show_reasons=False)
