#!/usr/bin/env python3
"""Codec fuzzing: mutated Gearman byte streams through the decoder, validator, model and serve's log.

usage: python tools/fuzz_codec.py [--inputs N] [--seed S] [--out DIR] [--report-every N] [--limit SECONDS]

Seeds are the ``wire`` bytes of every codec vector (vectors/codec/*.yaml),
one encoded packet of every type in the table with plausible arguments, and
admin lines. A seeded mutator (``random.Random(f"{seed}:{index}")``, so every
input can be rebuilt from the seed and its index) applies one to four
mutations: bit flips, interesting bytes (NUL, LF, CR, 0xff), insertions,
deletions, duplicated runs, splices and concatenations (pipelining), header
fields rewritten (magic, type 0/42/43/99/2**32-1, length 0/1/off by one/
2**31/2**32-1) and truncation.

Each input goes through:

* ``Decoder`` fed whole, byte by byte (inputs up to 512 bytes) and in random
  chunks, with the default 64 MiB limit and with a 16-byte limit, and with
  the server's header checks (type range, gear's unchecked magic); then
  ``eof``. The three feedings must agree (same messages, or the same error
  at the same offset), and each decoded message must re-encode to exactly
  the bytes it was decoded from;
* ``validate.check`` for every role, ``format_message`` (serve's log text)
  and the JSONL record (``gearsim.io.serve_log``) of every message;
* the reference model (``gearsim.model.Server``, every profile in turn) on a
  fresh connection: whole, then in two pieces on another connection.

A ``DecodeError`` from the decoder is expected (the stream cannot be framed);
any other exception, a disagreement or an input over ``--limit`` seconds is
a failure, written to --out with its traceback (the first three of each
place the model raised from). The tool prints running totals and ends with

    codec fuzz: N inputs, K unhandled exceptions, D disagreements, H over the time limit (seed S) [R/s];
    model: M exceptions; n x ERROR at FILE:LINE ...

where the first counts are the codec's share (decoder, validator, log) and
the model's exceptions are counted apart, by where they were raised.

This is a tool, not a test (tests/hostile/test_fuzz_codec_smoke.py runs a few
hundred inputs).
"""

from __future__ import annotations

import argparse
import random
import signal
import struct
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from gearsim.errors import DecodeError  # noqa: E402
from gearsim.io.serve_log import Checker, ServeLog  # noqa: E402
from gearsim.model import Server  # noqa: E402
from gearsim.model.profiles import PROFILES  # noqa: E402
from gearsim.model.wire import WIRE_TYPES  # noqa: E402
from gearsim.protocol.codec import Decoder, encode, encode_admin  # noqa: E402
from gearsim.protocol.packets import SPECS, AdminLine, Magic, Message, Packet, Role  # noqa: E402
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_message  # noqa: E402
from gearsim.protocol.validate import check  # noqa: E402

HEADER = struct.Struct(">4sII")
MAGICS = (b"\0REQ", b"\0RES", b"\0REX", b"REQ\0", b"\0\0\0\0", b"\xff\xff\xff\xff")
TYPES = (0, 1, 7, 13, 16, 22, 42, 43, 99, 255, 2**31, 2**32 - 1)
INTERESTING = (0x00, 0x0A, 0x0D, 0x20, 0x7F, 0x80, 0xFF)
SAMPLE_ARGS = {
    "function": b"reverse",
    "unique": b"u-1",
    "handle": b"H:sim:1",
    "numerator": b"3",
    "denominator": b"14",
    "timeout": b"1000",
    "when": b"1800000000",
    "client_id": b"me",
    "option": b"exceptions",
}
ROLES = (Role.CLIENT, Role.WORKER, Role.SERVER, None)


class TimeLimit(Exception):
    """An input took longer than --limit seconds."""


# --------------------------------------------------------------------------- seeds


def seeds() -> list[bytes]:
    """Codec vectors' wire bytes, one packet of every type each way, and admin lines."""
    out: list[bytes] = []
    for path in sorted((ROOT / "vectors" / "codec").glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        for case in data.get("cases", []):
            wire = case.get("wire")
            if isinstance(wire, str):
                out.append(bytes.fromhex("".join(wire.split())))
    for number, spec in sorted(SPECS.items()):
        args = tuple(SAMPLE_ARGS.get(name, b"payload \x00\x01 bytes") for name in spec.args)
        for magic in (Magic.REQ, Magic.RES):
            out.append(encode(Packet(magic, number, args)))
    for line in (b"status", b"workers", b"version", b"maxqueue reverse 10", b"shutdown", b"getpid", b"show jobs"):
        out.append(encode_admin(AdminLine(line, b"\n")))
        out.append(encode_admin(AdminLine(line, b"\r\n")))
    return [s for s in out if s]


# --------------------------------------------------------------------------- mutations


def _header_positions(data: bytes) -> list[int]:
    return [i for i in range(0, max(0, len(data) - 11)) if data[i] == 0 and data[i + 1 : i + 4] in (b"REQ", b"RES")]


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(11)
        n = len(buf)
        if op == 0 and n:  # bit flip
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # interesting byte
            buf[rng.randrange(n)] = rng.choice(INTERESTING)
        elif op == 2:  # insert random bytes
            i = rng.randint(0, n)
            buf[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 3 and n:  # delete a run
            i = rng.randrange(n)
            del buf[i : i + rng.randint(1, 16)]
        elif op == 4 and n:  # duplicate a run
            i = rng.randrange(n)
            buf[i:i] = buf[i : i + rng.randint(1, 32)]
        elif op == 5:  # splice another seed in
            other = rng.choice(pool)
            i = rng.randint(0, n)
            j = rng.randint(0, len(other))
            buf = buf[:i] + other[j:] if rng.random() < 0.5 else buf[:i] + other[:j] + buf[i:]
        elif op == 6:  # pipelining: another whole seed before or after
            other = rng.choice(pool)
            buf = bytearray(other) + buf if rng.random() < 0.5 else buf + other
        elif op in (7, 8, 9):  # a header field
            heads = _header_positions(bytes(buf))
            if not heads:
                continue
            at = rng.choice(heads)
            magic, ptype, length = HEADER.unpack_from(buf, at)
            if op == 7:
                magic = rng.choice(MAGICS)
            elif op == 8:
                ptype = rng.choice(TYPES)
            else:
                body = n - at - 12
                length = rng.choice((0, 1, max(0, length - 1), length + 1, body, body + 1, 2**31, 2**32 - 1, 16, 17))
                length = min(length, 2**32 - 1)
            HEADER.pack_into(buf, at, magic, ptype, length)
        elif op == 10 and n:  # truncate
            del buf[rng.randint(0, n - 1) :]
    return bytes(buf)


# --------------------------------------------------------------------------- checks


def feed(data: bytes, pieces: list[bytes], max_body: int, *, strict: bool = False) -> tuple[list[Message], str | None]:
    """Messages and error (class and offset) of a decoder fed ``pieces``, then eof.

    ``strict``: the server's header checks (gearmand's type range) and gear's
    unchecked magic, as ``gearsim.model.wire.decoder_for`` makes them.
    """
    decoder = (
        Decoder(max_body=max_body, types=WIRE_TYPES, unknown_magic=Magic.REQ) if strict else Decoder(max_body=max_body)
    )
    out: list[Message] = []
    try:
        for piece in pieces:
            out += decoder.feed(piece)
        decoder.eof()
    except DecodeError as exc:
        return out, f"{type(exc).__name__}@{exc.offset}"
    return out, None


def chunks(rng: random.Random, data: bytes) -> list[bytes]:
    out = []
    i = 0
    while i < len(data):
        step = rng.choice((1, 2, 3, 5, 11, 12, 13, 64, 4096))
        out.append(data[i : i + step])
        i += step
    return out


def reencodes(data: bytes, messages: list[Message]) -> str | None:
    """Each message re-encodes to the bytes it came from; the first that does not, described."""
    if not messages:
        return None
    ends: list[int | None] = [m.offset for m in messages[1:]]
    for m, end in zip(messages, [*ends, None], strict=True):
        raw = data[m.offset : end] if end is not None else None
        wire = encode(m) if isinstance(m, Packet) else encode_admin(m)
        if raw is not None and raw != wire:
            return f"message at {m.offset} re-encodes to {wire[:40]!r}, came from {raw[:40]!r}"
        if raw is None and not data[m.offset :].startswith(wire):
            return f"last message at {m.offset} re-encodes to {wire[:40]!r}"
    return None


def agree(a: tuple[list[Message], str | None], b: tuple[list[Message], str | None]) -> bool:
    """Two feedings of one stream agree: the same error, and the same messages.

    A ``feed`` that raises returns nothing, so the messages completed in that
    very call are not seen: when there is an error, one list must be a prefix
    of the other (the bytewise feeding sees every message before the error).
    """
    if a[1] != b[1]:
        return False
    if a[1] is None:
        return a[0] == b[0]
    short, long = sorted((a[0], b[0]), key=len)
    return long[: len(short)] == short


def run_one(rng: random.Random, data: bytes, servers: list[Server] | None, index: int) -> str | None:
    """Everything for one input; a disagreement as text (exceptions propagate)."""
    limit = 64 * 1024 * 1024
    whole = feed(data, [data], limit)
    full = whole
    if len(data) <= 512:
        full = feed(data, [data[i : i + 1] for i in range(len(data))], limit)
        if not agree(full, whole):
            return f"byte by byte {full[1]} {len(full[0])} messages; whole {whole[1]} {len(whole[0])}"
    chunked = feed(data, chunks(rng, data), limit)
    if not agree(chunked, whole) or not agree(chunked, full):
        return f"chunked {chunked[1]} {len(chunked[0])} messages; whole {whole[1]} {len(whole[0])}"
    strict_whole = feed(data, [data], limit, strict=True)
    strict_chunked = feed(data, chunks(rng, data), limit, strict=True)
    if not agree(strict_whole, strict_chunked):
        return f"with header checks: chunked {strict_chunked[1]}; whole {strict_whole[1]}"
    small = feed(data, chunks(rng, data), 16)
    if small[0] != full[0][: len(small[0])]:
        return "a 16-byte body limit changed the messages before its error"
    problem = reencodes(data, full[0])
    if problem is not None:
        return problem
    log = ServeLog(_Null(), "jsonl")
    text = ServeLog(_Null(), "text")
    checker = Checker()
    for m in full[0]:
        format_message(m)
        if isinstance(m, Packet):
            for role in ROLES:
                check(m, role)
        found = checker.received(1, m)
        record = TraceRecord(0, 0, 1, "peer", Direction.C2S, Kind.SEND, m, b"", "")
        log.record(record, "127.0.0.1:1", found)
        text.record(record, "127.0.0.1:1", found)
    if servers is None:
        return None
    try:
        model(rng, data, servers, index)
    except TimeLimit:
        raise
    except Exception as exc:
        raise ModelFailure from exc
    return None


class ModelFailure(Exception):
    """The reference model raised on an input (counted apart from the codec's own failures)."""


def model(rng: random.Random, data: bytes, servers: list[Server], index: int) -> None:
    """The input on a fresh connection of a long-lived model server: whole, then in two pieces."""
    server = servers[index % len(servers)]
    conn = 2 * index + 1
    server.connect(conn, index)
    server.receive(conn, data, index)
    server.disconnect(conn, index)
    cut = rng.randint(0, len(data))
    server.connect(conn + 1, index)
    server.receive(conn + 1, data[:cut], index)
    server.receive(conn + 1, data[cut:], index)
    server.advance(index + 10_000)
    server.disconnect(conn + 1, index)


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


# --------------------------------------------------------------------------- main


def _alarm(signum: int, frame: FrameType | None) -> Any:
    raise TimeLimit


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("fuzz-codec-failures"))
    parser.add_argument("--report-every", type=int, default=50_000)
    parser.add_argument("--limit", type=float, default=5.0, help="seconds one input may take")
    args = parser.parse_args(argv)
    pool = seeds()
    fresh = lambda: [Server(name) for name in sorted(PROFILES)]  # noqa: E731
    servers = fresh()
    unhandled = disagreements = slow = model_failures = 0
    model_sites: dict[str, int] = {}
    started = time.monotonic()
    signal.signal(signal.SIGALRM, _alarm)
    for index in range(args.inputs):
        rng = random.Random(f"{args.seed}:{index}")
        data = mutate(rng, rng.choice(pool), pool) if rng.random() < 0.97 else rng.randbytes(rng.randint(0, 64))
        if index % 5000 == 0:
            servers = fresh()  # bounded model state
        signal.setitimer(signal.ITIMER_REAL, args.limit)
        failure = ""
        try:
            problem = run_one(rng, data, servers, index)
            if problem is not None:
                disagreements += 1
                failure = f"disagreement: {problem}"
        except ModelFailure as exc:
            model_failures += 1
            cause = exc.__cause__
            site = traceback.extract_tb(cause.__traceback__)[-1] if cause is not None else None
            key = f"{type(cause).__name__} at {site.filename.rsplit('/', 1)[-1]}:{site.lineno}" if site else "?"
            model_sites[key] = model_sites.get(key, 0) + 1
            if model_sites[key] <= 3:
                failure = "model: " + "".join(traceback.format_exception(cause)) if cause else "model"
            servers = fresh()
        except TimeLimit:
            slow += 1
            failure = f"over the time limit of {args.limit} s"
            servers = fresh()
        except Exception:  # every other exception is what we count
            unhandled += 1
            failure = traceback.format_exc()
            servers = fresh()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if failure:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{args.seed}-{index}.bin").write_bytes(data)
            (args.out / f"{args.seed}-{index}.txt").write_text(failure, encoding="utf-8")
        done = index + 1
        if done % args.report_every == 0 or done == args.inputs:
            rate = done / max(1e-9, time.monotonic() - started)
            print(
                f"codec fuzz: {done} inputs, {unhandled} unhandled exceptions, {disagreements} disagreements, "
                f"{slow} over the time limit (seed {args.seed}) [{rate:,.0f}/s]; model: {model_failures} "
                f"exceptions" + "".join(f"; {n} x {site}" for site, n in sorted(model_sites.items())),
                flush=True,
            )
    return 1 if unhandled or disagreements or slow or model_failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
