"""Examples of ``gearsim fuzz`` share nothing on gearmand, and none is judged after a ``drop function`` of queued jobs.

gearmand 1.1 answers OK to ``drop function`` for a function with queued jobs
and keeps the jobs (the defect drop-function-keeps-queued-jobs), pointing at
the freed function; its unique lookup compares the function by address. A
later function allocated at the same address inherits them: measured on
127.0.0.1, ``gearsim fuzz --examples 500`` (seed 0) reported a divergence at
example 192, whose ``SUBMIT_JOB_HIGH`` with the unique ``-`` (the workload
``b`` as its unique) was given example 150's job, and whose written vector
passes. The fuzz now namespaces the workload of a ``-`` submission as it does
names. Within one example the same reuse gave a client another function's
job (seeds 1 and 2: SUBMIT_JOB f2 u1, drop function f2, SUBMIT_JOB f1 u1 ->
the dropped job's handle): under a profile that records the defect, the
example compares nothing after such a drop. A gearmand of its own for each
test: the address reuse depends on what ran before.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearsim.fuzz.actions import Action, Fn, Kind, Names, Uq
from gearsim.fuzz.session import model_vs_server
from gearsim.io.peers import RunningPeer, start_peer, stop_peer
from gearsim.protocol.packets import PacketType
from gearsim.testing.peer_fixtures import require_peer

pytestmark = pytest.mark.interop


@pytest.fixture
def fresh_gearmand(tmp_path: Path) -> Iterator[RunningPeer]:
    require_peer("gearmand-c")
    peer = start_peer("gearmand-c", tmp_path)
    try:
        yield peer
    finally:
        stop_peer(peer)


def _handle(sock: socket.socket, data: bytes) -> bytes:
    """Send one submission; the handle of the JOB_CREATED it answers."""
    sock.sendall(data)
    header = sock.recv(12, socket.MSG_WAITALL)
    magic, kind, size = struct.unpack(">4sII", header)
    assert (magic, kind) == (b"\0RES", PacketType.JOB_CREATED), header
    return sock.recv(size, socket.MSG_WAITALL)


def _admin(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line + b"\n")
    return sock.recv(4096)


def test_two_examples_dash_submissions_get_two_jobs_after_a_drop_of_queued_jobs(fresh_gearmand: RunningPeer) -> None:
    submit = Action(Kind.PACKET, "c1", PacketType.SUBMIT_JOB_HIGH_BG, (Fn("f1"), Uq("-"), b"b"))
    first, second = Names(b"gz0-150-"), Names(b"gz0-192-")
    address = (fresh_gearmand.host, fresh_gearmand.port)
    with socket.create_connection(address, timeout=5) as client, socket.create_connection(address, timeout=5) as admin:
        kept = _handle(client, first.wire(submit, []))
        assert _admin(admin, b"drop function " + first.function("f1")).startswith(b"OK")  # its job stays queued
        assert _handle(client, second.wire(submit, [])) != kept


def test_an_example_compares_nothing_after_gearmand_drops_a_function_with_queued_jobs(
    fresh_gearmand: RunningPeer,
) -> None:
    make = model_vs_server(fresh_gearmand.host, fresh_gearmand.port, "gearmand-1.1", "t", identity="OK 1.1.20")
    diff = make(1)
    try:
        diff.apply(Action(Kind.PACKET, "c1", PacketType.SUBMIT_JOB, (Fn("f2"), Uq("u1"), b"")))
        drop = diff.apply(Action(Kind.ADMIN, "a1", None, (b"drop", b"function", Fn("f2"))))
        assert drop.real == drop.model  # compared: both answer OK and keep the job (a defect the profile records)
        assert diff.undefined == "drop-function-keeps-queued-jobs"
        # gearmand gives this the dropped job's handle (f1 allocated where f2 was); the model a new one
        after = diff.apply(Action(Kind.PACKET, "c1", PacketType.SUBMIT_JOB, (Fn("f1"), Uq("u1"), b"")))
        assert (after.model, after.real, after.problem) == ({}, {}, "")
        diff.drain()  # nothing to drain either: it would compare
    finally:
        diff.close()
