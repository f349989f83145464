"""The network under the Gearman streams: reordering against ACKs, IP fragments, Gearman on any port."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from capture_helpers import C2S, S2C, T0, conversation, pcap_bytes, pcap_records, req, res

from gearsim.cli.main import main
from gearsim.dissect.capture import CaptureStats, Event, read_capture
from gearsim.dissect.pcapfile import LINKTYPE_RAW, PcapWriter
from gearsim.dissect.synth import TcpConversation
from gearsim.protocol.packets import Packet
from gearsim.protocol.packets import PacketType as T

SUBMIT = req(T.SUBMIT_JOB, b"reverse", b"u", b"w" * 300)
CREATED = res(T.JOB_CREATED, b"H:x:1")


def _read(tmp_path: Path, data: bytes, ports: tuple[int, ...] | None = None) -> tuple[list[Event], CaptureStats]:
    path = tmp_path / "c.pcap"
    path.write_bytes(data)
    stats = CaptureStats()
    return list(read_capture(path, ports, stats)), stats


def _names(events: list[Event]) -> list[tuple[str, str]]:
    return [
        (e.direction, e.message.name if isinstance(e.message, Packet) else e.kind if e.message is None else "TEXT")
        for e in events
        if e.kind not in ("open", "close", "fin")
    ]


def _record(time_ns: int, frame: bytes) -> bytes:
    sec, ns = divmod(time_ns, 1_000_000_000)
    return struct.pack("<IIII", sec, ns // 1000, len(frame), len(frame)) + frame


# --- reordering: the ACK can be captured before the data it acknowledges -----------------


def test_a_segment_captured_after_its_ack_is_reassembled_not_reported_as_a_gap(tmp_path: Path) -> None:
    head, records = pcap_records(conversation([(C2S, SUBMIT), (S2C, CREATED)], split=100))
    # records: SYN, SYN-ACK, ACK, four SUBMIT segments, the server's ACK, ...
    first, second = records[3], records[4]
    ack = records[7]
    reordered = [*records[:3], first, records[5], records[6], ack, second, *records[8:]]
    events, _ = _read(tmp_path, head + b"".join(reordered))
    assert _names(events) == [(C2S, "SUBMIT_JOB"), (S2C, "JOB_CREATED")]
    submit = next(e for e in events if e.message is not None and e.message.name == "SUBMIT_JOB")
    assert submit.message == Packet.req(T.SUBMIT_JOB, b"reverse", b"u", b"w" * 300)


def test_a_segment_never_captured_is_still_a_gap(tmp_path: Path) -> None:
    head, records = pcap_records(conversation([(C2S, SUBMIT), (S2C, CREATED)], split=100))
    del records[4]
    events, _ = _read(tmp_path, head + b"".join(records))
    gaps = [(e.offset, e.end) for e in events if e.kind == "gap"]
    assert gaps == [(100, 200)]


# --- IP fragments --------------------------------------------------------------------------


def _fragments_v4(frame: bytes, size: int) -> list[bytes]:
    """An Ethernet/IPv4 frame cut into IP fragments of ``size`` payload bytes (a multiple of 8)."""
    eth, header, payload = frame[:14], frame[14:34], frame[34:]
    out = []
    for off in range(0, len(payload), size):
        part = payload[off : off + size]
        more = off + size < len(payload)
        h = bytearray(header)
        struct.pack_into(">HHH", h, 2, 20 + len(part), 0x77, (0x2000 if more else 0) | off // 8)
        out.append(eth + bytes(h) + part)
    return out


def _fragmented(order: list[int] | None, drop: int | None = None) -> bytes:
    """A connection whose SUBMIT_JOB segment crosses the wire as four IPv4 fragments."""
    head, records = pcap_records(conversation([(C2S, SUBMIT), (S2C, CREATED)]))
    data_record = records[3]
    frame = data_record[16:]
    frags = _fragments_v4(frame, 88)
    assert len(frags) == 4
    picked = [frags[i] for i in (order or range(len(frags))) if i != drop]
    rebuilt = [*records[:3], *(_record(T0 + 500_000, f) for f in picked), *records[4:]]
    return head + b"".join(rebuilt)


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 1, 0, 2]])
def test_ipv4_fragments_are_reassembled_in_any_order(tmp_path: Path, order: list[int]) -> None:
    events, stats = _read(tmp_path, _fragmented(order))
    assert _names(events) == [(C2S, "SUBMIT_JOB"), (S2C, "JOB_CREATED")]
    assert stats.datagrams_reassembled == 1 and stats.datagrams_unassembled == 0


def test_a_datagram_missing_a_fragment_is_reported_as_unassembled(tmp_path: Path) -> None:
    events, stats = _read(tmp_path, _fragmented(None, drop=2))
    lost = [e for e in events if e.kind == "unassembled"]
    assert len(lost) == 1 and stats.datagrams_unassembled == 1
    assert "IP datagram id 0x77 127.0.0.2 > 127.0.0.1: 3 fragments" in lost[0].note
    assert (C2S, "SUBMIT_JOB") not in _names(events)


def test_ipv6_fragments_are_reassembled(tmp_path: Path) -> None:
    conv = TcpConversation(PcapWriter(__import__("io").BytesIO()), ("127.0.0.2", 40000), ("127.0.0.1", 4730))
    tcp = conv.frame(C2S, 5000, 7000, 0x18, req(T.ECHO_REQ, b"e" * 100))[34:]
    src, dst = bytes(15) + b"\x02", bytes(15) + b"\x01"

    def fragment(offset: int, more: bool, part: bytes) -> bytes:
        ip6 = struct.pack(">IHBB16s16s", 6 << 28, 8 + len(part), 44, 64, src, dst)
        return ip6 + struct.pack(">BBHI", 6, 0, offset | int(more), 0xABCD) + part

    def build(w: PcapWriter) -> None:
        w.write(T0, fragment(64, False, tcp[64:]))
        w.write(T0 + 1000, fragment(0, True, tcp[:64]))

    data = pcap_bytes(lambda w: None)[:20] + struct.pack("<I", LINKTYPE_RAW)
    body = pcap_bytes(build)[24:]
    events, stats = _read(tmp_path, data + body)
    assert _names(events) == [(C2S, "ECHO_REQ")]
    assert events[0].info is not None and events[0].info.server == "[::1]:4730"
    assert stats.datagrams_reassembled == 1


# --- Gearman on any port ---------------------------------------------------------------------


def _on_port(port: int, steps: list[tuple[str, bytes]], *, handshake: bool = True, close: bool = True) -> bytes:
    def build(w: PcapWriter) -> None:
        conv = TcpConversation(w, ("127.0.0.2", 40000), ("127.0.0.1", port))
        if handshake:
            conv.open(T0)
        for i, (direction, data) in enumerate(steps):
            conv.send(direction, data, T0 + (i + 1) * 1_000_000)
        if close:
            conv.close(T0 + 9_000_000)

    return pcap_bytes(build)


def test_binary_gearman_on_another_port_is_found_from_its_bytes(tmp_path: Path) -> None:
    events, stats = _read(tmp_path, _on_port(9999, [(C2S, SUBMIT), (S2C, CREATED)]))
    assert _names(events) == [(C2S, "SUBMIT_JOB"), (S2C, "JOB_CREATED")]
    assert events[0].info is not None and events[0].info.server == "127.0.0.1:9999"
    assert stats.detected_servers == ["127.0.0.1:9999"]


def test_a_server_reply_seen_first_mid_stream_names_the_server_end(tmp_path: Path) -> None:
    data = _on_port(9999, [(S2C, CREATED), (C2S, req(T.ECHO_REQ, b"x"))], handshake=False)
    events, _ = _read(tmp_path, data)
    assert events[0].info is not None and events[0].info.server == "127.0.0.1:9999" and events[0].info.midstream
    assert _names(events) == [(S2C, "JOB_CREATED"), (C2S, "ECHO_REQ")]


def test_a_handshake_captured_before_the_port_was_proven_gearman_is_not_a_mid_stream_join(tmp_path: Path) -> None:
    # the first connection only shakes hands before the second one's bytes prove the port Gearman: its SYN was
    # captured, so it is seen from its start, not joined mid-stream (the server detection used to drop it)
    def build(w: PcapWriter) -> None:
        first = TcpConversation(w, ("127.0.0.2", 40000), ("127.0.0.1", 9999))
        second = TcpConversation(w, ("127.0.0.2", 40002), ("127.0.0.1", 9999))
        first.open(T0)
        second.open(T0 + 1_000_000)
        second.send(C2S, SUBMIT, T0 + 2_000_000)
        second.send(S2C, CREATED, T0 + 3_000_000)
        first.send(C2S, req(T.ECHO_REQ, b"x"), T0 + 4_000_000)
        first.close(T0 + 5_000_000)
        second.close(T0 + 6_000_000)

    events, _ = _read(tmp_path, pcap_bytes(build))
    opened = {e.info.client: e.info.midstream for e in events if e.info is not None}
    assert opened == {"127.0.0.2:40000": False, "127.0.0.2:40002": False}
    assert _names(events) == [(C2S, "SUBMIT_JOB"), (S2C, "JOB_CREATED"), (C2S, "ECHO_REQ")]


def test_a_connection_to_a_detected_server_first_seen_in_its_data_is_still_joined_mid_stream(tmp_path: Path) -> None:
    def build(w: PcapWriter) -> None:
        first = TcpConversation(w, ("127.0.0.2", 40000), ("127.0.0.1", 9999))
        second = TcpConversation(w, ("127.0.0.2", 40002), ("127.0.0.1", 9999))
        second.open(T0)
        second.send(C2S, SUBMIT, T0 + 2_000_000)
        first.send(C2S, req(T.ECHO_REQ, b"x"), T0 + 4_000_000)

    events, _ = _read(tmp_path, pcap_bytes(build))
    opened = {e.info.client: e.info.midstream for e in events if e.info is not None}
    assert opened == {"127.0.0.2:40000": True, "127.0.0.2:40002": False}


def test_an_admin_command_from_the_connecting_side_is_found(tmp_path: Path) -> None:
    events, _ = _read(tmp_path, _on_port(7003, [(C2S, b"status\n"), (S2C, b"reverse\t0\t0\t1\n.\n")]))
    assert [e.message.text for e in events if e.message is not None] == [  # type: ignore[union-attr]
        b"status",
        b"reverse\t0\t0\t1",
        b".",
    ]


def test_other_protocols_are_not_gearman_and_the_summary_names_their_ports(tmp_path: Path) -> None:
    data = _on_port(8080, [(C2S, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), (S2C, b"HTTP/1.1 200 OK\r\n\r\n")])
    events, stats = _read(tmp_path, data)
    assert events == []
    line = stats.nothing_found(None)
    assert "no Gearman traffic found on any port" in line and "1 TCP connection looked at (port 8080)" in line
    assert "--port" in line


@pytest.mark.parametrize("handshake", [True, False], ids=["opened", "joined-mid-stream"])
def test_a_connection_the_capture_ends_in_before_its_bytes_tell_is_counted_as_looked_at(
    tmp_path: Path, handshake: bool
) -> None:
    # was "0 TCP connections": a connection still undecided when the frames ended was never counted
    data = _on_port(80, [(C2S, b"GET / HTTP/1.0\r\n\r\n")], handshake=handshake, close=False)
    events, stats = _read(tmp_path, data)
    assert events == []
    assert "1 TCP connection looked at (port 80), none with Gearman" in stats.nothing_found(None)


def test_a_forced_port_reads_only_that_port(tmp_path: Path) -> None:
    data = _on_port(9999, [(C2S, SUBMIT), (S2C, CREATED)])
    assert _read(tmp_path, data, (4730,))[0] == []
    assert _names(_read(tmp_path, data, (9999,))[0]) == [(C2S, "SUBMIT_JOB"), (S2C, "JOB_CREATED")]


@pytest.mark.parametrize(("command", "code"), [("decode", 0), ("jobs", 0), ("check", 2)])
def test_commands_say_in_one_line_when_nothing_is_found(
    tmp_path: Path, command: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "http.pcap"
    path.write_bytes(_on_port(8080, [(C2S, b"GET / HTTP/1.1\r\n\r\n")]))
    assert main([command, str(path)]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gearsim {command}: {path}: no Gearman traffic found")


def test_record_with_nothing_found_is_one_line_and_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "http.pcap"
    path.write_bytes(_on_port(8080, [(C2S, b"GET / HTTP/1.1\r\n\r\n")]))
    assert main(["record", str(path), "-o", str(tmp_path / "v.yaml")]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no Gearman traffic found" in lines[0]
    assert not (tmp_path / "v.yaml").exists()


def test_decode_finds_gearman_on_another_port_without_being_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.pcap"
    path.write_bytes(_on_port(9999, [(C2S, SUBMIT), (S2C, CREATED)]))
    assert main(["decode", str(path)]) == 0
    out = capsys.readouterr().out
    assert "c>s REQ SUBMIT_JOB" in out and "s>c RES JOB_CREATED" in out


# --- who closed, and segments captured after an RST ---------------------------------------------


def test_a_reply_captured_after_the_clients_rst_belongs_to_the_same_connection(tmp_path: Path) -> None:
    def build(w: PcapWriter) -> None:
        conv = TcpConversation(w, ("127.0.0.2", 40000), ("127.0.0.1", 4730))
        conv.open(T0)
        conv.send(C2S, req(T.GET_STATUS, b"H:x:1"), T0 + 1000, ack=False)
        c, s = conv.seq[C2S], conv.seq[S2C]
        w.write(T0 + 2000, conv.frame(C2S, c, s, 0x14))  # RST+ACK with the reply unread
        w.write(T0 + 3000, conv.frame(S2C, s, c, 0x18, res(T.STATUS_RES, b"H:x:1", b"0", b"0", b"0", b"0")))

    events, _ = _read(tmp_path, pcap_bytes(build))
    assert {e.conn for e in events} == {1}
    assert [(e.kind, e.direction, e.note) for e in events if e.kind in ("fin", "close")] == [
        ("fin", C2S, "RST"),
        ("close", "", ""),
    ]
    assert _names(events) == [(C2S, "GET_STATUS"), (S2C, "STATUS_RES")]


def test_fin_events_say_which_end_closed_first(tmp_path: Path) -> None:
    def build(w: PcapWriter) -> None:
        conv = TcpConversation(w, ("127.0.0.2", 40000), ("127.0.0.1", 4730))
        conv.open(T0)
        conv.send(C2S, req(T.ECHO_REQ, b"x"), T0 + 1000)
        conv.close(T0 + 2000, first=S2C)

    events, _ = _read(tmp_path, pcap_bytes(build))
    assert [(e.kind, e.direction) for e in events if e.kind == "fin"] == [("fin", S2C), ("fin", C2S)]
