#!/usr/bin/env python3
"""Record small captures of real Gearman peers into tests/data/ (loopback only).

For each (server, scenario) pair this starts the server with
``gearsim.io.peers.start_peer`` on a free port of 127.0.0.1, starts
``tcpdump -i lo`` filtered on that port, runs the scenario's real clients and
workers (the gearman CLI, PHP's gearman extension, or raw sockets for packets
no library sends), then stops tcpdump and the server by the PIDs this script
started. Output: ``tests/data/<server>.<scenario>.pcap``, tens of KB each.

This is a tool, not a test: it waits on the wall clock for the peers.

Usage: python tools/record_captures.py [--out DIR] [--server NAME ...] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gearsim.io.peers import RunningPeer, start_peer, stop_peer
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.packets import Message, Packet, PacketType

T = PacketType
QUIET = subprocess.DEVNULL


def _filter(port: int) -> list[str]:
    """The capture filter: loopback traffic to or from the server's port only."""
    return [f"tcp port {port} and host 127.0.0.1"]


SERVERS = ("gearmand-c", "perl-gearman-server", "gear")
SHORT = {"gearmand-c": "gearmand", "perl-gearman-server": "perlgs", "gear": "gear"}


class Conn:
    """A blocking test connection that collects whatever the server sends."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        self.decoder = Decoder()
        self.got: list[Message] = []

    def send(self, *packets: Packet | bytes) -> None:
        self.sock.sendall(b"".join(p if isinstance(p, bytes) else encode(p) for p in packets))

    def read(self, wait: float = 0.3) -> list[Message]:
        self.sock.settimeout(wait)
        out: list[Message] = []
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                out += self.decoder.feed(data)
        except TimeoutError:
            pass
        self.got += out
        return out

    def close(self) -> None:
        self.sock.close()


def _handle(messages: list[Message], kind: int) -> bytes | None:
    for m in messages:
        if isinstance(m, Packet) and m.type == kind and m.args:
            return m.args[0]
    return None


def scenario_raw(port: int, server: str, work: Path) -> None:
    """Raw packets: options, echo with NULs, coalesced submits, status polls, WORK_* with NULs."""
    worker = Conn(port)
    worker.send(Packet.req(T.SET_CLIENT_ID, b"w1"), Packet.req(T.CAN_DO, b"reverse"))
    client = Conn(port)
    client.send(Packet.req(T.OPTION_REQ, b"exceptions"))
    client.read()
    client.send(Packet.req(T.ECHO_REQ, b"a\0b\0"))
    client.read()
    client.send(Packet.req(T.SUBMIT_JOB, b"reverse", b"u1", b"ab\0cd"))
    handle = _handle(client.read(), T.JOB_CREATED) or b"?"
    other = Conn(port)
    other.send(Packet.req(T.SUBMIT_JOB, b"reverse", b"u1", b"ab\0cd"))
    other.read()
    client.send(Packet.req(T.GET_STATUS, handle))
    client.read()
    client.send(Packet.req(T.GET_STATUS_UNIQUE, b"u1"))
    client.read()
    grab = T.GRAB_JOB if server == "perl-gearman-server" else T.GRAB_JOB_UNIQ
    worker.send(Packet.req(grab))
    assigned = worker.read()
    job = next(
        (
            m.args[0]
            for m in assigned
            if isinstance(m, Packet) and m.args and m.type in (T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ)
        ),
        handle,
    )
    worker.send(Packet.req(T.WORK_STATUS, job, b"1", b"2"))
    worker.read(0.1)
    worker.send(Packet.req(T.WORK_DATA, job, b"x\0y"))
    worker.read(0.1)
    worker.send(Packet.req(T.WORK_COMPLETE, job, b"dc\0ba"))
    worker.read()
    client.read()
    other.read()
    client.send(Packet.req(T.GET_STATUS, handle))
    client.read()
    client.send(Packet.req(T.SUBMIT_JOB_BG, b"reverse", b"", b"bg"))
    client.read()
    worker.send(Packet.req(grab))
    assigned = worker.read()
    job = next(
        (
            m.args[0]
            for m in assigned
            if isinstance(m, Packet) and m.args and m.type in (T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ)
        ),
        b"?",
    )
    worker.send(Packet.req(T.WORK_FAIL, job))
    worker.read()
    admin = Conn(port)
    for line in (b"status\n", b"workers\n", b"version\n"):
        admin.send(line)
        admin.read()
    for c in (admin, other, client, worker):
        c.close()


def scenario_cli(port: int, server: str, work: Path) -> None:
    """The gearman command-line tool: a 'rev' worker, foreground jobs (one with NULs), a background job."""
    base = ["gearman", "-h", "127.0.0.1", "-p", str(port)]
    worker = subprocess.Popen(
        [*base, "-w", "-f", "reverse", "-c", "3", "--", "rev"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(0.5)
        subprocess.run([*base, "-f", "reverse", "hello world"], timeout=3, capture_output=True)
        subprocess.run([*base, "-f", "reverse"], input=b"nul\0inside\nline two\n", timeout=3, capture_output=True)
        subprocess.run([*base, "-b", "-f", "reverse", "background job"], timeout=3, capture_output=True)
        time.sleep(0.5)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=5)


_PHP_WORKER = """<?php
$w = new GearmanWorker(); $w->addServer('127.0.0.1', (int)$argv[1]);
$w->addFunction('reverse', function (GearmanJob $job) {
    $job->sendStatus(1, 2); $job->sendData("part\\0one"); return strrev($job->workload());
});
for ($i = 0; $i < 2; $i++) { $w->work(); }
"""
_PHP_CLIENT = """<?php
$c = new GearmanClient(); $c->addServer('127.0.0.1', (int)$argv[1]);
echo $c->doNormal('reverse', "php \\0 payload"), "\\n";
$h = $c->doBackground('reverse', 'bg', 'php-unique');
for ($i = 0; $i < 3; $i++) { print_r($c->jobStatus($h)); usleep(200000); }
"""


def scenario_php(port: int, server: str, work: Path) -> None:
    """PHP's gearman extension: WORK_STATUS and WORK_DATA, doNormal, doBackground, jobStatus polls."""
    (work / "w.php").write_text(_PHP_WORKER)
    (work / "c.php").write_text(_PHP_CLIENT)
    worker = subprocess.Popen(
        ["php", str(work / "w.php"), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(0.5)
        subprocess.run(["php", str(work / "c.php"), str(port)], timeout=8, capture_output=True)
        time.sleep(0.3)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=5)


SCENARIOS: dict[str, Callable[[int, str, Path], None]] = {"raw": scenario_raw, "cli": scenario_cli, "php": scenario_php}


def _manifest(out: Path, entry: dict[str, object]) -> None:
    """Add or replace the capture's entry in tests/data/captures.yaml (file, server, port)."""
    import yaml

    path = out / "captures.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    if not isinstance(data, dict):
        data = {"schema": "gearsim-captures/1", "captures": []}
    rows = [r for r in data["captures"] if r["file"] != entry["file"]] + [entry]
    data["captures"] = sorted(rows, key=lambda r: str(r["file"]))
    header = "# Written by tools/record_captures.py: each capture and the server port it used.\n"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))


def record(server: str, scenario: str, out: Path, rundir: Path) -> Path:
    peer: RunningPeer = start_peer(server, rundir / server)
    target = out / f"{SHORT[server]}.{scenario}.pcap"
    dump = subprocess.Popen(
        [
            "tcpdump",
            "-i",
            "lo",
            "--immediate-mode",
            "-U",
            "-s",
            "0",
            "-w",
            str(target),
            f"tcp port {peer.port} and host 127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert dump.stderr is not None
        line = dump.stderr.readline()  # "tcpdump: listening on lo ..." once the capture runs
        if b"listening" not in line:
            raise RuntimeError(f"tcpdump did not start: {line!r}")
        try:
            SCENARIOS[scenario](peer.port, server, rundir)
        except subprocess.TimeoutExpired as exc:
            # a peer pair that does not interoperate: keep the capture of how it failed
            print(f"{server}/{scenario}: {exc}", file=sys.stderr)
        time.sleep(0.5)  # let the last FINs reach tcpdump
    finally:
        os.kill(dump.pid, signal.SIGINT)
        dump.wait(timeout=10)
        version = peer.version()
        stop_peer(peer)
    _manifest(out, {"file": target.name, "server": server, "version": version, "scenario": scenario, "port": peer.port})
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data")
    parser.add_argument("--server", action="append", choices=SERVERS)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gearsim-record-") as tmp:
        for server in args.server or SERVERS:
            for scenario in args.scenario or sorted(SCENARIOS):
                path = record(server, scenario, args.out, Path(tmp))
                print(f"{path} {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
