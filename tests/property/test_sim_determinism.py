"""The simulator is deterministic, and links never change the byte stream.

* The same seed gives a byte-identical trace for a randomised scenario (several
  clients, SPLIT / COALESCE / BOTH chunking, jitter, timers).
* A different seed gives a different chunking.
* For any seed and link, the server receives exactly the bytes the client
  wrote, in order, and decodes the same messages; the client decodes every
  reply in order.
"""

from __future__ import annotations

import itertools
import random
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.node import ConnId, Output, Send
from gearsim.protocol.packets import Message, Packet, PacketType
from gearsim.protocol.trace import Kind, diff
from gearsim.sim.links import Chunking, LinkConfig
from gearsim.sim.simulator import Simulator


class EchoRecorder:
    """Echoes ECHO_REQ (after ``delay`` ticks through a timer when ``delay`` > 0) and keeps what it got."""

    def __init__(self, delay: int = 0) -> None:
        self.delay = delay
        self.bytes: dict[ConnId, bytearray] = {}
        self.messages: dict[ConnId, list[Message]] = {}
        self.decoders: dict[ConnId, Decoder] = {}
        self.due: list[tuple[int, ConnId, bytes]] = []

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        self.bytes[conn] = bytearray()
        self.messages[conn] = []
        self.decoders[conn] = Decoder()
        return []

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        self.bytes[conn] += data
        out: list[Output] = []
        for m in self.decoders[conn].feed(data):
            self.messages[conn].append(m)
            if isinstance(m, Packet) and m.type == PacketType.ECHO_REQ:
                if self.delay:
                    self.due.append((now + self.delay, conn, m.args[0]))
                else:
                    out.append(self._reply(conn, m.args[0]))
        return out

    @staticmethod
    def _reply(conn: ConnId, body: bytes) -> Send:
        reply = Packet.res(PacketType.ECHO_RES, body)
        return Send(conn, encode(reply), (reply,))

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        self.due = [d for d in self.due if d[1] != conn]
        return []

    def next_deadline(self) -> int | None:
        return min(d[0] for d in self.due) if self.due else None

    def advance(self, now: int) -> list[Output]:
        ready = [d for d in self.due if d[0] <= now]
        self.due = [d for d in self.due if d[0] > now]
        return [self._reply(conn, body) for _, conn, body in ready]


def echo(body: bytes) -> bytes:
    return encode(Packet.req(PacketType.ECHO_REQ, body))


def scenario(seed: int) -> Simulator:
    """Three clients with different links write echo requests at scripted random ticks."""
    script = random.Random(1000)  # the script is fixed; only the simulator's seed varies
    sim = Simulator(seed)
    sim.add_server("gearmand", EchoRecorder(delay=30))
    links = [
        LinkConfig(latency=5, jitter=20, chunking=Chunking.SPLIT),
        LinkConfig(latency=2, jitter=3, chunking=Chunking.COALESCE),
        LinkConfig(latency=1, jitter=10, chunking=Chunking.BOTH, max_chunk=16),
    ]
    for index, link in enumerate(links):
        conn = sim.connect("gearmand", link=link, label=f"client{index}")
        for _ in range(15):
            tick = script.randrange(0, 2000)
            body = script.randbytes(script.randrange(0, 40))
            sim.call_at(tick, partial(sim.send, conn, echo(body)))
        sim.call_at(2500, partial(sim.close, conn))
    sim.run(until=5000)
    return sim


def test_the_same_seed_gives_a_byte_identical_trace() -> None:
    first, second = scenario(seed=7), scenario(seed=7)
    assert diff(first.trace, second.trace) == ""
    assert first.trace.text() == second.trace.text()
    assert first.trace.sha256() == second.trace.sha256()
    assert len(first.trace.select(kind=Kind.SEND)) == 2 * 45  # every request and its echo


def test_a_different_seed_gives_a_different_chunking() -> None:
    a, b = scenario(seed=7), scenario(seed=8)
    deliveries_a = [(r.conn, r.tick, r.data) for r in a.trace.select(kind=Kind.DELIVER)]
    deliveries_b = [(r.conn, r.tick, r.data) for r in b.trace.select(kind=Kind.DELIVER)]
    assert deliveries_a != deliveries_b
    # ...while what each end wrote and decoded is the same
    assert a.trace.messages() != [] and sorted(map(repr, a.trace.messages())) == sorted(map(repr, b.trace.messages()))


links = st.builds(
    LinkConfig,
    latency=st.integers(0, 20),
    jitter=st.integers(0, 20),
    chunking=st.sampled_from(Chunking),
    max_chunk=st.none() | st.integers(1, 24),
)
bodies = st.lists(st.binary(max_size=30), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    link=links,
    bodies=bodies,
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    gaps=st.lists(st.integers(0, 5), min_size=9, max_size=9),
    delay=st.sampled_from([0, 7]),
)
def test_links_preserve_the_byte_stream_both_ways(
    seed: int, link: LinkConfig, bodies: list[bytes], cuts: list[int], gaps: list[int], delay: int
) -> None:
    stream = b"".join(echo(b) for b in bodies)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    writes = [stream[a:b] for a, b in itertools.pairwise(points)]
    sim = Simulator(seed)
    node = EchoRecorder(delay=delay)
    sim.add_server("s", node)
    conn = sim.connect("s", link=link)
    tick = 0
    for i, write in enumerate(writes):
        tick += gaps[i % len(gaps)]
        sim.call_at(tick, partial(sim.send, conn, write))
    sim.run()
    assert bytes(node.bytes[conn]) == stream
    assert node.messages[conn] == [Packet.req(PacketType.ECHO_REQ, b) for b in bodies]
    assert [r.message for r in sim.inbox(conn)] == [Packet.res(PacketType.ECHO_RES, b) for b in bodies]
    ticks = [r.tick for r in sim.inbox(conn)]
    assert ticks == sorted(ticks)
    assert not sim.closed(conn)
