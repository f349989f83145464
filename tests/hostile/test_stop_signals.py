"""gearsim told to stop leaves none of the processes it started behind.

Servers (``--server-command``), drivers and programs run in sessions of their
own, so a signal to gearsim's process group does not reach them. A CI job's
timeout sends SIGTERM: before gearsim.io.children, gearsim died at once and a
server it had started kept running, with init as its parent. The same holds
for a pytest run whose fixtures started peer servers (gearsim.testing.stopping).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gearsim.io import children
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    started: list[int] = []
    try:
        _wait_for(lambda: any(pids.iterdir()), 60, "gearsim starting a server")
        started = [int(p.name) for p in pids.iterdir()]
        run.send_signal(sig)
        _, err = run.communicate(timeout=30)
        assert run.returncode == 128 + sig, err
        assert f"stopped by {sig.name}" in err.decode()
        assert "Traceback" not in err.decode()
        started = [int(p.name) for p in pids.iterdir()]  # any started while the signal was handled, too
        _wait_for(lambda: all(_gone(pid) for pid in started), 10, f"servers {started} stopped")
    finally:
        run.kill()
        run.wait()
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


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
