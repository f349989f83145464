"""Matching a received packet against a vector's pattern: the reason as text, the differing argument as data."""

from __future__ import annotations

import pytest

from gearsim.protocol.packets import AdminLine, Magic, Packet, PacketType
from gearsim.vectors.cases import AnyValue, Capture, PacketPattern, Ref
from gearsim.vectors.matching import match_packet, mismatched_argument

STATUS = PacketPattern(PacketType.STATUS_RES, (Ref("H"), b"1", b"0", Capture("N"), AnyValue()))
CAPTURES = {"H": b"H:host:1"}


def status(*args: bytes, magic: Magic = Magic.RES, type_: PacketType = PacketType.STATUS_RES) -> Packet:
    return Packet(magic, type_, args)


def test_a_matching_status_reply_has_no_differing_argument() -> None:
    got = status(b"H:host:1", b"1", b"0", b"7", b"whatever")
    assert match_packet(STATUS, got, CAPTURES, {}) == ""
    assert mismatched_argument(STATUS, got, CAPTURES) is None


@pytest.mark.parametrize(
    ("args", "index"),
    [
        ((b"H:host:2", b"1", b"0", b"7", b""), 0),  # a reference's value
        ((b"H:host:1", b"0", b"0", b"7", b""), 1),  # a literal
        ((b"H:host:1", b"1", b"1", b"7", b""), 2),
        ((b"H:host:1", b"0", b"1", b"7", b""), 1),  # the first of two, as the reason names it
    ],
)
def test_the_differing_argument_is_the_one_the_reason_names(args: tuple[bytes, ...], index: int) -> None:
    got = status(*args)
    assert match_packet(STATUS, got, CAPTURES, {}).startswith(f"argument {index + 1} is ")
    assert mismatched_argument(STATUS, got, CAPTURES) == index


def test_a_capture_bound_to_another_value_is_a_differing_argument() -> None:
    pattern = PacketPattern(PacketType.WORK_COMPLETE, (Capture("H"), b"done"))
    got = Packet(Magic.RES, PacketType.WORK_COMPLETE, (b"H:host:9", b"done"))
    assert match_packet(pattern, got, CAPTURES | {"H": b"H:host:1"}, {}).startswith("argument 1 is ")
    assert mismatched_argument(pattern, got, {"H": b"H:host:1"}) == 0
    assert mismatched_argument(pattern, got, {}) is None  # unbound: the capture takes it


@pytest.mark.parametrize(
    "got",
    [
        status(b"H:host:2", b"1", b"0", b"7", b"", magic=Magic.REQ),  # the magic
        status(b"H:host:2", b"1", b"0", b"7", b"", type_=PacketType.STATUS_RES_UNIQUE),  # the type
        status(b"H:host:2", b"1", b"0", b"7"),  # the count
        AdminLine(b"H:host:2 1 0 7"),
        b"\x00RES",
    ],
    ids=["magic", "type", "count", "admin-line", "bytes"],
)
def test_a_reply_that_differs_before_its_arguments_names_no_argument(got: Packet | AdminLine | bytes) -> None:
    # the handle differs too, but the reason is what comes first: no argument's rule may be charged
    assert not match_packet(STATUS, got, CAPTURES, {}).startswith("argument")
    assert mismatched_argument(STATUS, got, CAPTURES) is None


MIB = bytes(range(256)) * 4096  # server/limits.yaml::echo-1-mib's payload


def test_a_long_value_that_differs_makes_a_short_reason_naming_the_first_differing_byte() -> None:
    """The reason held both 1 MiB values as Python literals: about 8 MB of text on one report line."""
    echo = PacketPattern(PacketType.ECHO_RES, (MIB,))
    cut = MIB[:-1]  # an echo one byte short
    reason = match_packet(echo, Packet(Magic.RES, PacketType.ECHO_RES, (cut,)), {}, {})
    assert len(reason) < 600, reason
    assert reason.startswith('argument 1 is "\\x00\\x01') and "(1048575 bytes, sha256:" in reason
    assert "expected" in reason and "(1048576 bytes, sha256:" in reason
    assert reason.endswith("they differ from byte 1048575 on: b'' where b'\\xff' was expected")
    flipped = MIB[:5000] + b"!" + MIB[5001:]
    reason = match_packet(echo, Packet(Magic.RES, PacketType.ECHO_RES, (flipped,)), {}, {})
    assert "they differ from byte 5000 on: b'!\\x89\\x8a" in reason


def test_a_long_expected_value_is_described_as_the_trace_shows_it() -> None:
    from gearsim.protocol.trace import quote
    from gearsim.vectors.matching import describe_packet

    described = describe_packet(PacketPattern(PacketType.ECHO_RES, (MIB,)), {})
    assert described == f"ECHO_RES [{quote(MIB)}]"  # the trace's short form: its SHA-256 finds it there
    assert describe_packet(STATUS, CAPTURES) == "STATUS_RES [b'H:host:1', b'1', b'0', <N>, <any>]"  # short: as it was


def test_a_value_that_is_the_expected_one_after_a_nul_points_at_the_argument_before_it() -> None:
    """The toy server's uniq-nul-terminated: JOB_ASSIGN_UNIQ's unique written with its C terminator."""
    assign = PacketPattern(PacketType.JOB_ASSIGN_UNIQ, (Ref("H"), b"reverse", b"u1", b"hello"))
    got = Packet(Magic.RES, PacketType.JOB_ASSIGN_UNIQ, (b"H:host:1", b"reverse", b"u1", b"\0hello"))
    assert match_packet(assign, got, CAPTURES, {}) == (
        "argument 4 is b'\\x00hello', expected b'hello': the expected value after a NUL,"
        " as when the argument before it is sent with its C string terminator"
    )
