"""The simulator engine: time, ordering, connections, closes, cuts, timers, failures.

Everything runs against ``EchoNode``, a small ServerNode defined here, so these
tests do not depend on the reference model. Each test names the behaviour it
checks; ticks are milliseconds.
"""

from __future__ import annotations

from functools import partial

import pytest

from gearsim.codec import Decoder, encode
from gearsim.errors import DecodeError, HarnessError
from gearsim.links import Chunking, LinkConfig
from gearsim.node import Close, ConnId, Output, Send
from gearsim.packets import Message, Packet, PacketType
from gearsim.sim import Received, Simulator
from gearsim.trace import Kind


def echo_req(data: bytes) -> bytes:
    return encode(Packet.req(PacketType.ECHO_REQ, data))


ECHO_RES = PacketType.ECHO_RES


class EchoNode:
    """A tiny sans-IO server.

    ECHO_REQ ``x`` answers ECHO_RES ``x``; ``later:<ms>:x`` answers after ``ms``
    ticks through a timer; ``close`` closes the connection; ``garbage`` answers
    bytes no client can decode. ``log`` records every call the driver makes.
    """

    def __init__(self) -> None:
        self.decoders: dict[ConnId, Decoder] = {}
        self.received: dict[ConnId, bytearray] = {}
        self.timers: list[tuple[int, ConnId, bytes]] = []
        self.log: list[tuple[int, str, ConnId]] = []

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        self.log.append((now, f"connect {peer}", conn))
        self.decoders[conn] = Decoder()
        self.received[conn] = bytearray()
        return []

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        self.log.append((now, f"receive {len(data)}", conn))
        self.received[conn] += data
        out: list[Output] = []
        try:
            messages = self.decoders[conn].feed(data)
        except DecodeError:
            return []
        for message in messages:
            out.extend(self._answer(conn, message, now))
        return out

    def _answer(self, conn: ConnId, message: Message, now: int) -> list[Output]:
        if not isinstance(message, Packet) or message.type != PacketType.ECHO_REQ:
            return []
        body = message.args[0]
        if body == b"close":
            return [Close(conn, "asked to")]
        if body == b"garbage":
            return [Send(conn, b"\0BAD" + bytes(8))]
        if body.startswith(b"later:"):
            _, delay, rest = body.split(b":", 2)
            self.timers.append((now + int(delay), conn, rest))
            self.timers.sort()
            return []
        reply = Packet.res(ECHO_RES, body)
        return [Send(conn, encode(reply), (reply,))]

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        self.log.append((now, "disconnect", conn))
        self.timers = [t for t in self.timers if t[1] != conn]
        return []

    def next_deadline(self) -> int | None:
        return self.timers[0][0] if self.timers else None

    def advance(self, now: int) -> list[Output]:
        self.log.append((now, "advance", 0))
        out: list[Output] = []
        while self.timers and self.timers[0][0] <= now:
            _, conn, body = self.timers.pop(0)
            reply = Packet.res(ECHO_RES, body)
            out.append(Send(conn, encode(reply), (reply,)))
        return out

    def calls(self, what: str) -> list[tuple[int, ConnId]]:
        return [(t, c) for t, w, c in self.log if w.startswith(what)]


def echo_sim(seed: int = 0, **kwargs: int) -> tuple[Simulator, EchoNode]:
    sim = Simulator(seed, **kwargs)  # type: ignore[arg-type]
    node = EchoNode()
    sim.add_server("gearmand", node)
    return sim, node


def res(data: bytes) -> Packet:
    return Packet.res(ECHO_RES, data)


# ---------------------------------------------------------------- round trips


def test_an_echo_round_trip_takes_two_latencies() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10))
    sim.send(conn, echo_req(b"hi"))
    sim.run()
    assert sim.inbox(conn) == [Received(20, res(b"hi"))]
    assert node.calls("connect") == [(10, conn)]
    assert node.calls("receive") == [(10, conn)]


def test_the_node_is_told_the_peer_address_on_connect() -> None:
    sim, node = echo_sim()
    sim.connect("gearmand", peer="10.0.0.7")
    sim.run()
    assert node.log == [(0, "connect 10.0.0.7", 1)]


def test_connection_ids_count_up_from_one_across_servers() -> None:
    sim, _ = echo_sim()
    sim.add_server("other", EchoNode())
    assert [sim.connect("gearmand"), sim.connect("other"), sim.connect("gearmand")] == [1, 2, 3]


def test_take_empties_the_inbox_and_inbox_is_a_copy() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, echo_req(b"a") + echo_req(b"b"))
    sim.run()
    sim.inbox(conn).clear()
    assert [r.message for r in sim.take(conn)] == [res(b"a"), res(b"b")]
    assert sim.take(conn) == []


def test_the_trace_shows_decoded_messages_both_ways() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand", label="worker")
    sim.send(conn, echo_req(b"hi"))
    sim.run()
    sends = sim.trace.select(kind=Kind.SEND).lines()
    assert sends == [
        '000000000 c1 worker>server ECHO_REQ "hi"',
        '000000000 c1 server>worker ECHO_RES "hi"',
    ]


def test_bytes_that_do_not_frame_are_traced_raw_and_still_delivered() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, b"\0XYZ" + bytes(8))
    sim.run()
    (record,) = sim.trace.select(kind=Kind.SEND)
    assert record.message is None and record.data == b"\0XYZ" + bytes(8)
    assert "undecodable" in record.note
    assert bytes(node.received[conn]) == b"\0XYZ" + bytes(8)


def test_send_messages_traces_the_messages_and_writes_their_encoding() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand")
    first, second = Packet.req(PacketType.ECHO_REQ, b"a"), Packet.req(PacketType.ECHO_REQ, b"b")
    sim.send_messages(conn, first, second)
    sim.run()
    assert bytes(node.received[conn]) == echo_req(b"a") + echo_req(b"b")
    assert sim.trace.messages(direction="c>s") == [first, second]
    assert len(sim.trace.select(kind=Kind.DELIVER, direction="c>s")) == 1  # one write


def test_send_and_send_messages_share_one_view_of_the_stream() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand")
    whole = echo_req(b"split")
    x = Packet.req(PacketType.ECHO_REQ, b"x")
    sim.send(conn, whole[:5])
    sim.send(conn, whole[5:])
    sim.send_messages(conn, x)
    sim.send(conn, echo_req(b"y"))
    assert sim.trace.messages(direction="c>s") == [
        Packet.req(PacketType.ECHO_REQ, b"split"),
        x,
        Packet.req(PacketType.ECHO_REQ, b"y"),
    ]


def test_send_messages_after_half_a_message_does_not_claim_what_the_wire_does_not_say() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, echo_req(b"split")[:5])
    sim.send_messages(conn, Packet.req(PacketType.ECHO_REQ, b"x"))
    assert Packet.req(PacketType.ECHO_REQ, b"x") not in sim.trace.messages()


# ----------------------------------------------------------------------- time


def test_run_until_is_resumable() -> None:
    def scenario(sim: Simulator) -> None:
        conn = sim.connect("gearmand", link=LinkConfig(latency=7, jitter=5, chunking=Chunking.BOTH))
        for i in range(5):
            sim.call_at(i * 2000, partial(sim.send, conn, echo_req(b"later:1500:%d" % i)))

    once, _ = echo_sim(seed=3)
    scenario(once)
    once.run(until=9000)
    twice, _ = echo_sim(seed=3)
    scenario(twice)
    twice.run(until=5000)
    assert twice.now == 5000
    twice.run(until=9000)
    assert twice.now == once.now == 9000
    assert twice.trace.text() == once.trace.text()


def test_run_until_includes_events_at_exactly_until() -> None:
    sim, _ = echo_sim()
    fired: list[int] = []
    sim.call_at(100, partial(fired.append, 100))
    sim.call_at(101, partial(fired.append, 101))
    sim.run(until=100)
    assert fired == [100] and sim.peek() == 101


def test_run_until_moves_the_clock_even_when_nothing_happens() -> None:
    sim, _ = echo_sim()
    assert sim.run(until=3000) is False
    assert sim.now == 3000
    assert sim.run() is False and sim.now == 3000


def test_run_until_in_the_past_is_refused() -> None:
    sim, _ = echo_sim()
    sim.run(until=10)
    with pytest.raises(HarnessError, match="in the past"):
        sim.run(until=5)


def test_time_jumps_to_the_next_event_without_intermediate_steps() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, echo_req(b"later:3000:done"))
    steps = 0
    while sim.step():
        steps += 1
    # accept, deliver, timer, deliver the reply: nothing for the 3000 ticks between
    assert steps == 4
    assert sim.inbox(conn) == [Received(3000, res(b"done"))]
    assert node.calls("advance") == [(3000, 0)]


def test_peek_and_step_follow_tick_order() -> None:
    sim, _ = echo_sim()
    fired: list[str] = []
    sim.call_at(30, lambda: fired.append("b"))
    sim.call_at(10, lambda: fired.append("a"))
    assert sim.peek() == 10
    assert sim.step() and sim.now == 10 and fired == ["a"]
    assert sim.peek() == 30
    assert sim.step() and sim.now == 30 and fired == ["a", "b"]
    assert sim.peek() is None and sim.step() is False


def test_same_tick_events_run_in_the_order_scheduled() -> None:
    sim, _ = echo_sim()
    fired: list[int] = []
    for i in range(20):
        sim.call_at(5, partial(fired.append, i))
    sim.run()
    assert fired == list(range(20))


def test_a_cut_runs_before_a_delivery_due_at_the_same_tick() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10, cut_at=10))
    sim.send(conn, echo_req(b"hi"))
    sim.run()
    assert node.calls("connect") == [] and node.calls("receive") == []
    assert sim.close_reason(conn) == "cut:cut_at"


def test_call_later_schedules_relative_to_now() -> None:
    sim, _ = echo_sim()
    sim.run(until=100)
    seen: list[int] = []
    sim.call_later(50, lambda: seen.append(sim.now))
    sim.run()
    assert seen == [150]
    with pytest.raises(HarnessError):
        sim.call_at(10, lambda: None)
    with pytest.raises(HarnessError):
        sim.run_for(-1)


def test_run_for_is_a_client_sleeping() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, echo_req(b"later:2500:x"))
    sim.run_for(2000)
    assert sim.inbox(conn) == [] and sim.now == 2000
    sim.run_for(1000)
    assert sim.inbox(conn) == [Received(2500, res(b"x"))] and sim.now == 3000


def test_stop_when_stops_at_the_event_that_makes_it_true() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=5))
    sim.send(conn, echo_req(b"later:100:x"))
    sim.call_at(10_000, lambda: None)
    assert sim.run(stop_when=lambda: bool(sim.inbox(conn))) is True
    assert sim.now == 110
    assert sim.peek() == 10_000


def test_stop_when_already_true_processes_nothing() -> None:
    sim, _ = echo_sim()
    sim.call_at(5, lambda: None)
    assert sim.run(stop_when=lambda: True) is True
    assert sim.peek() == 5 and sim.now == 0


# --------------------------------------------------------------------- timers


def test_a_timer_fires_exactly_at_the_deadline() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=1))
    sim.send(conn, echo_req(b"later:999:x"))
    sim.run()
    assert node.calls("advance") == [(1000, 0)]
    assert sim.inbox(conn) == [Received(1001, res(b"x"))]


def test_an_earlier_deadline_preempts_an_armed_later_one() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, echo_req(b"later:500:slow"))
    sim.call_at(100, lambda: sim.send(conn, echo_req(b"later:100:fast")))
    sim.run()
    assert [(r.tick, r.message) for r in sim.inbox(conn)] == [(200, res(b"fast")), (500, res(b"slow"))]
    assert node.calls("advance") == [(200, 0), (500, 0)]


def test_a_cancelled_deadline_does_not_call_advance() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, echo_req(b"later:500:x"))
    sim.call_at(100, lambda: sim.close(conn))
    sim.run()
    assert node.calls("advance") == []
    assert node.calls("disconnect") == [(100, conn)]


def test_a_deadline_that_moves_later_leaves_a_stale_timer_that_does_not_advance() -> None:
    sim, node = echo_sim()
    slow, fast = sim.connect("gearmand"), sim.connect("gearmand")
    sim.send(slow, echo_req(b"later:500:slow"))
    sim.send(fast, echo_req(b"later:100:fast"))
    sim.call_at(50, partial(sim.close, fast))  # the 100 deadline goes; 500 is next
    sim.run()
    assert node.calls("advance") == [(500, 0)]
    assert sim.inbox(slow) == [Received(500, res(b"slow"))]


def test_a_deadline_present_when_the_server_is_added_is_armed() -> None:
    node = EchoNode()
    node.decoders[9] = Decoder()
    node.timers.append((40, 9, b"x"))
    sim = Simulator()
    sim.add_server("s", node)
    assert sim.peek() == 40


def test_advance_outputs_travel_through_the_link() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=3))
    sim.send(conn, echo_req(b"later:10:x"))
    sim.run()
    assert sim.inbox(conn) == [Received(16, res(b"x"))]


# ------------------------------------------------------------ the step bound


class BusyNode(EchoNode):
    """A node whose deadline of tick 7 never clears: a livelock at one tick."""

    def next_deadline(self) -> int | None:
        return 7

    def advance(self, now: int) -> list[Output]:
        return []


def test_the_step_bound_fails_loudly_with_the_tick_and_the_last_events() -> None:
    sim = Simulator(max_steps=50)
    sim.add_server("busy", BusyNode())
    sim.run(until=6, max_steps=1)  # nothing is due before tick 7
    with pytest.raises(HarnessError) as info:
        sim.run()
    text = str(info.value)
    assert "step bound of 50 events hit at tick 7" in text
    assert "_fire_timer" in text
    assert "busy timer" in text  # the last trace records


def test_a_periodic_timer_without_until_hits_the_bound() -> None:
    class Ticker(EchoNode):
        def next_deadline(self) -> int | None:
            return (len(self.log) + 1) * 1000

        def advance(self, now: int) -> list[Output]:
            self.log.append((now, "advance", 0))
            return []

    sim = Simulator(max_steps=100)
    sim.add_server("t", Ticker())
    with pytest.raises(HarnessError, match="step bound"):
        sim.run()
    assert sim.run(until=sim.now + 5000) is False  # a bounded run is fine


def test_an_exception_from_a_node_carries_the_tick() -> None:
    class Broken(EchoNode):
        def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
            raise RuntimeError("model bug")

    sim = Simulator()
    sim.add_server("s", Broken())
    conn = sim.connect("s", link=LinkConfig(latency=42))
    sim.send(conn, b"x\n")
    with pytest.raises(RuntimeError, match="model bug") as info:
        sim.run()
    assert any("tick 42" in note for note in info.value.__notes__)


# ---------------------------------------------------------------- closes


def test_a_client_close_reaches_the_server_after_the_bytes_before_it() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=5, jitter=20, chunking=Chunking.SPLIT))
    sim.send(conn, echo_req(b"x" * 50))
    sim.close(conn)
    sim.run()
    assert sim.closed(conn) and sim.close_reason(conn) == "client"
    last_receive = node.calls("receive")[-1][0]
    assert node.calls("disconnect")[0][0] >= last_receive
    assert [w for _, w, _ in node.log][-1] == "disconnect"
    assert bytes(node.received[conn]) == echo_req(b"x" * 50)


def test_close_is_idempotent_and_send_after_close_is_a_script_bug() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand")
    sim.close(conn)
    sim.close(conn)
    sim.run()
    assert node.calls("disconnect") == [(0, conn)]
    with pytest.raises(HarnessError, match="after the client closed"):
        sim.send(conn, b"x")


def test_replies_arriving_after_the_client_closed_are_discarded() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10))
    sim.send(conn, echo_req(b"hi"))
    sim.run(until=15)
    sim.close(conn)
    sim.run()
    assert sim.inbox(conn) == []
    (discard,) = sim.trace.select(kind=Kind.DISCARD)
    assert discard.tick == 20 and discard.direction == "s>c"


def test_a_server_close_is_seen_by_the_client_after_the_link_delay() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10))
    sim.send(conn, echo_req(b"a") + echo_req(b"close"))
    sim.run(until=19)
    assert not sim.closed(conn)
    sim.run()
    assert sim.closed(conn) and sim.close_reason(conn) == "server"
    assert sim.inbox(conn) == [Received(20, res(b"a"))]
    assert node.calls("disconnect") == []  # the node closed it; it is not told again
    assert "# by server: asked to" in sim.trace.select(kind=Kind.CLOSE).text()


def test_bytes_sent_to_a_server_that_closed_are_discarded() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10))
    sim.send(conn, echo_req(b"close"))
    sim.call_at(12, lambda: sim.send(conn, echo_req(b"late")))
    sim.run()
    assert bytes(node.received[conn]) == echo_req(b"close")
    (discard,) = sim.trace.select(kind=Kind.DISCARD)
    assert discard.tick == 22 and discard.direction == "c>s"
    sim.send(conn, b"more")  # closed by the server: discarded, not an error
    assert sim.trace[-1].kind == Kind.DISCARD


def test_a_client_decode_failure_is_traced_and_closes_the_client_end() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=2))
    sim.send(conn, echo_req(b"ok") + echo_req(b"garbage") + echo_req(b"never"))
    sim.run()
    assert sim.close_reason(conn) == "decode-error"
    assert [r.message for r in sim.inbox(conn)] == [res(b"ok")]
    (error,) = sim.trace.select(kind=Kind.DECODE_ERROR)
    assert "bad magic" in error.note and error.tick == 4
    assert node.calls("disconnect") == [(6, conn)]


def test_a_node_writing_to_a_connection_it_does_not_hold_is_a_harness_error() -> None:
    class Rogue(EchoNode):
        def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
            return [Send(conn + 100, b"x")]

    sim = Simulator()
    sim.add_server("s", Rogue())
    sim.connect("s")
    with pytest.raises(HarnessError, match="does not hold open"):
        sim.run()


def test_unknown_names_are_harness_errors() -> None:
    sim, _ = echo_sim()
    with pytest.raises(HarnessError, match="no server called 'nope'"):
        sim.connect("nope")
    with pytest.raises(HarnessError, match="no connection 99"):
        sim.send(99, b"x")
    with pytest.raises(HarnessError, match="already exists"):
        sim.add_server("gearmand", EchoNode())


# ------------------------------------------------------------ cuts and drops


def test_cut_at_closes_both_ends_and_loses_bytes_in_flight() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10, cut_at=25))
    sim.call_at(20, lambda: sim.send(conn, echo_req(b"lost")))
    sim.run()
    assert sim.close_reason(conn) == "cut:cut_at"
    assert node.calls("disconnect") == [(25, conn)]
    assert node.calls("receive") == []
    assert "000000025 c1 client cut # cut_at" in sim.trace.text()


def test_a_dropped_delivery_cuts_the_connection_instead_of_corrupting_it() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=3, drop=1.0))
    sim.send(conn, echo_req(b"hi"))
    sim.run()
    assert node.calls("receive") == []
    assert node.calls("disconnect") == [(3, conn)]
    assert sim.close_reason(conn) == "cut:drop"


def test_a_partition_cuts_open_connections_and_refuses_new_ones_until_it_heals() -> None:
    sim, node = echo_sim()
    before = sim.connect("gearmand")
    sim.partition("gearmand", at=100, until=200)
    sim.run(until=150)
    assert sim.close_reason(before) == "cut:partition"
    assert node.calls("disconnect") == [(100, before)]
    during = sim.connect("gearmand")
    assert sim.close_reason(during) == "refused"
    sim.run(until=200)
    after = sim.connect("gearmand")
    sim.send(after, echo_req(b"back"))
    sim.run()
    assert sim.inbox(after) == [Received(200, res(b"back"))]
    assert [c for _, c in node.calls("connect")] == [before, after]
    kinds = [r.kind for r in sim.trace.select(conn=0)]
    assert kinds == ["partition", "heal"]


def test_partition_arguments_are_checked() -> None:
    sim, _ = echo_sim()
    sim.run(until=50)
    with pytest.raises(HarnessError, match="in the past"):
        sim.partition("gearmand", at=10)
    with pytest.raises(HarnessError, match="before it begins"):
        sim.partition("gearmand", at=60, until=60)


def test_a_restart_cuts_every_connection_and_replaces_the_node() -> None:
    sim, old = echo_sim()
    conn = sim.connect("gearmand")
    sim.send(conn, echo_req(b"later:1000:never"))
    new = EchoNode()
    sim.restart_server("gearmand", new, at=500)
    sim.run(until=600)
    assert sim.close_reason(conn) == "cut:restart"
    assert old.calls("disconnect") == []  # a crashed process is not told
    assert sim.node("gearmand") is new
    again = sim.connect("gearmand")
    sim.send(again, echo_req(b"hello"))
    sim.run()
    assert sim.inbox(conn) == [] and old.calls("advance") == []
    assert sim.inbox(again) == [Received(600, res(b"hello"))]
    assert new.calls("connect") == [(600, again)]


def test_a_connect_in_flight_during_a_restart_is_cut() -> None:
    sim, old = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=100))
    sim.restart_server("gearmand", EchoNode(), at=50)
    sim.run()
    assert sim.close_reason(conn) == "cut:restart"
    assert old.log == [] and sim.node("gearmand").log == []  # type: ignore[attr-defined]
