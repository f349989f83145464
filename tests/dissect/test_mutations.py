"""tools/mutate_captures.py: corrupted server replies in reference captures are found, under the rule they break."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

from gearsim.dissect.capture import read_capture

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import mutate_captures

DATA = Path(__file__).resolve().parents[1] / "data"


def test_server_side_defects_are_detected_under_their_rules() -> None:
    detected: dict[str, list[bool]] = {kind: [] for kind in mutate_captures.CLASSES}
    for name in ("gearmand.raw.pcap", "gearmand.php.pcap"):
        events = list(read_capture(DATA / name, None))
        results, baseline = mutate_captures.run_capture(
            events, "gearmand-1.1", sorted(mutate_captures.CLASSES), 2, random.Random(3)
        )
        assert baseline == [], f"the unmutated {name} breaks {baseline}"
        for r in results:
            detected[r.mutant.kind].append(r.detected)
    for kind, found in detected.items():
        assert found, f"no {kind} site in the captures"
        assert sum(found) * 2 >= len(found), f"{kind}: {sum(found)} of {len(found)} detected"
    everything = [d for found in detected.values() for d in found]
    assert sum(everything) >= 0.9 * len(everything), f"{sum(everything)} of {len(everything)} detected"


def _mutant(name: str, kind: str, frame: int) -> mutate_captures.Mutant:
    events = list(read_capture(DATA / name, None))
    return next(m for m in mutate_captures.CLASSES[kind](events) if m.frame == frame)


def test_a_lost_assign_is_found_though_the_worker_disconnects_soon_after() -> None:
    # the worker then reports on the handle only the lost JOB_ASSIGN_UNIQ told it: the reply was sent
    for name, frame in (("gearmand.php.pcap", 40), ("gearmand.cli.pcap", 62)):
        mutant = _mutant(name, "lost-assign", frame)
        assert "GM-WORKER-009" in mutate_captures.broken_rules(mutant.events, "gearmand-1.1"), name


def test_a_wrong_first_handle_of_a_coalesced_job_may_be_named_by_either_rule() -> None:
    mutant = _mutant("gearmand.raw.pcap", "wrong-handle", 17)
    assert mutant.rules == {"GM-SUBMIT-001", "GM-COAL-001"}
    assert mutant.rules & set(mutate_captures.broken_rules(mutant.events, "gearmand-1.1"))
    events = list(read_capture(DATA / "gearmand.php.pcap", None))
    assert all(m.rules == {"GM-SUBMIT-001"} for m in mutate_captures.wrong_handle(events) if not m.what)


def test_a_wrong_handle_in_a_race_recording_is_told_beside_a_worker_joined_mid_stream() -> None:
    # race1's worker w0 was captured without its SYN; the job handed out under a handle no JOB_CREATED gave is
    # decided without a search (no order produces it) and judged with its submission
    mutant = _mutant("gearmand.race1.pcap.gz", "wrong-handle", 1141)
    assert "GM-SUBMIT-001" in mutate_captures.broken_rules(mutant.events, "gearmand-1.1")


def test_the_tool_says_per_capture_that_it_is_working(capsys: pytest.CaptureFixture[str]) -> None:
    """Run as the README shows, it printed nothing for tens of minutes (the race recordings) before its totals."""
    assert mutate_captures.main([str(DATA / "gearmand.raw.pcap"), "--sites", "1", "--class", "error-reply"]) == 0
    out = capsys.readouterr()
    assert re.fullmatch(r"gearmand\.raw\.pcap: 1 mutant in \d+ s\n", out.err), out.err
    assert "mutation: 1 of 1 server-side mutants detected" in out.out
