"""The simulator engine: round trips, time and ordering, timers.

Everything runs against ``EchoNode`` (tests/unit/sim_echo.py), a small
ServerNode, so these tests do not depend on the reference model. Each test
names the behaviour it checks; ticks are milliseconds. Failures (the step
bound, closes, cuts, drops, partitions, restarts) are in test_sim_failures.py.
"""

from __future__ import annotations

from functools import partial

import pytest
from sim_echo import EchoNode, echo_req, echo_sim, res

from gearsim.errors import HarnessError
from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import ConnId
from gearsim.protocol.packets import Packet, PacketType
from gearsim.protocol.trace import Kind
from gearsim.sim.links import Chunking, LinkConfig
from gearsim.sim.simulator import Received, Simulator

# ---------------------------------------------------------------- round trips


def test_an_echo_round_trip_takes_two_latencies() -> None:
    sim, node = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10))
    sim.send(conn, echo_req(b"hi"))
    sim.run()
    assert sim.inbox(conn) == [Received(20, res(b"hi"))]
    assert node.calls("connect") == [(10, conn)]
    assert node.calls("receive") == [(10, conn)]


def test_a_reply_cut_short_is_held_and_said_to_be_held() -> None:
    sim, _ = echo_sim()
    conn = sim.connect("gearmand", link=LinkConfig(latency=10))
    assert sim.held(conn) == ""
    sim.send(conn, echo_req(b"cut:hello"))
    sim.run()
    assert sim.inbox(conn) == []
    assert "the start of an ECHO_RES: its header announces 5 body bytes, 4 came" in sim.held(conn)


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


@pytest.mark.parametrize("link", [LinkConfig(latency=5), LinkConfig(latency=5, chunking=Chunking.BYTEWISE)])
def test_on_messages_is_handed_what_arrives_and_on_receive_only_the_close(link: LinkConfig) -> None:
    sim, _ = echo_sim()
    handed: list[tuple[int, ConnId, list[Packet]]] = []
    closes: list[tuple[int, ConnId]] = []
    conn = sim.connect(
        "gearmand",
        link=link,
        on_receive=lambda c: closes.append((sim.now, c)),
        on_messages=lambda c, ms: handed.append((sim.now, c, list(ms))),
    )
    sim.send(conn, echo_req(b"hi") + echo_req(b"close"))
    sim.run()
    assert [(tick, c, [m.args for m in ms]) for tick, c, ms in handed] == [(10, conn, [(b"hi",)])]
    assert sim.inbox(conn) == []
    assert closes == [(10, conn)]
    assert sim.close_reason(conn) == "server"


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


def test_an_event_stopped_at_leaves_the_rest_of_its_tick_in_order() -> None:
    sim, _ = echo_sim()
    fired: list[str] = []

    def a() -> None:
        fired.append("a")
        sim.call_at(5, partial(fired.append, "d"))  # after b and c, for the same tick

    sim.call_at(5, a)
    for name in "bc":
        sim.call_at(5, partial(fired.append, name))
    assert sim.run(stop_when=lambda: fired == ["a"]) is True
    sim.call_at(5, partial(fired.append, "e"))
    assert sim.peek() == 5
    assert sim.step() and fired == ["a", "b"]
    sim.run()
    assert fired == ["a", "b", "c", "d", "e"] and sim.now == 5


def test_a_partition_scheduled_for_now_runs_before_the_rest_of_the_tick() -> None:
    sim, _ = echo_sim()
    seen: list[bool] = []

    def partitioned() -> bool:
        return any(r.kind == Kind.PARTITION for r in sim.trace.records)

    sim.call_at(5, lambda: sim.partition("gearmand", at=5))
    sim.call_at(5, lambda: seen.append(partitioned()))  # scheduled first, but not urgent
    sim.run()
    assert seen == [True]


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
