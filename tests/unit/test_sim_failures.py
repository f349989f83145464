"""The simulator engine's failures: the step bound, closes, cuts, drops, partitions, restarts.

Everything runs against ``EchoNode`` (tests/unit/sim_echo.py), a small
ServerNode, so these tests do not depend on the reference model. Each test
names the behaviour it checks; ticks are milliseconds. Round trips, time and
timers are in test_sim.py.
"""

from __future__ import annotations

import pytest
from sim_echo import EchoNode, echo_req, echo_sim, res

from gearsim.errors import HarnessError
from gearsim.protocol.node import ConnId, Output, Send
from gearsim.protocol.trace import Kind
from gearsim.sim.links import Chunking, LinkConfig
from gearsim.sim.simulator import Received, Simulator

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
    assert "fire_timer" in text
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
