"""Profiles: the table matches spec/profiles.yaml, and each switch changes the model's behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_model_support import Conversation, T, req, res

from gearsim.model import Server
from gearsim.model.profiles import PROFILE_TABLE, PROFILES, get_profile
from gearsim.protocol.codec import encode
from gearsim.protocol.packets import Packet

ROOT = Path(__file__).resolve().parents[2]


def test_yaml_and_python_tables_are_equal() -> None:
    assert yaml.safe_load((ROOT / "spec" / "profiles.yaml").read_text(encoding="utf-8")) == PROFILE_TABLE


def test_every_profile_builds_and_names_known_packets() -> None:
    from gearsim.protocol.packets import PacketType

    for profile in PROFILES.values():
        assert profile.implemented <= {t.name for t in PacketType}
        Server(profile)


def test_unknown_profile_name() -> None:
    with pytest.raises(KeyError):
        get_profile("nope")


def test_gear_does_not_coalesce_and_prefixes_handles_with_the_peer() -> None:
    talk = Conversation("gear-0.16")
    talk.connect("c", peer="10.0.0.7")
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u", b"x")) == {"c": [res(T.JOB_CREATED, b"H:10.0.0.7:1")]}
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"u", b"x")) == {"c": [res(T.JOB_CREATED, b"H:10.0.0.7:2")]}


def test_gear_ignores_what_it_does_not_implement() -> None:
    talk = Conversation("gear-0.16")
    talk.connect("c")
    assert talk.send("c", req(T.ECHO_REQ, b"x"), req(T.OPTION_REQ, b"exceptions"), req(999)) == {}
    assert talk.admin("c", b"version\n") == b""
    assert "c" not in talk.closed


def test_gear_reads_a_bad_magic_as_a_request() -> None:
    talk = Conversation("gear-0.16")
    talk.connect("c", "w")
    talk.send("c", b"\0XYZ\0\0\0\x12\0\0\0\x05f\0u\0x")  # SUBMIT_JOB_BG with a bad magic
    assert talk.server.jobs()[0].data == b"x"


def test_gear_worker_disconnect_fails_with_req_magic() -> None:
    talk = Conversation("gear-0.16")
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB_UNIQ))
    assert talk.close("w") == {"c": [req(T.WORK_FAIL, b"H:127.0.0.1:1")]}


def test_perl_dash_unique_becomes_the_payload_and_status_numbers_are_empty() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("c", "a")
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"-", b"pay")) == {"c": [res(T.JOB_CREATED, b"H:vm:1")]}
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"pay", b"other")) == {"c": [res(T.JOB_CREATED, b"H:vm:1")]}
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"1", b"0", b"", b"")]}
    assert talk.admin("a", b"version\n") == b"v1.130.1\n"  # the profile's version
    assert talk.admin("a", b"hello\n") == b"ERR unknown_command \r\n"


def test_server_options_version_overrides_the_profiles() -> None:
    talk = Conversation("perl-1.130", version="9.9")
    talk.connect("a")
    assert talk.admin("a", b"version\n") == b"v9.9\n"
    talk = Conversation("gearmand-1.1")
    talk.connect("a")
    assert talk.admin("a", b"version\n") == b"OK 1.1.20+ds\n"


def test_perl_refuses_submits_without_a_header_and_keeps_the_connection() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("c")
    for body, text in (
        (b"fnonly", b"No func/uniq header [fnonly]."),
        (b"fn\0u9", b"No func/uniq header [fn\0u9]."),
        (b"\0u\0x", b"No func/uniq header [\0u\0x]."),  # an empty function name
        (b"", b"No func/uniq header []."),
    ):
        head = b"\0REQ\0\0\0\x07" + len(body).to_bytes(4, "big")
        assert talk.send("c", head + body) == {"c": [res(T.ERROR, b"invalid_args", text)]}
    assert talk.send("c", req(T.ECHO_REQ, b"x")) == {"c": [res(T.ECHO_RES, b"x")]}
    assert "c" not in talk.closed
    assert not talk.server.jobs()


def test_perl_short_and_nul_bodies_of_other_commands() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    # no NUL after the handle: Perl finds no handle, even the worker's own
    assert talk.send("w", b"\0REQ\0\0\0\x0d\0\0\0\x06H:vm:1") == {"w": [res(T.ERROR, b"not_worker", b"")]}
    # a handle holding a NUL gets no STATUS_RES; the option is the whole body
    assert talk.send("c", b"\0REQ\0\0\0\x0f\0\0\0\x05H:a\0b") == {}
    assert talk.send("c", req(T.OPTION_REQ, b"exceptions\0x")) == {"c": [res(T.ERROR, b"unknown_option", b"")]}
    # the reduce submits are not Perl commands, whatever their layout
    error = talk.send("c", req(T.SUBMIT_REDUCE_JOB, b"f", b"u", b"r", b"d"))["c"][0]
    assert error.args[0] == b"server_error" and b'"CMD_"' in error.args[1]  # type: ignore[union-attr]
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"r")) == {"c": [res(T.WORK_COMPLETE, b"H:vm:1", b"r")]}


def test_perl_dash_with_an_empty_payload_coalesces_and_its_key_outlives_the_job() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("c", "w")
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"-", b"")) == {"c": [res(T.JOB_CREATED, b"H:vm:1")]}
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"-", b"")) == {"c": [res(T.JOB_CREATED, b"H:vm:1")]}
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB), req(T.WORK_COMPLETE, b"H:vm:1", b""))
    # defect dash-empty-key-never-freed: the ended job's handle, and no job
    assert talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"-", b"")) == {"c": [res(T.JOB_CREATED, b"H:vm:1")]}
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"0", b"0", b"", b"")]}
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.NO_JOB)]}


def test_gear_reads_a_missing_last_argument_as_empty() -> None:
    talk = Conversation("gear-0.16")
    talk.connect("c", "w")
    assert talk.send("c", b"\0REQ\0\0\0\x07\0\0\0\x05fn\0u9") == {"c": [res(T.JOB_CREATED, b"H:127.0.0.1:1")]}
    assert talk.send("c", b"\0REQ\0\0\0\x0d\0\0\0\x08H:nope:1") == {}  # bare handle: ignored
    assert talk.send("c", req(T.SUBMIT_REDUCE_JOB, b"f", b"u", b"r", b"d")) == {}  # not implemented
    assert "c" not in talk.closed
    talk.send("w", req(T.CAN_DO, b"fn"), req(T.GRAB_JOB_UNIQ))
    # WORK_STATUS reads all three fields once the job is known: IndexError
    talk.send("w", b"\0REQ\0\0\0\x0c\0\0\0\x0fH:127.0.0.1:1\x005")
    assert "w" in talk.closed
    talk.send("c", b"\0REQ\0\0\0\x07\0\0\0\x03fn1")  # only the function: IndexError
    assert "c" in talk.closed


def test_every_defect_names_known_rules() -> None:
    from gearsim.protocol.requirements import parse_requirements

    registry = parse_requirements((ROOT / "spec" / "requirements.yaml").read_text(encoding="utf-8"))
    known = set(registry)
    for profile in PROFILES.values():
        assert bool(profile.defects) != profile.neutral, profile.name  # spec has none, the others some
        for defect in profile.defects:
            assert defect.rules and set(defect.rules) <= known, (profile.name, defect.id)
            assert defect.summary and defect.repro and defect.found


def test_perl_unimplemented_commands_get_server_error() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("c")
    error = talk.send("c", req(T.SUBMIT_JOB_LOW, b"f", b"", b"x"))["c"][0]
    assert error.args[0] == b"server_error"  # type: ignore[union-attr]
    assert b'"CMD_submit_job_low"' in error.args[1]  # type: ignore[union-attr]
    assert b'"CMD_"' in talk.send("c", req(999))["c"][0].args[1]  # type: ignore[union-attr]


def test_perl_bad_magic_wedges_the_connection() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("c")
    assert talk.send("c", b"\0XYZ\0\0\0\x10\0\0\0\0") == {}
    assert talk.send("c", req(T.ECHO_REQ, b"x")) == {}
    assert "c" not in talk.closed


def test_perl_exception_is_not_terminal_and_only_for_option_holders() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    assert talk.send("w", req(T.WORK_EXCEPTION, b"H:vm:1", b"e")) == {}
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"r")) == {"c": [res(T.WORK_COMPLETE, b"H:vm:1", b"r")]}


def test_2_0_wakes_sleepers_when_an_epoch_job_is_due() -> None:
    talk = Conversation("gearmand-2.0", epoch0=1_000)
    talk.connect("c", "w")
    talk.send("w", req(T.CAN_DO, b"f"), req(T.PRE_SLEEP))
    talk.send("c", req(T.SUBMIT_JOB_EPOCH, b"f", b"", b"1005", b"x"))
    assert talk.server.next_deadline() == 5_000
    assert talk.wait(5_000) == {"w": [res(T.NOOP)]}


@pytest.mark.parametrize("profile", ["gearmand-1.1", "gearmand-2.0"])
def test_job_retries_zero_means_no_limit(profile: str) -> None:
    # 2.0 too: the change to "no retries" (#197) came after the 2.0.0 tag
    talk = Conversation(profile, job_retries=0)
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    assert talk.close("w") == {}  # requeued, the client is not told


@pytest.mark.parametrize("profile", ["gearmand-1.1", "gearmand-2.0"])
def test_by_default_a_lost_worker_s_job_is_requeued_without_limit(profile: str) -> None:
    talk = Conversation(profile)
    talk.connect("c")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    for attempt in range(5):
        worker = f"w{attempt}"
        talk.connect(worker)
        assert talk.send(worker, req(T.CAN_DO, b"f"), req(T.GRAB_JOB))[worker][0].name == "JOB_ASSIGN"
        assert talk.close(worker) == {}


# ------------------------------------------- dropping a held function (GM-WORKER-006)


def _hold(profile: str, *drop: Packet) -> Conversation:
    """c submits, w grabs the job of f, then sends the ``drop`` packets; o is another worker."""
    talk = Conversation(profile)
    talk.connect("c", "w", "o")
    talk.send("w", req(T.CAN_DO, b"f"))
    assert talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x")) == {"c": [res(T.JOB_CREATED, b"H:vm:1")]}
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x")]}
    if drop:
        assert talk.send("w", *drop) == {}
    return talk


@pytest.mark.parametrize("drop", [[req(T.CANT_DO, b"f")], [req(T.RESET_ABILITIES)]], ids=["cant-do", "reset"])
def test_perl_leaves_a_dropped_function_s_held_job_with_the_worker(drop: list[Packet]) -> None:
    # probed on Perl 1.130.1: STATUS_RES 'H:vm:1\01\01\0\0', NO_JOB to another worker,
    # and the first worker's WORK_COMPLETE reaches the client with no reply to it
    talk = _hold("perl-1.130", *drop)
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"1", b"1", b"", b"")]}
    assert talk.send("o", req(T.CAN_DO, b"f"), req(T.GRAB_JOB)) == {"o": [res(T.NO_JOB)]}
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"first")) == {
        "c": [res(T.WORK_COMPLETE, b"H:vm:1", b"first")]
    }
    assert talk.send("c", req(T.GET_STATUS, b"H:vm:1")) == {"c": [res(T.STATUS_RES, b"H:vm:1", b"0", b"0", b"", b"")]}


def test_perl_fails_a_kept_job_when_its_worker_disconnects() -> None:
    talk = _hold("perl-1.130", req(T.CANT_DO, b"f"))
    assert talk.close("w") == {"c": [res(T.WORK_FAIL, b"H:vm:1")]}
    assert talk.server.jobs() == ()


@pytest.mark.parametrize("profile", ["gearmand-1.1", "gearmand-2.0"])
def test_gearmand_requeues_a_dropped_function_s_held_job(profile: str) -> None:
    talk = _hold(profile, req(T.CANT_DO, b"f"))
    assert talk.send("o", req(T.CAN_DO, b"f"), req(T.GRAB_JOB)) == {"o": [res(T.JOB_ASSIGN, b"H:vm:1", b"f", b"x")]}
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"first")) == {
        "w": [res(T.ERROR, b"JOB_NOT_FOUND", b"Job given in work result not found")]
    }


def test_gear_fails_a_dropped_function_s_held_job() -> None:
    talk = Conversation("gear-0.16")
    talk.connect("c", "w")
    talk.send("w", req(T.CAN_DO, b"f"))
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.GRAB_JOB_UNIQ))
    got = talk.send("w", req(T.CANT_DO, b"f"))
    assert [m.type for m in got["c"]] == [T.WORK_FAIL]  # type: ignore[union-attr]


# ------------------------------------------------------- admin: Perl command words


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        # each probed on Perl 1.130.1 with a raw socket
        (b"version\r\r\n", b"v1.130.1\n"),
        (b"version\r\r\r\n", b"v1.130.1\n"),
        (b"VERSION\n", b"v1.130.1\n"),
        (b"version foo\n", b"v1.130.1\n"),
        (b"version!x\n", b"v1.130.1\n"),
        (b"statusXYZ\n", b"ERR unknown_command \r\n"),
        (b"status-x\n", b".\n"),
        (b"status\tfoo\n", b".\n"),
        (b"Status\n", b".\n"),
        (b"_x\n", b"ERR unknown_command \r\n"),
        (b"shutdown foo\n", b"ERR unknown_args Unknown+arguments+to+server+command\r\n"),
    ],
)
def test_perl_names_the_command_by_its_leading_word_characters(line: bytes, reply: bytes) -> None:
    talk = Conversation("perl-1.130")
    talk.connect("a")
    assert talk.admin("a", line) == reply


@pytest.mark.parametrize("line", [b"version\r\r\n", b"status-x\n", b"shutdown\n"])
def test_gearmand_compares_the_whole_first_word(line: bytes) -> None:
    talk = Conversation("gearmand-1.1")
    talk.connect("a")
    assert talk.admin("a", line).startswith(b"ERR UNKNOWN_COMMAND")
    assert "a" not in talk.closed


# --------------------------------------------------------------- admin: shutdown


def test_perl_shutdown_answers_ok_then_closes_every_connection() -> None:
    # probed on Perl 1.130.1: 'OK\n' then EOF on every connection, with a job held
    # and one queued and nothing else sent; later connections are refused
    talk = _hold("perl-1.130")
    talk.connect("a")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"u2", b"y"))
    outputs = talk.server.receive(talk.ids["a"], b"shutdown\nversion\n", talk.now)
    assert [type(o).__name__ for o in outputs] == ["Send", "Close", "Close", "Close", "Close"]
    assert outputs[0].conn == talk.ids["a"] and outputs[0].data == b"OK\n"  # type: ignore[union-attr]
    assert {o.conn for o in outputs[1:]} == set(talk.ids.values())
    assert talk.server.connections == ()
    assert talk.server.receive(talk.ids["w"], encode(req(T.ECHO_REQ, b"hi")), talk.now) == []
    assert talk.server.advance(talk.now + 10_000) == []
    assert talk.server.next_deadline() is None
    refused = talk.server.connect(99, talk.now)
    assert [type(o).__name__ for o in refused] == ["Close"] and 99 not in {c.id for c in talk.server.connections}


def test_perl_shutdown_graceful_with_a_job_queued_answers_ok_and_refuses_new_connections() -> None:
    talk = Conversation("perl-1.130")
    talk.connect("a", "c")
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"x"))
    assert talk.admin("a", b"shutdown graceful\n") == b"OK\n"
    assert "a" not in talk.closed and "c" not in talk.closed
    assert talk.send("c", req(T.ECHO_REQ, b"hi")) == {"c": [res(T.ECHO_RES, b"hi")]}
    assert [type(o).__name__ for o in talk.server.connect(99, talk.now)] == ["Close"]


def test_perl_shutdown_graceful_with_nothing_queued_exits_at_once() -> None:
    # probed on Perl 1.130.1 (tests/interop/test_perl_shutdown.py): 'OK\n', then the process exits 0
    talk = Conversation("perl-1.130")
    talk.connect("a", "c")
    assert talk.admin("a", b"shutdown graceful\n") == b"OK\n"
    assert talk.closed == {"a", "c"} and talk.server.connections == ()


def test_perl_keeps_a_function_s_queue_entry_until_a_grab_finds_it_empty() -> None:
    # PERL-6: the entry outlives the last job: PRE_SLEEP answers NOOP, 'shutdown graceful' waits;
    # a GRAB_JOB that finds nothing deletes it, and the next job to end lets the server exit
    talk = _hold("perl-1.130")
    talk.send("c", req(T.SUBMIT_JOB_BG, b"f", b"", b"2"))
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.JOB_ASSIGN, b"H:vm:2", b"f", b"2")]}
    assert talk.send("w", req(T.PRE_SLEEP)) == {"w": [res(T.NOOP)]}
    talk.connect("a")
    assert talk.admin("a", b"shutdown graceful\n") == b"OK\n"
    assert talk.send("w", req(T.WORK_COMPLETE, b"H:vm:2", b"")) == {}
    assert talk.closed == set()  # a job ended, but the entry is still there
    assert talk.send("w", req(T.GRAB_JOB)) == {"w": [res(T.NO_JOB)]}
    assert talk.closed == set()  # the entry is gone, and no job has ended since
    got = talk.send("w", req(T.WORK_COMPLETE, b"H:vm:1", b"done"), req(T.GRAB_JOB))
    assert got["c"] == [res(T.WORK_COMPLETE, b"H:vm:1", b"done")]  # relayed, then the exit
    assert got["w"] == [] and talk.closed == {"a", "c", "w", "o"}


def test_gearmand_has_no_stale_queue_entry() -> None:
    talk = _hold("gearmand-1.1")
    assert talk.send("w", req(T.PRE_SLEEP)) == {}
