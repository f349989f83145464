"""Whether a started server is ready: it listens on its port and answers a read-only round trip (I/O).

This module owns the readiness probe gearsim.io.launch waits on: the child
process holds a listening socket on the chosen port (read from /proc, so a
port taken by someone else is noticed), a TCP connect succeeds, and the
description's read-only round trip (``ECHO_REQ``, or ``GET_STATUS`` of an
unknown handle for servers without ECHO) is answered (``round_trip``,
``wait_ready``); and ``admin_line``, one admin command and its one-line
reply. A probe half-closes and waits for the server to close its end, so it
leaves no connection behind for the next case to see.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from pathlib import Path

from gearsim.errors import DecodeError
from gearsim.io.procfs import proc_listeners, socket_inodes
from gearsim.io.serverdesc import HOST, ServerDescription
from gearsim.io.tcp import is_sync_reply, sync_request
from gearsim.protocol.codec import Decoder, encode
from gearsim.run.batch import CLOSE_WAIT

__all__ = ["KEPT", "POLL", "admin_line", "exchange", "probe_bytes", "round_trip", "wait_ready"]


#: polling interval while waiting for a process to listen or to exit, seconds
POLL = 0.02


_PROBE_TOKEN = b"gearsim-ready"


def _await_close(sock: socket.socket, wait: float) -> None:
    """Half-close ``sock`` and wait (at most ``wait`` seconds) until the server closed its end. Never raises.

    A probe must leave nothing behind that the next case could see: a server
    lists a connection (admin ``workers``) until it has processed its close,
    and gearmand drops the row only when it closes its own end.
    """
    deadline = time.monotonic() + wait
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):
                return


def probe_bytes(sync: str) -> bytes:
    """The bytes of the probe request ``sync`` (ECHO_REQ or GET_STATUS) as ``round_trip`` sends them.

    Raises:
        ValueError: ``sync`` is not ECHO_REQ or GET_STATUS.
    """
    return encode(sync_request(sync, _PROBE_TOKEN))


def round_trip(host: str, port: int, sync: str, timeout: float) -> str | None:
    """Connect and play one read-only request (``sync``: ECHO_REQ or GET_STATUS); None when answered.

    An answered probe half-closes and waits (bounded) for the server to close
    its end, so the probe's connection is gone before the caller goes on.

    Returns:
        None when the server answered as expected, else a one-line reason
        ("cannot connect ...", "closed the connection", "no reply within ...",
        "answered ... instead"). With ``sync`` empty only the connect is tried.
        Never raises.
    """
    return exchange(host, port, sync, timeout)[0]


#: the most bytes of a probe's answer kept for the caller to look at (gearsim.io.preflight)
KEPT = 256


def exchange(host: str, port: int, sync: str, timeout: float) -> tuple[str | None, bytes]:
    """``round_trip``'s reason (None when answered), and the first bytes the server sent (at most ``KEPT``).

    Never raises.
    """
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except ConnectionResetError:
        return f"{host}:{port} reset the connection at once", b""  # someone listens, and hangs up
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc}", b""
    with contextlib.closing(sock):
        if not sync:
            return None, b""
        decoder = Decoder()
        first = b""
        try:
            sock.sendall(probe_bytes(sync))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return f"no reply to {sync} within {timeout:g} s", first
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    return f"closed the connection after {sync}", first
                first = (first + data)[:KEPT]
                for message in decoder.feed(data):
                    if is_sync_reply(message, _PROBE_TOKEN):
                        _await_close(sock, CLOSE_WAIT)
                        return None, first
                    return f"answered {message!r} to {sync}", first
        except TimeoutError:
            return f"no reply to {sync} within {timeout:g} s", first
        except OSError as exc:
            return f"connection failed during {sync}: {exc}", first
        except DecodeError as exc:
            return f"answered bytes that do not decode: {exc}", first


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
    """ "ready", "died", "port-taken" or "timeout: <last probe problem>"."""
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
        found = round_trip(HOST, port, desc.sync, max(0.05, min(1.0, left)))
        if found is None:
            return "ready" if proc.poll() is None else "died"
        problem = found
        time.sleep(POLL)
