#!/usr/bin/env python3
"""Attacks on a Gearman server, ``gearsim serve`` beside C gearmand, figures side by side in one run.

usage: python tools/bench/hostile.py [--quick] [--attacks a,b,...] [--servers gearsim,gearmand-c]
                                     [--huge-mib N] [--burst N] [--serve-arg ARG ...]

Every server gets a fresh instance per attack, on a free port of 127.0.0.1,
stopped by its recorded PID; the harness is stdlib sockets only. While an
attack runs, a *bystander* client sends ECHO_REQ every 10 ms on its own
connection and times each ECHO_RES (a reply later than 2 s counts as lost):
its p50/p99/max is what the attack costs everybody else.

Attacks (issue 16):

* idle         no attack: the bystander alone for 2 s (1 s with --quick), the
               noise floor of the machine the other ECHO figures stand on.
* huge-body    a header announcing a 0xFFFFFFFF-byte body, then N MiB (default
               512) streamed as fast as the server takes them. Figures: bystander
               ECHO p99/max and lost, MiB/s taken, the server's peak RSS growth
               (VmHWM from /proc) and that growth per byte taken.
* bad-header   20 connections each send a header with a bad magic or a type out
               of range, announcing a 1000-byte body that never comes: how many
               the server closes within 1 s (gearmand: all).
* burst        one client pipelines N SUBMIT_JOB_BG (default 200,000) while it
               reads the JOB_CREATEDs: the bystander's ECHO delay, and the burst's
               jobs per second.
* slow-header  a client sends 6 bytes of a header and stalls: seconds until the
               server closes it (gearsim serve gets --message-timeout S, default
               5, for this attack only; gearmand has no such option and never does).

Servers: ``gearsim`` (``python -m gearsim serve`` plus any --serve-arg, whose
default body limit is gearmand's: anything a header can announce),
``gearsim-64MiB`` (the same with ``--max-body 64MiB``; any ``gearsim-SIZE``
works) and ``gearmand-c`` (C gearmand 1.1.20 through gearsim.io.peers). A figure is
printed next to gearmand's with the ratio gearsim/gearmand; the targets of
issue 16 are printed with each attack.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gearsim.io.peers import peer_available, start_peer, stop_peer  # noqa: E402
from gearsim.io.serve import start_serve_process  # noqa: E402

HOST = "127.0.0.1"
HEADER = struct.Struct(">4sII")
REQ = b"\0REQ"
ECHO_REQ, ECHO_RES, SUBMIT_JOB_BG, JOB_CREATED = 16, 17, 18, 8
ATTACKS = ("idle", "huge-body", "bad-header", "burst", "slow-header")
SERVERS = ("gearsim", "gearsim-64MiB", "gearmand-c")
LOST_AFTER = 2.0


def packet(type_: int, *args: bytes) -> bytes:
    body = b"\0".join(args)
    return HEADER.pack(REQ, type_, len(body)) + body


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    address: tuple[str, int]
    pid: int


@contextlib.contextmanager
def server(name: str, rundir: Path, serve_args: list[str]) -> Iterator[Server]:
    if name.startswith("gearsim"):
        # gearsim-64MiB: serve with --max-body 64MiB
        limit = ["--max-body", name.split("-", 1)[1]] if "-" in name else []
        served = start_serve_process(extra_args=[*serve_args, *limit])
        try:
            yield Server(name, served.address(), served.pid)
        finally:
            served.stop()
        return
    peer = start_peer(name, rundir)
    try:
        yield Server(name, peer.address(), peer.pid)
    finally:
        stop_peer(peer)


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    """Resident memory of ``pid`` (``VmRSS``) or its peak (``VmHWM``), in KiB; 0 when gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- the bystander


def bystander_main(host: str, port: int) -> int:
    """The bystander's own process (no GIL shared with an attacker): ECHO every 10 ms until stdin closes.

    Prints one line: the latencies in ms, a lost ECHO (no reply within 2 s) as -1.
    """
    address = (host, port)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    results: list[float] = []
    sock = socket.create_connection(address, timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("ready", flush=True)
    n = 0
    buf = b""
    while not stop.is_set():
        n += 1
        payload = b"ping%d" % n
        want = packet(ECHO_RES, payload)[4:]
        start = time.perf_counter()
        try:
            sock.sendall(packet(ECHO_REQ, payload))
            while want not in buf:
                left = LOST_AFTER - (time.perf_counter() - start)
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError
                buf += data
            buf = buf[buf.index(want) + len(want) :]
            results.append((time.perf_counter() - start) * 1000)
        except (TimeoutError, OSError):
            results.append(-1.0)
            # a fresh connection: the old one may deliver the late reply at any time
            with contextlib.suppress(OSError):
                sock.close()
            try:
                sock = socket.create_connection(address, timeout=5)
            except OSError:
                time.sleep(0.1)
            buf = b""
        stop.wait(0.01)
    print(" ".join(f"{x:.3f}" for x in results), flush=True)
    return 0


@contextlib.contextmanager
def bystander(address: tuple[str, int]) -> Iterator[dict[str, float]]:
    """Run the bystander beside the attack; on exit the dict holds its figures."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bystander", f"{address[0]}:{address[1]}"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    figures: dict[str, float] = {}
    try:
        proc.stdout.readline()  # "ready"
        yield figures
    finally:
        proc.stdin.close()
        line = proc.stdout.readline()
        proc.wait(10)
    values = [float(x) for x in line.split()]
    lost = sum(1 for v in values if v < 0)
    # a lost ECHO counts as the 2 s it was waited for
    lat = sorted(v if v >= 0 else LOST_AFTER * 1000 for v in values)
    nan = float("nan")
    figures.update(
        {
            "echo_p50_ms": statistics.median(lat) if lat else nan,
            "echo_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else nan,
            "echo_max_ms": lat[-1] if lat else nan,
            "echo_lost": float(lost),
            "echoes": float(len(lat)),
        }
    )


# --------------------------------------------------------------------------- attacks


def body_limit(name: str) -> int:
    """The body limit a server under test runs with: gearsim-SIZE's SIZE, otherwise what 32 bits can say."""
    if name.startswith("gearsim-"):
        size = name.split("-", 1)[1].upper().removesuffix("IB").removesuffix("B")
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        return int(size[:-1]) * units[size[-1]] if size[-1:] in units else int(size)
    return 0xFFFFFFFF


def idle(srv: Server, args: argparse.Namespace) -> dict[str, float]:
    with bystander(srv.address) as out:
        time.sleep(1.0 if args.quick else 2.0)
    return out


def huge_body(srv: Server, args: argparse.Namespace) -> dict[str, float]:
    base = rss_kib(srv.pid)
    total = args.huge_mib * 1024 * 1024
    chunk = b"\x41" * (1024 * 1024)
    sent = 0
    closed = 0.0
    with bystander(srv.address) as out:
        time.sleep(0.2)
        sock = socket.create_connection(srv.address, timeout=10)
        start = time.perf_counter()
        try:
            sock.sendall(HEADER.pack(REQ, SUBMIT_JOB_BG, 0xFFFFFFFF) + b"f\0u\0")
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            closed = 1.0
        elapsed = time.perf_counter() - start
        time.sleep(0.3)
        peak = rss_kib(srv.pid, "VmHWM")
        sock.close()
        time.sleep(0.2)
    grown = max(0, peak - base) * 1024
    out.update(
        {
            "MiB_taken": sent / 2**20,
            "MiB_per_s": sent / 2**20 / elapsed if elapsed else 0.0,
            "rss_growth_MiB": grown / 2**20,
            "rss_per_byte": grown / sent if sent else 0.0,
            "rss_per_limit": grown / body_limit(srv.name),
            "closed_by_server": closed,
        }
    )
    return out


def bad_header(srv: Server, args: argparse.Namespace) -> dict[str, float]:
    headers = [HEADER.pack(b"\0BAD", SUBMIT_JOB_BG, 1000)] * 10 + [HEADER.pack(REQ, 99, 1000)] * 10
    socks = []
    for h in headers:
        s = socket.create_connection(srv.address, timeout=5)
        s.sendall(h + b"abc")
        socks.append(s)
    deadline = time.perf_counter() + 1.0
    closed = 0
    for s in socks:
        s.settimeout(max(0.01, deadline - time.perf_counter()))
        try:
            if s.recv(1024) == b"":
                closed += 1
        except TimeoutError:
            pass
        except OSError:
            closed += 1
        s.close()
    return {"closed_within_1s": float(closed), "connections": float(len(headers))}


def burst(srv: Server, args: argparse.Namespace) -> dict[str, float]:
    count = args.burst
    batch = 1000
    payloads = [
        b"".join(packet(SUBMIT_JOB_BG, b"burst", b"u%d" % i, b"x") for i in range(s, min(s + batch, count)))
        for s in range(0, count, batch)
    ]
    want = count
    with bystander(srv.address) as out:
        time.sleep(0.3)
        sock = socket.create_connection(srv.address, timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def send() -> None:
            with contextlib.suppress(OSError):
                for p in payloads:
                    sock.sendall(p)

        start = time.perf_counter()
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        got = 0
        buf = b""
        deadline = start + 120
        while got < want and time.perf_counter() < deadline:
            data = sock.recv(1 << 20)
            if not data:
                break
            buf += data
            pos = 0
            while len(buf) - pos >= 12:
                _, _, size = HEADER.unpack_from(buf, pos)
                if len(buf) - pos < 12 + size:
                    break
                pos += 12 + size
                got += 1
            buf = buf[pos:]
        elapsed = time.perf_counter() - start
        sender.join(5)
        sock.close()
        time.sleep(0.1)
    out.update({"jobs_created": float(got), "jobs_per_s": got / elapsed if elapsed else 0.0})
    return out


def slow_header(srv: Server, args: argparse.Namespace) -> dict[str, float]:
    limit = args.slow_wait
    sock = socket.create_connection(srv.address, timeout=limit)
    sock.sendall(REQ + b"\0\0")
    start = time.perf_counter()
    closed_after = float("inf")
    try:
        sock.settimeout(limit)
        if sock.recv(1024) == b"":
            closed_after = time.perf_counter() - start
    except TimeoutError:
        pass
    except OSError:
        closed_after = time.perf_counter() - start
    sock.close()
    return {"closed_after_s": closed_after}


RUNNERS: dict[str, Callable[[Server, argparse.Namespace], dict[str, float]]] = {
    "idle": idle,
    "huge-body": huge_body,
    "bad-header": bad_header,
    "burst": burst,
    "slow-header": slow_header,
}
TARGETS = {
    "idle": "no target: ECHO latency with nothing else going on, this machine's noise floor",
    "huge-body": "target: bystander ECHO p99 < 100 ms, none lost; RSS growth < 2x the limit (per byte taken < 2)",
    "bad-header": "target: every connection closed at once (gearmand 20/20)",
    "burst": "target: bystander ECHO delay near gearmand's (0.4-0.5 s max in issue 16), not seconds",
    "slow-header": "target: closed after serve's --message-timeout (gearmand keeps it open: never)",
}


# --------------------------------------------------------------------------- main


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "n/a"
    if value == float("inf"):
        return "never"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="smaller attacks (64 MiB, 50k jobs, 3 s wait)")
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--huge-mib", type=int, default=512)
    parser.add_argument("--burst", type=int, default=200_000)
    parser.add_argument("--slow-wait", type=float, default=15.0, help="seconds slow-header waits for a close")
    parser.add_argument("--serve-arg", action="append", default=[], help="an extra argument for gearsim serve")
    parser.add_argument(
        "--message-timeout", type=float, default=5.0, help="serve's --message-timeout in the slow-header attack"
    )
    parser.add_argument("--bystander", metavar="HOST:PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bystander:
        host, _, port = args.bystander.rpartition(":")
        return bystander_main(host, int(port))
    if args.quick:
        args.huge_mib, args.burst, args.slow_wait, args.message_timeout = 64, 50_000, 3.0, 1.0
    attacks = [a for a in args.attacks.split(",") if a]
    servers = [s for s in args.servers.split(",") if s]
    for a in attacks:
        if a not in RUNNERS:
            parser.error(f"unknown attack {a!r} (have: {', '.join(ATTACKS)})")
    missing = {s: peer_available(s) for s in servers if not s.startswith("gearsim")}
    servers = [s for s in servers if not missing.get(s)]
    for s, why in missing.items():
        if why:
            print(f"({s} left out: {why})")
    serve_args = list(args.serve_arg)
    others = ", ".join(s for s in servers if not s.startswith("gearsim"))
    print(f"gearsim serve {' '.join(serve_args) or '(defaults)'} vs {others}; gearsim-SIZE is serve --max-body SIZE")
    with tempfile.TemporaryDirectory(prefix="gearsim-hostile-") as tmp:
        rundir = Path(tmp)
        for attack in attacks:
            results: dict[str, dict[str, float]] = {}
            for name in servers:
                extra = ["--message-timeout", str(args.message_timeout)] if attack == "slow-header" else []
                with server(name, rundir, [*serve_args, *extra]) as srv:
                    results[name] = RUNNERS[attack](srv, args)
            print(f"\n== {attack}   ({TARGETS[attack]})")
            if attack == "slow-header":
                print(f"(gearsim serve --message-timeout {args.message_timeout:g})")
            keys = list(next(iter(results.values())).keys())
            head = ["figure", *servers]
            if "gearmand-c" in results and "gearsim" in results:
                head.append("gearsim/gearmand")
            rows = [head]
            for k in keys:
                row = [k, *(_fmt(results[s].get(k)) for s in servers)]
                if len(head) > len(servers) + 1:
                    g, c = results["gearsim"].get(k), results["gearmand-c"].get(k)
                    ok = g is not None and c not in (None, 0) and c == c and g == g and abs(c) != float("inf")
                    row.append(f"{g / c:.2f}x" if ok and g is not None and c else "-")
                rows.append(row)
            widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
            for r in rows:
                cells = zip(r, widths, strict=True)
                print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
