"""Builders shared by the capture tests: synthesized captures and the real-capture manifest."""

from __future__ import annotations

import io
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gearsim.dissect.pcapfile import PcapWriter
from gearsim.dissect.synth import TcpConversation
from gearsim.protocol.codec import encode
from gearsim.protocol.packets import Packet

DATA = Path(__file__).resolve().parents[1] / "data"
T0 = 1_700_000_000 * 1_000_000_000
C2S, S2C = "c>s", "s>c"


def pcap_bytes(build: object) -> bytes:
    """Run ``build(writer)`` against an in-memory pcap and return the file bytes."""
    out = io.BytesIO()
    writer = PcapWriter(out)
    build(writer)  # type: ignore[operator]
    return out.getvalue()


def conversation(
    steps: list[tuple[str, bytes]], *, split: int = 65000, client: tuple[str, int] = ("127.0.0.2", 40000)
) -> bytes:
    """A whole connection (handshake, each (direction, bytes) step 1 ms apart, FIN) as pcap bytes."""

    def build(writer: PcapWriter) -> None:
        conv = TcpConversation(writer, client, ("127.0.0.1", 4730))
        conv.open(T0)
        for i, (direction, data) in enumerate(steps):
            conv.send(direction, data, T0 + (i + 1) * 1_000_000, split=split)
        conv.close(T0 + (len(steps) + 1) * 1_000_000)

    return pcap_bytes(build)


def as_pcapng(little: bytes, tsresol: int | None, *, ticks_from: int | None = None) -> bytes:
    """The packets of a little-endian microsecond pcap as a pcapng file (one interface, enhanced packet blocks).

    ``tsresol``: the interface's if_tsresol byte (None: the default,
    microseconds; 9: nanoseconds; 0: seconds). ``ticks_from``: the first
    packet's timestamp in ticks, the others keeping their distance from it in
    whole ticks (None: each packet's own time in the resolution).
    """

    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    options = b"" if tsresol is None else struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
    out += block(1, struct.pack("<HHI", 1, 0, 65535) + options)
    per_second = 10**6 if tsresol is None else 10**tsresol
    pos = 24
    first: int | None = None
    while pos < len(little):
        sec, usec, incl, orig = struct.unpack_from("<IIII", little, pos)
        ticks = (sec * 10**6 + usec) * per_second // 10**6
        first = ticks if first is None else first
        if ticks_from is not None:
            ticks = ticks_from + ticks - first
        data = little[pos + 16 : pos + 16 + incl]
        out += block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, incl, orig) + data)
        pos += 16 + incl
    return out


def req(kind: int, *args: bytes) -> bytes:
    return encode(Packet.req(kind, *args))


def res(kind: int, *args: bytes) -> bytes:
    return encode(Packet.res(kind, *args))


@dataclass(frozen=True)
class RealCapture:
    path: Path
    server: str
    scenario: str
    port: int


def real_captures() -> list[RealCapture]:
    """Every capture listed in tests/data/captures.yaml (recorded by tools/record_captures.py)."""
    manifest = DATA / "captures.yaml"
    if not manifest.exists():
        return []
    rows = yaml.safe_load(manifest.read_text())["captures"]
    return [RealCapture(DATA / r["file"], r["server"], r["scenario"], int(r["port"])) for r in rows]


def race_captures() -> list[RealCapture]:
    """The race recordings listed under ``races`` in tests/data/captures.yaml (gzip-compressed pcap)."""
    manifest = DATA / "captures.yaml"
    if not manifest.exists():
        return []
    rows = yaml.safe_load(manifest.read_text()).get("races", [])
    return [RealCapture(DATA / r["file"], r["server"], r["scenario"], int(r["port"])) for r in rows]


def require_tool(name: str) -> str:
    """The path of an external tool; skip without it, fail when GEARSIM_REQUIRE_PEERS=1."""
    path = shutil.which(name)
    if path is not None:
        return path
    if os.environ.get("GEARSIM_REQUIRE_PEERS") == "1":
        pytest.fail(f"{name} not installed (GEARSIM_REQUIRE_PEERS=1)", pytrace=False)
    pytest.skip(f"{name} not installed")


def pcap_records(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split classic little-endian pcap bytes into (global header, [record bytes...])."""
    head, pos, records = data[:24], 24, []
    while pos < len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        records.append(data[pos : pos + 16 + incl])
        pos += 16 + incl
    return head, records
