"""One run of a spec probe: connections to a fresh server and the transcript of what each said and heard.

This module owns ``Lab`` (the server of one run, its connections and the
transcript lines), ``Conn`` (one connection, every read bounded by a
timeout), ``req`` (a request packet by type name) and how bytes are written
in transcripts (``describe``, ``repr_bytes``: the machine's node name in
handles becomes ``<node>``). tools/probe_spec.py imports it after putting
tools/ and the repository on ``sys.path``.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from probe_codec_cases import TYPE_NAMES, escape, pkt

from gearsim.io.launch import start_server
from gearsim.io.peers import RunningPeer, stop_peer

_NUMBERS = {name: number for number, name in TYPE_NAMES.items()}


#: how long a read waits for the first byte, and for more after some arrived
_WAIT = 0.4


_IDLE = 0.15


def req(name: str, *args: bytes | str) -> bytes:
    """A request packet of type ``name`` whose body is ``args`` joined by NULs."""
    body = b"\0".join(a.encode() if isinstance(a, str) else a for a in args)
    return pkt(_NUMBERS[name], body)


class Conn:
    """One client connection of a probe run; everything it does goes to the run's transcript."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.sock = socket.create_connection(lab.peer.address(), timeout=3.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed = ""

    def send(self, data: bytes, *, label: str = "") -> None:
        """Send bytes; the transcript shows ``label`` (or the decoded packets) rather than the raw bytes."""
        self.lab.say(f"{self.name} > {label or describe(data, self.lab.node)}")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.closed = self.closed or type(exc).__name__
            self.lab.say(f"{self.name} ! send failed: {type(exc).__name__}")

    def read(self, wait: float = _WAIT, *, show: Callable[[bytes], str] | None = None) -> bytes:
        """Collect what arrives within ``wait`` s (and ``_IDLE`` s after each chunk); record it."""
        data = b""
        deadline = time.monotonic() + wait
        while not self.closed:
            now = time.monotonic()
            if now >= deadline:
                break
            self.sock.settimeout(deadline - now)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:
                break
            except OSError as exc:
                self.closed = type(exc).__name__
                break
            if not chunk:
                self.closed = "eof"
                break
            data += chunk
            deadline = max(deadline, time.monotonic() + _IDLE) if len(data) < 64 else time.monotonic() + _IDLE
        if data:
            self.lab.say(f"{self.name} < {show(data) if show else describe(data, self.lab.node)}")
        elif not self.closed:
            self.lab.say(f"{self.name} < (nothing within {wait:g} s)")
        if self.closed:
            self.lab.say(f"{self.name} < closed ({self.closed})")
        return data

    def close(self) -> None:
        self.sock.close()


@dataclass
class Lab:
    """The server of one probe run and the transcript being written."""

    peer: RunningPeer
    node: str
    lines: list[str] = field(default_factory=list)
    conns: list[Conn] = field(default_factory=list)
    #: the server's extra command-line words, given again when it is restarted
    extra: tuple[str, ...] = ()

    def conn(self, name: str) -> Conn:
        c = Conn(self, name)
        self.conns.append(c)
        return c

    def say(self, line: str) -> None:
        self.lines.append(line)

    def restart(self) -> None:
        """Stop the server by its PID (SIGTERM) and start it again on the same port, ready.

        Open connections are left to see what the stopped server did to them.
        """
        old = self.peer
        stop_peer(old)
        assert old.description is not None  # start_peer always sets it
        self.peer = start_server(old.description, old.rundir, extra_args=self.extra, port=old.port)
        self.say("(server stopped by SIGTERM and started again on the same port)")

    def pause(self, seconds: float) -> None:
        self.say(f"(wait {seconds:g} s)")
        time.sleep(seconds)

    def admin(self, conn: Conn, line: str) -> bytes:
        conn.send(line.encode() + b"\n")
        return conn.read()

    def memory(self) -> dict[str, int]:
        """VmSize and VmRSS of the server process, kB."""
        out: dict[str, int] = {}
        try:
            text = Path(f"/proc/{self.peer.pid}/status").read_text()
        except OSError:
            return out
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in ("VmSize", "VmRSS"):
                out[key] = int(value.split()[0])
        return out


def describe(data: bytes, node: str) -> str:
    """Packets as ``TYPE [arg, ...]``, admin text as lines; handles with ``<node>``."""
    parts: list[str] = []
    i = 0
    while i < len(data):
        if data[i] != 0:
            end = data.find(b"\n", i)
            end = len(data) if end < 0 else end + 1
            parts.append(repr_bytes(data[i:end], node))
            i = end
            continue
        if len(data) - i < 12:
            parts.append(f"partial header {data[i:].hex()}")
            break
        magic = data[i : i + 4]
        ptype, size = struct.unpack(">II", data[i + 4 : i + 12])
        body = data[i + 12 : i + 12 + size]
        name = TYPE_NAMES.get(ptype, f"type {ptype}")
        prefix = "" if magic in (b"\0REQ", b"\0RES") else f"magic {magic.hex()} "
        args = ", ".join(repr_bytes(a, node) for a in body.split(b"\0")) if body else ""
        short = f" ({len(body)} of {size} body bytes)" if len(body) < size else ""
        parts.append(f"{prefix}{name} [{args}]{short}")
        i += 12 + len(body)
    return "; ".join(parts)


def repr_bytes(data: bytes, node: str) -> str:
    """Readable bytes (tools/probe_codec_cases.escape), long runs shortened, the node name replaced."""
    if node:
        data = data.replace(f"H:{node}:".encode(), b"H:<node>:")
    if len(data) > 80:
        return f"'{escape(data[:24])}...' ({len(data)} bytes, sha256 {_digest(data)})"
    return f"'{escape(data)}'"


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:16]
