"""A capture of a link type gearsim does not read is named as such, not reported as "no Gearman traffic".

An 802.11 capture (link type 105) or one of a number gearsim has never heard
of gave "no Gearman traffic found on any port: 10 frames, 0 TCP connections",
and ``decode`` and ``jobs`` exited 0: the user was told there was nothing to
find rather than that gearsim could not look. Every capture command now says
which link type (number and name) it could not read and which it reads, and
exits 3, an input error. In a pcapng file each interface has its own link
type: an interface gearsim reads is read, and each one it does not is named
in a note on stderr.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from capture_helpers import C2S, S2C, conversation, pcap_records, req, res

from gearsim.cli.main import main
from gearsim.dissect.capture import CaptureStats, read_capture
from gearsim.protocol.packets import PacketType as T

SUBMIT = req(T.SUBMIT_JOB_BG, b"reverse", b"u", b"hello")
CREATED = res(T.JOB_CREATED, b"H:x:1")
READS = "gearsim reads link types 0 (NULL), 1 (ETHERNET), "
COMMANDS = ["decode", "jobs", "check", "record"]


def _pcap(linktype: int) -> bytes:
    """One Gearman conversation, its pcap header claiming ``linktype`` (the frames stay Ethernet)."""
    data = conversation([(C2S, SUBMIT), (S2C, CREATED)])
    return data[:20] + struct.pack("<I", linktype) + data[24:]


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def _pcapng(linktypes: list[int], readable_on: int) -> bytes:
    """A pcapng file with one interface per link type; the conversation on interface ``readable_on``.

    Every other interface carries a copy of each frame (as a monitor-mode
    802.11 interface would see the same traffic in its own framing).
    """
    _, records = pcap_records(conversation([(C2S, SUBMIT), (S2C, CREATED)]))
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += b"".join(_block(1, struct.pack("<HHI", lt, 0, 65535)) for lt in linktypes)
    for record in records:
        sec, usec, incl, orig = struct.unpack_from("<IIII", record)
        ticks = sec * 10**6 + usec
        for iface in range(len(linktypes)):
            body = struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, incl, orig) + record[16:]
            if iface == readable_on or linktypes[iface] != 1:
                out += _block(6, body)
    return out


def _run(tmp_path: Path, command: str, data: bytes, name: str = "c.pcap") -> int:
    path = tmp_path / name
    path.write_bytes(data)
    extra = ["-o", str(tmp_path / "v.yaml")] if command == "record" else []
    return main([command, str(path), *extra])


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("linktype", "named"), [(105, "105 (IEEE802_11)"), (4242, "4242 (unknown)")])
def test_a_capture_of_a_link_type_gearsim_does_not_read_is_an_input_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, linktype: int, named: str
) -> None:
    assert _run(tmp_path, command, _pcap(linktype)) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"gearsim {command}: {tmp_path / 'c.pcap'}: cannot read 10 frames of link type {named}: ")
    assert READS in line and "276 (LINUX_SLL2)" in line
    assert "no Gearman traffic" not in line


def test_the_same_capture_in_a_link_type_gearsim_reads_is_read(tmp_path: Path) -> None:
    """The frames above are Ethernet: only the header's claim makes them unreadable."""
    assert _run(tmp_path, "check", _pcap(1)) == 0


@pytest.mark.parametrize("command", COMMANDS)
def test_a_pcapng_whose_only_interface_gearsim_cannot_read_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert _run(tmp_path, command, _pcapng([127], readable_on=-1), "c.pcapng") == 3
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "cannot read 10 frames of link type 127 (IEEE802_11_RADIOTAP): " + READS in line


def test_each_unreadable_pcapng_interface_is_named_with_its_link_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, "decode", _pcapng([105, 4242], readable_on=-1), "c.pcapng") == 3
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "10 frames of link type 105 (IEEE802_11) on interface 0; " in line
    assert "10 frames of link type 4242 (unknown) on interface 1: " + READS in line


@pytest.mark.parametrize(("command", "code"), [("decode", 0), ("jobs", 0), ("check", 0), ("record", 0)])
def test_a_readable_interface_is_read_and_the_skipped_one_is_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, code: int
) -> None:
    data = _pcapng([105, 1], readable_on=1)
    assert _run(tmp_path, command, data, "c.pcapng") == code
    captured = capsys.readouterr()
    if command == "decode":
        assert "SUBMIT_JOB_BG" in captured.out and "JOB_CREATED" in captured.out
    notes = [line for line in captured.err.splitlines() if "note:" in line]
    assert notes == [
        f"gearsim {command}: {tmp_path / 'c.pcapng'}: note: skipped 10 frames of link type 105 (IEEE802_11) "
        "on interface 0: " + READS + "12 (RAW), 14 (RAW), 101 (RAW), 108 (LOOP), 113 (LINUX_SLL), 228 (IPV4), "
        "229 (IPV6), 276 (LINUX_SLL2)"
    ]


def test_reading_counts_unread_frames_by_interface_and_link_type(tmp_path: Path) -> None:
    path = tmp_path / "c.pcapng"
    path.write_bytes(_pcapng([1, 105], readable_on=0))
    stats = CaptureStats()
    events = list(read_capture(path, None, stats))
    assert [e.message.name for e in events if e.message is not None] == ["SUBMIT_JOB_BG", "JOB_CREATED"]
    assert stats.frames == 20 and dict(stats.unread_links) == {(1, 105): 10}
    assert stats.unreadable() is None


def test_a_capture_with_no_frames_is_still_reported_as_holding_no_gearman(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing was passed over, so there is no link type to blame."""
    assert _run(tmp_path, "check", _pcap(105)[:24]) == 2
    assert "no Gearman traffic found" in capsys.readouterr().err
