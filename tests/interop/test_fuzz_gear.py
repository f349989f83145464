"""``gearsim fuzz`` against gear (PyPI gear 0.16), which answers no ECHO_REQ: its barriers are GET_STATUS.

Each step of an example ends with a barrier on every connection, a request
whose reply shows the server has read everything before it. It was always an
ECHO_REQ, which gear leaves unanswered: every barrier waited out its timeout
(3 s), and three examples took 409 s (measured). A server that answers
GET_STATUS but not ECHO_REQ now gets a GET_STATUS of the barrier's token, an
unknown handle, on both sides. Loopback only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.fuzz.sides import RealSide
from gearsim.io.peers import RunningPeer

pytestmark = pytest.mark.interop


def test_a_barrier_on_gear_is_answered_and_leaves_nothing_behind(gear_server: RunningPeer) -> None:
    side = RealSide(gear_server.host, gear_server.port, timeout=1.0, admin=False, sync="GET_STATUS")
    try:
        side.connect("c1")
        side.connect("w1")
        assert side.barrier("c1", b"gearsim-barrier-1") == set()  # was {"c1", "w1"}, a timeout each
        assert side.take("c1") == side.take("w1") == []
    finally:
        side.close_all()


def test_a_short_fuzz_run_against_gear_agrees_with_the_model(
    gear_server: RunningPeer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = f"{gear_server.host}:{gear_server.port}"
    code = main(
        [
            "fuzz",
            "--server",
            server,
            "--profile",
            "gear-0.16",
            "--examples",
            "5",
            "--timeout",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "(answers GET_STATUS)" in out
    assert "no divergence, no broken invariant" in out
