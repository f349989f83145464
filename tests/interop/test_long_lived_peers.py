"""One long-lived Perl Gearman::Server or gear server judged like the fresh one its baseline was made from.

baselines/PEER.json records each case's verdict with a fresh server per case
(``gearsim matrix``). A user who points ``gearsim run --server HOST:PORT`` at a
server they started themselves gets one server for the whole run: jobs,
registrations and handle counters left by earlier cases are still there. The
verdicts must not change because of that; the only cases allowed to differ are
those that need a fresh server (shutdown, restart, listings of an empty server),
which say so as n/a. A leak of one case's state into the next (a handle the
model did not expect, a worker still registered) shows here as a regression.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from parts import consecutive

from gearsim.files import select
from gearsim.io.managed import UserServerFactory, run_cases
from gearsim.io.peers import start_peer, stop_peer
from gearsim.report.baseline import Baseline, compare, parse_baseline
from gearsim.run.batch import CaseRef, selected_cases
from gearsim.run.namespace import FRESH_SERVER
from gearsim.run.result import CaseResult, Verdict
from gearsim.testing.peer_fixtures import require_peer

BASELINES = Path(__file__).resolve().parents[2] / "baselines"


PEERS = ("perl-gearman-server", "gear")


#: each peer's cases, in order, are split into this many runs of consecutive cases, each on a server of its own
#: started once, and the runs wait on quiet sockets side by side (CI's time budget). gear waits about 7 times
#: as long per case as Perl's server (its known defects leave expects unanswered until their floor), so the
#: two cuts go to gear, whose every server still plays over a hundred cases in order, and Perl's ~350 cases
#: all play on one server: a leak of one case's state into a later one still shows unless across a cut
PARTS = {"perl-gearman-server": 1, "gear": 3}


def cases_of(peer: str) -> tuple[Baseline, list[CaseRef]]:
    """The peer's baseline and every case of its baseline areas, in order."""
    baseline = parse_baseline((BASELINES / f"{peer}.json").read_text(encoding="utf-8"), f"{peer}.json")
    selection = select([f"{area}/*" for area in baseline.meta["areas"].split(",")])
    return baseline, selected_cases(selection.files, selection.chosen)


def play_on_one_long_lived_server(peer: str, profile: str, chosen: list[CaseRef], run_dir: Path) -> list[CaseResult]:
    """``chosen``, in order, on one server started once (as ``--server`` plays them)."""
    server = start_peer(peer, run_dir)
    try:
        factory = UserServerFactory(*server.address())
        return run_cases(chosen, lambda _i: factory, profile, jobs=1)
    finally:
        stop_peer(server)


@pytest.mark.interop
def test_a_long_lived_server_keeps_its_fresh_server_verdicts(tmp_path: Path) -> None:
    for peer in PEERS:
        require_peer(peer)
    # the servers are independent and the runs mostly wait on quiet sockets:
    # playing them side by side cuts the wall time without changing any run
    planned = {peer: cases_of(peer) for peer in PEERS}
    with ThreadPoolExecutor(max_workers=sum(PARTS.values())) as pool:
        runs = {
            peer: [
                pool.submit(play_on_one_long_lived_server, peer, baseline.profile, part, tmp_path / f"{peer}-{n}")
                for n, part in enumerate(consecutive(chosen, PARTS[peer]))
            ]
            for peer, (baseline, chosen) in planned.items()
        }
        played = {
            peer: (planned[peer][0], [r for run in peer_runs for r in run.result()]) for peer, peer_runs in runs.items()
        }

    for peer, (baseline, results) in played.items():
        cmp = compare(baseline, results)
        assert [c.describe() for c in cmp.regressions] == [], peer
        assert [c.describe() for c in cmp.new] == [], peer
        # what may differ: a case that needs a fresh server says so instead of running
        differ = [c for c in (*cmp.changed, *cmp.xpasses) if not c.reason.startswith(FRESH_SERVER)]
        assert [c.describe() for c in differ] == [], peer
        fresh_only = [
            r.id for r in results if r.verdict is Verdict.NOT_APPLICABLE and r.reason.startswith(FRESH_SERVER)
        ]
        assert 3 <= len(fresh_only) <= 30, (peer, fresh_only)
        assert cmp.same >= 300, (peer, cmp.same)
