"""Every requirement id the capture tools cite exists in spec/requirements.yaml."""

from __future__ import annotations

import re
from pathlib import Path

from gearsim.files import load_requirements

DISSECT = Path(__file__).resolve().parents[2] / "gearsim" / "dissect"


def test_cited_ids_are_registered() -> None:
    known = set(load_requirements())
    cited = {m for f in DISSECT.glob("*.py") for m in re.findall(r"GM-[A-Z]+-\d{3}", f.read_text())}
    assert cited, "the dissector cites no requirement ids"
    assert cited <= known, sorted(cited - known)
