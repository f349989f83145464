#!/usr/bin/env python3
"""Record small captures of real Gearman peers into tests/data/ (loopback only).

For each (server, scenario) pair this starts the server with
``gearsim.io.peers.start_peer`` on a free port of 127.0.0.1, starts
``tcpdump -i lo`` filtered on that port, runs the scenario's real clients and
workers (the gearman CLI, PHP's gearman extension, or raw sockets for packets
no library sends), then stops tcpdump and the server by the PIDs this script
started. Output: ``tests/data/<server>.<scenario>.pcap``, tens of KB each;
the race scenarios (``race1``..``race9``, gearmand only: 52 client and 21
worker connections racing) as ``.pcap.gz``, listed under ``races`` in
captures.yaml.

This is a tool, not a test: it waits on the wall clock for the peers.

Usage: python tools/record_captures.py [--out DIR] [--server NAME ...] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Final

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


# --------------------------------------------------------------------------- race

RACE_FUNCTIONS = (b"resize", b"thumb", b"email")
_SUBMITS = (
    T.SUBMIT_JOB,
    T.SUBMIT_JOB_HIGH,
    T.SUBMIT_JOB_LOW,
    T.SUBMIT_JOB_BG,
    T.SUBMIT_JOB_HIGH_BG,
    T.SUBMIT_JOB_LOW_BG,
)
_BACKGROUND = frozenset({T.SUBMIT_JOB_BG, T.SUBMIT_JOB_HIGH_BG, T.SUBMIT_JOB_LOW_BG})


class Actor:
    """A blocking connection for one thread of the race: send packets, wait for the ones it needs."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.decoder = Decoder()
        self.inbox: list[Packet] = []

    def send(self, *packets: Packet) -> None:
        self.sock.sendall(b"".join(encode(p) for p in packets))

    def wait(self, kinds: set[int], timeout: float) -> Packet | None:
        """The first packet of one of ``kinds`` (others stay in the inbox), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for i, p in enumerate(self.inbox):
                if int(p.type) in kinds:
                    return self.inbox.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, OSError):
                return None
            if not data:
                return None
            self.inbox += [m for m in self.decoder.feed(data) if isinstance(m, Packet)]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _race_worker(port: int, index: int, rng: random.Random, stop: float) -> None:
    """CAN_DO some functions, then grab, report progress and finish jobs; now and then drop a job by disconnecting."""
    functions = rng.sample(RACE_FUNCTIONS, rng.randint(1, 3))
    grab = rng.choice((T.GRAB_JOB, T.GRAB_JOB_UNIQ, T.GRAB_JOB_UNIQ, T.GRAB_JOB_ALL))
    while time.monotonic() < stop:
        w = Actor(port)
        try:
            w.send(Packet.req(T.SET_CLIENT_ID, b"w%d" % index), *(Packet.req(T.CAN_DO, f) for f in functions))
            _race_work(w, rng, grab, stop)
        finally:
            w.close()
        time.sleep(rng.uniform(0.01, 0.1))


def _race_work(w: Actor, rng: random.Random, grab: int, stop: float) -> None:
    while time.monotonic() < stop:
        w.send(Packet.req(grab))
        got = w.wait({T.JOB_ASSIGN, T.JOB_ASSIGN_UNIQ, T.JOB_ASSIGN_ALL, T.NO_JOB}, 2)
        if got is None:
            return
        if got.type == T.NO_JOB:
            w.send(Packet.req(T.PRE_SLEEP))
            w.wait({T.NOOP}, rng.uniform(0.1, 0.6))
            continue
        handle = got.args[0]
        steps = rng.randint(0, 3)
        for i in range(steps):
            time.sleep(rng.uniform(0.002, 0.03))
            w.send(Packet.req(T.WORK_STATUS, handle, str(i + 1).encode(), str(steps + 1).encode()))
        if rng.random() < 0.2:
            w.send(Packet.req(T.WORK_DATA, handle, b"partial \0 data"))
        time.sleep(rng.uniform(0.0, 0.03))
        if rng.random() < 0.05:
            return  # disconnect holding the job: gearmand requeues it
        roll = rng.random()
        if roll < 0.08:
            w.send(Packet.req(T.WORK_FAIL, handle))
        elif roll < 0.12:
            w.send(Packet.req(T.WORK_EXCEPTION, handle, b"boom"))
        else:
            w.send(Packet.req(T.WORK_COMPLETE, handle, b"done:" + got.args[-1][:16]))


def _race_client(port: int, index: int, rng: random.Random, stop: float) -> None:
    """Submit jobs (priorities, shared uniques that coalesce), poll their status, sometimes leave early."""
    c = Actor(port)
    if rng.random() < 0.3:
        c.send(Packet.req(T.OPTION_REQ, b"exceptions"))
        c.wait({T.OPTION_RES, T.ERROR}, 2)
    poller = Actor(port) if rng.random() < 0.5 else c
    try:
        for _job in range(rng.randint(3, 7)):
            if time.monotonic() > stop:
                break
            kind = rng.choice(_SUBMITS)
            function = rng.choice(RACE_FUNCTIONS)
            unique = rng.choice((b"", b"", b"img-%d" % rng.randint(1, 6), b"c%d-%d" % (index, _job)))
            c.send(Packet.req(kind, function, unique, b"payload %d/%d" % (index, _job)))
            created = c.wait({T.JOB_CREATED}, 3)
            if created is None:
                break
            handle = created.args[0]
            if kind in _BACKGROUND:
                # the doBackground manual page: poll until the job is no longer known
                for _ in range(rng.randint(2, 12)):
                    time.sleep(rng.uniform(0.005, 0.05))
                    if rng.random() < 0.2 and unique:
                        poller.send(Packet.req(T.GET_STATUS_UNIQUE, unique))
                        poller.wait({T.STATUS_RES_UNIQUE}, 2)
                        continue
                    poller.send(Packet.req(T.GET_STATUS, handle))
                    status = poller.wait({T.STATUS_RES}, 2)
                    if status is None or status.args[1] == b"0":
                        break
                continue
            if rng.random() < 0.08:
                return  # leave with a foreground job queued or running
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if rng.random() < 0.4:
                    poller.send(Packet.req(T.GET_STATUS, handle))
                got = c.wait({T.WORK_COMPLETE, T.WORK_FAIL, T.WORK_EXCEPTION}, rng.uniform(0.01, 0.1))
                if got is not None and got.args[0] == handle:
                    break
            c.inbox = [p for p in c.inbox if p.type != T.STATUS_RES] if poller is c else c.inbox
            if poller is not c:
                poller.inbox.clear()
    finally:
        c.close()
        if poller is not c:
            poller.close()


_PHP_RACE_CLIENT = """<?php
$c = new GearmanClient(); $c->addServer('127.0.0.1', (int)$argv[1]);
for ($i = 0; $i < 3; $i++) {
    $h = $c->doBackground('resize', "php bg $i", "php-img-" . ($i % 2));
    for ($k = 0; $k < 6; $k++) { $s = $c->jobStatus($h); if (!$s[0]) break; usleep(30000); }
    $c->doHigh('thumb', "php fg $i");
}
"""
_PHP_RACE_WORKER = """<?php
$w = new GearmanWorker(); $w->addServer('127.0.0.1', (int)$argv[1]);
$w->setTimeout(3000);
$w->addFunction('thumb', function (GearmanJob $job) { $job->sendStatus(1, 2); usleep(10000); return 'ok'; });
$w->addFunction('resize', function (GearmanJob $job) { usleep(5000); return 'ok'; });
for ($i = 0; $i < 6; $i++) { @$w->work(); }
"""
_PERL_RACE_CLIENT = r"""
use Gearman::Client;
my $c = Gearman::Client->new(job_servers => ["127.0.0.1:$ARGV[0]"]);
for my $i (0 .. 2) {
    my $h = $c->dispatch_background('email', "perl bg $i", { uniq => "perl-$i" });
    for (1 .. 5) { my $s = $c->get_status($h); last unless $s && $s->known; select(undef, undef, undef, 0.03); }
}
"""


def scenario_race(port: int, server: str, work: Path, seed: int = 1, seconds: float = 4.0) -> None:
    """50 clients and 20 workers racing: status polls, coalescing uniques, priorities, disconnects, real libraries."""
    import threading

    rng = random.Random(seed)
    stop = time.monotonic() + seconds
    (work / "race_client.php").write_text(_PHP_RACE_CLIENT)
    (work / "race_worker.php").write_text(_PHP_RACE_WORKER)
    (work / "race_client.pl").write_text(_PERL_RACE_CLIENT)
    programs = [
        ["php", str(work / "race_worker.php"), str(port)],
        ["php", str(work / "race_client.php"), str(port)],
        ["perl", str(work / "race_client.pl"), str(port)],
    ]
    threads = [
        threading.Thread(target=_race_worker, args=(port, i, random.Random(rng.random()), stop)) for i in range(20)
    ]
    threads += [
        threading.Thread(target=_race_client, args=(port, i, random.Random(rng.random()), stop)) for i in range(50)
    ]
    procs = []
    for t in threads[:20]:
        t.start()
    time.sleep(0.05)
    procs.append(subprocess.Popen(programs[0], stdout=QUIET, stderr=QUIET))
    for i, t in enumerate(threads[20:]):
        t.start()
        if i % 10 == 0:
            time.sleep(rng.uniform(0.01, 0.05))
    procs += [subprocess.Popen(cmd, stdout=QUIET, stderr=QUIET) for cmd in programs[1:]]
    for t in threads:
        t.join(timeout=seconds + 10)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=5)


SCENARIOS: dict[str, Callable[[int, str, Path], None]] = {
    "raw": scenario_raw,
    "cli": scenario_cli,
    "php": scenario_php,
    # the same mix of clients and workers, each seed its own choices and timing
    **{f"race{n}": partial(scenario_race, seed=n) for n in range(1, 10)},
}
#: scenarios recorded only against the reference server
REFERENCE_ONLY = frozenset(f"race{n}" for n in range(1, 10))


#: what a race scenario runs: client and worker connections of its own threads, plus the PHP and Perl programs
RACE_CLIENTS: Final[int] = 50 + 2
RACE_WORKERS: Final[int] = 20 + 1


def _manifest(out: Path, entry: dict[str, object], key: str = "captures") -> None:
    """Add or replace the capture's entry in tests/data/captures.yaml (file, server, port).

    ``key``: ``captures`` (small recordings, plain pcap) or ``races`` (the race
    scenarios, gzip-compressed).
    """
    import yaml

    path = out / "captures.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else None
    if not isinstance(data, dict):
        data = {"schema": "gearsim-captures/1", "captures": []}
    rows = [r for r in data.get(key, []) if r["file"] != entry["file"]] + [entry]
    data[key] = sorted(rows, key=lambda r: str(r["file"]))
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
            "-B",
            "65536",  # KiB: a burst of 70 connections must not overflow the capture buffer
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
    assert dump.stderr is not None
    summary = dump.stderr.read().decode("utf-8", "replace")
    match = re.search(r"(\d+) packets? dropped by kernel", summary)
    dropped = int(match[1]) if match else -1
    if dropped:
        print(f"{target.name}: tcpdump reports {dropped} packets dropped by the kernel", file=sys.stderr)
    entry = {"file": target.name, "server": server, "version": version, "scenario": scenario, "port": peer.port}
    if scenario in REFERENCE_ONLY:
        # a race recording is ~700 KB of pcap: kept gzip-compressed (every capture command reads it as is)
        packed = target.with_name(target.name + ".gz")
        packed.write_bytes(gzip.compress(target.read_bytes(), 9, mtime=0))
        target.unlink()
        target = packed
        entry = {**entry, "file": target.name, "clients": RACE_CLIENTS, "workers": RACE_WORKERS}
        _manifest(out, {**entry, "dropped": dropped}, "races")
    else:
        _manifest(out, {**entry, "dropped": dropped})
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
                if scenario in REFERENCE_ONLY and server != "gearmand-c":
                    continue
                path = record(server, scenario, args.out, Path(tmp))
                print(f"{path} {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
