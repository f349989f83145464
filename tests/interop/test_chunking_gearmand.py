"""Segmentation invariance against a real gearmand: re-chunked vectors keep their verdicts.

Each run gets a fresh gearmand (so handle numbers and leftover jobs are the
same in every run), first unchunked, then under a few chunking seeds; every
lifecycle vector (server/, worker/, admin/) must get the same verdict. Pieces
go out as separate writes with TCP_NODELAY and a 2 ms pause between them
(gearsim.run.chunked.TCP_PAUSE_MS), or loopback would coalesce them again.
Seed 0 (one byte per write, the slowest) runs on a subset.

Skips without gearmand; fails instead under GEARSIM_REQUIRE_PEERS=1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from gearsim.files import select
from gearsim.io.peers import start_peer, stop_peer
from gearsim.io.tcp import TcpPeerFactory
from gearsim.report.repro import Target, reproduce_run
from gearsim.run.chunked import chunked_factory, verdict_changes
from gearsim.run.chunking import expand
from gearsim.run.runner import CaseResult, run_case
from gearsim.testing.peer_fixtures import require_peer

pytestmark = pytest.mark.interop

PROFILE = "gearmand-1.1"
LIFECYCLE = ("server/*", "worker/*", "admin/*")
#: cases whose verdict on gearmand changes from run to run without any chunking (with why)
FLAKY_ON_GEARMAND = {
    "server/status.yaml::handle-64-bytes-ignored": "gearmand 1.1.20 closes on a 64-byte handle in about half "
    "of the probes (timing-dependent, the vector accepts both)",
    "server/status.yaml::unique-64-bytes-ignored": "the same for GET_STATUS_UNIQUE with a 64-byte unique",
    "server/epoch.yaml::overflowing-epoch": "gearmand's refusal-race defect (spec/profiles.yaml): its threads "
    "decide whether the connection closes; the vector records both outcomes",
    "worker/timeout.yaml::timeout-field-too-long": "the same race for a CAN_DO_TIMEOUT field over 20 characters",
}


def _run(tmp: Path, vectors: Sequence[str], seed: int | None) -> tuple[list[CaseResult], dict[str, list[str]]]:
    peer = start_peer("gearmand-c", tmp)
    try:
        tcp = TcpPeerFactory(*peer.address())
        factory = tcp if seed is None else chunked_factory(tcp, seed, wall_clock=True)
        sel = select(list(vectors))
        results = [run_case(vf, vf.case(c), factory, PROFILE) for vf in sel.files for c in sel.chosen(vf)]
        tcp.close()
        cuts = {k: [c.describe() for c in v[:8]] for k, v in getattr(factory, "cuts", {}).items()}
        return [r for r in results if r.id not in FLAKY_ON_GEARMAND], cuts
    finally:
        stop_peer(peer)


@pytest.mark.parametrize(("seeds", "vectors"), [((1, 3), LIFECYCLE), ((0,), ("server/coalesce.yaml", "admin/*"))])
def test_rechunked_vectors_keep_their_verdicts_on_gearmand(
    seeds: tuple[int, ...], vectors: tuple[str, ...], tmp_path: Path
) -> None:
    require_peer("gearmand-c")
    baseline, _ = _run(tmp_path / "base", vectors, None)
    assert baseline
    for seed in seeds:
        chunked, cuts = _run(tmp_path / f"seed{seed}", vectors, seed)
        changes = verdict_changes(baseline, chunked)
        if changes:
            case = changes[0].partition(": ")[0]
            pytest.fail(
                f"chunking seed {seed} changed verdicts on gearmand ({expand(seed).describe()}):\n"
                + "\n".join(changes)
                + "\ncuts of the first: "
                + "; ".join(cuts.get(case.partition("::")[2], []))
                + f"\nreproduce: {reproduce_run(case, Target(profile=PROFILE, server='HOST:PORT', chunking=seed))}"
            )
