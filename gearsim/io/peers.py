"""Start and stop the real Gearman job servers that gearsim is checked against.

This module owns the peer *processes*: which executable each peer is, the
exact command line it is started with, the run directory that holds its PID
file, logs and configuration, the choice of a free port on 127.0.0.1, and
stopping it again by the PID it recorded (never by name). It knows nothing
about the Gearman protocol beyond "a TCP connect succeeds" and one admin
``version`` line; speaking the protocol to a peer is the job of other modules.
Reading /proc (which sockets a process listens on, whether it still runs,
its command line) is the job of :mod:`gearsim.io.procfs`.

The peers (all installed by ``tools/peers/install.sh``):

* ``gearmand-c``: the C gearmand 1.1.20, ``/usr/sbin/gearmand``;
* ``perl-gearman-server``: Perl Gearman::Server 1.130.1, ``/usr/bin/gearmand``
  (the same base name as the C server: always use full paths);
* ``gear``: ``geard`` from the PyPI package gear 0.16.0.

Every peer listens on 127.0.0.1 only, stays in the foreground (so the PID of
the spawned process is the server's PID) and runs in its own session, so a
signal sent to the test runner's process group does not reach it.

Run directory layout, for a peer named ``<name>``:

* ``<name>.pid``: the PID of the spawned process, written by :func:`start_peer`
  and read back by :func:`stop_peer`;
* ``<name>.log``: the process's standard output and standard error;
* ``gearmand.log``, ``gearmand.pid`` (``gearmand-c`` only): the C server's own
  log file and PID file;
* ``geard-logging.ini`` (``gear`` only): a logging configuration at WARNING;
* ``GearsimLoopbackOnly.pm`` (``perl-gearman-server`` only): a Perl module
  preloaded with ``PERL5OPT``. Gearman::Server 1.130.1's constructor opens an
  extra listener on 0.0.0.0 and a random port; the module binds it to
  127.0.0.1 instead. :func:`start_peer` refuses any peer that still listens
  on another address.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gearsim.errors import HarnessError
from gearsim.io.procfs import pid_running, proc_listeners, runs_command, socket_inodes

__all__ = [
    "HOST",
    "PEERS",
    "PeerError",
    "PeerSpec",
    "RunningPeer",
    "listening_sockets",
    "peer_available",
    "start_peer",
    "stop_peer",
]

#: the only address any peer listens on
HOST = "127.0.0.1"

C_GEARMAND = Path("/usr/sbin/gearmand")
PERL_GEARMAND = Path("/usr/bin/gearmand")
INSTALL_HINT = "run tools/peers/install.sh"

#: how many fresh ports start_peer tries when the chosen one turns out to be taken
_PORT_ATTEMPTS = 3
#: polling interval while waiting for a process to listen or to exit, seconds
_POLL = 0.02
#: how many lines of each log file an error message quotes
_LOG_TAIL_LINES = 20

_GEARD_LOGGING_INI = """\
# Written by gearsim.io.peers: geard -d logs at DEBUG without a config.
[loggers]
keys=root

[handlers]
keys=stderr

[formatters]
keys=plain

[logger_root]
level=WARNING
handlers=stderr

[handler_stderr]
class=StreamHandler
level=WARNING
formatter=plain
args=(sys.stderr,)

[formatter_plain]
format=%(asctime)s %(levelname)s %(name)s: %(message)s
"""


# Gearman::Server 1.130.1's constructor calls create_listening_sock() with no
# port and no address, so /usr/bin/gearmand opens a second, unused listener on
# 0.0.0.0 and an ephemeral port besides the one asked for. This module, loaded
# into the Perl server with PERL5OPT, binds such address-less listeners to
# 127.0.0.1 instead; nothing else changes.
_PERL_LOOPBACK_MODULE = "GearsimLoopbackOnly"
_PERL_LOOPBACK_PM = """\
package GearsimLoopbackOnly;
# Written by gearsim.io.peers: bind every Gearman::Server listener that is
# created without an address (the constructor's extra one) to 127.0.0.1.
use strict;
use warnings;
require Gearman::Server;
{
    no warnings 'redefine';
    my $orig = \\&Gearman::Server::create_listening_sock;
    *Gearman::Server::create_listening_sock = sub {
        my ($self, $portnum, %opts) = @_;
        $opts{local_addr} = '127.0.0.1' unless $opts{local_addr};
        return $orig->($self, $portnum, %opts);
    };
}
1;
"""


class PeerError(HarnessError, RuntimeError):
    """A peer that cannot be started or stopped; the message quotes its log tail."""


@dataclass(frozen=True)
class PeerSpec:
    """What gearsim knows about one real peer, independent of any running instance."""

    name: str
    #: "server" for a job server (the only kind so far)
    kind: str
    description: str


PEERS: dict[str, PeerSpec] = {
    "gearmand-c": PeerSpec(
        name="gearmand-c",
        kind="server",
        description="C gearmand 1.1.20 (Debian gearman-job-server), /usr/sbin/gearmand",
    ),
    "perl-gearman-server": PeerSpec(
        name="perl-gearman-server",
        kind="server",
        description="Perl Gearman::Server 1.130.1 (Debian gearman-server), /usr/bin/gearmand",
    ),
    "gear": PeerSpec(
        name="gear",
        kind="server",
        description="python gear.Server 0.16.0 (PyPI gear), geard",
    ),
}

# Options that start_peer sets itself and a caller must not pass in extra_args:
# they fix the address, the port, the files in the run directory, and keep the
# process in the foreground. Long options also match "--opt=value"; short
# options also match "-Xvalue".
_RESERVED_OPTIONS: dict[str, tuple[str, ...]] = {
    "gearmand-c": ("--listen", "-L", "--port", "-p", "--log-file", "-l", "--pid-file", "-P", "--daemon", "-d"),
    "perl-gearman-server": ("--listen", "-L", "--port", "-p", "--daemonize", "--daemon", "-d"),
    "gear": ("--listen-address", "-p", "--log-config", "--pidfile"),
}


def _check_name(name: str) -> PeerSpec:
    try:
        return PEERS[name]
    except KeyError:
        known = ", ".join(sorted(PEERS))
        raise ValueError(f"unknown peer {name!r}; known peers: {known}") from None


def _matches_option(arg: str, option: str) -> bool:
    if arg == option:
        return True
    if option.startswith("--"):
        return arg.startswith(option + "=")
    return arg.startswith(option) and len(option) == 2


def _geard_path() -> Path | None:
    """geard next to the running interpreter (same environment first), else on PATH."""
    beside = Path(sys.executable).with_name("geard")
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("geard")
    return Path(found) if found is not None else None


_FIXED_PATHS: dict[str, Path] = {"gearmand-c": C_GEARMAND, "perl-gearman-server": PERL_GEARMAND}


def _executable(name: str) -> Path | None:
    fixed = _FIXED_PATHS.get(name)
    return fixed if fixed is not None else _geard_path()


def peer_available(name: str) -> str | None:
    """Say whether peer ``name`` is installed.

    Returns:
        None when the peer can be started, else a one-line reason that names
        the missing piece and how to install it.

    Raises:
        ValueError: ``name`` is not a key of :data:`PEERS`.
    """
    _check_name(name)
    if name == "gear":
        geard = _geard_path()
        if geard is None:
            return f"geard (PyPI gear) not found next to {sys.executable} or on PATH: {INSTALL_HINT}"
        return None
    path = _FIXED_PATHS[name]
    if not path.is_file() or not os.access(path, os.X_OK):
        return f"{path} not found: {INSTALL_HINT}"
    if name == "perl-gearman-server":
        try:
            with path.open("rb") as fh:
                first = fh.readline(200)
        except OSError as exc:
            return f"{path} cannot be read ({exc}): {INSTALL_HINT}"
        if b"perl" not in first:
            return f"{path} is not the Perl Gearman::Server script: {INSTALL_HINT}"
        if shutil.which("perl") is None and not Path("/usr/bin/perl").exists():
            return f"perl not found for {path}: {INSTALL_HINT}"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _command(name: str, port: int, rundir: Path, extra_args: Sequence[str]) -> list[str]:
    exe = _executable(name)
    if exe is None:  # peer_available was checked first; geard vanished since
        raise PeerError(f"executable for peer {name!r} not found: {INSTALL_HINT}")
    extra = list(extra_args)
    if name == "gearmand-c":
        # gearmand refuses an option given twice, so a default the caller also
        # passes is left out.
        base = [
            str(exe),
            f"--listen={HOST}",
            f"--port={port}",
            f"--log-file={rundir / 'gearmand.log'}",
            f"--pid-file={rundir / 'gearmand.pid'}",
        ]
        if not any(_matches_option(arg, opt) for arg in extra for opt in ("--queue-type", "-q")):
            base.append("--queue-type=builtin")
        if not any(_matches_option(arg, "--verbose") for arg in extra):
            base.append("--verbose=ERROR")
        return base + extra
    if name == "perl-gearman-server":
        return [str(exe), f"--listen={HOST}", f"--port={port}", *extra]
    ini = rundir / "geard-logging.ini"
    ini.write_text(_GEARD_LOGGING_INI, encoding="utf-8")
    return [str(exe), "-d", "--listen-address", HOST, "-p", str(port), "--log-config", str(ini), *extra]


def _child_env(name: str, rundir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for key in list(env):
        # GEARMAND_* would change C gearmand's defaults; STATSD_* would make geard
        # send UDP to wherever it points; PERL5OPT could load anything into the
        # Perl server. None may leak in from the caller.
        if key.startswith(("GEARMAND_", "STATSD_")) or key == "PERL5OPT":
            del env[key]
    if name == "perl-gearman-server" and rundir is not None:
        (rundir / f"{_PERL_LOOPBACK_MODULE}.pm").write_text(_PERL_LOOPBACK_PM, encoding="utf-8")
        env["PERL5LIB"] = os.pathsep.join(filter(None, [str(rundir), env.get("PERL5LIB", "")]))
        env["PERL5OPT"] = f"-M{_PERL_LOOPBACK_MODULE}"
    return env


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data[-16384:].decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _log_tails(name: str, rundir: Path) -> str:
    paths = [rundir / f"{name}.log"]
    if name == "gearmand-c":
        paths.append(rundir / "gearmand.log")
    parts = []
    for path in paths:
        tail = _tail(path)
        parts.append(f"--- tail of {path} ---\n{tail}" if tail else f"--- {path}: empty or missing ---")
    return "\n".join(parts)


# --- listening sockets -------------------------------------------------------


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """List the TCP sockets in LISTEN state that process ``pid`` holds.

    Returns:
        (address, port) pairs, sorted; addresses as text (``"127.0.0.1"``,
        ``"::"``).

    Raises:
        PeerError: the process does not exist or /proc cannot be read for it.
    """
    listeners = proc_listeners(pid)
    inodes = socket_inodes(pid)
    if listeners is None or inodes is None:
        raise PeerError(f"cannot read /proc/{pid} (process gone, or not Linux)")
    return sorted(addr for inode, addr in listeners.items() if inode in inodes)


# --- running peers -----------------------------------------------------------


@dataclass
class RunningPeer:
    """A started peer: where it listens, its PID and its run directory.

    ``process`` is the :class:`subprocess.Popen` handle when this process
    started the peer (it lets :func:`stop_peer` reap the child); it is None for
    a peer rebuilt from its PID file.
    """

    name: str
    host: str
    port: int
    pid: int
    rundir: Path
    command: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def pid_file(self) -> Path:
        """The PID file written by :func:`start_peer`."""
        return self.rundir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """The file holding the peer's standard output and standard error."""
        return self.rundir / f"{self.name}.log"

    def address(self) -> tuple[str, int]:
        """(host, port) to connect to."""
        return (self.host, self.port)

    def version(self) -> str:
        """The peer's version string, best effort: ``"unknown"`` if it cannot be found.

        C gearmand and the Perl server are asked with the admin ``version``
        command (``OK 1.1.20+ds`` gives ``1.1.20+ds``, ``v1.130.1`` gives
        ``1.130.1``); gear has no such command, so ``geard --version`` is run.
        Never raises.
        """
        if self.name == "gear":
            exe = self.command[0] if self.command else None
            if exe is None:
                return "unknown"
            try:
                done = subprocess.run(
                    [exe, "--version"],
                    capture_output=True,
                    timeout=10.0,
                    check=False,
                    env=_child_env(self.name),
                )
            except (OSError, subprocess.SubprocessError):
                return "unknown"
            text = done.stdout.decode("utf-8", errors="replace").strip()
            prefix = "Gear version:"
            return text[len(prefix) :].strip() if text.startswith(prefix) else (text or "unknown")
        try:
            reply = _admin_line(self.address(), b"version\n", timeout=3.0)
        except OSError:
            return "unknown"
        text = reply.decode("utf-8", errors="replace").strip()
        if text.startswith("OK "):
            text = text[3:]
        if text[:1] == "v" and text[1:2].isdigit():
            text = text[1:]
        return text or "unknown"


def _admin_line(address: tuple[str, int], command: bytes, timeout: float) -> bytes:
    """Send one admin command and return its one-line reply (up to the first newline)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(command)
        data = b""
        while b"\n" not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply to {command!r} within {timeout} s")
            sock.settimeout(remaining)
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0]


def _mentions_port_clash(log_path: Path, offset: int) -> bool:
    """Whether the log written since offset says the port could not be bound."""
    try:
        with log_path.open("rb") as fh:
            fh.seek(offset)
            text = fh.read(65536).decode("utf-8", errors="replace").lower()
    except OSError:
        return False
    # Perl: "Address already in use"; geard: "Could not open socket"
    return "in use" in text or "could not open socket" in text


def _write_pid_file(path: Path, pid: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n", encoding="ascii")
    tmp.replace(path)


def _read_pid_file(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        raise PeerError(f"{path} does not hold a PID: {text[:40]!r}") from None


def _wait_ready(proc: subprocess.Popen[bytes], port: int, deadline: float) -> str:
    """Poll until the child listens on port: "ready", "died", "port-taken" or "timeout"."""
    while True:
        if proc.poll() is not None:
            return "died"
        listeners = proc_listeners(proc.pid)
        inodes = socket_inodes(proc.pid)
        ours = False
        if listeners is not None and inodes is not None:
            on_port = {inode for inode, (_addr, p) in listeners.items() if p == port}
            ours = bool(on_port & inodes)
            if on_port and not ours:
                return "port-taken"
        else:
            ours = True  # no /proc: fall back to the connect test alone
        if ours:
            remaining = deadline - time.monotonic()
            try:
                with socket.create_connection((HOST, port), timeout=max(0.05, min(0.5, remaining))):
                    pass
            except OSError:
                pass
            else:
                if proc.poll() is None:
                    return "ready"
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(_POLL)


def _kill_child(proc: subprocess.Popen[bytes], timeout: float) -> None:
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


def _check_loopback_only(proc: subprocess.Popen[bytes], name: str, rundir: Path) -> None:
    """Stop the child and raise if it listens on any address but 127.0.0.1."""
    try:
        sockets = listening_sockets(proc.pid)
    except PeerError:
        return  # no /proc: cannot check
    wild = [f"{addr}:{port}" for addr, port in sockets if addr != HOST]
    if wild:
        _kill_child(proc, 5.0)
        (rundir / f"{name}.pid").unlink(missing_ok=True)
        raise PeerError(f"{name} listens on {', '.join(wild)} besides {HOST}: stopped it")


def start_peer(
    name: str,
    rundir: Path,
    extra_args: Sequence[str] = (),
    timeout: float = 10.0,
) -> RunningPeer:
    """Start peer ``name`` on a free port of 127.0.0.1 and wait until it accepts connections.

    The process runs in the foreground of its own session
    (``start_new_session``), its output goes to ``rundir/<name>.log`` and its
    PID to ``rundir/<name>.pid``. The peer counts as ready when the process
    holds a listening socket on the chosen port and a TCP connect to it
    succeeds. If the port turns out to be taken by someone else (it was free
    when probed), the process is stopped and a new port is tried.

    Args:
        name: a key of :data:`PEERS`.
        rundir: directory for the PID file, logs and configuration; created
            if missing.
        extra_args: more command-line arguments, appended (for C gearmand e.g.
            ``--job-retries=1``, ``--worker-wakeup=1``, ``--verbose=INFO``,
            which then replaces the default ``--verbose=ERROR``).
        timeout: seconds to wait for the peer to listen, over all attempts.

    Raises:
        ValueError: unknown ``name``, or ``extra_args`` holds an option that
            fixes the address, port, run files or daemon mode.
        PeerError: the peer is not installed, is already running from this
            run directory, exited during start-up, did not listen within
            ``timeout``, or listens on an address other than 127.0.0.1 (it is
            stopped then); the message quotes the tail of its log.
    """
    _check_name(name)
    for arg in extra_args:
        for option in _RESERVED_OPTIONS[name]:
            if _matches_option(arg, option):
                raise ValueError(f"extra argument {arg!r} for {name} is set by start_peer itself")
    reason = peer_available(name)
    if reason is not None:
        raise PeerError(reason)
    rundir = Path(rundir).resolve()
    rundir.mkdir(parents=True, exist_ok=True)
    pid_file = rundir / f"{name}.pid"
    old_pid = _read_pid_file(pid_file)
    if old_pid is not None and pid_running(old_pid):
        raise PeerError(f"{name} already running from {rundir} (PID {old_pid} in {pid_file}): stop it first")
    pid_file.unlink(missing_ok=True)

    deadline = time.monotonic() + timeout
    last_failure = ""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = _free_port()
        command = _command(name, port, rundir, extra_args)
        log_path = rundir / f"{name}.log"
        with log_path.open("ab") as log:
            log_offset = log.tell()
            log.write(f"=== gearsim start_peer attempt {attempt}: {' '.join(command)}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=rundir,
                    env=_child_env(name, rundir),
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                raise PeerError(f"cannot execute {command[0]}: {exc}") from exc
        try:
            _write_pid_file(pid_file, proc.pid)
        except OSError as exc:
            _kill_child(proc, 5.0)
            raise PeerError(f"cannot write {pid_file}: {exc}") from exc

        state = _wait_ready(proc, port, deadline)
        if state == "ready":
            _check_loopback_only(proc, name, rundir)
            return RunningPeer(
                name=name,
                host=HOST,
                port=port,
                pid=proc.pid,
                rundir=rundir,
                command=tuple(command),
                process=proc,
            )
        if state == "died":
            tails = _log_tails(name, rundir)
            last_failure = f"{name} exited with status {proc.returncode} during start-up\n{tails}"
            pid_file.unlink(missing_ok=True)
            lost_race = _mentions_port_clash(log_path, log_offset)
            if lost_race and attempt < _PORT_ATTEMPTS and time.monotonic() < deadline:
                continue  # lost a race for the port: try another one
            raise PeerError(last_failure)
        _kill_child(proc, 5.0)
        pid_file.unlink(missing_ok=True)
        if state == "port-taken":
            last_failure = f"port {port} was taken by another process before {name} could listen on it"
            if time.monotonic() < deadline:
                continue
            break
        raise PeerError(f"{name} did not listen on {HOST}:{port} within {timeout} s\n{_log_tails(name, rundir)}")
    raise PeerError(f"{name} could not be started after {_PORT_ATTEMPTS} ports: {last_failure}")


def stop_peer(peer: RunningPeer, timeout: float = 5.0) -> None:
    """Stop a peer by the PID recorded in its PID file: SIGTERM, wait, then SIGKILL.

    Only that PID is signalled, and only while it still runs the peer's
    command (so a reused PID is never hit). Calling it again, or for a peer
    that already exited, does nothing. The PID file is removed at the end.

    Raises:
        PeerError: the PID file holds another PID than ``peer.pid`` or no PID
            at all, or the process survived SIGKILL for ``timeout`` seconds.
    """
    pid_file = peer.pid_file
    pid = _read_pid_file(pid_file)
    if pid is None:
        if peer.process is not None and peer.process.poll() is None:
            raise PeerError(f"{pid_file} is missing but {peer.name} (PID {peer.pid}) still runs")
        return
    if pid != peer.pid:
        raise PeerError(f"{pid_file} holds PID {pid}, but {peer.name} was started as PID {peer.pid}")

    proc = peer.process if peer.process is not None and peer.process.pid == pid else None
    if proc is not None:
        if proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    raise PeerError(f"{peer.name} (PID {pid}) survived SIGKILL for {timeout} s") from None
    elif pid_running(pid) and runs_command(pid, peer.command):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while pid_running(pid) and time.monotonic() < deadline:
                time.sleep(_POLL)
            if not pid_running(pid):
                break
        else:
            raise PeerError(f"{peer.name} (PID {pid}) survived SIGKILL for {timeout} s")
    pid_file.unlink(missing_ok=True)
