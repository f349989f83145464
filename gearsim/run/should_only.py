"""Replies that differ from a step's expectation only where a SHOULD is broken, so its MUSTs are not charged.

PURE. A failed expect step names the rules its vector cites, MUSTs among
them; some replies meet everything those rules ask and differ only in what a
SHOULD asks for, and charging the step's MUSTs would be a false FAIL at
``--level must``. This module recognises two such differences (it owns the
recognising; ``gearsim.run.expectations`` decides what to do with it):

* ``empty_numbers``: a status reply whose numerator and denominator are empty
  where the step expects 0 0 for a job without progress (GM-STATUS-006 lets
  such a job report none; GM-FIELD-005, a SHOULD, asks for 0), what Perl and
  gear send;
* ``code_word_only``: replies that meet the step, or an alternative that
  applies, but for an ERROR's code word (GM-ERROR-002, a SHOULD, asks for the
  table's words; gear sends numbers).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Final

from gearsim.model.profiles import PROFILES
from gearsim.protocol.packets import Message, Packet, PacketType
from gearsim.vectors.matching import match_packet, match_unordered
from gearsim.vectors.parse import Alternative, PacketPattern, Step

__all__ = ["EMPTY_NUMBERS", "code_word_only", "empty_numbers"]

#: a status reply's numbers left empty where no progress is known: what the profiles with
#: ``status_empty_numbers`` send (Perl and gear), named from the profile table
EMPTY_NUMBERS: Final = Alternative(
    profiles=tuple(name for name, profile in PROFILES.items() if profile.status_empty_numbers),
    breaks=("GM-FIELD-005",),
    note="no progress reported as empty numbers",
)

_STATUS_REPLIES: Final = (PacketType.STATUS_RES, PacketType.STATUS_RES_UNIQUE)


def empty_numbers(
    pattern: PacketPattern | None, received: Sequence[Message], captures: Mapping[str, bytes]
) -> dict[str, bytes] | None:
    """The values captured, when the first reply is the status ``pattern`` expects with 0 0 but for empty numbers.

    None otherwise: another packet, other numbers expected, or a difference
    besides the numbers. The caller decides whether 0 0 there can only mean
    "no progress" (not after a WORK_STATUS that may carry 0 0, which
    GM-STATUS-007 has the server repeat).
    """
    if pattern is None or not received:
        return None
    if pattern.type not in _STATUS_REPLIES or pattern.args[3:5] != (b"0", b"0"):
        return None
    got = received[0]
    if not isinstance(got, Packet) or int(got.type) != int(pattern.type) or got.args[3:5] != (b"", b""):
        return None
    bind: dict[str, bytes] = {}
    if match_packet(pattern, got._replace(args=(*got.args[:3], b"0", b"0", *got.args[5:])), captures, bind):
        return None
    return bind


def code_word_only(
    step: Step,
    received: Sequence[Message],
    captures: Mapping[str, bytes],
    profile: str,
    branches: Collection[str],
    ruled_out: Collection[str],
) -> tuple[str, ...] | None:
    """The rules besides GM-ERROR-002 broken, when the replies differ only in an ERROR's code word; else None.

    The replies must meet the step's expectation, or an alternative of
    ``profile`` or of a branch taken (in ``branches``, not in ``ruled_out``)
    that records no defect (the rules it breaks are returned), once each
    ERROR's code word is read as the one the vector wrote there. For a profile
    held to gearmand's words: where code words match as labels already there
    is nothing to find, and the caller does not ask.
    """
    outcomes: list[tuple[Sequence[PacketPattern], tuple[str, ...]]] = [
        ([p for p in (step.packet, *step.packets) if p is not None], ())
    ]
    for alt in step.accept:
        if alt.defect or not (profile in alt.profiles or alt.branch in branches):
            continue
        if alt.branch and alt.branch in ruled_out:
            continue
        outcomes.append(([p for p in (alt.packet, *alt.packets) if p is not None], alt.breaks))
    for patterns, breaks in outcomes:
        if patterns and _matches_reworded(patterns, received, captures):
            return breaks
    return None


def _matches_reworded(
    patterns: Sequence[PacketPattern], received: Sequence[Message], captures: Mapping[str, bytes]
) -> bool:
    """The replies match ``patterns`` once their ERRORs carry the patterns' one code word, and did not before."""
    words = {p.args[0] for p in patterns if p.type is PacketType.ERROR and p.args and isinstance(p.args[0], bytes)}
    if len(words) != 1 or len(received) < len(patterns):
        return False
    (word,) = words
    got = received[: len(patterns)]
    errors = [m for m in got if isinstance(m, Packet) and m.type is PacketType.ERROR]
    if not errors or all(m.args[:1] == (word,) for m in errors):
        return False
    reworded: list[Message] = [
        m._replace(args=(word, *m.args[1:])) if isinstance(m, Packet) and m.type is PacketType.ERROR and m.args else m
        for m in got
    ]
    if len(patterns) == 1:
        return not match_packet(patterns[0], reworded[0], captures, {})
    return not match_unordered(list(patterns), reworded, captures, {})
