"""Start, probe and stop a described Gearman server process (I/O).

This module owns the *process* of a server gearsim starts from a
:class:`~gearsim.io.serverdesc.ServerDescription`: the choice of a free port
on 127.0.0.1, the run directory (PID file, the server's output, the
description's files), the readiness probe, stopping it again by the PID it
recorded (never by name), and what to say when it died: the exit status or
signal and the tail of its output.

gearsim.io.readiness owns what "ready" means, below; this module asks it.

Ready means: the process still runs, it holds a listening socket on the
chosen port (read from /proc, so a port taken by someone else is noticed), a
TCP connect succeeds, and the description's read-only round trip (``ECHO_REQ``
by default, ``GET_STATUS`` of an unknown handle for servers without ECHO)
is answered. No admin protocol is needed. A server that is not ready within
its ``start_timeout`` is stopped and the error quotes its output.

Every server runs in the foreground of its own session (so a signal to
gearsim's process group does not reach it), with the description's
environment, in the directory gearsim was started from (so a command line
with relative paths works as typed), and has a run directory of its own:

* ``<name>.pid``: the PID of the spawned process;
* ``<name>.log``: its standard output and standard error, cut while it runs
  whenever it passes gearsim.io.logcap's ``LOG_CAP`` (to a line saying so and
  its last 64 KiB), so a server that floods them cannot fill the disk;
* the description's ``files`` and whatever the server writes there (``logs``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gearsim.errors import HarnessError
from gearsim.io.children import track
from gearsim.io.logcap import watch_log
from gearsim.io.procfs import pid_running, proc_listeners, runs_command, socket_inodes
from gearsim.io.readiness import POLL, admin_line, wait_ready
from gearsim.io.serverdesc import HOST, ServerDescription

__all__ = ["LaunchError", "RunningServer", "exit_text", "listening_sockets", "start_server", "stop_server"]


#: how many fresh ports start_server tries when the chosen one turns out to be taken
_PORT_ATTEMPTS = 3


#: how many lines of each log file an error message quotes
LOG_TAIL_LINES = 20


class LaunchError(HarnessError, RuntimeError):
    """A server that cannot be started or stopped; the message quotes its output's tail."""


def exit_text(returncode: int) -> str:
    """``exited with status 3`` or ``killed by signal SIGSEGV (11)`` for a Popen return code."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by signal {name} ({-returncode})"
    return f"exited with status {returncode}"


def _tail(path: Path, lines: int = LOG_TAIL_LINES, offset: int = 0) -> str:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(offset, size - 16384))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    # split at newlines only: splitlines would also break at a bare CR (and \x0b, \x1c...), turning a peer's
    # "\rFAKE PASS" into a line of its own, where the report shows it escaped
    rows = [row.removesuffix("\r") for row in text.split("\n")]
    if rows[-1] == "":
        rows.pop()
    return "\n".join(rows[-lines:])


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """List the TCP sockets in LISTEN state that process ``pid`` holds.

    Returns:
        (address, port) pairs, sorted; addresses as text (``"127.0.0.1"``, ``"::"``).

    Raises:
        LaunchError: the process does not exist or /proc cannot be read for it.
    """
    listeners = proc_listeners(pid)
    inodes = socket_inodes(pid)
    if listeners is None or inodes is None:
        raise LaunchError(f"cannot read /proc/{pid} (process gone, or not Linux)")
    return sorted(addr for inode, addr in listeners.items() if inode in inodes)


@dataclass
class RunningServer:
    """A started server: where it listens, its PID, its run directory and description.

    ``process`` is the :class:`subprocess.Popen` handle when this process
    started the server (it gives the exit status); None for one rebuilt from
    its PID file.
    """

    name: str
    host: str
    port: int
    pid: int
    rundir: Path
    command: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    description: ServerDescription | None = field(default=None, repr=False, compare=False)
    #: where this server's output starts in its log file (several starts share one run directory)
    log_offset: int = 0

    @property
    def pid_file(self) -> Path:
        """The PID file written by :func:`start_server`."""
        return self.rundir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """The file holding the server's standard output and standard error."""
        return self.rundir / f"{self.name}.log"

    def log_cut(self) -> None:
        """The log was cut to its end (gearsim.io.logcap): its output now starts at the top."""
        self.log_offset = 0

    def address(self) -> tuple[str, int]:
        """(host, port) to connect to."""
        return (self.host, self.port)

    def returncode(self) -> int | None:
        """The exit status (negative: the signal) once it ended; None while it runs or when unknown."""
        if self.process is not None:
            return self.process.poll()
        return None

    def alive(self) -> bool:
        """Whether the process still runs (and is not a zombie)."""
        if self.process is not None:
            return self.process.poll() is None
        return pid_running(self.pid)

    def wait_gone(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the process to end; whether it has. Never raises."""
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def death(self) -> str | None:
        """None while it runs, else how it ended: "killed by signal SIGSEGV (11)", "exited with status 1"."""
        if self.alive():
            return None
        code = self.returncode()
        return exit_text(code) if code is not None else "is gone (exit status unknown)"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of its output and of the description's log files, each under a heading."""
        paths = [(self.log_file, self.log_offset)]
        if self.description is not None:
            paths += [(self.rundir / name, 0) for name in self.description.logs]
        parts = []
        for path, offset in paths:
            tail = _tail(path, lines, offset)
            parts.append(f"--- tail of {path} ---\n{tail}" if tail else f"--- {path}: empty or missing ---")
        return "\n".join(parts)

    def version(self) -> str:
        """The server's version string, best effort: ``"unknown"`` if it cannot be found. Never raises.

        The description's ``version`` command when it has one (its
        ``version_prefix`` cut off), else the admin ``version`` line
        (``OK 1.1.20+ds`` gives ``1.1.20+ds``, ``v1.130.1`` gives ``1.130.1``).
        """
        desc = self.description
        if desc is not None and desc.version:
            argv = desc.version_command(self.port, self.rundir)
            try:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    timeout=10.0,
                    check=False,
                    env=desc.environment(self.port, self.rundir),
                )
            except (OSError, subprocess.SubprocessError):
                return "unknown"
            text = done.stdout.decode("utf-8", errors="replace").strip()
            if desc.version_prefix and text.startswith(desc.version_prefix):
                text = text[len(desc.version_prefix) :].strip()
            return text or "unknown"
        try:
            reply = admin_line(self.address(), b"version\n", timeout=3.0)
        except OSError:
            return "unknown"
        text = reply.decode("utf-8", errors="replace").strip()
        if text.startswith("OK "):
            text = text[3:]
        if text[:1] == "v" and text[1:2].isdigit():
            text = text[1:]
        return text or "unknown"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _mentions_port_clash(log_path: Path, offset: int) -> bool:
    """Whether the log written since offset says the port could not be bound."""
    try:
        with log_path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read(65536).decode("utf-8", errors="replace").lower()
    except OSError:
        return False
    return "in use" in text or "could not open socket" in text or "could not bind" in text


def _write_pid_file(path: Path, pid: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n", encoding="ascii")
    tmp.replace(path)


def read_pid_file(path: Path) -> int | None:
    """The PID in a PID file, None when there is no file.

    Raises:
        LaunchError: the file holds no PID.
    """
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        raise LaunchError(f"{path} does not hold a PID: {text[:40]!r}") from None


def kill_child(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """TERM, wait, KILL, wait: for a child that never became ready."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)


def _check_loopback_only(proc: subprocess.Popen[bytes], desc: ServerDescription, pid_file: Path) -> None:
    """Stop the child and raise if it listens on any address but 127.0.0.1."""
    if not desc.loopback_only:
        return
    try:
        sockets = listening_sockets(proc.pid)
    except LaunchError:
        return  # no /proc: cannot check
    wild = [f"{addr}:{port}" for addr, port in sockets if addr != HOST]
    if wild:
        kill_child(proc, desc.stop_timeout)
        pid_file.unlink(missing_ok=True)
        raise LaunchError(
            f"{desc.name} listens on {', '.join(wild)} besides {HOST}: stopped it (give it {{host}} in its "
            "command, or set loopback_only = false in its description)"
        )


def _merge(command: list[str], extra: Sequence[str]) -> list[str]:
    """command + extra, leaving out a ``--opt=value`` of the command that extra gives again."""
    given = {w.split("=", 1)[0] for w in extra if w.startswith("--")}
    kept = [w for i, w in enumerate(command) if i == 0 or not (w.startswith("--") and w.split("=", 1)[0] in given)]
    return kept + list(extra)


def start_server(
    desc: ServerDescription,
    rundir: Path,
    options: Mapping[str, int | bool] | None = None,
    extra_args: Sequence[str] = (),
    timeout: float | None = None,
    port: int | None = None,
) -> RunningServer:
    """Start ``desc`` on a free port of 127.0.0.1 with a case's ``options`` and wait until it is ready.

    Args:
        desc: the server description.
        rundir: directory for the PID file, output and files; created if missing.
        options: a case's server options, spelled by the description.
        extra_args: more command-line words, appended (checked against ``reserved``).
        timeout: seconds to wait for readiness over all attempts (default the
            description's ``start_timeout``).
        port: listen on this port rather than a free one (a restart on the
            port a stopped server used: one port, no other tried).

    Raises:
        UnsupportedOption: an option the description cannot spell.
        ValueError: ``extra_args`` holds a reserved option.
        LaunchError: the executable is missing, the server is already running
            from this run directory, exited during start-up, was not ready in
            time, or listens on another address than 127.0.0.1 (it is stopped
            then); the message quotes the tail of its output.
    """
    args = desc.option_args(options or {})
    desc.check_extra(extra_args)
    missing = desc.missing()
    if missing is not None:
        raise LaunchError(f"{desc.name}: {missing}")
    limit = desc.start_timeout if timeout is None else timeout
    rundir = Path(rundir).resolve()
    rundir.mkdir(parents=True, exist_ok=True)
    pid_file = rundir / f"{desc.name}.pid"
    old_pid = read_pid_file(pid_file)
    if old_pid is not None and pid_running(old_pid):
        raise LaunchError(f"{desc.name} already running from {rundir} (PID {old_pid} in {pid_file}): stop it first")
    pid_file.unlink(missing_ok=True)

    deadline = time.monotonic() + limit
    last_failure = ""
    log_path = rundir / f"{desc.name}.log"
    attempts = 1 if port is not None else _PORT_ATTEMPTS
    fixed = port
    for attempt in range(1, attempts + 1):
        port = fixed if fixed is not None else _free_port()
        command = _merge(desc.command_line(port, rundir), [*args, *extra_args])
        try:
            desc.write_files(port, rundir)
        except OSError as exc:
            raise LaunchError(f"{desc.name}: cannot write its files in {rundir}: {exc}") from None
        with log_path.open("ab") as log:
            log_offset = log.tell()
            log.write(f"=== gearsim start attempt {attempt}: {' '.join(command)}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=desc.cwd,
                    env=desc.environment(port, rundir),
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise LaunchError(f"cannot execute {command[0]}: {exc}") from exc
            track(proc)
        try:
            _write_pid_file(pid_file, proc.pid)
        except OSError as exc:
            kill_child(proc, desc.stop_timeout)
            raise LaunchError(f"cannot write {pid_file}: {exc}") from exc
        server = RunningServer(desc.name, HOST, port, proc.pid, rundir, tuple(command), proc, desc, log_offset)
        watch_log(proc, log_path, server.log_cut)

        state = wait_ready(proc, desc, port, deadline)
        if state == "ready":
            _check_loopback_only(proc, desc, pid_file)
            return server
        if state == "died":
            code = proc.returncode if proc.returncode is not None else proc.wait()
            last_failure = f"{desc.name} {exit_text(code)} during start-up\n{server.log_tail()}"
            pid_file.unlink(missing_ok=True)
            if _mentions_port_clash(log_path, log_offset) and attempt < attempts and time.monotonic() < deadline:
                continue  # lost a race for the port: try another one
            raise LaunchError(last_failure)
        kill_child(proc, desc.stop_timeout)
        pid_file.unlink(missing_ok=True)
        if state == "port-taken":
            last_failure = f"port {port} was taken by another process before {desc.name} could listen on it"
            if attempt < attempts and time.monotonic() < deadline:
                continue
            break
        if state.startswith("not-gearman: "):
            what = state.partition(": ")[2]
            raise LaunchError(f"{desc.name} on {HOST}:{port} is not a Gearman server: {what}\n{server.log_tail()}")
        problem = state.partition(": ")[2]
        raise LaunchError(
            f"{desc.name} was not ready on {HOST}:{port} within {limit:g} s ({problem or 'not listening'})\n"
            f"{server.log_tail()}"
        )
    tried = f"on port {fixed}" if fixed is not None else f"after {attempts} ports"
    raise LaunchError(f"{desc.name} could not be started {tried}: {last_failure}")


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process ``pid`` and, when it leads its own process group (it was started in a
    session of its own), that group: a wrapper script's server child goes with it.

    Raises:
        ProcessLookupError: the process is gone.
    """
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        raise
    if group == pid:
        os.killpg(pid, sig)
    else:
        os.kill(pid, sig)


def _signal_group_rest(pid: int) -> None:
    """SIGKILL whatever is left in the process group ``pid`` led (children of a wrapper that exited)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop_server(server: RunningServer, timeout: float | None = None) -> None:
    """Stop a server by the PID recorded in its PID file: SIGTERM, wait, then SIGKILL.

    Only that PID is signalled, and only while it still runs the server's
    command (so a reused PID is never hit). Calling it again, or for a server
    that already exited, does nothing. The PID file is removed at the end.

    Raises:
        LaunchError: the PID file holds another PID than ``server.pid`` or no
            PID at all, or the process survived SIGKILL for ``timeout`` seconds.
    """
    if timeout is None:
        timeout = server.description.stop_timeout if server.description is not None else 5.0
    pid_file = server.pid_file
    pid = read_pid_file(pid_file)
    if pid is None:
        if server.process is not None and server.process.poll() is None:
            raise LaunchError(f"{pid_file} is missing but {server.name} (PID {server.pid}) still runs")
        return
    if pid != server.pid:
        raise LaunchError(f"{pid_file} holds PID {pid}, but {server.name} was started as PID {server.pid}")

    proc = server.process if server.process is not None and server.process.pid == pid else None
    if proc is not None:
        if proc.poll() is None:
            _signal(pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal(pid, signal.SIGKILL)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise LaunchError(f"{server.name} (PID {pid}) survived SIGKILL for {timeout} s") from None
        _signal_group_rest(pid)
    elif pid_running(pid) and runs_command(pid, server.command):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                _signal(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while pid_running(pid) and time.monotonic() < deadline:
                time.sleep(POLL)
            if not pid_running(pid):
                break
        else:
            raise LaunchError(f"{server.name} (PID {pid}) survived SIGKILL for {timeout} s")
    pid_file.unlink(missing_ok=True)
