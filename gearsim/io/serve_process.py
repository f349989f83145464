"""``gearsim serve`` as a child process: start it, read the port it announces, stop it by its PID (I/O).

``start_serve_process`` runs ``python -m gearsim serve`` on 127.0.0.1 in its
own session and waits for its first line, ``listening on HOST:PORT``;
``ServeProcess.stop`` signals only the recorded PID. Tests, benchmarks and
the hostile-input tool use these; ``gearsim.io.serve`` re-exports both.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gearsim.errors import HarnessError
from gearsim.io.children import track
from gearsim.model.profiles import DEFAULT_PROFILE

__all__ = ["ServeProcess", "start_serve_process"]


@dataclass
class ServeProcess:
    """A ``gearsim serve`` child process: where it listens and how to stop it (by its PID)."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def address(self) -> tuple[str, int]:
        """(host, port) to connect to."""
        return (self.host, self.port)

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM the recorded PID, wait, then SIGKILL; return the exit status. Idempotent."""
        proc = self.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
        return proc.returncode


def start_serve_process(
    *,
    port: int = 0,
    log: Path | None = None,
    profile: str = DEFAULT_PROFILE,
    extra_args: Sequence[str] = (),
    timeout: float = 10.0,
) -> ServeProcess:
    """Start ``python -m gearsim serve`` on 127.0.0.1 and read the port it announces.

    The child runs in its own session; stop it with ``ServeProcess.stop``.

    Raises:
        HarnessError: it exited or did not announce ``listening on HOST:PORT``
            within ``timeout`` seconds (the message quotes its stderr).
    """
    command = [sys.executable, "-m", "gearsim", "serve", "--port", str(port), "--profile", profile]
    if log is not None:
        command += ["--log", str(log)]
    command += list(extra_args)
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    track(proc)
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    text = line.decode("utf-8", "replace").strip()
    prefix = "listening on "
    if text.startswith(prefix):
        host, _, port_text = text[len(prefix) :].rpartition(":")
        if port_text.isdigit():
            return ServeProcess(proc, host, int(port_text), log)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    err = proc.stderr.read().decode("utf-8", "replace").strip()
    proc.stdout.close()
    proc.stderr.close()
    raise HarnessError(f"gearsim serve did not start (exit {proc.returncode}): {text or err or 'no output'}")
