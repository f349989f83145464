"""Synthesized TCP/IP captures: conversations and simulator traces written as pcap.

This module owns building Ethernet/IPv4/TCP frames for byte streams that never
crossed a real network: a ``TcpConversation`` tracks both sequence numbers,
writes the handshake, data segments (split at any size), ACKs and the FIN
exchange, on loopback-style addresses. ``write_trace_pcap`` turns a simulator
``Trace`` into such a capture, so tshark (or ``gearsim decode``) reads it as
Gearman on port 4730.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Final

from gearsim.dissect.netparse import ACK, FIN, SYN
from gearsim.dissect.pcapfile import PcapWriter
from gearsim.protocol.codec import encode_many
from gearsim.protocol.trace import Direction, Kind, Trace, TraceRecord

__all__ = ["TcpConversation", "write_trace_pcap"]

_PSH: Final[int] = 0x08
_MSS: Final[int] = 65483
#: 1 January 2024, so synthesized captures show a plausible date
EPOCH_NS: Final[int] = 1_704_067_200 * 1_000_000_000


def _checksum(header: bytes) -> int:
    total: int = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class TcpConversation:
    """Both directions of one synthesized TCP connection, written to a ``PcapWriter``."""

    def __init__(
        self,
        writer: PcapWriter,
        client: tuple[str, int],
        server: tuple[str, int],
        *,
        isn: tuple[int, int] = (1000, 5000),
    ) -> None:
        self.writer = writer
        self.ends = {
            Direction.C2S.value: (
                bytes(map(int, client[0].split("."))),
                client[1],
                bytes(map(int, server[0].split("."))),
                server[1],
            ),
            Direction.S2C.value: (
                bytes(map(int, server[0].split("."))),
                server[1],
                bytes(map(int, client[0].split("."))),
                client[1],
            ),
        }
        self.seq = {Direction.C2S.value: isn[0], Direction.S2C.value: isn[1]}
        self._ip_id = 1

    def frame(self, direction: str, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        """One Ethernet frame of this connection (no state change)."""
        src, sport, dst, dport = self.ends[direction]
        tcp = struct.pack(">HHIIBBHHH", sport, dport, seq % (1 << 32), ack % (1 << 32), 5 << 4, flags, 65535, 0, 0)
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, self._ip_id & 0xFFFF, 0x4000, 64, 6, 0, src, dst)
        self._ip_id += 1
        ip = ip[:10] + struct.pack(">H", _checksum(ip)) + ip[12:]
        eth = b"\0" * 12 + b"\x08\x00"
        return eth + ip + tcp + payload

    def _other(self, direction: str) -> str:
        return Direction.S2C.value if direction == Direction.C2S.value else Direction.C2S.value

    def open(self, time_ns: int) -> None:
        """The three-way handshake."""
        c2s, s2c = Direction.C2S.value, Direction.S2C.value
        self.writer.write(time_ns, self.frame(c2s, self.seq[c2s], 0, SYN))
        self.seq[c2s] += 1
        self.writer.write(time_ns, self.frame(s2c, self.seq[s2c], self.seq[c2s], SYN | ACK))
        self.seq[s2c] += 1
        self.writer.write(time_ns, self.frame(c2s, self.seq[c2s], self.seq[s2c], ACK))

    def send(self, direction: str, data: bytes, time_ns: int, *, split: int = _MSS, ack: bool = True) -> None:
        """``data`` from one end in segments of at most ``split`` bytes, then an ACK back."""
        other = self._other(direction)
        for start in range(0, len(data), max(split, 1)):
            piece = data[start : start + split]
            self.writer.write(time_ns, self.frame(direction, self.seq[direction], self.seq[other], ACK | _PSH, piece))
            self.seq[direction] += len(piece)
        if ack and data:
            self.writer.write(time_ns, self.frame(other, self.seq[other], self.seq[direction], ACK))

    def close(self, time_ns: int, first: str = Direction.C2S.value) -> None:
        """The FIN exchange, started by ``first``."""
        second = self._other(first)
        self.writer.write(time_ns, self.frame(first, self.seq[first], self.seq[second], FIN | ACK))
        self.seq[first] += 1
        self.writer.write(time_ns, self.frame(second, self.seq[second], self.seq[first], FIN | ACK))
        self.seq[second] += 1
        self.writer.write(time_ns, self.frame(first, self.seq[first], self.seq[second], ACK))


def _record_bytes(record: TraceRecord, deliveries: bool) -> bytes:
    """The bytes a record puts on the wire, in the mode chosen for its trace."""
    if deliveries:
        return record.data if record.kind == Kind.DELIVER else b""
    if record.kind != Kind.SEND:
        return b""
    if record.message is None:
        return record.data
    return encode_many([record.message])


def write_trace_pcap(trace: Trace | Iterable[Trace], out: str | Path | BinaryIO, *, port: int = 4730) -> int:
    """Write simulator traces as one pcap; return the number of connections written.

    Each trace connection becomes a TCP connection from 127.0.x.y (a port per
    connection) to 127.0.0.1:``port``. The bytes are those of the trace's
    ``deliver`` records when it has any (what crossed the link, in the pieces
    it was split into), else the encoded ``send`` records. Ticks become
    milliseconds after 2024-01-01; successive traces follow each other in time.

    A file named by path is streamed into; ``gearsim run --pcap`` and ``gearsim
    simulate --pcap`` write theirs whole or not at all (gearsim.cli.common.write_pcap).

    Raises:
        OSError: the output cannot be written.
    """
    traces = [trace] if isinstance(trace, Trace) else list(trace)
    if isinstance(out, (str, Path)):
        with open(out, "wb") as file:
            return write_trace_pcap(traces, file, port=port)
    writer = PcapWriter(out)
    count = 0
    offset_ns = 0
    for one in traces:
        deliveries = any(r.kind == Kind.DELIVER for r in one)
        conns: dict[int, TcpConversation] = {}
        closed: set[int] = set()
        closing: dict[int, str] = {}
        last_tick = 0
        for record in one:
            last_tick = max(last_tick, record.tick)
            if not record.conn or record.conn in closed:
                continue
            t = EPOCH_NS + offset_ns + record.tick * 1_000_000
            conv = conns.get(record.conn)
            if conv is None:
                count += 1
                client = (f"127.0.{(count >> 8) & 0xFF}.{(count & 0xFF) or 1}", 30000 + count % 30000)
                conv = TcpConversation(writer, client, ("127.0.0.1", port))
                conns[record.conn] = conv
                conv.open(t)
            if record.direction in (Direction.C2S.value, Direction.S2C.value):
                data = _record_bytes(record, deliveries)
                if data:
                    conv.send(record.direction, data, t)
            elif record.kind in (Kind.CLOSE, Kind.CUT):
                # bytes already in flight are still delivered: the FIN goes out at the eof
                closing.setdefault(
                    record.conn, Direction.S2C.value if record.note.startswith("by server") else Direction.C2S.value
                )
            elif record.kind == Kind.EOF and record.conn in closing:
                conv.close(t, closing.pop(record.conn))
                closed.add(record.conn)
                del conns[record.conn]
        for conn, conv in conns.items():
            conv.close(EPOCH_NS + offset_ns + last_tick * 1_000_000, closing.get(conn, Direction.C2S.value))
        offset_ns += (last_tick + 1000) * 1_000_000
    return count
