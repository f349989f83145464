"""The scapy layers: byte-exact build and dissect from the packet table, rdpcap, TCPSession."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_helpers import C2S, S2C, conversation, real_captures, req, res
from scapy.all import TCPSession, raw, rdpcap, sniff
from scapy.packet import Packet as ScapyPacket

from gearsim.dissect import scapy_gearman as g
from gearsim.protocol.codec import encode
from gearsim.protocol.packets import SPECS, Packet
from gearsim.protocol.packets import PacketType as T


def _gearman_layers(pkt: ScapyPacket) -> list[ScapyPacket]:
    out = []
    layer = pkt
    while layer is not None and layer.__class__ is not g.conf.raw_layer:
        if isinstance(layer, (g.GearmanBinary, g.GearmanAdminCommand, g.GearmanAdminReply)):
            out.append(layer)
        layer = layer.payload if layer.payload else None
    return out


@pytest.mark.parametrize("number", sorted(n for n, s in SPECS.items() if s.on_wire))
def test_every_table_row_builds_and_dissects_byte_exact(number: int) -> None:
    spec = SPECS[number]
    args = tuple(f"{name}-v".encode() for name in spec.args)
    if spec.blob and args:
        args = (*args[:-1], b"blob\0with\0nuls")
    packet = Packet.req(number, *args) if spec.req else Packet.res(number, *args)
    cls = g.LAYERS[number]
    built = cls(**dict(zip(spec.args, args, strict=True)))
    assert raw(built) == encode(packet)
    dissected = g.GearmanRequest(encode(packet))
    assert type(dissected) is cls
    assert tuple(getattr(dissected, name) for name in spec.args) == args
    assert dissected.length == len(packet.body)


def test_unknown_type_falls_back() -> None:
    data = b"\0REQ" + (99).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"a\0b"
    layer = g.GearmanRequest(data)
    assert isinstance(layer, g.GearmanUnknown) and layer.body == b"a\0b"


def test_several_messages_in_one_segment_chain(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(conversation([(C2S, req(T.SUBMIT_JOB, b"f", b"", b"x") + req(T.ECHO_REQ, b"e") + b"status\n")]))
    pkts = [p for p in rdpcap(str(path)) if _gearman_layers(p)]
    names = [layer.__class__.__name__ for layer in _gearman_layers(pkts[0])]
    assert names == ["Gearman_SUBMIT_JOB", "Gearman_ECHO_REQ", "GearmanAdminCommand"]
    assert _gearman_layers(pkts[0])[2].text == b"status"


def test_tcpsession_reassembles_one_packet_over_many_segments(tmp_path: Path) -> None:
    big = b"w" * 3000
    path = tmp_path / "c.pcap"
    path.write_bytes(
        conversation([(C2S, req(T.SUBMIT_JOB, b"f", b"u", big)), (S2C, res(T.JOB_CREATED, b"H:1"))], split=500)
    )
    layers = [layer for p in sniff(offline=str(path), session=TCPSession) for layer in _gearman_layers(p)]
    assert [type(x).__name__ for x in layers] == ["Gearman_SUBMIT_JOB", "Gearman_JOB_CREATED"]
    assert layers[0].workload == big and layers[1].handle == b"H:1"


@pytest.mark.parametrize("cap", real_captures()[:3], ids=lambda c: c.path.name)
def test_real_capture_on_a_named_port(cap: object) -> None:
    g.bind_port(cap.port)  # type: ignore[attr-defined]
    layers = [x for p in rdpcap(str(cap.path)) for x in _gearman_layers(p)]  # type: ignore[attr-defined]
    assert any(isinstance(x, g.GearmanBinary) for x in layers)
    assert all(not isinstance(x, g.GearmanUnknown) for x in layers)
