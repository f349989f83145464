"""Perl's admin ``shutdown``: ``gearsim serve --profile perl-1.130`` exits when the real Perl server does.

Issue 16 item 9. Each scenario runs step by step on a fresh Perl
Gearman::Server 1.130 and on a fresh ``gearsim serve --profile perl-1.130``,
noting after each step whether the process is still running; the two
sequences must be equal. Whether a server still runs is asked on a connection
of its own with ECHO_REQ (an answer, or the close of a process that
exited), so no step depends on timing. Perl exits at once after a bare ``shutdown``; after
``shutdown graceful`` it stops listening and exits when no function has a
queue entry, at once or when a job a worker held ends (PERL-6: the entry
outlives the last queued job until a GRAB_* finds the queue empty).
Loopback only; every process is stopped by its own PID.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gearsim.io.peers import start_peer, stop_peer
from gearsim.io.serve import start_serve_process
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.packets import Packet, PacketType
from gearsim.testing.peer_fixtures import require_peer

pytestmark = pytest.mark.interop

#: how long the submissions of one step may take to reach the server
SETTLE = 0.2


class Probe:
    """A running server under a scenario: its address, and whether its process still runs."""

    def __init__(self, address: tuple[str, int], process: subprocess.Popen[bytes]) -> None:
        self.address = address
        self.process = process
        self.seen: list[str] = []
        self._pinger = self.connect()

    def note(self, what: str) -> None:
        """Ask the server for an ECHO: it answers while it runs; its exit closes the connection."""
        try:
            self._pinger.sendall(req(PacketType.ECHO_REQ, b"alive?"))
            answered = bool(self._pinger.recv(100))
        except ConnectionError:
            answered = False
        if answered:
            self.seen.append(f"{what}: running")
        else:
            self.seen.append(f"{what}: exited {self.process.wait(10)}")

    def connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=5)
        sock.settimeout(2)
        return sock


def req(type_: PacketType, *args: bytes) -> bytes:
    return encode(Packet.req(type_, *args))


def settled(sock: socket.socket) -> None:
    """Wait until the server has handled what ``sock`` sent: an ECHO behind it is answered, or the server closed.

    The probe asks on another connection, and a server may serve connections in
    any order, so without this the probe could overtake the step it reports on.
    """
    try:
        sock.sendall(req(PacketType.ECHO_REQ, b"settled?"))
        sock.recv(4096)
    except OSError:
        pass  # a server that exited has handled it too


def reply(sock: socket.socket) -> list[Packet]:
    """The packets of one read (what the server sent in answer)."""
    return [m for m in Decoder().feed(sock.recv(4096)) if isinstance(m, Packet)]


@contextmanager
def perl(tmp_path: Path) -> Iterator[Probe]:
    peer = start_peer("perl-gearman-server", tmp_path)
    try:
        yield Probe(peer.address(), peer.process)
    finally:
        if peer.process.poll() is None:
            stop_peer(peer)


@contextmanager
def served() -> Iterator[Probe]:
    serve = start_serve_process(profile="perl-1.130")
    try:
        yield Probe(serve.address(), serve.process)
    finally:
        serve.stop()


def idle_graceful(p: Probe) -> None:
    admin = p.connect()
    admin.sendall(b"shutdown graceful\n")
    assert admin.recv(100) == b"OK\n"
    p.note("graceful, nothing queued")


def queued_job_keeps_it(p: Probe) -> None:
    worker, client, admin = p.connect(), p.connect(), p.connect()
    client.sendall(req(PacketType.SUBMIT_JOB_BG, b"f", b"", b"x"))
    reply(client)
    admin.sendall(b"shutdown graceful\n")
    admin.recv(100)
    p.note("graceful, a job queued")
    worker.sendall(req(PacketType.CAN_DO, b"f") + req(PacketType.GRAB_JOB))
    (assign,) = reply(worker)
    p.note("job grabbed")
    worker.sendall(req(PacketType.WORK_COMPLETE, assign.args[0], b"done"))
    settled(worker)
    p.note("job completed, its queue entry left")


def job_end_after_empty_grab_exits(p: Probe) -> None:
    worker, client, admin = p.connect(), p.connect(), p.connect()
    worker.sendall(req(PacketType.CAN_DO, b"f"))
    client.sendall(req(PacketType.SUBMIT_JOB_BG, b"f", b"", b"1") + req(PacketType.SUBMIT_JOB_BG, b"f", b"", b"2"))
    time.sleep(SETTLE)
    handles = []
    for _ in range(2):
        worker.sendall(req(PacketType.GRAB_JOB))
        handles.append(reply(worker)[0].args[0])
    admin.sendall(b"shutdown graceful\n")
    admin.recv(100)
    p.note("graceful, both jobs running, the queue entry left")
    worker.sendall(req(PacketType.GRAB_JOB))
    assert [m.type for m in reply(worker)] == [PacketType.NO_JOB]
    p.note("a grab found the queue empty")
    worker.sendall(req(PacketType.WORK_COMPLETE, handles[0], b"done"))
    settled(worker)
    p.note("a job ended")


def worker_gone_ends_its_job(p: Probe) -> None:
    worker, client, admin = p.connect(), p.connect(), p.connect()
    worker.sendall(req(PacketType.CAN_DO, b"f"))
    client.sendall(req(PacketType.SUBMIT_JOB_BG, b"f", b"", b"1"))
    time.sleep(SETTLE)
    worker.sendall(req(PacketType.GRAB_JOB))
    reply(worker)
    worker.sendall(req(PacketType.PRE_SLEEP))
    assert [m.type for m in reply(worker)] == [PacketType.NOOP]  # the stale entry answers PRE_SLEEP too
    worker.sendall(req(PacketType.GRAB_JOB))
    reply(worker)
    admin.sendall(b"shutdown graceful\n")
    admin.recv(100)
    p.note("graceful, the job running, no queue entry")


def bare_shutdown(p: Probe) -> None:
    other, admin = p.connect(), p.connect()
    admin.sendall(b"shutdown\n")
    assert admin.recv(100) == b"OK\n"
    p.note("shutdown")
    assert other.recv(10) == b""


SCENARIOS: dict[str, tuple[Callable[[Probe], None], list[str]]] = {
    "idle-graceful": (idle_graceful, ["graceful, nothing queued: exited 0"]),
    "queued-job-keeps-it": (
        queued_job_keeps_it,
        [
            "graceful, a job queued: running",
            "job grabbed: running",
            "job completed, its queue entry left: running",
        ],
    ),
    "job-end-after-empty-grab": (
        job_end_after_empty_grab_exits,
        [
            "graceful, both jobs running, the queue entry left: running",
            "a grab found the queue empty: running",
            "a job ended: exited 0",
        ],
    ),
    "running-job-only": (worker_gone_ends_its_job, ["graceful, the job running, no queue entry: exited 0"]),
    "bare": (bare_shutdown, ["shutdown: exited 0"]),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_serve_exits_when_the_perl_server_exits(name: str, tmp_path: Path) -> None:
    require_peer("perl-gearman-server")
    scenario, expected = SCENARIOS[name]
    with perl(tmp_path) as real:
        scenario(real)
    with served() as model:
        scenario(model)
    assert real.seen == expected
    assert model.seen == real.seen
