#!/usr/bin/env python3
"""Capture fuzzing: mutated pcap/pcapng files through everything the capture commands run.

usage: python tools/fuzz_captures.py [--inputs N] [--start I] [--seed S] [--out DIR] [--no-check] [--report-every N]

Seeds are the captures in tests/data plus synthesized ones (pcapng with
several interfaces and resolutions, reordered and duplicated segments, IPv4
and IPv6 fragments, Gearman on an unusual port, admin text, big packets).
A seeded mutator (``random.Random(seed)``, so every input can be rebuilt
from the seed and its index) applies one to four mutations: bit flips, byte
runs, truncation, record and block header fields (lengths, link types,
timestamps, block types), record duplication, deletion and swaps, splices
of two captures, IP/TCP header fields (flags, sequence numbers, fragment
fields, header lengths), and Gearman headers inside payloads (magic, type,
length).

Each input goes through what ``decode``, ``jobs``, ``check`` and ``record``
do in-process: reading (pcapfile, netparse, ipfrag, reassembly,
gearstream, capture), annotate and the text and JSON lines, the job
tracker and its report, the capture check and its report, the vector
recorder. An exception that the commands turn into one line (GearsimError
and its CaptureError, OSError, and ValueError from record's "nothing to
record") is expected; any other exception, or an input taking longer than
--limit seconds, is a failure: the input is written to --out with its
traceback and counted. The limit is CPU time (ITIMER_PROF), so a machine
busy with other work does not turn slow wall-clock into failures.
``--start I`` goes on from input I of the seed (a long run in pieces). The
tool prints running totals and ends with

    capture fuzz: N inputs, K unhandled exceptions, H over the time limit (seed S)

This is a tool, not a test (tests/dissect/test_fuzz_captures_smoke.py runs
a few hundred inputs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gearsim.dissect.pcapfile import LINKTYPE_RAW, PcapWriter, read_stream  # noqa: E402
from gearsim.dissect.synth import TcpConversation  # noqa: E402
from gearsim.errors import GearsimError  # noqa: E402
from gearsim.protocol.codec import encode  # noqa: E402
from gearsim.protocol.packets import Packet, PacketType  # noqa: E402

T = PacketType
C2S, S2C = "c>s", "s>c"
T0 = 1_700_000_000 * 10**9


class Timeout(Exception):
    """An input ran past the time limit."""


# --------------------------------------------------------------------------- seeds


def _conversation(port: int, steps: list[tuple[str, bytes]], split: int = 1460, client: int = 40000) -> bytes:
    out = io.BytesIO()
    w = PcapWriter(out)
    conv = TcpConversation(w, ("127.0.0.2", client), ("127.0.0.1", port))
    conv.open(T0)
    for i, (d, data) in enumerate(steps):
        conv.send(d, data, T0 + (i + 1) * 1_000_000, split=split)
    conv.close(T0 + 99_000_000)
    return out.getvalue()


def _records(data: bytes) -> tuple[bytes, list[bytes]]:
    head, pos, recs = data[:24], 24, []
    while pos + 16 <= len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        recs.append(data[pos : pos + 16 + incl])
        pos += 16 + incl
    return head, recs


def _to_pcapng(data: bytes, tsresol: int | None, rng: random.Random) -> bytes:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b"" if tsresol is None else struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    out += block(1, struct.pack("<HHI", 1, 0, 65535) + opts)
    _, recs = _records(data)
    for r in recs:
        sec, usec, incl, orig = struct.unpack_from("<IIII", r)
        ticks = sec * 10**6 + usec if tsresol is None else sec * 10**9 + usec * 1000
        frame = r[16 : 16 + incl]
        if rng.random() < 0.1:
            out += block(3, struct.pack("<I", orig) + frame)
        elif rng.random() < 0.1:
            out += block(2, struct.pack("<HHIIII", 0, 0, ticks >> 32, ticks & 0xFFFFFFFF, incl, orig) + frame)
        else:
            out += block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, incl, orig) + frame)
    return out


def _fragment_records(data: bytes, size: int, rng: random.Random) -> bytes:
    head, recs = _records(data)
    out = [head]
    for r in recs:
        frame = r[16:]
        if len(frame) > 34 + size and frame[12:14] == b"\x08\x00":
            eth, header, payload = frame[:14], frame[14:34], frame[34:]
            frags = []
            ident = rng.getrandbits(16)
            for off in range(0, len(payload), size):
                part = payload[off : off + size]
                h = bytearray(header)
                more = off + size < len(payload)
                struct.pack_into(">HHH", h, 2, 20 + len(part), ident, (0x2000 if more else 0) | off // 8)
                frags.append(eth + bytes(h) + part)
            rng.shuffle(frags)
            for f in frags:
                out.append(r[:8] + struct.pack("<II", len(f), len(f)) + f)
        else:
            out.append(r)
    return b"".join(out)


def _ipv6_raw() -> bytes:
    out = io.BytesIO()
    w = PcapWriter(out, linktype=LINKTYPE_RAW)
    conv = TcpConversation(PcapWriter(io.BytesIO()), ("127.0.0.2", 40000), ("127.0.0.1", 4730))
    src, dst = bytes(15) + b"\x02", bytes(15) + b"\x01"
    tcp = conv.frame(C2S, 5000, 7000, 0x18, encode(Packet.req(T.ECHO_REQ, b"e" * 200)))[34:]
    for off, more, part in ((0, True, tcp[:96]), (96, False, tcp[96:])):
        ip6 = struct.pack(">IHBB16s16s", 6 << 28, 8 + len(part), 44, 64, src, dst)
        w.write(T0 + off, ip6 + struct.pack(">BBHI", 6, 0, off | int(more), 0x1234) + part)
    reply = conv.frame(S2C, 7000, 5000 + len(tcp) - 20, 0x18, encode(Packet.res(T.ECHO_RES, b"e" * 200)))[34:]
    w.write(T0 + 500, struct.pack(">IHBB16s16s", 6 << 28, len(reply), 6, 64, dst, src) + reply)
    return out.getvalue()


def seeds(rng: random.Random) -> list[bytes]:
    """The seed corpus: real captures and synthesized ones that reach every reader path."""
    found = [p.read_bytes() for p in sorted((ROOT / "tests" / "data").glob("*.pcap*"))]
    req, res = Packet.req, Packet.res
    life = [
        (C2S, encode(req(T.CAN_DO, b"f")) + encode(req(T.PRE_SLEEP))),
        (C2S, encode(req(T.SUBMIT_JOB, b"f", b"u1", b"data\0more"))),
        (S2C, encode(res(T.JOB_CREATED, b"H:x:1")) + encode(res(T.NOOP))),
        (C2S, encode(req(T.GRAB_JOB_UNIQ))),
        (S2C, encode(res(T.JOB_ASSIGN_UNIQ, b"H:x:1", b"f", b"u1", b"data\0more"))),
        (C2S, encode(req(T.WORK_STATUS, b"H:x:1", b"1", b"2")) + encode(req(T.GET_STATUS, b"H:x:1"))),
        (S2C, encode(res(T.WORK_STATUS, b"H:x:1", b"1", b"2"))),
        (S2C, encode(res(T.STATUS_RES, b"H:x:1", b"1", b"1", b"1", b"2"))),
        (C2S, encode(req(T.WORK_COMPLETE, b"H:x:1", b"r" * 3000))),
        (S2C, encode(res(T.WORK_COMPLETE, b"H:x:1", b"r" * 3000))),
        (C2S, b"status\r\nworkers\n"),
        (S2C, b"f\t0\t0\t1\n.\n30 127.0.0.2 - : f\n.\n"),
    ]
    synth = [
        _conversation(4730, life),
        _conversation(4730, life, split=7),
        _conversation(9999, life, split=100),
        _conversation(4730, [(C2S, b"version\n"), (S2C, b"OK 1.1.20\n")]),
        _fragment_records(_conversation(4730, life), 64, rng),
        _ipv6_raw(),
    ]
    synth += [_to_pcapng(synth[0], None, rng), _to_pcapng(synth[1], 9, rng)]
    for data in list(found[:3]):
        synth.append(_to_pcapng(data, rng.choice((None, 6, 9)), rng))
    return found + synth


# --------------------------------------------------------------------------- mutations


def _flip(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)


def _bytes(data: bytearray, rng: random.Random) -> None:
    i = rng.randrange(len(data))
    n = rng.randint(1, 16)
    data[i : i + n] = bytes(rng.choice((0, 0xFF, rng.getrandbits(8))) for _ in range(n))


def _truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(len(data)) :]


_BOUNDARIES = (0, 1, 2, 3, 4, 7, 8, 11, 12, 13, 19, 20, 27, 28, 31, 32, 0x7F, 0xFF, 0xFFFF, 2**31 - 1, 2**32 - 1)


def _interesting(data: bytearray, rng: random.Random) -> None:
    """A 16- or 32-bit field set to a boundary value, at an offset likely to be a header field."""
    value = rng.choice(_BOUNDARIES)
    i = rng.randrange(max(len(data) - 4, 1))
    if rng.random() < 0.5:
        data[i : i + 4] = struct.pack(rng.choice(("<I", ">I")), value & 0xFFFFFFFF)
    else:
        data[i : i + 2] = struct.pack(rng.choice(("<H", ">H")), value & 0xFFFF)


def _records_edit(data: bytearray, rng: random.Random) -> None:
    """Duplicate, delete, swap or reverse pcap records (classic pcap only)."""
    if bytes(data[:4]) not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return _bytes(data, rng)
    head, recs = _records(bytes(data))
    if len(recs) < 2:
        return None
    op = rng.randrange(4)
    i, j = rng.randrange(len(recs)), rng.randrange(len(recs))
    if op == 0:
        recs.insert(j, recs[i])
    elif op == 1:
        del recs[i]
    elif op == 2:
        recs[i], recs[j] = recs[j], recs[i]
    else:
        lo, hi = sorted((i, j))
        recs[lo:hi] = reversed(recs[lo:hi])
    data[:] = head + b"".join(recs)
    return None


def _header_field(data: bytearray, rng: random.Random) -> None:
    """One IP or TCP header field of one Ethernet/IPv4 record set to a random or boundary value."""
    if bytes(data[:4]) != b"\xd4\xc3\xb2\xa1":
        return _interesting(data, rng)
    head, recs = _records(bytes(data))
    if not recs:
        return None
    k = rng.randrange(len(recs))
    rec = bytearray(recs[k])
    # record header 16, ethernet 14, IPv4 20, TCP 20
    fields = [(16 + 14 + 0, 1), (16 + 14 + 2, 2), (16 + 14 + 6, 2), (16 + 14 + 9, 1), (16 + 34 + 4, 4)]
    fields += [(16 + 34 + 8, 4), (16 + 34 + 12, 1), (16 + 34 + 13, 1), (16 + 12, 2), (8, 4)]
    at, size = rng.choice(fields)
    if at + size <= len(rec):
        rec[at : at + size] = rng.getrandbits(8 * size).to_bytes(size, "big")
    recs[k] = bytes(rec)
    data[:] = head + b"".join(recs)
    return None


def _gearman_header(data: bytearray, rng: random.Random) -> None:
    """A field of a Gearman header found in the data: magic, type or length."""
    starts = [i for i in range(len(data) - 12) if data[i : i + 3] == b"\0RE"]
    if not starts:
        return _bytes(data, rng)
    i = rng.choice(starts)
    part = rng.randrange(3)
    if part == 0:
        data[i : i + 4] = rng.choice((b"\0REQ", b"\0RES", b"\0REX", b"\0\0\0\0"))
    elif part == 1:
        data[i + 4 : i + 8] = struct.pack(">I", rng.choice((0, 1, 7, 8, 22, 42, 43, 255, rng.getrandbits(32))))
    else:
        data[i + 8 : i + 12] = struct.pack(">I", rng.choice((0, 1, 11, 12, 2**24, 2**31, rng.getrandbits(32))))
    return None


MUTATORS: tuple[Callable[[bytearray, random.Random], None], ...] = (
    _flip,
    _bytes,
    _truncate,
    _interesting,
    _records_edit,
    _records_edit,
    _header_field,
    _header_field,
    _gearman_header,
    _gearman_header,
)


def mutate(corpus: list[bytes], rng: random.Random) -> bytes:
    """One input: a seed (sometimes spliced with another) with one to four mutations."""
    data = bytearray(rng.choice(corpus))
    if rng.random() < 0.05:
        other = rng.choice(corpus)
        cut = rng.randrange(24, max(len(data), 25))
        data = data[:cut] + other[rng.randrange(24, max(len(other), 25)) :]
    for _ in range(rng.randint(1, 4)):
        if data:
            rng.choice(MUTATORS)(data, rng)
    return bytes(data)


# --------------------------------------------------------------------------- running


def run_one(data: bytes, check: bool) -> None:
    """Everything decode, jobs, check and record do with a capture, in-process.

    Raises:
        GearsimError, OSError, ValueError: what the commands print as one line.
    """
    from gearsim.cli.capture import _json_event, format_event
    from gearsim.dissect.annotate import annotate
    from gearsim.dissect.capture import CaptureStats, read_events
    from gearsim.dissect.jobs import JobTracker, latency_table, render_jobs

    stats = CaptureStats()
    events = []
    try:
        for event, findings in annotate(read_events(read_stream(io.BytesIO(data), "fuzz.pcap"), None, stats)):
            events.append(event)
            format_event(event, findings, events[0].time_ns)
            _json_event(event, findings, event.info)
    finally:
        tracker = JobTracker()
        for event in events:
            tracker.feed(event)
        render_jobs(tracker, events[0].time_ns if events else 0)
        latency_table(tracker.jobs)
        for job in tracker.jobs:
            job.to_json()
        stats.nothing_found(None)
        if check:
            from gearsim.dissect.check import check_events, render_check

            render_check(check_events(events))
        from gearsim.dissect.record import record_events

        with contextlib.suppress(ValueError):  # "nothing to record": one line in the command
            record_events(events, title="fuzz", case_id="fuzz")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("fuzz-captures-failures"))
    parser.add_argument("--no-check", action="store_true", help="skip the capture check (reading paths only)")
    parser.add_argument("--start", type=int, default=0, help="the first input index (default 0)")
    parser.add_argument("--limit", type=float, default=10.0, help="CPU seconds one input may take (default 10)")
    parser.add_argument("--report-every", type=int, default=10_000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = seeds(rng)

    def alarm(_signum: int, _frame: FrameType | None) -> None:
        raise Timeout

    signal.signal(signal.SIGPROF, alarm)
    failures = slow = handled = 0
    start = time.perf_counter()
    for index in range(args.start, args.start + args.inputs):
        data = mutate(corpus, random.Random(f"{args.seed}:{index}"))
        signal.setitimer(signal.ITIMER_PROF, args.limit)
        try:
            run_one(data, not args.no_check)
        except (GearsimError, OSError, ValueError):
            handled += 1
        except Timeout:
            slow += 1
            _keep(args.out, args.seed, index, data, f"over the {args.limit} s limit\n")
        except Exception:
            failures += 1
            _keep(args.out, args.seed, index, data, traceback.format_exc())
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        if (index + 1 - args.start) % args.report_every == 0:
            rate = (index + 1 - args.start) / (time.perf_counter() - start)
            print(
                f"{index + 1 - args.start} inputs (to index {index}), {handled} one-line errors, "
                f"{failures} unhandled, {slow} slow, {rate:.0f}/s",
                flush=True,
            )
    print(
        f"capture fuzz: {args.inputs} inputs, {failures} unhandled exceptions, "
        f"{slow} over the time limit (seed {args.seed}, inputs {args.start}..{args.start + args.inputs - 1})"
    )
    return 1 if failures or slow else 0


def _keep(out: Path, seed: int, index: int, data: bytes, why: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"seed{seed}-{index}"
    stem.with_suffix(".pcap").write_bytes(data)
    stem.with_suffix(".txt").write_text(why)
    print(f"failure: {stem}.pcap\n{why}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
