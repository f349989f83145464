"""``gearsim serve`` as a live checker, from its command line (issue 13 item 5, issue 16 item 9).

Each test starts ``python -m gearsim serve`` on a free port of 127.0.0.1 and
stops it by its PID: the run header of the log, the exit status after a
peer broke a rule, the wall-clock epoch, and Perl's admin ``shutdown``.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from serve_wire import read_packets, req

from gearsim.io.serve import start_serve_process
from gearsim.protocol.packets import Magic, Packet, PacketType


def test_the_log_gets_a_run_header_per_run_and_says_what_it_already_held(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    for _ in range(2):
        served = start_serve_process(log=log)
        with socket.create_connection(served.address(), timeout=5) as sock:
            sock.sendall(req(PacketType.ECHO_REQ, b"hi"))
            read_packets(sock, 1)
        assert served.stop() == 0
    headers = [line for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert len(headers) == 2
    assert "log_held_bytes_before=0 " in headers[0] + " "
    held = int(headers[1].split("log_held_bytes_before=")[1].split()[0])
    assert held > 0 and " profile=gearmand-1.1 " in headers[1] and " check=true " in headers[1]
    # was without these: a log did not say which options its server ran with
    assert " node=sim exceptions=false job_retries=" in headers[0] and " worker_wakeup=0 " in headers[0]


def test_a_violation_is_printed_with_its_rule_and_serve_exits_1(tmp_path: Path) -> None:
    log = tmp_path / "serve.jsonl"
    served = start_serve_process(log=log)
    with socket.create_connection(served.address(), timeout=5) as sock:
        sock.sendall(req(PacketType.STATUS_RES_UNIQUE, b"u", b"0", b"0", b"0", b"0", b"0"))
        read_packets(sock, 1)
    assert served.stop() == 1
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["kind"] == "run" and rows[0]["check"] is True
    (sent,) = [r for r in rows if r.get("direction") == "c>s"]
    assert [v["id"] for v in sent["violations"]] == ["GM-FRAME-003"]
    # a ServeProcess closes its pipes on stop: read stderr from a fresh run instead
    served = start_serve_process(extra_args=["--log-format", "text"])
    with socket.create_connection(served.address(), timeout=5) as sock:
        sock.sendall(req(PacketType.WORK_STATUS, b"H:x:1", b"1.5", b"2"))
        time.sleep(0.3)
    served.process.terminate()
    _, err = served.process.communicate(timeout=10)
    lines = err.decode().splitlines()
    assert served.process.returncode == 1
    assert lines[0].startswith("gearsim serve: c1 127.0.0.1:") and "GM-FIELD-003 [numerator]" in lines[0]
    assert lines[-1] == "gearsim serve: 1 violation by peers (GM-FIELD-003 x1)"


def epoch_job_grabbed(extra: list[str], when: int) -> bool:
    """Submit an epoch job for Unix time ``when``; does a worker get it at once?"""
    served = start_serve_process(extra_args=extra)
    try:
        with (
            socket.create_connection(served.address(), timeout=5) as client,
            socket.create_connection(served.address(), timeout=5) as worker,
        ):
            client.sendall(req(PacketType.SUBMIT_JOB_EPOCH, b"later", b"e1", str(when).encode(), b"x"))
            read_packets(client, 1)
            worker.sendall(req(PacketType.CAN_DO, b"later") + req(PacketType.GRAB_JOB))
            (reply,) = read_packets(worker, 1)
            return bool(reply.type == PacketType.JOB_ASSIGN)
    finally:
        served.stop()


def test_an_epoch_job_waits_for_its_wall_clock_time_by_default() -> None:
    assert not epoch_job_grabbed([], int(time.time()) + 3600)
    assert epoch_job_grabbed([], int(time.time()) - 5)
    assert not epoch_job_grabbed(["--epoch-now"], int(time.time()) + 3600)


def test_a_pinned_epoch_runs_the_model_clock_from_there() -> None:
    assert epoch_job_grabbed(["--epoch", str(int(time.time()) + 7200)], int(time.time()) + 3600)
    # a past epoch too: the model's clock starts at 1000, so a job for 2000 waits, whatever the wall clock says
    assert not epoch_job_grabbed(["--epoch", "1000"], 2000)
    assert epoch_job_grabbed(["--epoch", "1000"], 999)


@pytest.mark.parametrize("command", [b"shutdown\n", b"shutdown graceful\n"])
def test_perl_s_admin_shutdown_ends_serve_as_it_ends_the_perl_server(command: bytes) -> None:
    """Nothing queued: both end the process at once, status 0 (tests/interop/test_perl_shutdown.py compares more)."""
    served = start_serve_process(profile="perl-1.130")
    with socket.create_connection(served.address(), timeout=5) as admin:
        admin.sendall(command)
        admin.settimeout(5)
        assert admin.recv(100) == b"OK\n"
        assert admin.recv(100) == b""
        assert served.process.wait(10) == 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(served.address(), timeout=5)
    served.stop()


def test_perl_s_graceful_shutdown_waits_for_a_queued_job_and_refuses_newcomers() -> None:
    served = start_serve_process(profile="perl-1.130")
    try:
        with (
            socket.create_connection(served.address(), timeout=5) as client,
            socket.create_connection(served.address(), timeout=5) as admin,
        ):
            client.sendall(req(PacketType.SUBMIT_JOB_BG, b"f", b"", b"x"))
            read_packets(client, 1)
            admin.sendall(b"shutdown graceful\n")
            admin.settimeout(5)
            assert admin.recv(100) == b"OK\n"
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(served.address(), timeout=5)
            client.sendall(req(PacketType.ECHO_REQ, b"still here"))
            assert read_packets(client, 1) == [Packet(Magic.RES, PacketType.ECHO_RES, (b"still here",))]
            assert served.process.poll() is None
    finally:
        served.stop()


def test_max_body_closes_a_header_announcing_more_at_once() -> None:
    served = start_serve_process(extra_args=["--max-body", "64K"])
    try:
        with socket.create_connection(served.address(), timeout=5) as sock:
            sock.sendall(b"\0REQ" + (16).to_bytes(4, "big") + (65537).to_bytes(4, "big") + b"x")
            sock.settimeout(5)
            assert sock.recv(10) == b""
        with socket.create_connection(served.address(), timeout=5) as sock:
            sock.sendall(req(PacketType.ECHO_REQ, b"y" * 65536))
            assert read_packets(sock, 1) == [Packet(Magic.RES, PacketType.ECHO_RES, (b"y" * 65536,))]
    finally:
        served.stop()


def test_serve_in_process_leaves_the_event_loop_policy_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """gearsim serve set uvloop's policy for the whole process: a suite's later driver threads, each with a
    loop of their own, then raced spawning processes ('Racing with another loop to spawn a process')."""
    import asyncio

    from gearsim.cli.main import main

    before = type(asyncio.get_event_loop_policy())
    with socket.create_server(("127.0.0.1", 0)) as taken:  # serve fails at once: its port is in use
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 3
    assert "gearsim serve:" in capsys.readouterr().err
    assert type(asyncio.get_event_loop_policy()) is before
