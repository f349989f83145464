"""Profiles: the table matches spec/profiles.yaml, and each switch changes the model's behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_model_support import Conversation, T, req, res

from gearsim.model import Server
from gearsim.profiles import PROFILE_TABLE, PROFILES, get_profile

ROOT = Path(__file__).resolve().parents[2]


def test_yaml_and_python_tables_are_equal() -> None:
    assert yaml.safe_load((ROOT / "spec" / "profiles.yaml").read_text(encoding="utf-8")) == PROFILE_TABLE


def test_every_profile_builds_and_names_known_packets() -> None:
    from gearsim.packets import PacketType

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
    assert talk.admin("a", b"version\n") == b"v1.1.20+ds\n"
    assert talk.admin("a", b"hello\n") == b"ERR unknown_command \r\n"


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


def test_2_0_job_retries_zero_means_no_retries() -> None:
    talk = Conversation("gearmand-2.0")
    talk.connect("c", "w")
    talk.send("c", req(T.SUBMIT_JOB, b"f", b"", b"x"))
    talk.send("w", req(T.CAN_DO, b"f"), req(T.GRAB_JOB))
    assert talk.close("w") == {"c": [res(T.WORK_FAIL, b"H:vm:1")]}
