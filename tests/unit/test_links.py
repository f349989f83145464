"""Link models: the config's checks, how writes are cut, and what a link does inside the simulator."""

from __future__ import annotations

import itertools
import random
from functools import partial

import pytest

from gearsim.protocol.node import ConnId, Output
from gearsim.protocol.trace import Kind
from gearsim.sim.links import MAX_SPLIT_CUTS, Chunking, LinkConfig, draw_delay, draws_loss, merges, split_write
from gearsim.sim.simulator import Simulator

DATA = bytes(range(40))


class Recorder:
    """A server that keeps every piece it receives, with its tick."""

    def __init__(self) -> None:
        self.pieces: dict[ConnId, list[tuple[int, bytes]]] = {}

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        self.pieces[conn] = []
        return []

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        self.pieces[conn].append((now, data))
        return []

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        return []

    def next_deadline(self) -> int | None:
        return None

    def advance(self, now: int) -> list[Output]:
        return []


def pieces_through(link: LinkConfig, writes: list[tuple[int, bytes]], seed: int = 0) -> list[tuple[int, bytes]]:
    """Write each (tick, bytes) through ``link``; return what the server received."""
    sim = Simulator(seed)
    node = Recorder()
    sim.add_server("s", node)
    conn = sim.connect("s", link=link)
    for tick, data in writes:
        sim.call_at(tick, partial(sim.send, conn, data))
    sim.run()
    return node.pieces[conn]


# ------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latency": -1},
        {"jitter": -1},
        {"max_chunk": 0},
        {"drop": 1.5},
        {"drop": -0.1},
        {"cut_at": -1},
    ],
)
def test_a_nonsensical_link_is_refused(kwargs: dict[str, int | float]) -> None:
    with pytest.raises(ValueError):
        LinkConfig(**kwargs)  # type: ignore[arg-type]


def test_a_link_is_frozen_and_plain_only_when_it_merely_delays() -> None:
    link = LinkConfig(latency=5)
    with pytest.raises(AttributeError):
        link.latency = 6  # type: ignore[misc]
    assert link.plain
    assert not LinkConfig(jitter=1).plain
    assert not LinkConfig(chunking=Chunking.SPLIT).plain
    assert not LinkConfig(max_chunk=100).plain
    assert not LinkConfig(drop=0.1).plain
    assert LinkConfig(chunking=Chunking.BOTH).coalesces and not LinkConfig(chunking=Chunking.SPLIT).coalesces


# ------------------------------------------------------------- split_write


@pytest.mark.parametrize("mode", list(Chunking))
@pytest.mark.parametrize("seed", range(20))
def test_the_pieces_of_a_write_join_back_to_it(mode: Chunking, seed: int) -> None:
    pieces = split_write(LinkConfig(chunking=mode, max_chunk=7 if seed % 2 else None), DATA, random.Random(seed))
    assert b"".join(pieces) == DATA
    assert all(pieces)
    if seed % 2:
        assert max(map(len, pieces)) <= 7


def test_bytewise_delivers_every_byte_on_its_own() -> None:
    assert split_write(LinkConfig(chunking=Chunking.BYTEWISE), b"abc", random.Random(0)) == [b"a", b"b", b"c"]


def test_none_and_coalesce_keep_a_write_whole_and_draw_nothing() -> None:
    for mode in (Chunking.NONE, Chunking.COALESCE):
        rng = random.Random(1)
        state = rng.getstate()
        assert split_write(LinkConfig(chunking=mode), DATA, rng) == [DATA]
        assert rng.getstate() == state


def test_split_cuts_at_a_few_random_points_that_depend_on_the_seed() -> None:
    link = LinkConfig(chunking=Chunking.SPLIT)
    shapes = {tuple(map(len, split_write(link, DATA, random.Random(seed)))) for seed in range(50)}
    assert len(shapes) > 10
    assert (len(DATA),) in shapes  # sometimes a write is left whole
    assert max(len(s) for s in shapes) == MAX_SPLIT_CUTS + 1


def test_a_one_byte_write_is_never_split() -> None:
    rng = random.Random(0)
    state = rng.getstate()
    assert split_write(LinkConfig(chunking=Chunking.SPLIT), b"x", rng) == [b"x"]
    assert rng.getstate() == state


def test_draw_delay_stays_within_latency_plus_jitter() -> None:
    rng = random.Random(2)
    delays = {draw_delay(LinkConfig(latency=10, jitter=4), rng) for _ in range(200)}
    assert delays == {10, 11, 12, 13, 14}
    state = rng.getstate()
    assert draw_delay(LinkConfig(latency=10), rng) == 10
    assert rng.getstate() == state


def test_draws_loss_only_draws_when_loss_is_possible() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    assert not draws_loss(LinkConfig(), rng)
    assert rng.getstate() == state
    assert draws_loss(LinkConfig(drop=1.0), rng)
    losses = sum(draws_loss(LinkConfig(drop=0.25), rng) for _ in range(4000))
    assert 800 < losses < 1200


def test_merges_always_under_coalesce_by_coin_under_both_never_otherwise() -> None:
    rng = random.Random(4)
    assert all(merges(LinkConfig(chunking=Chunking.COALESCE), rng) for _ in range(20))
    coins = [merges(LinkConfig(chunking=Chunking.BOTH), rng) for _ in range(200)]
    assert 60 < sum(coins) < 140
    for mode in (Chunking.NONE, Chunking.SPLIT, Chunking.BYTEWISE):
        assert not merges(LinkConfig(chunking=mode), rng)


# ------------------------------------------------------- links in the engine


def test_a_plain_link_delivers_each_write_whole_after_the_latency() -> None:
    got = pieces_through(LinkConfig(latency=4), [(0, b"ab"), (0, b"cd"), (3, b"ef")])
    assert got == [(4, b"ab"), (4, b"cd"), (7, b"ef")]


def test_coalesce_merges_writes_sent_in_the_same_tick_only() -> None:
    got = pieces_through(LinkConfig(latency=4, chunking=Chunking.COALESCE), [(0, b"ab"), (0, b"cd"), (3, b"ef")])
    assert got == [(4, b"abcd"), (7, b"ef")]


def test_coalesce_respects_max_chunk() -> None:
    link = LinkConfig(chunking=Chunking.COALESCE, max_chunk=3)
    got = pieces_through(link, [(0, b"ab"), (0, b"c"), (0, b"de")])
    assert [p for _, p in got] == [b"abc", b"de"]


def test_max_chunk_caps_every_piece() -> None:
    got = pieces_through(LinkConfig(max_chunk=4), [(0, DATA)])
    assert [len(p) for _, p in got] == [4] * 10


def test_bytewise_hands_the_server_one_byte_at_a_time() -> None:
    got = pieces_through(LinkConfig(chunking=Chunking.BYTEWISE), [(0, b"abc"), (1, b"d")])
    assert got == [(0, b"a"), (0, b"b"), (0, b"c"), (1, b"d")]


def test_both_makes_piece_boundaries_differ_from_write_boundaries() -> None:
    writes = [(0, DATA[:20]), (0, DATA[20:])]
    spanning = 0
    for seed in range(30):
        got = pieces_through(LinkConfig(chunking=Chunking.BOTH), writes, seed)
        assert b"".join(p for _, p in got) == DATA
        boundaries = set(itertools.accumulate(len(p) for _, p in got))
        spanning += 20 not in boundaries  # one piece holds the end of one write and the start of the next
    assert 0 < spanning < 30


@pytest.mark.parametrize("seed", range(10))
def test_jitter_never_lets_a_later_piece_overtake_an_earlier_one(seed: int) -> None:
    link = LinkConfig(latency=5, jitter=50, chunking=Chunking.SPLIT)
    writes = [(t, bytes([t]) * 9) for t in range(0, 40, 2)]
    got = pieces_through(link, writes, seed)
    ticks = [t for t, _ in got]
    assert ticks == sorted(ticks)
    assert b"".join(p for _, p in got) == b"".join(d for _, d in writes)
    assert len(set(ticks)) > 3  # the jitter did move pieces


def test_a_link_drop_loses_the_bytes_and_cuts_rather_than_skipping_them() -> None:
    sim = Simulator(seed=11)
    node = Recorder()
    sim.add_server("s", node)
    conn = sim.connect("s", link=LinkConfig(drop=0.5))

    def write(i: int) -> None:
        if not sim.closed(conn):
            sim.send(conn, bytes([65 + i]))

    for i in range(20):
        sim.call_at(i, partial(write, i))
    sim.run()
    received = b"".join(p for _, p in node.pieces[conn])
    # whatever arrived is a prefix of what was sent: no hole in the middle
    assert b"ABCDEFGHIJKLMNOPQRST".startswith(received)
    assert len(received) < 20
    assert sim.close_reason(conn) == "cut:drop"
    assert len(sim.trace.select(kind=Kind.CUT)) == 1
