"""Linux /proc helpers for peer processes: listening sockets, liveness, argv.

It knows nothing of Gearman and does not import gearsim.io.peers (which builds
on it). It owns reading ``/proc/<pid>/net/tcp{,6}`` (TCP sockets in LISTEN
state and their addresses), ``/proc/<pid>/fd`` (which socket inodes a process
holds), ``/proc/<pid>/stat`` (whether a process still runs and is not a
zombie) and ``/proc/<pid>/cmdline`` (what it runs, to guard against PID
reuse). Every reader returns a "cannot tell" value (None, [], or a fallback to
``kill(pid, 0)``) instead of raising when /proc is missing or the process is
gone; :func:`gearsim.io.peers.listening_sockets` turns that into a PeerError.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "cmdline",
    "pid_running",
    "proc_listeners",
    "runs_command",
    "socket_inodes",
]


def _decode_proc_address(text: str) -> tuple[str, int]:
    addr_hex, port_hex = text.split(":")
    raw = bytes.fromhex(addr_hex)
    # /proc/net/tcp{,6} print each 32-bit word in host (little-endian) order
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, swapped), int(port_hex, 16)


def proc_listeners(pid: int) -> dict[int, tuple[str, int]] | None:
    """Inode -> (address, port) of every TCP LISTEN socket in pid's network namespace.

    None when /proc/<pid>/net/tcp cannot be read (process gone, or not Linux).
    """
    found: dict[int, tuple[str, int]] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text(encoding="ascii").splitlines()[1:]
        except FileNotFoundError:
            if table == "tcp6":
                continue  # IPv6 disabled
            return None
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "0A":  # 0A = TCP_LISTEN
                continue
            found[int(fields[9])] = _decode_proc_address(fields[1])
    return found


def socket_inodes(pid: int) -> set[int] | None:
    """Inodes of the sockets pid holds open; None when /proc/<pid>/fd cannot be read."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    inodes: set[int] = set()
    for fd in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:[") and target.endswith("]"):
            inodes.add(int(target[8:-1]))
    return inodes


def pid_running(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state != ["Z"] and state != ["X"]


def cmdline(pid: int) -> list[str]:
    """The argv of pid from /proc/<pid>/cmdline; empty when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", errors="replace") for part in raw.split(b"\0") if part]


def runs_command(pid: int, command: Sequence[str]) -> bool:
    """Whether pid still runs the peer started with ``command`` (guards against PID reuse)."""
    if not command:
        return False
    argv = cmdline(pid)
    # the kernel execs scripts as "interpreter script args", so match the tail
    return len(argv) >= len(command) and argv[-len(command) :] == list(command)
