"""``gearsim serve`` over real sockets: it answers ECHO and a submission, logs every message, binds loopback.

Starts ``python -m gearsim serve`` as a child process (stopped by its
PID), and also drives ``ServeShell`` in-process for the timer path. Needs
nothing but Python.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearsim.io.peers import listening_sockets
from gearsim.io.serve import ServeProcess, ServeShell, start_serve_process
from gearsim.model import Server
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.packets import Magic, Message, Packet, PacketType
from gearsim.protocol.trace import TraceRecord

pytestmark = pytest.mark.interop

IO_TIMEOUT = 5.0


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    proc = start_serve_process(log=tmp_path / "serve.log")
    try:
        yield proc
    finally:
        proc.stop()


def _req(type_: PacketType, *args: bytes) -> bytes:
    return encode(Packet(Magic.REQ, type_, args))


def _read(sock: socket.socket, count: int) -> list[Message]:
    decoder = Decoder()
    got: list[Message] = []
    deadline = time.monotonic() + IO_TIMEOUT
    while len(got) < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            break
        got += decoder.feed(data)
    return got


def test_serve_binds_loopback_and_announces_the_port(served: ServeProcess) -> None:
    assert served.host == "127.0.0.1" and served.port > 0
    assert listening_sockets(served.pid) == [("127.0.0.1", served.port)]


def test_serve_answers_echo_and_a_background_submission(served: ServeProcess) -> None:
    with socket.create_connection(served.address(), timeout=IO_TIMEOUT) as sock:
        sock.sendall(_req(PacketType.ECHO_REQ, b"ping\0pong"))
        assert _read(sock, 1) == [Packet(Magic.RES, PacketType.ECHO_RES, (b"ping\0pong",))]
        sock.sendall(_req(PacketType.SUBMIT_JOB_BG, b"reverse", b"u1", b"hello"))
        (created,) = _read(sock, 1)
        assert isinstance(created, Packet) and created.type == PacketType.JOB_CREATED
        handle = created.args[0]
        sock.sendall(_req(PacketType.GET_STATUS, handle))
        assert _read(sock, 1) == [Packet(Magic.RES, PacketType.STATUS_RES, (handle, b"1", b"0", b"0", b"0"))]
    served.stop()
    header, *lines = (served.log or Path()).read_text(encoding="utf-8").splitlines()
    assert header.startswith("# gearsim serve run: started=") and " profile=gearmand-1.1 " in header
    shown = [line.split(" ", 2)[2] for line in lines]
    assert shown[0].startswith("peer accept # 127.0.0.1:")
    assert shown[1:7] == [
        'peer>server ECHO_REQ "ping\\x00pong"',
        'server>peer ECHO_RES "ping\\x00pong"',
        'peer>server SUBMIT_JOB_BG "reverse" "u1" "hello"',
        f'server>peer JOB_CREATED "{handle.decode()}"',
        f'peer>server GET_STATUS "{handle.decode()}"',
        f'server>peer STATUS_RES "{handle.decode()}" "1" "0" "0" "0"',
    ]
    assert shown[7] == "peer close # closed by the peer"
    assert all(line[:9].isdigit() and line[10:12] == "c1" for line in lines)


def test_serve_runs_a_foreground_job_between_two_connections(served: ServeProcess) -> None:
    with (
        socket.create_connection(served.address(), timeout=IO_TIMEOUT) as worker,
        socket.create_connection(served.address(), timeout=IO_TIMEOUT) as client,
    ):
        worker.sendall(_req(PacketType.CAN_DO, b"reverse") + _req(PacketType.PRE_SLEEP))
        client.sendall(_req(PacketType.SUBMIT_JOB, b"reverse", b"", b"hello"))
        (created,) = _read(client, 1)
        assert isinstance(created, Packet)
        handle = created.args[0]
        assert _read(worker, 1) == [Packet(Magic.RES, PacketType.NOOP, ())]
        worker.sendall(_req(PacketType.GRAB_JOB))
        assert _read(worker, 1) == [Packet(Magic.RES, PacketType.JOB_ASSIGN, (handle, b"reverse", b"hello"))]
        worker.sendall(_req(PacketType.WORK_COMPLETE, handle, b"olleh"))
        assert _read(client, 1) == [Packet(Magic.RES, PacketType.WORK_COMPLETE, (handle, b"olleh"))]


def test_a_port_in_use_is_one_line_and_exit_3() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "gearsim", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        f"gearsim serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "nope"], "gearsim serve: unknown profile 'nope'"),
        (["--log", "/nonexistent-dir/x.log"], "gearsim serve: cannot open log file /nonexistent-dir/x.log"),
    ],
)
def test_bad_input_is_one_line_and_exit_3(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gearsim", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), done.stderr


def _assigned(records: list[TraceRecord]) -> list[int]:
    return [r.tick for r in records if isinstance(r.message, Packet) and r.message.type == PacketType.JOB_ASSIGN]


def test_the_shell_fires_the_model_timer_on_the_wall_clock() -> None:
    """CAN_DO_TIMEOUT 1 s: the job is requeued about 1 s after the grab (B-K8), via next_deadline/advance."""

    async def scenario() -> tuple[list[TraceRecord], int]:
        records: list[TraceRecord] = []
        shell = ServeShell(Server("gearmand-1.1"), recorder=records.append)
        shell.bind_loop()
        received: list[bytes] = []
        worker = shell.open_local(received.append, lambda: None)
        client = shell.open_local(lambda data: None, lambda: None)
        shell.send_local(worker, _req(PacketType.CAN_DO_TIMEOUT, b"f", b"1000"))
        shell.send_local(client, _req(PacketType.SUBMIT_JOB_BG, b"f", b"u", b"x"))
        shell.send_local(worker, _req(PacketType.GRAB_JOB))
        start = shell.now()
        while shell.now() - start < 3000:
            await asyncio.sleep(0.02)
            shell.send_local(worker, _req(PacketType.GRAB_JOB))
            if len(_assigned(records)) >= 2:
                break
        assigned = _assigned(records)
        await shell.close()
        return records, assigned[1] - assigned[0] if len(assigned) >= 2 else -1

    _, gap = asyncio.run(scenario())
    assert 950 <= gap <= 2000, gap
