"""Whole captures through the fast path: segments, connections, damage, findings."""

from __future__ import annotations

from pathlib import Path

from capture_helpers import C2S, S2C, T0, conversation, pcap_bytes, pcap_records, req, res

from gearsim.dissect.annotate import annotate
from gearsim.dissect.capture import Event, read_capture
from gearsim.dissect.pcapfile import PcapWriter
from gearsim.dissect.synth import TcpConversation
from gearsim.protocol.packets import Packet
from gearsim.protocol.packets import PacketType as T

SUBMIT = req(T.SUBMIT_JOB, b"reverse", b"", b"payload \0 with nul" * 20)
CREATED = res(T.JOB_CREATED, b"H:lap:1")


def _events(tmp_path: Path, data: bytes, ports: tuple[int, ...] = (4730,)) -> list[Event]:
    path = tmp_path / "c.pcap"
    path.write_bytes(data)
    return list(read_capture(path, ports))


def _summary(events: list[Event]) -> list[tuple[str, str]]:
    out = []
    for e in events:
        if e.message is not None:
            out.append((e.direction, e.message.name if isinstance(e.message, Packet) else "TEXT"))
        elif e.kind not in ("open", "close", "fin"):
            out.append((e.direction, e.kind))
    return out


def test_several_packets_in_one_segment_and_one_over_many(tmp_path: Path) -> None:
    data = conversation([(C2S, SUBMIT + req(T.ECHO_REQ, b"e")), (S2C, CREATED + res(T.ECHO_RES, b"e"))], split=7)
    events = _events(tmp_path, data)
    assert _summary(events) == [(C2S, "SUBMIT_JOB"), (C2S, "ECHO_REQ"), (S2C, "JOB_CREATED"), (S2C, "ECHO_RES")]
    assert events[0].kind == "open" and events[-1].kind == "close"
    assert events[0].info is not None and events[0].info.server == "127.0.0.1:4730"


def test_other_ports_are_ignored_when_the_port_is_forced(tmp_path: Path) -> None:
    def build(w: PcapWriter) -> None:
        conv = TcpConversation(w, ("127.0.0.2", 40000), ("127.0.0.1", 9999))
        conv.open(T0)
        conv.send(C2S, req(T.ECHO_REQ, b"x"), T0)
        conv.close(T0)

    data = pcap_bytes(build)
    assert _events(tmp_path, data) == []
    assert _summary(_events(tmp_path, data, (9999,))) == [(C2S, "ECHO_REQ")]


def test_reordered_and_duplicated_segments(tmp_path: Path) -> None:
    head, records = pcap_records(conversation([(C2S, SUBMIT), (S2C, CREATED)], split=50))
    data_frames = list(range(3, 3 + (len(SUBMIT) + 49) // 50))
    shuffled = records[:3] + [records[i] for i in reversed(data_frames)] + [records[data_frames[0]]]
    shuffled += records[data_frames[-1] + 1 :]
    events = _events(tmp_path, head + b"".join(shuffled))
    assert _summary(events) == [(C2S, "SUBMIT_JOB"), (S2C, "JOB_CREATED")]


def test_missing_segment_is_a_gap_with_byte_range_and_decoding_resumes(tmp_path: Path) -> None:
    steps = [(C2S, SUBMIT), (S2C, CREATED), (C2S, req(T.GET_STATUS, b"H:lap:1")), (S2C, CREATED)]
    head, records = pcap_records(conversation(steps, split=100))
    del records[4]  # the second data segment of the SUBMIT_JOB
    events = _events(tmp_path, head + b"".join(records))
    each_way = {d: [kind for way, kind in _summary(events) if way == d] for d in (C2S, S2C)}
    assert each_way == {C2S: ["lost", "gap", "skipped", "GET_STATUS"], S2C: ["JOB_CREATED", "JOB_CREATED"]}
    gap = next(e for e in events if e.kind == "gap")
    assert (gap.offset, gap.end) == (100, 200)
    status = next(e for e in events if e.message is not None and e.message.name == "GET_STATUS")
    assert status.time_ns == T0 + 3_000_000, "bytes held behind the hole keep the time they were captured"


def test_connection_seen_mid_stream(tmp_path: Path) -> None:
    steps = [(C2S, SUBMIT), (S2C, CREATED), (C2S, req(T.ECHO_REQ, b"e")), (S2C, res(T.ECHO_RES, b"e"))]
    head, records = pcap_records(conversation(steps, split=100))
    events = _events(tmp_path, head + b"".join(records[5:]))
    assert events[0].info is not None and events[0].info.midstream
    assert (C2S, "ECHO_REQ") in _summary(events) and (S2C, "ECHO_RES") in _summary(events)


def test_interleaved_connections_are_numbered_in_order(tmp_path: Path) -> None:
    def build(w: PcapWriter) -> None:
        a = TcpConversation(w, ("127.0.0.2", 40001), ("127.0.0.1", 4730))
        b = TcpConversation(w, ("127.0.0.3", 40002), ("127.0.0.1", 4730))
        a.open(T0)
        b.open(T0 + 1)
        b.send(C2S, req(T.ECHO_REQ, b"b"), T0 + 2)
        a.send(C2S, req(T.ECHO_REQ, b"a"), T0 + 3)
        a.close(T0 + 4)
        b.close(T0 + 5)

    events = [e for e in _events(tmp_path, pcap_bytes(build)) if e.message is not None]
    assert [(e.conn, e.message.args) for e in events] == [(2, (b"b",)), (1, (b"a",))]  # type: ignore[union-attr]


def test_findings_are_flagged_with_requirement_ids(tmp_path: Path) -> None:
    steps = [
        (C2S, encode_res_as_req()),
        (C2S, req(T.SUBMIT_JOB, b"f", b"")),
        (S2C, res(T.JOB_CREATED, b"a\0b")),
        (S2C, res(T.JOB_CREATED, b"H" * 70)),
        (C2S, req(T.WORK_COMPLETE, b"H:1", b"r") + req(T.WORK_DATA, b"H:1", b"late")),
    ]
    found = {
        (e.message.name, v.requirement)  # type: ignore[union-attr]
        for e, vs in annotate(_events(tmp_path, conversation(steps)))
        for v in vs
    }
    assert ("ECHO_REQ", "GM-FRAME-002") in found
    assert ("SUBMIT_JOB", "GM-FRAME-004") in found
    assert ("JOB_CREATED", "GM-FRAME-005") in found
    assert ("JOB_CREATED", "GM-FIELD-001") in found
    assert ("WORK_DATA", "GM-WORK-014") in found
    assert not any(name == "WORK_COMPLETE" for name, _ in found)


def encode_res_as_req() -> bytes:
    return res(T.ECHO_REQ, b"x")
