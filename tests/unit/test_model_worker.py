"""Reference model: workers, wake-ups, queue order, requeue, timeouts, abandonment, cancel (B-K, B-U11/12, B-W8)."""

from __future__ import annotations

from test_model_support import Conversation, T, req, res


def assigned(talk: Conversation, worker: str = "w") -> list[bytes]:
    """Grab until NO_JOB; the workloads in the order they came."""
    out = []
    while True:
        packet = talk.send(worker, req(T.GRAB_JOB))[worker][0]
        if packet.type == T.NO_JOB:  # type: ignore[union-attr]
            return out
        out.append(packet.args[2])  # type: ignore[union-attr]


def test_grab_variants_and_no_job() -> None:  # B-K3
    talk = Conversation()
    talk.connect("c", "w")
    talk.send("w", req(T.CAN_DO, b"f"))
    assert talk.send("w", req(T.GRAB_JOB_ALL, b"stray body")) == {"w": [res(T.NO_JOB)]}  # B-P7
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"noun"))
    assert talk.send("w", req(T.GRAB_JOB_UNIQ)) == {"w": [res(T.JOB_ASSIGN_UNIQ, b"H:vm:1", b"f", b"", b"noun")]}


def test_priority_is_per_function_most_recent_registration_first_in_1_1() -> None:  # B-K5
    talk = Conversation()
    talk.connect("c", "w")
    for type_, fn, data in [
        (T.SUBMIT_JOB_HIGH_BG, b"pa", b"pa-high"),
        (T.SUBMIT_JOB_LOW_BG, b"pb", b"pb-low"),
        (T.SUBMIT_JOB_BG, b"pb", b"pb-normal"),
        (T.SUBMIT_JOB_HIGH_BG, b"pb", b"pb-high-1"),
        (T.SUBMIT_JOB_HIGH_BG, b"pb", b"pb-high-2"),
    ]:
        talk.send("c", req(type_, fn, b"", data))
    talk.send("w", req(T.CAN_DO, b"pa"), req(T.CAN_DO, b"pb"))
    assert assigned(talk) == [b"pb-high-1", b"pb-high-2", b"pb-normal", b"pb-low", b"pa-high"]


def test_priority_is_global_in_2_0() -> None:  # B-K6
    talk = Conversation("gearmand-2.0")
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB_HIGH_BG, b"pa", b"", b"pa-high"))
    talk.send("c", req(T.SUBMIT_JOB_BG, b"pb", b"", b"pb-normal"))
    talk.send("w", req(T.CAN_DO, b"pa"), req(T.CAN_DO, b"pb"))
    assert assigned(talk) == [b"pa-high", b"pb-normal"]


def test_pre_sleep_noop_once_per_sleep_cycle() -> None:  # B-K4
    talk = Conversation()
    talk.connect("c", "w1", "w2", "awake")
    talk.send("w1", req(T.CAN_DO, b"f"), req(T.PRE_SLEEP))
    talk.send("w2", req(T.CAN_DO, b"f"), req(T.PRE_SLEEP))
    talk.send("awake", req(T.CAN_DO, b"f"))
    noop = [res(T.NOOP)]
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"1")) == {
        "w1": noop,
        "w2": noop,
        "c": [res(T.JOB_CREATED, b"H:vm:1")],
    }
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"2")) == {"c": [res(T.JOB_CREATED, b"H:vm:2")]}
    assert talk.send("w1", req(T.PRE_SLEEP)) == {"w1": noop}  # work pending: NOOP at once


def test_worker_wakeup_caps_and_rotates() -> None:
    talk = Conversation(worker_wakeup=1)
    talk.connect("c", "w1", "w2")
    talk.send("w1", req(T.CAN_DO, b"f"), req(T.PRE_SLEEP))
    talk.send("w2", req(T.CAN_DO, b"f"), req(T.PRE_SLEEP))
    assert "w1" in talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"1"))
    assert "w2" in talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"2"))


def test_duplicate_can_do_counts_and_cant_do_removes_all() -> None:  # B-K1
    talk = Conversation()
    talk.connect("w", "a")
    talk.send("w", req(T.CAN_DO, b"f"), req(T.CAN_DO, b"f"), req(T.CANT_DO, b"never"))
    assert talk.admin("a", b"status\n") == b"f\t0\t0\t2\n.\n"
    talk.send("w", req(T.CANT_DO, b"f"))
    assert talk.admin("a", b"status\n") == b"f\t0\t0\t0\n.\n"  # B-K13: functions persist


def test_worker_disconnect_requeues_with_status_reset_and_retry_count() -> None:  # B-K7
    talk = Conversation()
    talk.connect("c", "w", "v", "a")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB), req(T.WORK_STATUS, b"H:vm:1", b"3", b"4"))
    assert talk.close("w") == {}  # the client is told nothing
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"1", b"0", b"0", b"0")]}
    assert talk.admin("a", b"show jobs\n") == b"H:vm:1\t1\t0\t0\n.\n"
    assert talk.send("v", req(T.CAN_DO, b"f"), req(T.GRAB_JOB)) == {"v": [res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x")]}


def test_job_retries_limit_fails_the_job() -> None:
    talk = Conversation(job_retries=2)
    talk.connect("c", "w1", "w2")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w1", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    assert talk.close("w1") == {}
    talk.send("w2", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    assert talk.close("w2") == {"c": [res(T.WORK_FAIL, b"H:vm:1")]}
    assert talk.server.jobs() == ()


def test_can_do_timeout_requeues_and_the_late_result_is_refused() -> None:  # B-K8
    talk = Conversation()
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.CAN_DO_TIMEOUT, b"f", b"500"), req(T.GRAB_JOB))
    assert talk.server.next_deadline() == 1000  # raised to the 1000 ms minimum
    assert talk.wait(999) == {}
    assert talk.wait(1) == {}  # requeued; the client hears nothing
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"1", b"0", b"0", b"0")]}
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"late")) == {
        "w": [res(T.ERROR, b"JOB_NOT_FOUND", b"Job given in work result not found")]
    }
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x")]}
    talk.send("w", req(T.PRE_SLEEP))  # PRE_SLEEP cancels the timer (B-K4)
    assert talk.server.next_deadline() is None


def test_abandoned_job_is_dropped_when_reached_even_with_a_background_submit() -> None:  # B-U11, B-U12
    talk = Conversation()
    talk.connect("fg", "bg", "w")
    talk.send("fg", req(T.SUBMIT_JOB, b"f", b"u", b"x"))
    talk.send("bg", req(T.SUBMIT_JOB_BG, b"f", b"u", b"x"))
    talk.close("fg")
    assert talk.send("bg", req(T.GET_STATUS, b"H:vm:1"))["bg"][0].args[1] == b"1"  # still known
    talk.send("bg", req(T.SUBMIT_JOB_BG, b"f", b"", b"later"))
    talk.send("w", req(T.CAN_DO, b"f"))
    # the abandoned job is freed when reached and the next one is taken
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.JOB_ASSIGN, b"H:vm:2", b"f", b"later")]}
    assert talk.send("bg", req(T.GET_STATUS, b"H:vm:1"))["bg"][0].args[1] == b"0"


def test_cancel_job_fails_listeners_but_keeps_them_attached() -> None:  # B-W8
    talk = Conversation()
    talk.connect("c", "w", "a")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"), req(T.SUBMIT_JOB, b"f", b"", b"y"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    got = talk.send("a", b"cancel job H:vm:1\n")
    assert got["c"] == [res(T.WORK_FAIL, b"H:vm:1")]
    assert talk.admin("a", b"cancel job H:vm:2\n") == b"OK\r\n"
    assert talk.admin("a", b"show jobs\n") == b"H:vm:1\t0\t1\t0\nH:vm:2\t0\t1\t0\n.\n"
    assert talk.admin("a", b"cancel job H:vm:9\n") == b"ERR UNKNOWN_JOB\r\n"
    # the running job goes on: a second terminal packet reaches the client
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"done")) == {"c": [res(T.WORK_COMPLETE, b"H:vm:1", b"done")]}
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.NO_JOB)]}


def test_cancel_sends_work_fail_to_each_listener() -> None:
    talk = Conversation()
    talk.connect("c", "a")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    got = talk.send("a", b"cancel job H:vm:1\n")
    assert got["c"] == [res(T.WORK_FAIL, b"H:vm:1")]
