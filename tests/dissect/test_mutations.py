"""tools/mutate_captures.py: corrupted server replies in reference captures are found, under the rule they break."""

from __future__ import annotations

import random
import sys
from pathlib import Path

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
