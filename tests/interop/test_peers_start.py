"""Each real Gearman server starts on 127.0.0.1, answers, and stops by its recorded PID.

These tests start their own peers (not the session fixtures) because they
check stopping too. A missing peer skips, or fails under GEARSIM_REQUIRE_PEERS=1.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

import pytest

from gearsim.io.peers import HOST, PEERS, RunningPeer, listening_sockets, peer_available, start_peer, stop_peer
from gearsim.testing.peer_fixtures import require_peer

pytestmark = pytest.mark.interop

ECHO_REQ = 16
ECHO_RES = 17
IO_TIMEOUT = 5.0


def _recv_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"got {len(data)} of {size} bytes: {data!r}")
        sock.settimeout(remaining)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes: {data!r}")
        data += chunk
    return data


def _recv_until(sock: socket.socket, suffix: bytes, deadline: float) -> bytes:
    data = b""
    while not data.endswith(suffix):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {suffix!r} ending yet: {data!r}")
        sock.settimeout(remaining)
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed before {suffix!r}: {data!r}")
        data += chunk
    return data


def _echo(peer: RunningPeer, payload: bytes) -> tuple[bytes, int, bytes]:
    """Send ECHO_REQ; return (magic, type, body) of the reply."""
    deadline = time.monotonic() + IO_TIMEOUT
    with socket.create_connection(peer.address(), timeout=IO_TIMEOUT) as sock:
        sock.sendall(b"\0REQ" + struct.pack(">II", ECHO_REQ, len(payload)) + payload)
        header = _recv_exactly(sock, 12, deadline)
        ptype, size = struct.unpack(">II", header[4:])
        body = _recv_exactly(sock, size, deadline)
    return header[:4], ptype, body


def _admin(peer: RunningPeer, line: bytes, end: bytes) -> bytes:
    deadline = time.monotonic() + IO_TIMEOUT
    with socket.create_connection(peer.address(), timeout=IO_TIMEOUT) as sock:
        sock.sendall(line)
        return _recv_until(sock, end, deadline)


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("name", sorted(PEERS))
def test_peer_starts_answers_and_stops(name: str, tmp_path: Path) -> None:
    require_peer(name)
    peer = start_peer(name, tmp_path)
    try:
        assert peer.address() == (HOST, peer.port)
        assert peer.pid_file.read_text().strip() == str(peer.pid)
        sockets = listening_sockets(peer.pid)
        assert (HOST, peer.port) in sockets
        assert all(addr == HOST for addr, _port in sockets), sockets
        if name == "gearmand-c":
            # without -d gearmand stays in the foreground: its own pid file names the spawned process
            assert (tmp_path / "gearmand.pid").read_text().strip() == str(peer.pid)
        if name == "gear":
            # gear does not implement ECHO_REQ; its admin status answers with a listing
            assert _admin(peer, b"status\n", b".\n").endswith(b".\n")
        else:
            payload = b"gearsim\0echo"
            assert _echo(peer, payload) == (b"\0RES", ECHO_RES, payload)
        assert peer.version() != "unknown"
    finally:
        stop_peer(peer)
    assert _pid_gone(peer.pid)
    assert not peer.pid_file.exists()
    stop_peer(peer)  # idempotent


def test_session_fixtures_share_one_running_peer(
    gearmand_c: RunningPeer, perl_gearman_server: RunningPeer, gear_server: RunningPeer
) -> None:
    peers = {p.name: p for p in (gearmand_c, perl_gearman_server, gear_server)}
    assert set(peers) == set(PEERS)
    assert len({p.port for p in peers.values()}) == 3
    for peer in peers.values():
        assert peer.process is not None and peer.process.poll() is None
        assert _admin(peer, b"status\n", b".\n").endswith(b".\n")


def test_unknown_peer_and_reserved_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown peer"):
        peer_available("no-such-server")
    with pytest.raises(ValueError, match="set by start_peer"):
        start_peer("gearmand-c", tmp_path, ["--port=4730"])
    with pytest.raises(ValueError, match="set by start_peer"):
        start_peer("perl-gearman-server", tmp_path, ["-d"])
    assert not any(tmp_path.iterdir())
