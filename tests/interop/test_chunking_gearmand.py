"""Segmentation invariance against a real gearmand: re-chunked vectors keep their verdicts.

Each run gets a fresh gearmand, first unchunked, then under a few chunking
seeds, and plays every lifecycle vector (server/, worker/, admin/) on it as
``--server`` does: each case in a namespace of its own, so no case meets
another's leftovers, whose timing is gearmand's (it requeues the job of a
closed worker, or forgets a closed client, in its processing thread some time
after the close); a case that needs a fresh server is n/a in every run.
Every verdict must stay the same. Pieces
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
from gearsim.io.managed import UserServerFactory, play_case
from gearsim.io.peers import start_peer, stop_peer
from gearsim.report.repro import Target, reproduce_run
from gearsim.run.chunked import chunked_factory, verdict_changes
from gearsim.run.chunking import expand
from gearsim.run.runner import CaseResult
from gearsim.testing.peer_fixtures import require_peer

pytestmark = pytest.mark.interop

PROFILE = "gearmand-1.1"
LIFECYCLE = ("server/*", "worker/*", "admin/*")


def _run(tmp: Path, vectors: Sequence[str], seed: int | None) -> tuple[list[CaseResult], dict[str, list[str]]]:
    peer = start_peer("gearmand-c", tmp)
    try:
        shared = UserServerFactory(*peer.address())
        factory = shared if seed is None else chunked_factory(shared, seed, wall_clock=True)
        sel = select(list(vectors))
        results = [play_case(vf, vf.case(c), factory, PROFILE) for vf in sel.files for c in sel.chosen(vf)]
        shared.close()
        cuts = {k: [c.describe() for c in v[:8]] for k, v in getattr(factory, "cuts", {}).items()}
        return results, cuts
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
