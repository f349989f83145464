"""Whether a started server is ready: it listens on its port and answers a read-only round trip (I/O).

This module owns the readiness probe gearsim.io.launch waits on: the child
process holds a listening socket on the chosen port (read from /proc, so a
port taken by someone else is noticed), a TCP connect succeeds, and the
description's read-only round trip (``ECHO_REQ``, or ``GET_STATUS`` of an
unknown handle for servers without ECHO) is answered (``wait_ready``; the
round trip is gearsim.io.preflight's ``round_trip``, which half-closes and
waits for the server to close its end, so it leaves no connection behind for
the next case to see); and ``admin_line``, one admin command and its
one-line reply. A probe answered in bytes no Gearman server sends ends the
wait at once ("not-gearman").
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from gearsim.io.preflight import exchange, foreign, round_trip
from gearsim.io.procfs import proc_listeners, socket_inodes
from gearsim.io.serverdesc import HOST, ServerDescription

__all__ = ["POLL", "admin_line", "round_trip", "wait_ready"]


#: polling interval while waiting for a process to listen or to exit, seconds
POLL = 0.02


def admin_line(address: tuple[str, int], command: bytes, timeout: float) -> bytes:
    """Send one admin command and return its one-line reply (up to the first newline).

    Raises:
        OSError: the connection failed; TimeoutError: no full line within ``timeout``.
    """
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


def _wait_listening(proc: subprocess.Popen[bytes], port: int, deadline: float) -> str:
    """Poll until the child listens on port: "ready", "died", "port-taken" or "timeout"."""
    while True:
        if proc.poll() is not None:
            return "died"
        listeners = proc_listeners(proc.pid)
        inodes = socket_inodes(proc.pid)
        if listeners is not None and inodes is not None:
            on_port = {inode for inode, (_addr, p) in listeners.items() if p == port}
            if on_port & inodes:
                return "ready"
            # a listener on the port that is not the child's (nor a child of it: those
            # share no inode) means someone else holds the port
            if on_port and not _held_by_descendant(proc.pid, on_port):
                return "port-taken"
        else:
            return "ready"  # no /proc: the connect test decides
        if time.monotonic() >= deadline:
            return "timeout"
        time.sleep(POLL)


def _held_by_descendant(pid: int, inodes: set[int]) -> bool:
    """Whether a child process of pid holds one of these socket inodes (a server that forks its listener)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
    except OSError:
        return False
    for child in children:
        held = socket_inodes(int(child))
        if held and held & inodes:
            return True
    return False


def wait_ready(proc: subprocess.Popen[bytes], desc: ServerDescription, port: int, deadline: float) -> str:
    """ "ready", "died", "port-taken", "timeout: <last probe problem>" or "not-gearman: <what it answered>".

    "not-gearman" comes as soon as a probe's answer is no Gearman server's
    (gearsim.io.preflight.foreign): a command that starts a web server, say.
    """
    state = _wait_listening(proc, port, deadline)
    if state != "ready":
        return state
    problem = "no probe yet"
    while True:
        if proc.poll() is not None:
            return "died"
        left = deadline - time.monotonic()
        if left <= 0:
            return f"timeout: {problem}"
        probe = exchange(HOST, port, desc.sync, max(0.05, min(1.0, left)))
        if probe.problem is None:
            return "ready" if proc.poll() is None else "died"
        what = foreign(probe.first, desc.sync) if desc.sync else None
        if what is not None:
            return f"not-gearman: {what}"  # no Gearman server starting up answers so: waiting longer changes nothing
        problem = probe.problem
        time.sleep(POLL)
