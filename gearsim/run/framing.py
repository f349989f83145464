"""The framing rules a server's reply breaks at a failed expect step, named before the step's own rules.

PURE. When an expect step fails (``gearsim.run.expectations``), the packets
the server sent there may be malformed on the wire: a reply framed with
\\0REQ, a body with a NUL more than its type's separators, a WORK_COMPLETE
without the NUL before its empty result. The step's own rules (the ones its
vector cites) then say only what went wrong at the level of behaviour; the
sentence a maintainer must read first is the framing rule the bytes break.
This module owns that finding: ``frame_breaks`` lists each such rule with a
reason citing it, and only rules the received bytes themselves break (the
validator's, gearsim.protocol.validate), so a reply that is merely another
valid packet adds none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from gearsim.protocol.packets import SPECS, Message, Packet, Role
from gearsim.protocol.validate import check
from gearsim.vectors.matching import match_packet
from gearsim.vectors.parse import PacketPattern

__all__ = ["FRAME_RULES", "frame_breaks"]

#: the framing rules (subject: sender) the validator finds in a server's packet: magic, type and direction,
#: the arguments a body holds, NULs inside arguments, and ERROR's own shape (a NUL after its text)
FRAME_RULES: Final = frozenset({"GM-FRAME-002", "GM-FRAME-003", "GM-FRAME-004", "GM-FRAME-005", "GM-ERROR-001"})

_EMPTY_LAST: Final = ("GM-FRAME-006", "the NUL before the empty last argument is missing (GM-FRAME-006)")


def frame_breaks(
    pattern: PacketPattern | None,
    received: Sequence[Message],
    captures: Mapping[str, bytes],
    tolerated: frozenset[str],
) -> list[tuple[str, str]]:
    """(rule, reason citing it) for each framing rule the packets in ``received`` break, in the order found.

    ``pattern`` is the packet the step expects (None for other expectations),
    ``captures`` the values captured so far, and ``tolerated`` the rules the
    reaction being played declares it breaks (left to its verdict).

    A reply that is the expected packet but for the NUL before its empty
    last argument breaks GM-FRAME-006 (``_empty_last_unframed``): that empty
    argument is the one the validator's GM-FRAME-004 finds missing, so
    GM-FRAME-006 stands for it. A non-blob last argument that ends in a NUL
    is a body with a NUL after its last argument, which GM-FRAME-004 forbids
    (the spec reads gearmand's WORK_FAIL the same way: GM-WORK-011), besides
    the GM-FRAME-005 the validator names for the NUL inside it; a NUL in the
    middle of that argument is left to GM-FRAME-005 alone, as it may be one
    inside the argument.
    """
    found: list[tuple[str, str]] = []
    empty_last = _empty_last_unframed(pattern, received, captures)
    if empty_last:
        found.append(_EMPTY_LAST)
    for message in received:
        if not isinstance(message, Packet):
            continue
        names = SPECS[int(message.type)].args if int(message.type) in SPECS else ()
        for violation in check(message, Role.SERVER):
            rule = violation.requirement
            if rule not in FRAME_RULES or rule in tolerated or (empty_last and rule == "GM-FRAME-004"):
                continue
            last = bool(names) and len(message.args) == len(names) and violation.argument == names[-1]
            if rule == "GM-FRAME-005" and last and message.args[-1].endswith(b"\0") and "GM-FRAME-004" not in tolerated:
                why = f"{message.name}'s body ends in a NUL after its last argument {names[-1]!r} (GM-FRAME-004)"
                found.append(("GM-FRAME-004", why))
            found.append((rule, f"{message.name} breaks {violation}"))
    return found


def _empty_last_unframed(
    pattern: PacketPattern | None, received: Sequence[Message], captures: Mapping[str, bytes]
) -> bool:
    """The first reply is the packet the step expects but for the NUL before its empty last argument.

    Without that NUL the empty argument is not there at all, so the reply reads
    as one argument short (WORK_COMPLETE as the bare handle where the result is
    empty): the rule broken is GM-FRAME-006, a sender rule the step's own rules
    (those binding a server's behaviour) leave out. Only where the vector writes
    the last argument out as empty and the rest matches: otherwise the packet
    is simply another one.
    """
    if pattern is None or not pattern.args or pattern.args[-1] != b"" or not received:
        return False
    got = received[0]
    if not isinstance(got, Packet) or int(got.type) != int(pattern.type) or len(got.args) != len(pattern.args) - 1:
        return False
    return not match_packet(pattern, got._replace(args=(*got.args, b"")), captures, {})
