"""gearsim told to stop leaves none of the processes it started behind.

Servers (``--server-command``), drivers and programs run in sessions of their
own, so a signal to gearsim's process group does not reach them. A CI job's
timeout sends SIGTERM: before gearsim.io.children, gearsim died at once and a
server it had started kept running, with init as its parent.
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
