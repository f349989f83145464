"""Checks of codec vector cases against the codec and the validator.

PURE. A codec case says: these exact bytes (``wire``) are these messages; the
decoder, fed them whole, one byte at a time and with trailing bytes, yields the
first ``decode.yields`` of them and then waits (``pending``) or fails
(``error`` at ``offset``); the validator finds exactly ``violations``. Each
problem comes back as a one-line string naming the case; nothing raises.

These are the only home of those comparisons: ``gearsim lint`` lists the
problems as findings, and every path that runs vectors refuses a case that has
one as a broken vector (gearsim.vectors.lint.contradictions). A case whose own
bytes and messages disagree tells nothing about the peer it would be played
against.
"""

from __future__ import annotations

from gearsim.errors import DecodeError, VectorError
from gearsim.protocol.codec import Decoder, encode, wire
from gearsim.protocol.packets import Message, Packet, Role
from gearsim.protocol.validate import check
from gearsim.vectors.parse import Case, Fragment

__all__ = ["check_codec_case", "codec_errors", "encode_case_messages", "expected_violations"]

# Trailing bytes for the third feeding: the start of a valid header, which
# must stay buffered rather than be decoded or lost.
_TRAILER = b"\0REQ\0\0\0\x10"


def encode_case_messages(case: Case) -> bytes:
    """The bytes of a codec case's structured messages (lying lengths applied)."""
    return b"".join(_encode_one(m, n) for m, n in zip(case.messages, case.lengths, strict=True))


def _encode_one(message: Message | Fragment, length: int | None) -> bytes:
    if isinstance(message, Fragment):
        return message.data
    if isinstance(message, Packet):
        return encode(message, length=length)
    return wire(message)


def expected_violations(messages: list[Message], sender: str) -> set[str]:
    """The requirement ids the validator reports for decoded packets from ``sender``."""
    role = Role(sender)
    found: set[str] = set()
    for m in messages:
        if isinstance(m, Packet):
            found.update(v.requirement for v in check(m, role))
    return found


def _feed(chunks: list[bytes]) -> tuple[list[Message], DecodeError | None, Decoder]:
    decoder = Decoder()
    out: list[Message] = []
    try:
        for chunk in chunks:
            out.extend(decoder.feed(chunk))
    except DecodeError as exc:
        return out, exc, decoder
    return out, None, decoder


def check_codec_case(case: Case) -> list[str]:
    """Every way the codec or validator disagrees with a codec case (empty: none), each line naming the case.

    Raises:
        ValueError: ``case`` is a lifecycle case.
    """
    return [f"{case.id}: {p}" for p in _problems(case)]


def codec_errors(file: str, case: Case) -> list[VectorError]:
    """:func:`check_codec_case`'s problems as errors naming ``file`` and the case (empty for a lifecycle case)."""
    if not case.is_codec:
        return []
    return [VectorError(p, file=file, case=case.id) for p in _problems(case)]


#: bytes shown either side of the first difference between wire and messages
_SHOWN = 16


def _around(data: bytes, offset: int) -> str:
    """The hex of ``data`` around ``offset``, elided (``...``) beyond _SHOWN bytes either side."""
    start, end = max(0, offset - _SHOWN), offset + _SHOWN
    return ("..." if start else "") + data[start:end].hex() + ("..." if end < len(data) else "")


def _wire_mismatch(case: Case, built: bytes, wire: bytes) -> str:
    """Where the encoded messages first differ from the wire bytes: byte offset, message, both sides' bytes."""
    at = next((i for i, (a, b) in enumerate(zip(built, wire, strict=False)) if a != b), min(len(built), len(wire)))
    index = sum(1 for start in _offsets(case) if start <= at) or 1
    sizes = f"{len(built)} bytes vs {len(wire)}" if len(built) != len(wire) else f"{len(wire)} bytes"
    return (
        f"wire and messages disagree at byte offset {at} (message {index} of {len(case.messages)}; {sizes}): "
        f"messages encode to {_around(built, at)}, wire is {_around(wire, at)}"
    )


def _problems(case: Case) -> list[str]:
    if case.wire is None or case.decode is None:
        raise ValueError(f"{case.id} is not a codec case")
    problems: list[str] = []
    wire = case.wire
    built = encode_case_messages(case)
    if built != wire:
        problems.append(_wire_mismatch(case, built, wire))
    expect = case.decode
    want = [m for m in case.messages[: expect.yields] if not isinstance(m, Fragment)]
    feeds = {
        "whole": [wire],
        "byte-by-byte": [wire[i : i + 1] for i in range(len(wire))],
    }
    if not expect.error and not expect.pending:
        # (a case that ends inside a message would swallow the trailer into it)
        feeds["with trailing bytes"] = [wire + _TRAILER]
    for how, chunks in feeds.items():
        got, error, decoder = _feed(chunks)
        if got != want or [m.offset for m in got] != _offsets(case)[: len(got)]:
            problems.append(f"decoded {how}: got {got!r}, expected {want!r}")
        if expect.error:
            if error is None:
                problems.append(f"decoded {how}: expected a {expect.error} error, got none")
            elif error.reason != expect.error or (expect.offset is not None and error.offset != expect.offset):
                problems.append(
                    f"decoded {how}: expected {expect.error} at offset {expect.offset}, "
                    f"got {error.reason} at offset {error.offset}"
                )
        elif error is not None:
            problems.append(f"decoded {how}: unexpected {error.reason} error: {error}")
        else:
            extra = len(_TRAILER) if how == "with trailing bytes" else 0
            if decoder.buffered != expect.pending + extra:
                problems.append(f"decoded {how}: {decoder.buffered} bytes buffered, expected {expect.pending + extra}")
    if case.violations is not None and not expect.error:
        got_ids = expected_violations(want, case.sender)
        if got_ids != set(case.violations):
            problems.append(f"validator found {sorted(got_ids)}, case says {sorted(case.violations)}")
    return problems


def _offsets(case: Case) -> list[int]:
    offsets = []
    pos = 0
    for message, length in zip(case.messages, case.lengths, strict=True):
        offsets.append(pos)
        pos += len(_encode_one(message, length))
    return offsets
