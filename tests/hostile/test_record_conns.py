"""``gearsim record --conn ID`` with an id the capture does not hold is refused, naming it.

With another, good id beside it, the bad one was dropped in silence and the
vector recorded without it; alone, it was "no binary Gearman conversation to
record", as if the capture held nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.cli.main import main

CAPTURE = Path(__file__).resolve().parents[1] / "data" / "gear.raw.pcap"


@pytest.mark.parametrize("extra", [[], ["--conn", "1"]], ids=["alone", "beside-a-good-one"])
def test_a_connection_id_not_in_the_capture_is_refused(
    extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "recorded.yaml"
    assert main(["record", str(CAPTURE), "-o", str(out), "--conn", "99", *extra]) == 3
    assert not out.exists()
    err = capsys.readouterr().err
    assert err == f"gearsim record: {CAPTURE}: --conn 99: not in the capture, which holds connections 1 to 4\n"
