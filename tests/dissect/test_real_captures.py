"""The committed captures of real peers: clean decoding, tshark differential, damaged variants.

The differential test decodes each capture with gearsim and with tshark
(``-T fields``) and explains every disagreement: either it is one of the
documented tshark defects below (each with the case that shows it), or the
test fails, as a gearsim bug to fix. tshark is required under
GEARSIM_REQUIRE_PEERS=1 (CI) and skipped otherwise.
"""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from capture_helpers import C2S, RealCapture, conversation, pcap_records, real_captures, req, require_tool

from gearsim.dissect.capture import Event, read_capture
from gearsim.dissect.netparse import parse_segment
from gearsim.dissect.pcapfile import CaptureError
from gearsim.protocol.packets import SPECS, AdminLine, Magic, Packet
from gearsim.protocol.packets import PacketType as T

CAPTURES = real_captures()
IDS = [c.path.name for c in CAPTURES]

#: tshark (packet-gearman.c) defects, each with how it shows in a ``-T fields`` dump
TSHARK_DEFECTS = {
    "nul-truncation": "every field is read up to its first NUL: a blob holding NULs (workload, result, echo "
    "text) is shown cut at the first NUL (protocol-facts f, Argument parsing)",
    "no-get-status": "GET_STATUS (15) has no case: its handle is not shown (protocol-facts f)",
    "status-unique-label": "STATUS_RES_UNIQUE's unique is shown as gearman.job.handle (protocol-facts f)",
    "no-resync": "after a stray byte the rest of the segment is read as admin text; packets in it are not shown "
    "(test_tshark_does_not_resync_or_reassemble_text)",
    "text-not-reassembled": "an admin line split over segments is never recognised as a command "
    "(test_tshark_does_not_resync_or_reassemble_text)",
}

FIELDS = [
    "gearman.magic_code",
    "gearman.pkt_type",
    "gearman.data_size",
    "gearman.job.handle",
    "gearman.func.name",
    "gearman.uniq_id",
    "gearman.func.arg",
    "gearman.func.result",
    "gearman.echo_text",
]
# packet-table argument name -> the tshark field that shows it
_ARG_FIELD = {
    "handle": "gearman.job.handle",
    "function": "gearman.func.name",
    "unique": "gearman.uniq_id",
    "workload": "gearman.func.arg",
    "result": "gearman.func.result",
    "data": "gearman.func.result",
}


def test_captures_are_committed_and_small() -> None:
    assert CAPTURES, "tests/data/captures.yaml lists no captures (run tools/record_captures.py)"
    for cap in CAPTURES:
        assert cap.path.stat().st_size < 64 * 1024, f"{cap.path.name} is too big to commit"


def _decode(cap: RealCapture) -> list[Event]:
    return list(read_capture(cap.path, (cap.port,)))


@pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
def test_real_capture_decodes_cleanly(cap: RealCapture) -> None:
    events = _decode(cap)
    kinds = Counter(e.kind for e in events)
    assert kinds["message"] > 0
    assert kinds["open"] == kinds["close"] > 0
    assert not {"gap", "lost", "skipped", "error", "truncated"} & set(kinds), kinds


def _tshark(cap: RealCapture) -> dict[int, dict[str, list[str]]]:
    tshark = require_tool("tshark")
    cmd = [
        tshark,
        "-r",
        str(cap.path),
        "-d",
        f"tcp.port=={cap.port},gearman",
        "-Y",
        "gearman",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=\x1f",
        "-e",
        "frame.number",
    ]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout.decode("utf-8", "replace")
    frames: dict[int, dict[str, list[str]]] = {}
    for line in out.splitlines():
        cols = line.split("\t")
        frames[int(cols[0])] = {f: (c.split("\x1f") if c else []) for f, c in zip(FIELDS, cols[1:], strict=True)}
    return frames


def _shown(data: bytes) -> str:
    """Bytes as tshark's field output writes them: C escapes for controls, backslash doubled."""
    special = {0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
    return "".join(special.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in data)


def _explain(packet: Packet, arg: str, ours: bytes, theirs: list[str]) -> str | None:
    """None when tshark agrees, else the defect that explains the difference; fails on anything else."""
    if _shown(ours) in theirs:
        return None
    if b"\0" in ours and _shown(ours.split(b"\0")[0]) in theirs:
        return "nul-truncation"
    if packet.name == "GET_STATUS" and not theirs:
        return "no-get-status"
    pytest.fail(f"{packet.name} {arg}={ours!r}: tshark shows {theirs!r}, no documented defect explains it")


@pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
def test_differential_against_tshark(cap: RealCapture) -> None:
    theirs = _tshark(cap)
    ours: dict[int, list[Packet]] = {}
    for e in _decode(cap):
        if isinstance(e.message, Packet):
            ours.setdefault(e.frame, []).append(e.message)
    defects: Counter[str] = Counter()
    for frame, packets in ours.items():
        assert frame in theirs, f"frame {frame}: gearsim decodes {packets}, tshark shows no Gearman"
        t = theirs[frame]
        assert t["gearman.magic_code"] == [p.magic.name for p in packets if isinstance(p.magic, Magic)]
        assert t["gearman.pkt_type"] == [str(int(p.type)) for p in packets]
        assert t["gearman.data_size"] == [str(len(p.body)) for p in packets]
        if len(packets) != 1:
            continue  # tshark drops empty occurrences, so fields of several packets cannot be aligned
        packet = packets[0]
        spec = SPECS[int(packet.type)]
        for name, value in zip(spec.args, packet.args, strict=False):
            field = _ARG_FIELD.get(name)
            if packet.name in ("ECHO_REQ", "ECHO_RES"):
                field = "gearman.echo_text"
            if packet.name == "STATUS_RES_UNIQUE" and name == "unique":
                field = "gearman.job.handle"
                defects["status-unique-label"] += 1
            if field is None or not value:
                continue
            defect = _explain(packet, name, value, t[field])
            if defect:
                defects[defect] += 1
    extra = sorted(set(theirs) - set(ours))
    for frame in extra:  # frames tshark calls Gearman that carry no binary packet for us: text lines
        assert not theirs[frame]["gearman.pkt_type"], f"frame {frame}: tshark decodes a packet gearsim does not"
    assert set(defects) <= set(TSHARK_DEFECTS)
    if cap.scenario == "raw":  # the raw scenario is built to show these defects at least once
        assert {"nul-truncation", "no-get-status"} <= set(defects), defects
        if cap.server == "gearmand-c":  # the only server here that answers GET_STATUS_UNIQUE
            assert "status-unique-label" in defects


def test_tshark_does_not_resync_or_reassemble_text(tmp_path: Path) -> None:
    """Two more defects, on a synthesized capture: a stray byte and an admin line split in two."""
    tshark = require_tool("tshark")
    stray = b"\x07" + req(T.ECHO_REQ, b"after a stray byte")
    path = tmp_path / "stray.pcap"
    path.write_bytes(conversation([(C2S, stray), (C2S, b"sta"), (C2S, b"tus\n")]))
    ours = [e.message for e in read_capture(path) if e.message is not None]
    assert Packet.req(T.ECHO_REQ, b"after a stray byte") in ours
    assert AdminLine(b"status") in ours
    cmd = [tshark, "-r", str(path), "-Y", "gearman", "-T", "fields", "-e", "gearman.pkt_type", "-e", "gearman.mgr_cmd"]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout.decode()
    assert "16" not in out.split(), "tshark now resynchronises: drop the defect"
    assert "status" not in out.split(), "tshark now reassembles text lines: drop the defect"


# --- damaged variants: gaps reported, never a traceback ----------------------


def _variant(cap: RealCapture, tmp_path: Path, name: str, data: bytes) -> list[Event]:
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(data)
    try:
        return list(read_capture(path, (cap.port,)))
    except CaptureError as exc:
        assert str(exc).startswith(f"{path}: byte offset ")
        return []


@pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
def test_truncated_variants(cap: RealCapture, tmp_path: Path) -> None:
    data = cap.path.read_bytes()
    _head, records = pcap_records(data)
    boundaries = {24 + sum(len(r) for r in records[:i]) for i in range(len(records) + 1)}
    for cut in sorted({1, 10, 30, len(data) // 3, len(data) // 2, len(data) - 5} - boundaries):
        with pytest.raises(CaptureError, match=r"byte offset \d+"):
            list(read_capture(_write(tmp_path, data[:cut]), (cap.port,)))


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "cut.pcap"
    path.write_bytes(data)
    return path


def _payload(record: bytes) -> bytes:
    seg = parse_segment(1, record[16:])
    return seg.payload if seg is not None else b""


@pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
def test_dropped_segments_are_gaps(cap: RealCapture, tmp_path: Path) -> None:
    head, records = pcap_records(cap.path.read_bytes())
    data_records = [i for i, r in enumerate(records) if _payload(r)]
    rng = random.Random(cap.path.name)
    for _ in range(5):
        drop = rng.choice(data_records[1:-1] or data_records)
        events = _variant(cap, tmp_path, "drop", head + b"".join(r for i, r in enumerate(records) if i != drop))
        kinds = {e.kind for e in events}
        assert kinds & {"gap", "truncated", "lost"}, f"dropping frame {drop + 1} went unnoticed"
        gaps = [e for e in events if e.kind == "gap"]
        assert all(g.end > g.offset for g in gaps)


@pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
def test_reordered_frames_decode_the_same(cap: RealCapture, tmp_path: Path) -> None:
    head, records = pcap_records(cap.path.read_bytes())
    swapped = list(records)
    for i in range(3, len(swapped) - 1, 7):  # swap neighbours all through the capture
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    ours = [e.message for e in _decode(cap) if e.message is not None]
    theirs = [e.message for e in _variant(cap, tmp_path, "swap", head + b"".join(swapped)) if e.message is not None]
    assert Counter(map(repr, theirs)) == Counter(map(repr, ours))


@pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
def test_flipped_bytes_never_raise_anything_but_capture_error(cap: RealCapture, tmp_path: Path) -> None:
    data = bytearray(cap.path.read_bytes())
    rng = random.Random(cap.path.name)
    for _ in range(30):
        damaged = bytearray(data)
        for _ in range(8):
            damaged[rng.randrange(24, len(damaged))] = rng.randrange(256)
        _variant(cap, tmp_path, "flip", bytes(damaged))
