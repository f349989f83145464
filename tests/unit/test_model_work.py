"""Reference model, gearmand-1.1: status replies and WORK_* forwarding (B-S, B-W, B-K10, B-K11)."""

from __future__ import annotations

from test_model_support import Conversation, T, req, res


def running_job(**options: object) -> Conversation:
    talk = Conversation(**options)  # type: ignore[arg-type]
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"u", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    return talk


def test_status_res_unknown_queued_running() -> None:  # B-S1, B-S2
    talk = Conversation()
    talk.connect("c", "w")
    assert talk.send("c", req(T.GET_STATUS, b"H:nope:1")) == {
        "c": [res(T.STATUS_RES, b"H:nope:1", b"0", b"0", b"0", b"0")]
    }
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"x"))
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"1", b"0", b"0", b"0")]}
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB), req(T.WORK_STATUS, b"H:vm:1", b"-1", b"abc"))
    # B-S1: atoi into uint32
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {
        "c": [res(T.STATUS_RES, b"H:vm:1", b"1", b"1", b"4294967295", b"0")]
    }
    talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b""))
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"0", b"0", b"0", b"0")]}


def test_get_status_with_a_64_byte_handle_is_refused_by_closing_the_connection() -> None:
    # server.cc:416-420 returns an error without a reply; the connection is then closed
    # or kept by a race (B-P9, refusal-race): the model takes the close
    talk = Conversation()
    talk.connect("c", "d")
    assert talk.send("c", req(T.GET_STATUS, b"h" * 64)) == {"c": []}  # no reply, then the close
    assert "c" in talk.closed
    assert talk.send("d", req(T.GET_STATUS_UNIQUE, b"u" * 64)) == {"d": []}
    assert "d" in talk.closed
    talk.connect("e")
    assert talk.send("e", req(T.GET_STATUS, b"h" * 63))["e"][0].args[0] == b"h" * 63


def test_get_status_unique_counts_foreground_clients() -> None:  # B-S4
    talk = Conversation()
    talk.connect("c", "d")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"u", b"x"))
    talk.send("d", req(T.SUBMIT_JOB, b"f", b"u", b"x"))
    assert talk.send("c", req(T.GET_STATUS_UNIQUE, b"u")) == {
        "c": [res(T.STATUS_RES_UNIQUE, b"u", b"1", b"0", b"0", b"0", b"2")]
    }
    assert talk.send("c", req(T.GET_STATUS_UNIQUE, b"nope")) == {
        "c": [res(T.STATUS_RES_UNIQUE, b"nope", b"0", b"0", b"0", b"0", b"0")]
    }


def test_work_packets_are_forwarded_unchanged_to_listeners() -> None:  # B-W2, B-S5
    talk = running_job()
    assert talk.send("w", req(T.WORK_STATUS, b"H:vm:1", b"03", b"x14")) == {
        "c": [res(T.WORK_STATUS, b"H:vm:1", b"03", b"x14")]
    }
    assert talk.send("w", req(T.WORK_DATA, b"H:vm:1", b"a\0b")) == {"c": [res(T.WORK_DATA, b"H:vm:1", b"a\0b")]}
    assert talk.send("w", req(T.WORK_WARNING, b"H:vm:1", b"")) == {"c": [res(T.WORK_WARNING, b"H:vm:1", b"")]}
    assert talk.send("w", req(T.WORK_FAIL, b"H:vm:1")) == {"c": [res(T.WORK_FAIL, b"H:vm:1")]}


def test_work_exception_becomes_work_fail_with_a_nul_for_clients_without_the_option() -> None:  # B-W5
    talk = Conversation()
    talk.connect("plain", "opt", "w")
    assert talk.send("opt", req(T.OPTION_REQ, b"EXCEPTIONS")) == {"opt": [res(T.OPTION_RES, b"EXCEPTIONS")]}
    talk.send("plain", req(T.SUBMIT_JOB, b"f", b"u", b"x"))
    talk.send("opt", req(T.SUBMIT_JOB, b"f", b"u", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    # listeners newest first (B-W7)
    assert talk.send("w", req(T.WORK_EXCEPTION, b"H:vm:1", b"boom")) == {
        "opt": [res(T.WORK_EXCEPTION, b"H:vm:1", b"boom")],
        "plain": [res(T.WORK_FAIL, b"H:vm:1\0")],
    }
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"")) == {
        "w": [res(T.ERROR, b"JOB_NOT_FOUND", b"Job given in work result not found")]
    }


def test_server_exceptions_option_applies_to_every_connection() -> None:
    talk = running_job(exceptions=True)
    assert talk.send("w", req(T.WORK_EXCEPTION, b"H:vm:1", b"E")) == {"c": [res(T.WORK_EXCEPTION, b"H:vm:1", b"E")]}


def test_work_from_a_non_owner_gets_job_not_found_with_three_texts() -> None:  # B-W1, B-P10
    talk = running_job()
    talk.connect("other")
    texts = {
        T.WORK_STATUS: b"Job given in work result not found",
        T.WORK_COMPLETE: b"Job given in work result not found",
        T.WORK_DATA: b"Job does not exist on server",
        T.WORK_WARNING: b"Job does not exist on server",
        T.WORK_EXCEPTION: b"An exception was received for a job that does not exist",
    }
    for type_, text in texts.items():
        args = (b"H:vm:1", b"1", b"2") if type_ == T.WORK_STATUS else (b"H:vm:1", b"")
        assert talk.send("other", req(type_, *args)) == {"other": [res(T.ERROR, b"JOB_NOT_FOUND", text)]}
    assert talk.send("other", req(T.WORK_FAIL, b"H:vm:1"))["other"][0].args[1] == texts[T.WORK_STATUS]


def test_work_fail_with_a_64_byte_handle() -> None:  # B-P10
    talk = running_job()
    assert talk.send("w", req(T.WORK_FAIL, b"H" * 64)) == {
        "w": [
            res(
                T.ERROR,
                b"ARGUMENT_TOO_LARGE",
                b"Error occurred due to GEARMAND_JOB_HANDLE_SIZE being too small from snprintf",
            )
        ]
    }


def test_echo_and_options() -> None:  # B-K10, B-K11
    talk = Conversation()
    talk.connect("c")
    assert talk.send("c", req(T.ECHO_REQ, b"a\0b")) == {"c": [res(T.ECHO_RES, b"a\0b")]}
    assert talk.send("c", req(T.ECHO_REQ)) == {"c": [res(T.ECHO_RES, b"")]}
    unknown = [res(T.ERROR, b"UNKNOWN_OPTION", b"Server does not recognize given option")]
    assert talk.send("c", req(T.OPTION_REQ, b"bogus")) == {"c": unknown}
    assert talk.send("c", req(T.OPTION_REQ, b"exceptions" + b" " * 60)) == {"c": unknown}
