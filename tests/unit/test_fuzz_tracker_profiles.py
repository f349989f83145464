"""The fuzz's invariants follow what the profile's server does, so a server doing just that breaks none.

Found fuzzing gear (PyPI gear 0.16), whose two sides agreed while the Tracker
called both broken: gear registers nothing for CAN_DO_TIMEOUT (it does not
implement it), so its sleeper is not woken for that function; and gear fails
the job of a worker that closes (WORK_FAIL to the client) instead of
requeueing it, so the drain has nothing to hand out. And fuzzing Perl's
Gearman::Server: the drain grabbed with GRAB_JOB_UNIQ, which Perl answers with
an ERROR, so every job left at an example's end was "lost" on both sides.
Model against model, in-process.
"""

from __future__ import annotations

from gearsim.fuzz.actions import Action, Fn, Hd, Kind, Uq
from gearsim.fuzz.driver import Differential
from gearsim.fuzz.session import model_vs_model
from gearsim.protocol.packets import PacketType


def packet(actor: str, type_: PacketType, *args: object) -> Action:
    return Action(Kind.PACKET, actor, type_, args)  # type: ignore[arg-type]


def gear() -> Differential:
    return model_vs_model("gear-0.16")(1)


def test_a_sleeper_registered_by_an_unimplemented_request_is_not_expected_to_wake() -> None:
    diff = gear()
    diff.apply(packet("w1", PacketType.CAN_DO_TIMEOUT, Fn("f1"), b"100000"))
    diff.apply(packet("w1", PacketType.PRE_SLEEP))
    step = diff.apply(packet("c1", PacketType.SUBMIT_JOB, Fn("f1"), Uq(""), b""))
    assert [m.type for m in step.real["c1"].messages] == [PacketType.JOB_CREATED]
    assert "w1" not in step.real  # no NOOP, as gear does; and no invariant broken (it raised before)
    assert step.real == step.model


def test_a_job_the_server_failed_on_its_workers_close_is_not_expected_from_the_drain() -> None:
    diff = gear()
    diff.apply(packet("c1", PacketType.SUBMIT_JOB, Fn("f1"), Uq(""), b""))
    diff.apply(packet("w1", PacketType.CAN_DO, Fn("f1")))
    diff.apply(packet("w1", PacketType.GRAB_JOB_UNIQ))
    closed = diff.apply(Action(Kind.DISCONNECT, "w1"))
    assert [m.type for m in closed.real["c1"].messages] == [PacketType.WORK_FAIL]
    assert closed.real["c1"].messages[0].args[0] == Hd(0)
    diff.drain()  # raised "job H#0 (f1, '') is kept by the profile but never handed out" for both sides


def test_the_drain_grabs_as_the_profiles_server_can() -> None:
    diff = model_vs_model("perl-1.130")(1)
    diff.apply(packet("c1", PacketType.SUBMIT_JOB, Fn("f1"), Uq(""), b""))
    diff.drain()  # raised "job H#0 (f1, '') is kept by the profile but never handed out" for both sides
    grabs = [s for s in diff.history if s.action.type in (PacketType.GRAB_JOB, PacketType.GRAB_JOB_UNIQ)]
    assert grabs[0].action.type is PacketType.GRAB_JOB
    assert [m.type for m in grabs[0].real["wd"].messages] == [PacketType.JOB_ASSIGN]


def test_after_maxqueue_zero_on_perl_the_example_compares_nothing_more() -> None:
    """Perl dies inside every later submission for the function; the model does not copy that (a known defect)."""
    diff = model_vs_model("perl-1.130")(1)
    diff.apply(Action(Kind.ADMIN, "a1", None, (b"maxqueue", Fn("f1"), b"0")))
    assert diff.undefined == "maxqueue-zero-refuses-all"
    after = diff.apply(packet("c1", PacketType.SUBMIT_JOB, Fn("f1"), Uq(""), b""))
    assert (after.model, after.real) == ({}, {})
    assert "maxqueue-zero-refuses-all" in diff.known_hits()


def test_a_background_job_gear_failed_with_its_worker_is_not_expected_from_the_drain() -> None:
    """gear fails the job of a worker that closes even when its client is gone: nobody sees the WORK_FAIL."""
    diff = gear()
    diff.apply(packet("c1", PacketType.SUBMIT_JOB_BG, Fn("f1"), Uq(""), b""))
    diff.apply(Action(Kind.DISCONNECT, "c1"))
    diff.apply(packet("w1", PacketType.CAN_DO, Fn("f1")))
    diff.apply(packet("w1", PacketType.GRAB_JOB_UNIQ))
    diff.apply(Action(Kind.DISCONNECT, "w1"))
    diff.drain()  # raised "job H#0 (f1, '') is kept by the profile but never handed out" for both sides


def test_the_drain_worker_holds_one_function_at_a_time() -> None:
    """Perl scans a worker's functions in its hash order, new in every process: seed 0 diverged on it in a drain."""
    diff = model_vs_model("perl-1.130")(1)
    diff.apply(packet("c1", PacketType.SUBMIT_JOB, Fn("f2"), Uq(""), b""))
    diff.apply(packet("c1", PacketType.SUBMIT_JOB, Fn("f1"), Uq(""), b""))
    diff.drain()
    held: set[str] = set()
    for step in diff.history:
        fn = step.action.args[0].name if step.action.args and isinstance(step.action.args[0], Fn) else ""
        if step.action.type is PacketType.CAN_DO:
            held.add(fn)
        elif step.action.type is PacketType.CANT_DO:
            held.discard(fn)
        elif step.action.type is PacketType.GRAB_JOB:
            assert len(held) == 1, held
    assert diff.model.tracker is not None and sorted(diff.model.tracker.drained) == [0, 1]
