#!/usr/bin/env python3
"""Capture decoding speed and peak memory: gearsim's paths beside tshark and plain scapy, one run.

usage: python tools/bench/pcap.py [--size MB | --jobs N] [--quick] [--keep FILE] [--skip NAME ...]

A capture of about --size MB (default 100) is generated first: tens of
thousands of short Gearman connections to 127.0.0.1:4730, up to 64 open at
once and interleaved, each a client submit (payload 50-1200 bytes, split into
segments of 536-1460 bytes) and its JOB_CREATED, a worker's GRAB_JOB_UNIQ /
JOB_ASSIGN_UNIQ / WORK_STATUS / WORK_COMPLETE and the forwarded WORK_*.
``--jobs 100000`` writes that many jobs instead (payloads 50-120 bytes): check
must stay linear in jobs (within 2x of decode's time).
Then each decoder runs in its own process, timed with the wall clock, and its
peak resident memory is read from wait4():

* fast     gearsim.dissect.capture.read_capture: every message, no scapy
* decode   ``gearsim decode`` (fast path, findings, text) into /dev/null
* check    ``gearsim check`` (decode, then search the orders under the gearmand profile); its
           messages are the capture's, once it reports 0 broken requirements
* layers   gearsim.dissect.scapy_gearman.read_layers: fast reader, scapy layer per message
* tshark   ``tshark -Y gearman -T fields -e gearman.pkt_type`` (messages = values printed)
* scapy    plain scapy: sniff(offline, session=TCPSession) with a minimal layer whose
           tcp_reassemble returns whole messages

Targets: fast >= 1.0x tshark messages/s at <= 0.5x its peak memory; check >= 1.0x tshark;
layers >= 3x scapy.
This is a tool, not a test.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gearsim.dissect.pcapfile import PcapWriter  # noqa: E402
from gearsim.dissect.synth import TcpConversation  # noqa: E402
from gearsim.protocol.codec import encode  # noqa: E402
from gearsim.protocol.packets import Packet, PacketType  # noqa: E402

T = PacketType
C2S, S2C = "c>s", "s>c"


def generate(path: Path, size_mb: float, jobs: int | None = None) -> tuple[int, int]:
    """Write the capture (about ``size_mb``, or ``jobs`` jobs with short payloads); return (connections, messages)."""
    rng = random.Random(1)
    target = int(size_mb * 1e6)
    largest = 1200 if jobs is None else 120
    conns = messages = 0
    t = 1_700_000_000 * 10**9
    with open(path, "wb") as file:
        writer = PcapWriter(file)
        while (file.tell() < target) if jobs is None else (conns < jobs):
            batch = []
            for _ in range(64):
                conns += 1
                client = (f"10.{(conns >> 16) & 255}.{(conns >> 8) & 255}.{conns & 255}", 10000 + conns % 50000)
                conv = TcpConversation(
                    writer, client, ("127.0.0.1", 4730), isn=(rng.getrandbits(32), rng.getrandbits(32))
                )
                handle = f"H:bench:{conns}".encode()
                payload = rng.randbytes(rng.randint(50, largest))
                steps = [
                    (
                        C2S,
                        encode(Packet.req(T.CAN_DO, b"reverse"))
                        + encode(Packet.req(T.SUBMIT_JOB, b"reverse", b"", payload)),
                    ),
                    (S2C, encode(Packet.res(T.JOB_CREATED, handle))),
                    (C2S, encode(Packet.req(T.GRAB_JOB_UNIQ))),
                    (S2C, encode(Packet.res(T.JOB_ASSIGN_UNIQ, handle, b"reverse", b"", payload))),
                    (
                        C2S,
                        encode(Packet.req(T.WORK_STATUS, handle, b"1", b"2"))
                        + encode(Packet.req(T.WORK_COMPLETE, handle, payload[::-1])),
                    ),
                    (
                        S2C,
                        encode(Packet.res(T.WORK_STATUS, handle, b"1", b"2"))
                        + encode(Packet.res(T.WORK_COMPLETE, handle, payload[::-1])),
                    ),
                ]
                messages += 9
                batch.append((conv, steps))
            for conv, _ in batch:
                conv.open(t)
            for i in range(6):
                for conv, steps in batch:
                    t += 1000
                    conv.send(steps[i][0], steps[i][1], t, split=rng.choice((536, 1460, 1460)))
            for conv, _ in batch:
                t += 1000
                conv.close(t)
    return conns, messages


_FAST = (
    "from gearsim.dissect.capture import read_capture\nimport sys\n"
    "print(sum(1 for e in read_capture(sys.argv[1]) if e.message is not None))"
)
_LAYERS = (
    "from gearsim.dissect.scapy_gearman import read_layers\nimport sys\nprint(sum(1 for _ in read_layers(sys.argv[1])))"
)
_SCAPY = """
import sys
from scapy.all import TCPSession, sniff, Packet, StrField, bind_layers, TCP, conf
class Msgs(Packet):
    name = "minimal gearman"
    fields_desc = [StrField("load", b"")]
    @classmethod
    def tcp_reassemble(cls, data, metadata, session):
        pos = 0
        while pos < len(data):
            if data[pos] == 0:
                if len(data) - pos < 12: break
                end = pos + 12 + int.from_bytes(data[pos + 8:pos + 12], "big")
            else:
                nl = data.find(b"\\n", pos)
                end = -1 if nl < 0 else nl + 1
            if end < 0 or end > len(data): break
            pos = end
            count[0] += 1
        if pos == 0: return None
        p = cls(data[:pos])
        if pos < len(data): p.add_payload(conf.padding_layer(data[pos:]))
        return p
bind_layers(TCP, Msgs, dport=4730)
bind_layers(TCP, Msgs, sport=4730)
count = [0]
sniff(offline=sys.argv[1], session=TCPSession, store=False)
print(count[0])
"""


def messages_checked(out: str, expected: int) -> int:
    """The messages ``gearsim check`` judged: all of them, once it reports on every connection and breaks nothing."""
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if " 0 broken requirements" not in out:
        raise SystemExit(f"check found broken requirements in the benchmark capture: {last}")
    return expected


def run(cmd: list[str], stdout_count: bool = True) -> tuple[float, int, str]:
    """(seconds, peak RSS in KB, stdout) of one child process."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[:3]} failed with {proc.returncode}")
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return elapsed, usage.ru_maxrss, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=100.0, help="capture size in MB (default 100)")
    parser.add_argument("--quick", action="store_true", help="a 2 MB capture, for smoke tests")
    parser.add_argument("--jobs", type=int, help="instead of --size: N jobs (a connection each), short payloads")
    parser.add_argument("--keep", type=Path, help="write the capture here and keep it")
    parser.add_argument("--skip", action="append", default=[], help="skip a runner (tshark, scapy, ...)")
    args = parser.parse_args()
    size = 2.0 if args.quick else args.size
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.pcap"
        conns, expected = generate(path, size, args.jobs)
        print(f"capture: {path.stat().st_size / 1e6:.1f} MB, {conns} connections, {expected} messages")
        py = sys.executable
        runners = {
            "fast": ([py, "-c", _FAST, str(path)], int),
            "decode": (
                [py, "-m", "gearsim", "decode", str(path)],
                lambda s: sum(1 for line in s.splitlines() if line.split(" ")[4:5] in (["REQ"], ["RES"], ["TXT"])),
            ),
            "layers": ([py, "-c", _LAYERS, str(path)], int),
            "check": (
                [py, "-m", "gearsim", "check", str(path)],
                lambda s: messages_checked(s, expected),
            ),
            "tshark": (
                ["tshark", "-r", str(path), "-Y", "gearman", "-T", "fields", "-e", "gearman.pkt_type"],
                lambda s: sum(len(line.split(",")) for line in s.splitlines() if line),
            ),
            "scapy": ([py, "-c", _SCAPY, str(path)], int),
        }
        results: dict[str, tuple[float, float]] = {}
        for name, (cmd, count) in runners.items():
            if name in args.skip:
                continue
            seconds, rss_kb, text = run(cmd)
            messages = count(text)  # type: ignore[operator]
            results[name] = (messages / seconds, rss_kb / 1024)
            print(
                f"{name:8s} {messages:9d} messages {seconds:8.2f} s {messages / seconds:12,.0f} msg/s "
                f"peak {rss_kb / 1024:8.1f} MB"
            )
        if "fast" in results and "tshark" in results:
            speed = results["fast"][0] / results["tshark"][0]
            memory = results["fast"][1] / results["tshark"][1]
            print(
                f"fast vs tshark: {speed:.2f}x messages/s (target >= 1.0x), {memory:.2f}x peak memory (target <= 0.5x)"
            )
        if "check" in results and "tshark" in results:
            print(f"check vs tshark: {results['check'][0] / results['tshark'][0]:.2f}x messages/s (target >= 1.0x)")
        if "check" in results and "decode" in results:
            took = results["decode"][0] / results["check"][0]
            print(f"check vs decode: {took:.2f}x decode's time for {conns} jobs (target <= 2x)")
        if "layers" in results and "scapy" in results:
            print(f"layers vs plain scapy+TCPSession: {results['layers'][0] / results['scapy'][0]:.2f}x (target >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
