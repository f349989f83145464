"""Segmentation invariance against a real gearmand: re-chunked vectors keep their verdicts.

Each run, first unchunked, then under a few chunking seeds, plays every
lifecycle vector (server/, worker/, admin/) on fresh gearmands as
``--server`` does: each case in a namespace of its own, so no case meets
another's leftovers, whose timing is gearmand's (it requeues the job of a
closed worker, or forgets a closed client, in its processing thread some time
after the close); a case that needs a fresh server is n/a in every run.
Every verdict must stay the same. Pieces
go out as separate writes with TCP_NODELAY and a 2 ms pause between them
(gearsim.run.chunked.TCP_PAUSE_MS), or loopback would coalesce them again.
Seed 0 (one byte per write, the slowest) runs on a subset.

The runs, each cut into :data:`PARTS` runs of consecutive cases, play side by
side, each part on a gearmand of its own started for it: almost all their time
is spent waiting on quiet sockets (silences, expects that a known defect never
answers, gearmand's own timeouts), not on the CPU.

Skips without gearmand; fails instead under GEARSIM_REQUIRE_PEERS=1.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from parts import consecutive

from gearsim.files import select
from gearsim.io.managed import UserServerFactory, play_case
from gearsim.io.peers import start_peer, stop_peer
from gearsim.report.repro import Target, reproduce_run
from gearsim.run.batch import CaseRef, selected_cases
from gearsim.run.chunked import chunked_factory, verdict_changes
from gearsim.run.chunking import expand
from gearsim.run.runner import CaseResult
from gearsim.testing.peer_fixtures import require_peer

pytestmark = pytest.mark.interop

PROFILE = "gearmand-1.1"
LIFECYCLE = ("server/*", "worker/*", "admin/*")

#: each run's cases, in order, are cut into this many parts of consecutive cases. Every case is in a
#: namespace of its own whichever server plays it, and every write is cut by (seed, write index, bytes)
#: alone (gearsim.run.chunking), so a case plays the same bytes, alone, in any part; kept at 2 because
#: the machine has 2 cores and a starved thread would stretch the silences and expects a case times
PARTS = 2

Played = tuple[list[CaseResult], dict[str, list[str]]]


def _play_part(tmp: Path, cases: Sequence[CaseRef], seed: int | None) -> Played:
    """``cases``, in order, on a gearmand started for them; their results and the first cuts of each."""
    peer = start_peer("gearmand-c", tmp)
    try:
        shared = UserServerFactory(*peer.address())
        factory = shared if seed is None else chunked_factory(shared, seed, wall_clock=True)
        results = [play_case(vf, case, factory, PROFILE) for vf, case in cases]
        shared.close()
        cuts = {k: [c.describe() for c in v[:8]] for k, v in getattr(factory, "cuts", {}).items()}
        return results, cuts
    finally:
        stop_peer(peer)


def _runs(tmp: Path, vectors: Sequence[str], seeds: Sequence[int | None]) -> dict[int | None, Played]:
    """Every seed's run (None: unchunked) of ``vectors``, all parts of all runs side by side."""
    sel = select(list(vectors))
    parts = consecutive(selected_cases(sel.files, sel.chosen), PARTS)
    with ThreadPoolExecutor(max_workers=len(seeds) * len(parts)) as pool:
        futures: dict[int | None, list[Future[Played]]] = {
            seed: [
                pool.submit(_play_part, tmp / f"{'base' if seed is None else f'seed{seed}'}-{n}", part, seed)
                for n, part in enumerate(parts)
            ]
            for seed in seeds
        }
        played: dict[int | None, Played] = {}
        for seed, runs in futures.items():
            results: list[CaseResult] = []
            cuts: dict[str, list[str]] = {}
            for run in runs:
                part_results, part_cuts = run.result()
                results += part_results
                cuts |= part_cuts
            played[seed] = (results, cuts)
    return played


@pytest.mark.parametrize(("seeds", "vectors"), [((1, 3), LIFECYCLE), ((0,), ("server/coalesce.yaml", "admin/*"))])
def test_rechunked_vectors_keep_their_verdicts_on_gearmand(
    seeds: tuple[int, ...], vectors: tuple[str, ...], tmp_path: Path
) -> None:
    require_peer("gearmand-c")
    played = _runs(tmp_path, vectors, (None, *seeds))
    baseline, _ = played[None]
    assert baseline
    for seed in seeds:
        chunked, cuts = played[seed]
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
