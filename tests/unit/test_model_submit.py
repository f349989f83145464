"""Reference model, gearmand-1.1: submission, handles, coalescing, maxqueue, epoch, reduce (B-U)."""

from __future__ import annotations

from test_model_support import Conversation, T, req, res

from gearsim.protocol.codec import encode


def created(handle: bytes) -> dict[str, list[object]]:
    return {"c": [res(T.JOB_CREATED, handle)]}


def test_reverse_example_from_the_protocol_document() -> None:
    talk = Conversation(node="lap")
    talk.connect("c", "w")
    assert talk.send("c", req(T.SUBMIT_JOB, b"reverse", b"", b"test")) == created(b"H:lap:1")
    talk.send("w", req(T.CAN_DO, b"reverse"))
    got = talk.send("w", req(T.GRAB_JOB))
    assert encode(got["w"][0])[12:] == b"H:lap:1\0reverse\0test"


def test_coalescing_is_per_function_and_unique_and_does_not_advance_the_counter() -> None:
    talk = Conversation()
    talk.connect("c")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"u", b"a")) == created(b"H:vm:1")
    assert talk.send("c", req(T.SUBMIT_JOB_HIGH_BG, b"f", b"u", b"b")) == created(b"H:vm:1")  # B-U4
    assert talk.send("c", req(T.SUBMIT_JOB, b"g", b"u", b"a")) == created(b"H:vm:2")  # B-U1
    assert talk.send("c", req(T.SUBMIT_JOB, b"F", b"u", b"a")) == created(b"H:vm:3")  # case-sensitive


def test_empty_unique_never_coalesces() -> None:  # B-U2
    talk = Conversation()
    talk.connect("c")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"a")) == created(b"H:vm:1")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"a")) == created(b"H:vm:2")


def test_dash_unique_keys_on_payload_but_is_stored_as_dash() -> None:  # B-U3
    talk = Conversation()
    talk.connect("c", "a")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"-", b"pay")) == created(b"H:vm:1")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"-", b"pay")) == created(b"H:vm:1")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"-", b"other")) == created(b"H:vm:2")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"pay", b"x")) == created(b"H:vm:3")  # no collision
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"-", b"")) == created(b"H:vm:4")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"-", b"")) == created(b"H:vm:5")
    assert talk.admin("a", b"show unique jobs\n") == b"-\n-\npay\n-\n-\n.\n"


def test_unique_length_limits() -> None:  # B-U7
    talk = Conversation()
    talk.connect("c", "w")
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"x" * 64, b"w")) == created(b"H:vm:1")
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"x" * 64, b"w")) == created(b"H:vm:2")
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"y" * 65, b"")) == {
        "c": [res(T.ERROR, b"ARGUMENT_TOO_LARGE", b"Unique value too large")]
    }
    talk.send("w", req(T.CAN_DO, b"f"))
    # gearmand sends unique_length + 1 bytes from its 63-byte copy: a malformed assign (seen on 1.1.20)
    raw = talk.server.receive(talk.ids["w"], encode(req(T.GRAB_JOB_UNIQ)), 0)
    assert raw[0].data[12:] == b"H:vm:1\0f\0" + b"x" * 63 + b"\0\0w"  # type: ignore[union-attr]


def test_unique_is_freed_at_the_terminal_packet() -> None:  # B-U6
    talk = Conversation()
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u", b"1"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u", b"2")) == created(b"H:vm:1")  # running still coalesces
    talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b""))
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u", b"3")) == created(b"H:vm:2")


def test_background_jobs_forward_nothing_foreground_listeners_get_everything() -> None:  # B-U10, B-W6
    talk = Conversation()
    talk.connect("fg", "bg", "w")
    talk.send("bg", req(T.SUBMIT_JOB_BG, b"f", b"u", b"x"))
    talk.send("fg", req(T.SUBMIT_JOB, b"f", b"u", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"r")) == {"fg": [res(T.WORK_COMPLETE, b"H:vm:1", b"r")]}


def test_sched_is_rejected() -> None:  # B-U14
    talk = Conversation()
    talk.connect("c")
    sched = req(T.SUBMIT_JOB_SCHED, b"f", b"u", b"1", b"2", b"3", b"4", b"5", b"d")
    assert talk.send("c", sched) == {"c": [res(T.ERROR, b"INVALID_COMMAND", b"Command not expected")]}


def test_epoch_job_in_the_future_is_skipped_until_due_and_no_noop_in_1_1() -> None:  # B-U13
    talk = Conversation(epoch0=1_000)
    talk.connect("c", "w")
    talk.send("w", req(T.CAN_DO, b"f"))
    assert talk.send("c", req(T.SUBMIT_JOB_EPOCH, b"f", b"", b"1005", b"later")) == created(b"H:vm:1")
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.NO_JOB)]}
    assert talk.send("w", req(T.PRE_SLEEP)) == {}
    assert talk.wait(6_000) == {}  # 1.1.20 sends no NOOP when the time comes
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"later")]}


def test_epoch_text_that_is_not_a_number_means_now() -> None:
    talk = Conversation()
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB_EPOCH, b"f", b"", b"abc", b"now"))
    talk.send("w", req(T.CAN_DO, b"f"))
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"now")]}


def test_reduce_job_four_arguments_and_grab_all() -> None:  # B-U15, B-K3
    talk = Conversation()
    talk.connect("c", "w")
    assert talk.send("c", req(T.SUBMIT_REDUCE_JOB, b"f", b"u", b"red", b"", b"w")) == created(b"H:vm:1")
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"plain"))
    talk.send("w", req(T.CAN_DO, b"f"))
    assert talk.send("w", req(T.GRAB_JOB_ALL)) == {"w": [res(T.JOB_ASSIGN_ALL, b"H:vm:1", b"f", b"u", b"red", b"w")]}
    assert talk.send("w", req(T.GRAB_JOB_ALL)) == {"w": [res(T.JOB_ASSIGN_UNIQ, b"H:vm:2", b"f", b"", b"plain")]}


def test_reduce_checks_the_reducer_length_not_the_unique() -> None:  # B-U15 bug
    talk = Conversation()
    talk.connect("c")
    too_large = {"c": [res(T.ERROR, b"ARGUMENT_TOO_LARGE", b"Unique value too large")]}
    assert talk.send("c", req(T.SUBMIT_REDUCE_JOB, b"f", b"v", b"r" * 65, b"", b"w")) == too_large
    assert talk.send("c", req(T.SUBMIT_REDUCE_JOB, b"f", b"x" * 70, b"r", b"", b"w")) == created(b"H:vm:1")


def test_maxqueue_rejects_new_jobs_but_coalescing_bypasses_it() -> None:  # B-U5, B-U16
    talk = Conversation()
    talk.connect("c", "a")
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"1"))  # the function must exist
    assert talk.admin("a", b"maxqueue f 2\n") == b"OK\r\n"
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u", b"2"))
    full = {"c": [res(T.ERROR, b"QUEUE_ERROR", b"Job queue is full")]}
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"3")) == full
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u", b"4")) == created(b"H:vm:2")
    assert talk.admin("a", b"maxqueue f 5 1 0\n") == b"OK\r\n"  # high 5, normal 1, low 0 (unlimited)
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"5")) == full
    assert talk.send("c", req(T.SUBMIT_JOB_LOW_BG, b"f", b"", b"6")) == created(b"H:vm:3")
