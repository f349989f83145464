"""Every server-judging vector against each real Gearman server equals its committed baseline.

For C gearmand (profile gearmand-1.1), Perl Gearman::Server (perl-1.130) and
gear (gear-0.16), all bundled codec, server, worker and admin cases are played
each on a freshly started server (gearsim.io.managed: a new server unless every
case since the last start was stateless, started with the case's options), and
the verdicts are compared with ``baselines/<peer>.json``. A new failure, a case
that now passes where the baseline says it fails (XPASS), any other verdict
change, a case missing from the baseline and a baseline case no longer run all
fail the test, with the diff. A flip between pass and acceptable is allowed:
both outcomes are in the vector, and gearmand picks one by timing.

Update the baselines after a deliberate change (and say why in the commit)::

    gearsim matrix --out-md docs/compatibility.md --write-baselines baselines

A missing server skips, or fails under GEARSIM_REQUIRE_PEERS=1. The pure
case analysis these build on is tested in tests/unit/test_batch.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gearsim.cli.matrix import peer_implementation, run_implementation
from gearsim.files import read_baseline, select
from gearsim.io.managed import PEER_PROFILES, ManagedPeerFactory, UserServerFactory, run_cases
from gearsim.io.peers import RunningPeer
from gearsim.report.baseline import compare, format_comparison
from gearsim.run.batch import REAL_SERVER_AREAS, CaseRef, selected_cases
from gearsim.run.runner import Verdict
from gearsim.testing.peer_fixtures import require_peer

BASELINES = Path(__file__).resolve().parents[2] / "baselines"
#: managed servers run at once per peer (GEARSIM_INTEROP_JOBS overrides)
JOBS = int(os.environ.get("GEARSIM_INTEROP_JOBS", "12"))


def _refs(*selectors: str) -> list[CaseRef]:
    selection = select(list(selectors))
    return selected_cases(selection.files, selection.chosen)


@pytest.fixture(scope="module")
def server_cases() -> list[CaseRef]:
    return [(vf, c) for vf, c in _refs(*(f"{a}/*" for a in REAL_SERVER_AREAS)) if vf.area in REAL_SERVER_AREAS]


# --------------------------------------------------------------------------- the baselines


@pytest.mark.interop
@pytest.mark.parametrize("peer", list(PEER_PROFILES))
def test_real_server_matches_baseline(peer: str, server_cases: list[CaseRef], tmp_path: Path) -> None:
    require_peer(peer)
    baseline = read_baseline(BASELINES / f"{peer}.json")
    assert baseline.profile == PEER_PROFILES[peer]
    results = run_implementation(peer_implementation(peer), server_cases, tmp_path, jobs=JOBS)
    cmp = compare(baseline, results)
    assert cmp.exact(complete=True), "\n" + format_comparison(cmp, show_missing=True, show_reasons=False)


# --------------------------------------------------------------------------- managed servers


@pytest.mark.interop
def test_managed_factory_restarts_after_state_and_reuses_after_stateless(tmp_path: Path) -> None:
    require_peer("gearmand-c")
    by_id = {c.id: (vf, c) for vf, c in _refs("codec/admin.yaml")}
    # stateless, stateless (may reuse), stateful (it stops the server), then a fresh server is needed
    refs = [by_id["version"], by_id["status"], by_id["shutdown"], by_id["version"]]
    factory = ManagedPeerFactory("gearmand-c", tmp_path / "run", reuse=True)
    try:
        results = run_cases(refs, lambda _i: factory, "gearmand-1.1", jobs=1)
    finally:
        factory.close()
    assert [r.verdict for r in results] == [Verdict.PASS] * 4, [(r.id, r.reason) for r in results]
    assert (factory.starts, factory.reuses) == (2, 2)


@pytest.mark.interop
def test_managed_factory_applies_case_options(tmp_path: Path) -> None:
    require_peer("gearmand-c")
    refs = _refs("server/disconnect.yaml::retry-limit-reached", "server/exceptions.yaml::server-option-exceptions")
    factory = ManagedPeerFactory("gearmand-c", tmp_path / "run")
    try:
        results = run_cases(refs, lambda _i: factory, "gearmand-1.1", jobs=1)
    finally:
        factory.close()
    assert [r.verdict for r in results] == [Verdict.PASS, Verdict.PASS], [(r.id, r.reason) for r in results]


@pytest.mark.interop
def test_user_given_server_makes_option_cases_not_applicable(gearmand_c: RunningPeer) -> None:
    refs = _refs("server/disconnect.yaml::retry-limit-reached", "server/exceptions.yaml::server-option-exceptions")
    factory = UserServerFactory(*gearmand_c.address())
    results = run_cases(refs, lambda _i: factory, "gearmand-1.1", jobs=1)
    assert [r.verdict for r in results] == [Verdict.NOT_APPLICABLE] * 2
    assert results[0].reason == "needs a fresh server: use --server-command (server options job_retries=2)"
    assert results[1].reason == "needs a fresh server: use --server-command (server options exceptions=True)"
    assert "each case in its own namespace" in factory.describe()
