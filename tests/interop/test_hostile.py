"""A hostile server never hangs gearsim or makes it crash: every case gets a verdict with a reason, in time.

The server (tests/interop/hostile.py) hangs, stops reading, closes mid-packet,
sends garbage or endless text, announces a 4 GiB body, floods NOOPs, trickles
a byte at a time, or resets. Each mode is checked twice:

* in process, through gearsim.io.managed.UserServerFactory (the factory for a
  user-given ``--server``; told, for a silent server, that it answers neither
  round trip, so that it plays the cases instead of stopping at first
  contact): every case is FAIL or INCONCLUSIVE with a reason, the run ends within the
  bound gearsim.run.batch.case_wall_bound computes from the timeouts, and a
  flood leaves at most MAX_MESSAGES messages held;
* as ``gearsim run --server 127.0.0.1:PORT`` in a subprocess: it exits 1 or 2
  within the bound, names every case with its verdict, and prints no traceback;
  except that a server whose first answer is text no Gearman server sends
  (``garbage-text``) is refused before any case, exit 3 (gearsim.io.preflight),
  and one that answers nothing at all (``hang``, ``deaf``) stops the run at its
  first contact, exit 2, in one line.

No real Gearman peer is needed, so these never skip. Loopback only.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from gearsim.files import select
from gearsim.io.managed import UserServerFactory, run_cases
from gearsim.io.tcp import MAX_MESSAGES
from gearsim.run.batch import case_wall_bound, selected_cases
from gearsim.run.runner import Verdict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hostile import MODES, HostileServer

pytestmark = pytest.mark.interop

#: seconds allowed on top of the computed bound (process start-up, a loaded CI machine)
SLACK = 10.0
#: the modes that answer nothing at all, which a run's first contact stops at
SILENT = ("hang", "deaf")

_PROBE = """\
schema: gearsim-vectors/1
area: server
title: hostile-peer probes
header:
- 'Written by tests/interop/test_hostile.py: a round trip after a wall-clock wait (time to flood).'
notes: {{}}
source:
  author: gearsim
  checked: against the reference model
cases:
- id: echo-after-wait
  comment: an ECHO round trip after a 1.5 s wait on the wall clock
  requirements: [GM-FRAME-001]
  result: valid
  timed: true
  actors: {{c1: client}}
  steps:
  - {{connect: c1}}
  - {{advance: 1500}}
  - {{send: c1, packet: {{type: ECHO_REQ, args: [ping]}}}}
  - {{expect: c1, packet: {{type: ECHO_RES, args: [ping]}}}}
{big}"""

_BIG = """\
- id: big-echo
  comment: an ECHO_REQ larger than the socket buffers, to a server that does not read
  requirements: [GM-FRAME-001]
  result: valid
  actors: {{c1: client}}
  steps:
  - {{connect: c1}}
  - {{send: c1, packet: {{type: ECHO_REQ, args: [{payload}]}}}}
  - {{expect: c1, packet: {{type: ECHO_RES, args: [{{any: true}}]}}}}
"""


def _selection(tmp_path: Path, mode: str) -> list[str]:
    """The flood needs a wait to flood into; the deaf server a send larger than the socket buffers."""
    chosen = ["server/seed.yaml::manual-status-poll"]
    if mode in ("flood", "deaf"):
        big = _BIG.format(payload="x" * (6 * 1024 * 1024)) if mode == "deaf" else ""
        path = tmp_path / "hostile.yaml"
        path.write_text(_PROBE.format(big=big), encoding="utf-8")
        chosen.insert(0, f"{path}::{'echo-after-wait' if mode == 'flood' else 'big-echo'}")
    return chosen


@pytest.mark.parametrize("mode", MODES)
def test_every_case_gets_a_verdict_in_time(mode: str, tmp_path: Path) -> None:
    selection = select(_selection(tmp_path, mode))
    refs = selected_cases(selection.files, selection.chosen)
    bound = sum(case_wall_bound(case) for _, case in refs) + SLACK
    with HostileServer(mode) as server:
        # a silent server is stopped at first contact (the CLI test below): told the round trip its probes
        # found before that (none), the factory plays each case on it, as it still does on a server that
        # answers its first contact and turns silent after
        factory = UserServerFactory("127.0.0.1", server.port, sync="" if mode in SILENT else None)
        t0 = time.monotonic()
        results = run_cases(refs, lambda _i: factory, "gearmand-1.1", jobs=1)
        elapsed = time.monotonic() - t0
    assert elapsed < bound, f"{mode}: {elapsed:.1f} s, bound {bound:.1f} s"
    assert [r.id for r in results] == [f"{vf.name}::{c.id}" for vf, c in refs]
    for r in results:
        assert r.verdict in (Verdict.FAIL, Verdict.INCONCLUSIVE), (mode, r.id, r.verdict, r.reason)
        assert r.reason, (mode, r.id)
        received = [rec for rec in r.records if rec.direction == "s>c" and rec.message is not None]
        assert len(received) <= 2 * MAX_MESSAGES, (mode, r.id, len(received))
    if mode == "flood":
        trace = "\n".join(rec.note for r in results for rec in r.records)
        assert "flood: more than" in trace
    if mode == "huge":
        assert any("4294967295-byte body" in rec.note for r in results for rec in r.records)
    if mode == "close-mid-packet":
        assert any("in the middle of a message" in rec.note for r in results for rec in r.records)
    if mode == "deaf":
        big = [r for r in results if r.case == "big-echo"]
        assert big and big[0].verdict is Verdict.INCONCLUSIVE and "stopped reading" in big[0].reason


@pytest.mark.parametrize("mode", MODES)
def test_cli_run_against_hostile_server_ends_without_traceback(mode: str, tmp_path: Path) -> None:
    chosen = _selection(tmp_path, mode)
    selection = select(chosen)
    refs = selected_cases(selection.files, selection.chosen)
    bound = sum(case_wall_bound(case) for _, case in refs) + SLACK
    with HostileServer(mode) as server:
        t0 = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", "gearsim", "run", "--server", f"127.0.0.1:{server.port}", *chosen],
                capture_output=True,
                text=True,
                timeout=bound,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"gearsim run --server against a {mode} server ran past {bound:.0f} s")
        elapsed = time.monotonic() - t0
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr[-3000:]
    if mode == "garbage-text":  # no Gearman server answers ECHO_REQ in endless text: the wrong port
        assert done.returncode == 3, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
        assert done.stdout == ""
        refused = f"gearsim run: 127.0.0.1:{server.port} is not a Gearman server: it answered ECHO_REQ with b'xxxx"
        assert done.stderr.startswith(refused) and done.stderr.count("\n") == 1, done.stderr
        return
    if mode in SILENT:  # answers none of ECHO_REQ, GET_STATUS and 'version': nothing to judge case by case
        assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
        stopped = f"stopped early: server down since first contact: 127.0.0.1:{server.port} accepts connections"
        assert done.stdout.startswith(stopped) and done.stdout.endswith("; no case run\n"), done.stdout
        return
    assert done.returncode in (1, 2), (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    for vf, case in refs:
        case_id = f"{vf.name}::{case.id}"
        assert f"FAIL {case_id}" in done.stdout or f"INCONCLUSIVE {case_id}" in done.stdout, (case_id, elapsed)
