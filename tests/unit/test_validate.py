"""The validator reports each broken rule with its requirement id and never raises."""

from __future__ import annotations

import pytest

from gearsim.protocol.packets import SPECS, Packet, PacketType, Role
from gearsim.protocol.validate import check

T = PacketType


def ids(packet: Packet, role: Role | None) -> list[str]:
    return [v.requirement for v in check(packet, role)]


def test_a_well_formed_submit_from_a_client_breaks_nothing() -> None:
    assert check(Packet.req(T.SUBMIT_JOB, b"reverse", b"", b"test"), Role.CLIENT) == []


def test_a_request_framed_with_res_breaks_the_magic_rule() -> None:
    assert ids(Packet.res(T.SUBMIT_JOB, b"f", b"u", b"w"), Role.CLIENT) == ["GM-FRAME-002"]


def test_a_server_reply_framed_with_req_breaks_the_magic_rule() -> None:
    # gear sends WORK_FAIL with \0REQ when a worker disconnects
    assert ids(Packet.req(T.WORK_FAIL, b"H:x:1"), Role.SERVER) == ["GM-FRAME-002"]


def test_a_client_sending_a_worker_packet_breaks_the_direction_rule() -> None:
    assert ids(Packet.req(T.GRAB_JOB), Role.CLIENT) == ["GM-FRAME-003"]


def test_too_few_arguments_break_the_argument_count_rule() -> None:
    assert ids(Packet.req(T.SUBMIT_JOB, b"fnonly"), Role.CLIENT) == ["GM-FRAME-004"]


def test_a_body_on_an_argumentless_type_is_reported() -> None:
    assert ids(Packet.req(T.GRAB_JOB, b"xyz"), Role.WORKER) == ["GM-FRAME-004"]


def test_a_nul_inside_a_non_blob_argument_is_reported_with_the_argument() -> None:
    found = check(Packet.req(T.CAN_DO, b"a\0b"), Role.WORKER)
    assert [(v.requirement, v.argument) for v in found] == [("GM-FRAME-005", "function")]


def test_a_nul_after_error_text_names_error_s_own_sentence_first() -> None:
    # was GM-FRAME-005 alone: a toy server terminating its ERROR text like a C string was sent to the general
    # NUL rule, not to GM-ERROR-001, which says "no NUL after the text"
    found = check(Packet.res(T.ERROR, b"INVALID_MAGIC", b"Request magic expected\0"), Role.SERVER)
    assert [(v.requirement, v.argument) for v in found] == [("GM-ERROR-001", "text"), ("GM-FRAME-005", "text")]
    # a NUL in the middle of the text (Perl echoing a body) stays the general rule's
    inside = check(Packet.res(T.ERROR, b"server_error", b"fn\0u9"), Role.SERVER)
    assert [v.requirement for v in inside] == ["GM-FRAME-005"]


def test_a_nul_inside_a_final_blob_is_fine() -> None:
    assert check(Packet.req(T.WORK_COMPLETE, b"H:x:1", b"a\0b\0"), Role.WORKER) == []


@pytest.mark.parametrize(("size", "found"), [(63, []), (64, ["GM-FIELD-001"])])
def test_handles_are_limited_to_63_bytes(size: int, found: list[str]) -> None:
    assert ids(Packet.req(T.GET_STATUS, b"h" * size), Role.CLIENT) == found


@pytest.mark.parametrize(("size", "found"), [(63, []), (64, ["GM-FIELD-002"])])
def test_uniques_are_limited_to_63_bytes(size: int, found: list[str]) -> None:
    assert ids(Packet.req(T.SUBMIT_JOB_BG, b"f", b"u" * size, b""), Role.CLIENT) == found


def test_progress_must_be_decimal() -> None:
    assert ids(Packet.req(T.WORK_STATUS, b"H:x:1", b"abc", b"14"), Role.WORKER) == ["GM-FIELD-003"]


def test_empty_progress_in_a_status_reply_is_a_should_finding() -> None:
    assert ids(Packet.res(T.STATUS_RES, b"h", b"1", b"0", b"", b""), Role.SERVER) == ["GM-FIELD-005"] * 2


def test_known_must_be_a_flag() -> None:
    assert ids(Packet.res(T.STATUS_RES, b"h", b"2", b"0", b"0", b"0"), Role.SERVER) == ["GM-FIELD-004"]


@pytest.mark.parametrize("number", [0, 5, 43, 999, 2**32 - 1])
def test_types_outside_the_wire_table_are_reported(number: int) -> None:
    assert "GM-FRAME-003" in ids(Packet.req(number, b"x"), Role.CLIENT)


@pytest.mark.parametrize("number", sorted(SPECS))
def test_check_never_raises_whatever_the_arguments(number: int) -> None:
    for args in [(), (b"",), (b"\0" * 3,), tuple(b"x" * 100 for _ in range(9))]:
        for magic in (b"\0REQ", b"\0RES", b"JUNK"):
            for role in (*Role, None):
                check(Packet(magic, number, args), role)
