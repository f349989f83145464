#!/usr/bin/env python3
"""Jobs per second of ``gearsim serve`` beside gearmand, Perl Gearman::Server and gear, in one run.

usage: python tools/bench/serve.py [--quick] [--seconds S] [--pipelined N] [--rounds R] [--servers a,b,...]

Every server gets the same raw-socket harness (stdlib only, TCP_NODELAY on
every socket, 127.0.0.1 only) and a fresh instance per phase, started on a
free port and stopped by its recorded PID:

* bg-pipelined   one connection; a sender thread writes N SUBMIT_JOB_BG
                 (distinct uniques, no worker) in batches while the main thread
                 reads the N JOB_CREATED.
* bg-sequential  SUBMIT_JOB_BG then wait for JOB_CREATED, one at a time, for S s.
* fg-sequential  one raw worker in its own process (CAN_DO; GRAB_JOB_UNIQ, or
                 GRAB_JOB for Perl, which lacks it; PRE_SLEEP on NO_JOB;
                 WORK_COMPLETE at once); the client does SUBMIT_JOB, JOB_CREATED,
                 WORK_COMPLETE, one job at a time, for S s.
* fg-window100   the same with 100 jobs in flight, for S s.

Servers: gearsim (``python -m gearsim serve``, no log), gearmand-c
(C gearmand 1.1.20, --verbose=ERROR), perl (Gearman::Server 1.130.1), gear
(gear.Server 0.16.0, WARNING logging), through gearsim.io.peers.start_peer.
A server that is not installed is left out. Client, worker and server share
the machine's cores, so figures are rough; ratios from one run are the point.
Each phase runs R rounds, the servers taking turns within a round, and the
best round of each server is shown: on a shared machine the best round is the
least disturbed one, and taking turns spreads load changes over all servers.

Targets for gearsim: ahead of perl and gear in every phase, at least 0.5x
gearmand.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gearsim.io.peers import PeerError, peer_available, start_peer, stop_peer  # noqa: E402
from gearsim.io.serve import start_serve_process  # noqa: E402

HOST = "127.0.0.1"
HEADER = struct.Struct(">4sII")
REQ, RES = b"\0REQ", b"\0RES"
CAN_DO, PRE_SLEEP, NOOP, SUBMIT_JOB, JOB_CREATED, GRAB_JOB, NO_JOB, JOB_ASSIGN = 1, 4, 6, 7, 8, 9, 10, 11
WORK_COMPLETE, SUBMIT_JOB_BG, ERROR, GRAB_JOB_UNIQ, JOB_ASSIGN_UNIQ = 13, 18, 19, 30, 31
WINDOW = 100
PHASES = ("bg-pipelined", "bg-sequential", "fg-sequential", "fg-window100")
SERVERS = ("gearsim", "gearmand-c", "perl", "gear")
PEER_NAMES = {"gearmand-c": "gearmand-c", "perl": "perl-gearman-server", "gear": "gear"}


def packet(type_: int, *args: bytes) -> bytes:
    body = b"\0".join(args)
    return HEADER.pack(REQ, type_, len(body)) + body


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Reader:
    """Whole packets from a socket: (type, body)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def packets(self) -> Iterator[tuple[int, bytes]]:
        """Blocks for at least one packet, then yields every whole packet buffered."""
        while True:
            data = self.sock.recv(262144)
            if not data:
                raise ConnectionError("the server closed the connection")
            buf = self.buf + data if self.buf else data
            pos, end = 0, len(buf)
            got = False
            while end - pos >= 12:
                _, type_, size = HEADER.unpack_from(buf, pos)
                stop = pos + 12 + size
                if stop > end:
                    break
                got = True
                yield type_, buf[pos + 12 : stop]
                pos = stop
            self.buf = buf[pos:]
            if got:
                return


# --------------------------------------------------------------------------- phases


def bg_pipelined(address: tuple[str, int], count: int, seconds: float) -> float:
    sock = connect(address)
    batch = 500
    payloads = [
        b"".join(packet(SUBMIT_JOB_BG, b"bench_bg", b"p%d" % i, b"x") for i in range(start, min(start + batch, count)))
        for start in range(0, count, batch)
    ]
    errors: list[BaseException] = []

    def send() -> None:
        try:
            for chunk in payloads:
                sock.sendall(chunk)
        except OSError as exc:
            errors.append(exc)

    reader = Reader(sock)
    start = time.perf_counter()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    done = 0
    deadline = start + max(seconds * 10, 30)
    while done < count and time.perf_counter() < deadline:
        for type_, _ in reader.packets():
            if type_ != JOB_CREATED:
                raise RuntimeError(f"unexpected packet type {type_}")
            done += 1
    elapsed = time.perf_counter() - start
    sock.close()
    sender.join(5)
    return done / elapsed


def bg_sequential(address: tuple[str, int], seconds: float) -> float:
    sock = connect(address)
    reader = Reader(sock)
    done = 0
    start = time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        sock.sendall(packet(SUBMIT_JOB_BG, b"bench_bg", b"s%d" % done, b"x"))
        for type_, _ in reader.packets():
            if type_ != JOB_CREATED:
                raise RuntimeError(f"unexpected packet type {type_}")
        done += 1
    elapsed = time.perf_counter() - start
    sock.close()
    return done / elapsed


def foreground(address: tuple[str, int], seconds: float, window: int) -> float:
    sock = connect(address)
    reader = Reader(sock)
    submitted = completed = 0

    def submit() -> None:
        nonlocal submitted
        sock.sendall(packet(SUBMIT_JOB, b"bench_fg", b"", b"x%d" % submitted))
        submitted += 1

    start = time.perf_counter()
    end = start + seconds
    for _ in range(window):
        submit()
    while True:
        for type_, _ in reader.packets():
            if type_ == WORK_COMPLETE:
                completed += 1
                if time.perf_counter() < end:
                    submit()
            elif type_ != JOB_CREATED:
                raise RuntimeError(f"unexpected packet type {type_}")
        if completed >= submitted:
            break
        if time.perf_counter() > end + 30:
            break
    elapsed = time.perf_counter() - start
    sock.close()
    return completed / elapsed


def worker_main(host: str, port: int, grab: int) -> int:
    """The raw worker process: registers, prints 'ready' once registered, completes every job at once."""
    sock = connect((host, port))
    reader = Reader(sock)
    sock.sendall(packet(CAN_DO, b"bench_fg") + packet(grab))
    announced = False
    with contextlib.suppress(ConnectionError, OSError):
        while True:
            out = []
            for type_, body in reader.packets():
                if type_ in (JOB_ASSIGN, JOB_ASSIGN_UNIQ):
                    handle = body.split(b"\0", 1)[0]
                    out.append(packet(WORK_COMPLETE, handle, b"done"))
                    out.append(packet(grab))
                elif type_ == NO_JOB:
                    out.append(packet(PRE_SLEEP))
                elif type_ == NOOP:
                    out.append(packet(grab))
                elif type_ == ERROR:
                    print(f"worker: ERROR {body!r}", file=sys.stderr)
                    return 1
                if not announced:
                    print("ready", flush=True)
                    announced = True
            if out:
                sock.sendall(b"".join(out))
    return 0


@contextlib.contextmanager
def worker_process(address: tuple[str, int], grab: int) -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", address[0], str(address[1]), str(grab)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"the bench worker did not register: {line!r}")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# --------------------------------------------------------------------------- servers


@contextlib.contextmanager
def server(name: str, rundir: Path) -> Iterator[tuple[str, int]]:
    if name == "gearsim":
        served = start_serve_process()
        try:
            yield served.address()
        finally:
            served.stop()
        return
    peer = start_peer(PEER_NAMES[name], rundir)
    try:
        yield peer.address()
    finally:
        stop_peer(peer)


def available(name: str) -> str | None:
    return None if name == "gearsim" else peer_available(PEER_NAMES[name])


def run_phase(name: str, phase: str, rundir: Path, args: argparse.Namespace) -> float:
    grab = GRAB_JOB if name == "perl" else GRAB_JOB_UNIQ
    with server(name, rundir) as address:
        if phase == "bg-pipelined":
            return bg_pipelined(address, args.pipelined, args.seconds)
        if phase == "bg-sequential":
            return bg_sequential(address, args.seconds)
        with worker_process(address, grab):
            return foreground(address, args.seconds, 1 if phase == "fg-sequential" else WINDOW)


def _fmt(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short phases (smoke run)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each timed phase (default 3)")
    parser.add_argument("--pipelined", type=int, default=100_000, help="submits in bg-pipelined (default 100000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per phase; the best is shown (default 3)")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, from {','.join(SERVERS)}")
    parser.add_argument("--worker", nargs=3, metavar=("HOST", "PORT", "GRAB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        host, port, grab = args.worker
        if host != HOST:
            print("the bench worker connects to 127.0.0.1 only", file=sys.stderr)
            return 3
        return worker_main(host, int(port), int(grab))
    if args.quick:
        args.seconds, args.pipelined, args.rounds = 0.5, 5000, 1
    names = [n for n in args.servers.split(",") if n]
    unknown = [n for n in names if n not in SERVERS]
    if unknown:
        print(f"unknown server(s): {', '.join(unknown)}; choose from {', '.join(SERVERS)}", file=sys.stderr)
        return 3
    skipped = {n: reason for n in names if (reason := available(n)) is not None}
    names = [n for n in names if n not in skipped]
    print(f"gearsim serve benchmark: python {sys.version.split()[0]}, {os.cpu_count()} cores, 127.0.0.1")
    print(
        f"phases of {args.seconds:g} s; bg-pipelined {args.pipelined} submits; a fresh server per phase; "
        f"best of {args.rounds} rounds"
    )
    for n, reason in skipped.items():
        print(f"left out {n}: {reason}")
    print()
    rates: dict[tuple[str, str], float | None] = {}
    with tempfile.TemporaryDirectory(prefix="gearsim-bench-") as tmp:
        for phase in PHASES:
            for round_ in range(max(1, args.rounds)):
                for n in names:
                    try:
                        rate = run_phase(n, phase, Path(tmp) / f"{n}-{phase}-{round_}", args)
                    except (PeerError, RuntimeError, OSError) as exc:
                        print(f"{n} {phase}: failed: {exc}", file=sys.stderr)
                        continue
                    best = rates.get((n, phase))
                    rates[(n, phase)] = rate if best is None else max(best, rate)
    header = f"{'jobs/s':<16}" + "".join(f"{n:>12}" for n in names)
    ratio_cols = [n for n in names if n != "gearsim"] if "gearsim" in names else []
    header += "".join(f"{'vs ' + n:>16}" for n in ratio_cols)
    print(header)
    print("-" * len(header))
    shortfalls: list[str] = []
    targets: dict[str, tuple[float, Callable[[float], bool]]] = {
        "gearmand-c": (0.5, lambda r: r >= 0.5),
        "perl": (1.0, lambda r: r > 1.0),
        "gear": (1.0, lambda r: r > 1.0),
    }
    for phase in PHASES:
        row = f"{phase:<16}" + "".join(f"{_fmt(rates.get((n, phase))):>12}" for n in names)
        ours = rates.get(("gearsim", phase))
        for n in ratio_cols:
            theirs = rates.get((n, phase))
            if ours is None or not theirs:
                row += f"{'-':>16}"
                shortfalls.append(f"{phase} vs {n}: not measured")
                continue
            ratio = ours / theirs
            floor, ok = targets[n]
            mark = "" if ok(ratio) else " !"
            if mark:
                shortfalls.append(f"{phase} vs {n} {ratio:.2f}x")
            row += f"{f'{ratio:.2f}x (>={floor:g}){mark}':>16}"
        print(row)
    print()
    print("below target: " + "; ".join(shortfalls) if shortfalls else "all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
