"""Capture file formats: pcap (micro, nano, both byte orders), pcapng, and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from capture_helpers import C2S, as_pcapng, conversation, req

from gearsim.dissect.netparse import parse_segment
from gearsim.dissect.pcapfile import CaptureError, read_frames
from gearsim.protocol.packets import PacketType as T


def _write(tmp_path: Path, data: bytes, name: str = "c.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_classic_pcap_frames_and_times(tmp_path: Path) -> None:
    path = _write(tmp_path, conversation([(C2S, req(T.ECHO_REQ, b"x"))]))
    frames = list(read_frames(path))
    assert [f.number for f in frames] == list(range(1, len(frames) + 1))
    assert frames[0].time_ns == 1_700_000_000 * 10**9
    assert frames[0].offset == 24
    seg = parse_segment(frames[3].linktype, frames[3].data)
    assert seg is not None and seg.payload == req(T.ECHO_REQ, b"x")


def _big_endian_nano(little: bytes) -> bytes:
    """Rewrite a little-endian microsecond pcap as big-endian nanoseconds."""
    out = bytearray(struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
    pos = 24
    while pos < len(little):
        sec, usec, incl, orig = struct.unpack_from("<IIII", little, pos)
        out += struct.pack(">IIII", sec, usec * 1000 + 7, incl, orig) + little[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
    return bytes(out)


def test_big_endian_nanosecond_pcap(tmp_path: Path) -> None:
    little = conversation([(C2S, req(T.ECHO_REQ, b"x"))])
    frames = list(read_frames(_write(tmp_path, _big_endian_nano(little))))
    assert frames[0].time_ns == 1_700_000_000 * 10**9 + 7
    assert [f.data for f in frames] == [f.data for f in read_frames(_write(tmp_path, little, "l.pcap"))]


@pytest.mark.parametrize("tsresol", [None, 9])
def test_pcapng_matches_pcap(tmp_path: Path, tsresol: int | None) -> None:
    little = conversation([(C2S, req(T.SUBMIT_JOB, b"f", b"", b"w" * 3000))], split=1000)
    ng = list(read_frames(_write(tmp_path, as_pcapng(little, tsresol), "c.pcapng")))
    classic = list(read_frames(_write(tmp_path, little)))
    assert [(f.time_ns, f.data) for f in ng] == [(f.time_ns, f.data) for f in classic]


def test_not_a_capture_names_file_and_offset(tmp_path: Path) -> None:
    path = _write(tmp_path, b"hello world, not a pcap")
    with pytest.raises(CaptureError, match=r"c\.pcap: byte offset 0: not a pcap"):
        list(read_frames(path))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="empty file"):
        list(read_frames(_write(tmp_path, b"")))


def test_truncated_record_yields_earlier_frames_then_fails(tmp_path: Path) -> None:
    data = conversation([(C2S, req(T.ECHO_REQ, b"x" * 50))])
    path = _write(tmp_path, data[:-10])
    frames = []
    with pytest.raises(CaptureError, match=r"byte offset \d+: file ends") as info:
        for frame in read_frames(path):
            frames.append(frame)
    assert frames, "frames before the damage are still read"
    assert info.value.offset > 24


def test_absurd_record_length_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(conversation([(C2S, req(T.ECHO_REQ, b"x"))]))
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFFF)
    with pytest.raises(CaptureError, match="byte offset 24: record claims"):
        list(read_frames(_write(tmp_path, bytes(data))))


def test_pcapng_bad_trailer(tmp_path: Path) -> None:
    ng = bytearray(as_pcapng(conversation([(C2S, req(T.ECHO_REQ, b"x"))]), None))
    ng[-1] ^= 0xFF
    with pytest.raises(CaptureError, match="trailing length"):
        list(read_frames(_write(tmp_path, bytes(ng), "c.pcapng")))


def _short_block(kind: int, length: int) -> bytes:
    """A pcapng file: a section, an interface, then one block of ``kind`` with total ``length``."""
    little = conversation([(C2S, req(T.ECHO_REQ, b"x"))])
    head = as_pcapng(little, None)
    shb_len = struct.unpack_from("<I", head, 4)[0]
    idb_len = struct.unpack_from("<I", head, shb_len + 4)[0]
    body = b"\xff" * (length - 12)
    return head[: shb_len + idb_len] + struct.pack("<II", kind, length) + body + struct.pack("<I", length)


@pytest.mark.parametrize("kind", [2, 3, 6, 1])
@pytest.mark.parametrize("length", [12, 16, 20, 24, 28])
def test_pcapng_blocks_too_short_for_their_fields_are_one_error_with_the_offset(
    tmp_path: Path, kind: int, length: int
) -> None:
    data = _short_block(kind, length)
    at = len(data) - length
    path = _write(tmp_path, data, "short.pcapng")
    if length >= {1: 20, 3: 16}.get(kind, 32):
        list(read_frames(path))  # long enough: read (or refused for another reason) without a traceback
        return
    with pytest.raises(CaptureError, match=rf"short\.pcapng: byte offset {at}: pcapng .* block of {length} bytes"):
        list(read_frames(path))


@pytest.mark.parametrize("command", ["decode", "jobs", "check"])
def test_a_short_enhanced_packet_block_is_one_line_and_exit_3(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from gearsim.cli.main import main

    data = _short_block(6, 24)
    path = _write(tmp_path, data, "short.pcapng")
    assert main([command, str(path)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"byte offset {len(data) - 24}: pcapng enhanced packet block of 24 bytes" in err[0]
