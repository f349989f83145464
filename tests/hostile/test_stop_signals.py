"""gearsim told to stop leaves none of the processes it started behind.

Servers (``--server-command``), drivers and programs run in sessions of their
own, so a signal to gearsim's process group does not reach them. A CI job's
timeout sends SIGTERM: before gearsim.io.children, gearsim died at once and a
server it had started kept running, with init as its parent. The same holds
for a pytest run whose fixtures started peer servers (gearsim.testing.stopping).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_fuzz_silent_server import ModelServer
from test_fuzz_silent_server import fuzz as fuzz_argv

import gearsim.cli.clients
import gearsim.cli.matrix
import gearsim.cli.run
import gearsim.fuzz.sides
from gearsim.cli.main import main
from gearsim.io import children
from gearsim.run.result import CaseResult, Verdict
from gearsim.testing import stopping
from gearsim.testing.peer_fixtures import require_peer

#: a "server" that records its PID and never listens: gearsim is still waiting for it when told to stop
_NEVER_READY = """
import os, sys, time
open(os.path.join(sys.argv[1], str(os.getpid())), "w").close()
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (exited, or a zombie waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_a_stopped_run_stops_the_servers_it_started(tmp_path: Path, sig: signal.Signals) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "never_ready.py"
    script.write_text(_NEVER_READY)
    command = f"{sys.executable} {script} {pids} {{port}}"
    run = subprocess.Popen(
        [sys.executable, "-m", "gearsim", "run", "server/coalesce.yaml", "--server-command", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    started: list[int] = []
    try:
        _wait_for(lambda: any(pids.iterdir()), 60, "gearsim starting a server")
        started = [int(p.name) for p in pids.iterdir()]
        run.send_signal(sig)
        out, err = run.communicate(timeout=30)
        assert run.returncode == 128 + sig, err
        assert f"stopped by {sig.name}" in err.decode()
        assert "Traceback" not in err.decode()
        assert re.search(f"^stopped by {sig.name}: [0-9]+ of 17 cases finished", out.decode(), re.M), out
        started = [int(p.name) for p in pids.iterdir()]  # any started while the signal was handled, too
        _wait_for(lambda: all(_gone(pid) for pid in started), 10, f"servers {started} stopped")
    finally:
        run.kill()
        run.wait()
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


#: two bundled files of 29 cases, all passed by the model
_TWO_FILES = ["server/coalesce.yaml", "server/status.yaml"]


def _signal_at_case(monkeypatch: pytest.MonkeyPatch, n: int, sig: signal.Signals) -> list[str]:
    """Make the model's n-th case signal gearsim's own process as it starts; returns the ids of the cases played.

    gearsim.io.children's "stopping" is put back after the test: the handler sets it for the whole process.
    """
    monkeypatch.setattr(children, "_stopping", False)
    real = gearsim.cli.run.run_case
    played: list[str] = []

    def run_case(vf: object, case: object, *rest: object, **options: object) -> CaseResult:
        played.append(f"{vf.name}::{case.id}")  # type: ignore[attr-defined]
        if len(played) == n:
            os.kill(os.getpid(), sig)  # the handler raises here, inside the case, as a real Ctrl-C would
        return real(vf, case, *rest, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(gearsim.cli.run, "run_case", run_case)
    return played


@pytest.mark.parametrize(
    ("sig", "named"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C (SIGINT)")], ids=["SIGTERM", "SIGINT"]
)
def test_a_stopped_run_reports_the_cases_it_finished(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sig: signal.Signals,
    named: str,
) -> None:
    """An hour's run stopped by a CI timeout or a Ctrl-C printed no verdict at all: now those it reached."""
    played = _signal_at_case(monkeypatch, 4, sig)
    out, baseline = tmp_path / "report.json", tmp_path / "baseline.yaml"
    argv = ["run", *_TWO_FILES, "--format", "json", "--out", str(out), "--write-baseline", str(baseline)]
    assert main(argv) == 128 + sig
    stdout, stderr = capsys.readouterr()
    assert f"gearsim run: stopped by {named} after 3 of 29 cases against the reference model (seed 0)" in stdout
    assert "3 passed, 0 failed" in stdout
    assert f"stopped by {named}: 3 of 29 cases finished" in stdout
    assert f"not written: --write-baseline {baseline}" in stdout
    assert f"gearsim run: stopped by {named}" in stderr
    assert "Traceback" not in stderr
    report = json.loads(out.read_text())
    assert report["meta"]["stopped"] == named
    assert [r["id"] for r in report["results"]] == played[:3]  # the fourth was inside its case: not judged
    assert not baseline.exists()


def test_a_run_stopped_before_any_verdict_keeps_the_last_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing finished, nothing to report: an earlier report at --out is not replaced by an empty one."""
    _signal_at_case(monkeypatch, 1, signal.SIGTERM)
    out = tmp_path / "report.txt"
    out.write_text("the last run's report\n")
    assert main(["run", *_TWO_FILES, "--out", str(out)]) == 128 + signal.SIGTERM
    stdout = capsys.readouterr().out
    assert f"stopped by SIGTERM: 0 of 29 cases finished; nothing to report; not written: --out {out}" in stdout
    assert out.read_text() == "the last run's report\n"


def test_a_verdict_reached_after_the_stop_began_is_not_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A thread still inside a case when the signal came saw its server killed: its FAIL is not the server's."""
    played = _signal_at_case(monkeypatch, 4, signal.SIGTERM)
    inner = gearsim.cli.run.run_case

    def run_case(vf: object, case: object, *rest: object, **options: object) -> CaseResult:
        if len(played) == 2:  # the third case: gearsim begins to stop while it plays
            played.append(f"{vf.name}::{case.id}")  # type: ignore[attr-defined]
            children.stop_all(grace=0)
            return CaseResult(vf.name, case.id, "server", Verdict.FAIL, (), reason="connection reset")  # type: ignore[attr-defined]
        return inner(vf, case, *rest, **options)

    monkeypatch.setattr(gearsim.cli.run, "run_case", run_case)
    assert main(["run", *_TWO_FILES]) == 128 + signal.SIGTERM
    stdout = capsys.readouterr().out
    assert "after 2 of 29 cases" in stdout
    assert "connection reset" not in stdout
    assert "0 failed" in stdout


def test_a_stopped_matrix_sums_up_the_columns_it_finished_and_writes_no_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stopped matrix printed nothing of its finished columns; a table of some columns must not be written."""
    monkeypatch.setattr(children, "_stopping", False)
    real = gearsim.cli.matrix.run_case
    calls = 0

    def run_case(*args: Any, **options: Any) -> CaseResult:
        nonlocal calls
        calls += 1
        if calls == 20:  # the 3rd case of the second column (coalesce.yaml has 17)
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **options)

    monkeypatch.setattr(gearsim.cli.matrix, "run_case", run_case)
    table = tmp_path / "compatibility.md"
    table.write_text("the committed table\n")
    argv = ["matrix", "server/coalesce.yaml", "--peers", "", "--profiles", "spec,gearmand-1.1", "--out-md", str(table)]
    assert main(argv) == 128 + signal.SIGTERM
    stdout = capsys.readouterr().out
    assert re.search(r"^model:spec +pass=17$", stdout, re.M), stdout
    assert "model:gearmand-1.1" not in stdout  # cut short: not summed up as if it had ended
    assert "gearsim matrix: stopped by SIGTERM after 1 of 2 columns: their counts are above; nothing written" in stdout
    assert table.read_text() == "the committed table\n"


def test_a_stopped_clients_table_sums_up_the_drivers_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drivers' runs are stood in for (each is minutes long): what is checked is what a stop leaves."""
    monkeypatch.setattr(children, "_stopping", False)

    def run_driver_cases(selection: Any, command: str, **options: Any) -> list[CaseResult]:
        if command == "second":
            os.kill(os.getpid(), signal.SIGINT)  # inside the second driver's run
        passed = CaseResult("client/library-client.yaml", "submit", "client", Verdict.PASS, ())
        return [passed, replace(passed, case="status")]

    monkeypatch.setattr(gearsim.cli.clients, "run_driver_cases", run_driver_cases)
    table = tmp_path / "clients.md"
    argv = ["clients", "--driver", "first", "--driver", "second", "--out-md", str(table)]
    assert main(argv) == 128 + signal.SIGINT
    stdout = capsys.readouterr().out
    assert "driver:driver1: 2 pass (first, " in stdout
    assert "driver2" not in stdout
    assert "gearsim clients: stopped by Ctrl-C (SIGINT) after 1 of 2 columns: their counts are above" in stdout
    assert not table.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_stopped_fuzz_run_reports_no_divergence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sig: signal.Signals
) -> None:
    """A stop inside a step was reported as a divergence, replayed by hypothesis, and its vector written.

    Measured against gearmand before: SIGTERM five seconds into ``gearsim fuzz`` gave a DIVERGENCE
    (exit 1) and wrote its vector, or "HARNESS ... FlakyStrategyDefinition" (exit 3). The example's
    teardown drained the sides while the interrupted step's replies were still unread, and its
    divergence replaced the stop; and hypothesis replays a failing example unless it is a KeyboardInterrupt.
    """
    monkeypatch.setattr(children, "_stopping", False)
    real = gearsim.fuzz.sides.RealSide.barrier
    barriers = 0

    def barrier(self: gearsim.fuzz.sides.RealSide, first: str, token: bytes) -> set[str]:
        nonlocal barriers
        barriers += 1
        if barriers == 40:  # a step of the third example waits for the server's answers, as a signal would come
            os.kill(os.getpid(), sig)
        return real(self, first, token)

    monkeypatch.setattr(gearsim.fuzz.sides.RealSide, "barrier", barrier)
    with ModelServer("gearmand-1.1", connections=10**6).running() as server:
        code = main(fuzz_argv(server.port, tmp_path, "--examples", "50", "--steps", "10"))
    out, err = capsys.readouterr()
    assert code == 128 + sig, out + err
    assert "DIVERGENCE" not in out and "HARNESS" not in out, out
    assert "stopped by " in err
    assert list(tmp_path.iterdir()) == []  # no vector written for what a stop interrupted


def test_stop_all_signals_only_children_not_yet_reaped() -> None:
    """A reaped child's PID may belong to someone else by now: it is never signalled."""
    done = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    done.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        children.track(done)
        children.track(alive)
        assert children.stop_all(grace=5.0, and_later=False) == 1
        assert alive.wait(timeout=10) == -signal.SIGTERM
    finally:
        alive.kill()
        alive.wait()


#: a test of a user's project: it starts a peer through gearsim's fixture, says so on fd READY_FD, then waits
_USES_A_PEER = """
import os, signal

def test_waits_with_a_peer_running(peer_server):
    peer = peer_server({peer!r})
    os.write(int(os.environ["READY_FD"]), f"{{peer.pid}} {{peer.process.pid}}\\n".encode())
    while True:
        signal.pause()
"""


def test_a_terminated_pytest_stops_the_peers_its_fixtures_started(tmp_path: Path) -> None:
    """SIGTERM to pytest used to leave the fixture's server running: only the gearsim command stopped children."""
    peer = "gearmand-c"
    require_peer(peer)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["gearsim.testing.peer_fixtures"]\n')
    (tmp_path / "test_user.py").write_text(_USES_A_PEER.format(peer=peer))
    read_end, write_end = os.pipe()
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        pass_fds=(write_end,),
        env={**os.environ, "READY_FD": str(write_end)},
    )
    os.close(write_end)
    started: list[int] = []
    try:
        with os.fdopen(read_end, "rb") as ready:
            line = ready.readline()  # the peer is up; empty if pytest ended first
        assert line, run.communicate(timeout=60)[0].decode(errors="replace")
        started = sorted({int(pid) for pid in line.split()})
        assert not any(_gone(pid) for pid in started)
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=30)
        assert run.returncode == -signal.SIGTERM, output  # pytest still dies of SIGTERM
        _wait_for(lambda: all(_gone(pid) for pid in started), 10, f"peer processes {started} stopped")
    finally:
        run.kill()
        run.wait()
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_the_plugin_leaves_a_sigterm_handler_it_did_not_set_alone() -> None:
    """A handler the user (or an outer pytest) set stays; the default comes back at unconfigure when it was ours."""

    def users(signum: int, frame: object) -> None:
        pass

    config = pytest.Config.fromdictargs({}, [])
    before = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, users)
        stopping.configure(config)
        assert signal.getsignal(signal.SIGTERM) is users
        stopping.unconfigure(config)
        assert signal.getsignal(signal.SIGTERM) is users
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stopping.configure(config)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, users)
        stopping.unconfigure(config)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)
