"""What ``gearsim fuzz`` puts on the wire for an example: its names, and the workload that gearmand takes as a unique.

A submission with the unique ``-`` has gearmand use its workload as the
unique, so the workload is namespaced as a name would be; an empty one stays
empty (it makes no unique), and any other unique leaves the workload as drawn.
tests/interop/test_fuzz_isolation.py shows why, on gearmand.
"""

from __future__ import annotations

import pytest

from gearsim.fuzz.actions import Action, Fn, Kind, Names, Token, Uq
from gearsim.protocol.codec import Decoder
from gearsim.protocol.packets import Packet, PacketType


def sent(names: Names, type_: PacketType, *args: Token) -> tuple[bytes, ...]:
    (packet,) = Decoder().feed(names.wire(Action(Kind.PACKET, "c1", type_, args), []))
    assert isinstance(packet, Packet)
    return packet.args


@pytest.mark.parametrize(
    ("type_", "fields"),
    [
        (PacketType.SUBMIT_JOB_HIGH_BG, ()),
        (PacketType.SUBMIT_JOB_EPOCH, (b"1",)),
        (PacketType.SUBMIT_REDUCE_JOB, (Fn("f2"), b"")),
    ],
    ids=lambda v: getattr(v, "name", ""),
)
def test_a_dash_submissions_workload_is_the_examples_own(type_: PacketType, fields: tuple[Token, ...]) -> None:
    args = sent(Names(b"gz0-7-"), type_, Fn("f1"), Uq("-"), *fields, b"b")
    assert args[:2] == (b"gz0-7-f1", b"-")
    assert args[-1] == b"gz0-7-b"
    assert sent(Names(b"gz0-8-"), type_, Fn("f1"), Uq("-"), *fields, b"b")[-1] == b"gz0-8-b"


def test_an_empty_workload_and_a_named_unique_leave_the_workload_as_drawn() -> None:
    names = Names(b"gz0-7-")
    assert sent(names, PacketType.SUBMIT_JOB_BG, Fn("f1"), Uq("-"), b"")[-1] == b""
    assert sent(names, PacketType.SUBMIT_JOB_BG, Fn("f1"), Uq("u1"), b"b") == (b"gz0-7-f1", b"gz0-7-u1", b"b")
    assert sent(names, PacketType.SUBMIT_JOB_BG, Fn("f1"), Uq(""), b"b")[-1] == b"b"
