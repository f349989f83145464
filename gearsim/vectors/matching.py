"""Matching received messages against vector patterns: the one place that does it.

PURE. Used by the runner (a server under test) and by the program runner
(gearsim.io.programs: a client under test). Captured values come in as
a mapping; new captures go into a ``bind`` dict the caller commits only when the
whole expectation matched. Every function returns '' for a match and otherwise
a one-line reason. A value longer than the trace's ``LONG_PAYLOAD`` is shown
as the trace shows it (its first bytes, its length and a SHA-256 prefix), so
that a 1 MiB echo makes a short line that can be found in the trace, and two
long values that differ say at which byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from gearsim.protocol.packets import AdminLine, Magic, Message, Packet
from gearsim.protocol.trace import LONG_PAYLOAD, quote
from gearsim.vectors.parse import (
    AdminLinePattern,
    AdminPattern,
    AnyValue,
    Capture,
    LineMatch,
    LineParts,
    PacketPattern,
    Ref,
)

__all__ = [
    "UnsendableLine",
    "describe_line",
    "describe_packet",
    "line_text",
    "match_admin",
    "match_packet",
    "match_unordered",
    "mismatched_argument",
    "shown_value",
]


class UnsendableLine(ValueError):
    """An admin line to send holds a match pattern, a capture or an unknown ref."""


def shown_value(value: bytes) -> str:
    """An argument's value for a report line: its ``repr``, or the trace's short form when it is long."""
    return repr(value) if len(value) <= LONG_PAYLOAD else quote(value)


def _differing(have: bytes, expected: bytes) -> str:
    """Where two values part, when a reader would not see it at once; else ``''``.

    A value that is the expected one after a NUL is what the argument before
    it looks like when sent with its C string terminator (the NUL ends that
    argument, and the terminator starts this one); two long values say at
    which byte they part.
    """
    if have == b"\0" + expected:
        return ": the expected value after a NUL, as when the argument before it is sent with its C string terminator"
    if len(have) <= LONG_PAYLOAD and len(expected) <= LONG_PAYLOAD:
        return ""
    pairs = enumerate(zip(have, expected, strict=False))
    at = next((i for i, (a, b) in pairs if a != b), min(len(have), len(expected)))
    return f"; they differ from byte {at} on: {have[at : at + 16]!r} where {expected[at : at + 16]!r} was expected"


def describe_packet(pattern: PacketPattern, captures: Mapping[str, bytes]) -> str:
    """A packet pattern for a report: ``TYPE [b'lit', <capture>, <any>, b'ref value']``."""
    parts = []
    for arg in pattern.args:
        if isinstance(arg, Capture):
            parts.append(f"<{arg.name}>")
        elif isinstance(arg, AnyValue):
            parts.append("<any>")
        elif isinstance(arg, Ref):
            known = captures.get(arg.name)
            parts.append(f"<{arg.name}>" if known is None else shown_value(known))
        elif isinstance(arg, LineParts):
            parts.append(describe_line(arg, captures))
        else:
            parts.append(shown_value(arg))
    return f"{pattern.name} [{', '.join(parts)}]"


def match_packet(
    pattern: PacketPattern,
    got: Message | bytes,
    captures: Mapping[str, bytes],
    bind: dict[str, bytes],
    default_magic: Magic = Magic.RES,
) -> str:
    """Match one received message (or undecodable bytes) against a packet pattern."""
    if isinstance(got, bytes):
        return f"expected {pattern.name}, got undecodable bytes {got[:40]!r}"
    if not isinstance(got, Packet):
        return f"expected {pattern.name}, got admin text {got.text!r}"
    problem = _header_problem(pattern, got, default_magic)
    if problem:
        return problem
    unmatched = _first_unmatched(pattern, got, captures, bind)
    return unmatched[1] if unmatched is not None else ""


def mismatched_argument(
    pattern: PacketPattern, got: Message | bytes, captures: Mapping[str, bytes], default_magic: Magic = Magic.RES
) -> int | None:
    """The argument (0-based) that ``match_packet`` finds holding another value than ``pattern`` gives, if any.

    None when ``got`` matches, or fails on something else: not a packet, its
    magic, type or argument count, an admin line that cannot be made. For
    whoever asks which argument differs (the rules of a status reply's
    fields), as data rather than by reading ``match_packet``'s text back.
    """
    if not isinstance(got, Packet) or _header_problem(pattern, got, default_magic):
        return None
    unmatched = _first_unmatched(pattern, got, captures, {})
    return unmatched[0] if unmatched is not None and unmatched[2] else None


def _header_problem(pattern: PacketPattern, got: Packet, default_magic: Magic) -> str:
    """Why ``got``'s magic, type or argument count is not the pattern's, or ''."""
    want_magic = pattern.magic if pattern.magic is not None else default_magic
    if bytes(got.magic) != bytes(want_magic):
        return f"magic {bytes(got.magic)!r}, expected {bytes(want_magic)!r}"
    if int(got.type) != int(pattern.type):
        return f"expected {pattern.name}, got {got.name}"
    if len(got.args) != len(pattern.args):
        return f"{got.name} with {len(got.args)} arguments, expected {len(pattern.args)}"
    return ""


def _first_unmatched(
    pattern: PacketPattern, got: Packet, captures: Mapping[str, bytes], bind: dict[str, bytes]
) -> tuple[int, str, bool] | None:
    """The first argument ``pattern`` does not accept: (0-based index, why, whether its value differs); else None.

    Binds captures into ``bind`` as it goes. The value does not differ, for
    the third item, where the pattern's own line cannot be made.
    """
    for i, (want, have) in enumerate(zip(pattern.args, got.args, strict=True)):
        if isinstance(want, AnyValue):
            continue
        if isinstance(want, Capture):
            known = bind.get(want.name, captures.get(want.name))
            if known is not None and known != have:
                shown = f"{shown_value(have)}, but {want.name} was {shown_value(known)}{_differing(have, known)}"
                return i, f"argument {i + 1} is {shown}", True
            bind[want.name] = have
            continue
        if isinstance(want, LineParts):
            try:
                expected: bytes | None = line_text(want, {**captures, **bind})
            except UnsendableLine as exc:
                return i, f"argument {i + 1}: {exc}", False
        else:
            expected = captures.get(want.name) if isinstance(want, Ref) else want
        if have != expected:
            if expected is None:  # a ref to a value never captured: the vector's own slip
                return i, f"argument {i + 1} is {shown_value(have)}, expected {want!r}, which was never captured", True
            shown = f"{shown_value(have)}, expected {shown_value(expected)}{_differing(have, expected)}"
            return i, f"argument {i + 1} is {shown}", True
    return None


def match_unordered(
    wanted: Sequence[PacketPattern],
    got: Sequence[Message | bytes],
    captures: Mapping[str, bytes],
    bind: dict[str, bytes],
    default_magic: Magic = Magic.RES,
) -> str:
    """Match several received messages against patterns, in any order."""
    if len(got) < len(wanted):
        return f"got {len(got)} of {len(wanted)} packets"
    left = list(got)
    for pattern in wanted:
        for i, message in enumerate(left):
            trial = dict(bind)
            if not match_packet(pattern, message, captures, trial, default_magic):
                bind.update(trial)
                del left[i]
                break
        else:
            return f"no received packet matches {describe_packet(pattern, captures)} (got {list(got)!r})"
    return ""


def describe_line(line: AdminLinePattern, captures: Mapping[str, bytes]) -> str:
    """An admin line pattern for a report."""
    if isinstance(line, LineMatch):
        return f"/{line.pattern}/"
    if isinstance(line, LineParts):
        text = ""
        for part in line.parts:
            if isinstance(part, Ref):
                text += captures.get(part.name, f"<{part.name}>".encode()).decode("latin-1")
            elif isinstance(part, bytes):
                text += part.decode("latin-1")
        return text
    return line.decode("latin-1")


def line_text(line: AdminLinePattern, captures: Mapping[str, bytes]) -> bytes:
    """The bytes of an admin line to send, refs resolved.

    Raises:
        UnsendableLine: the line is a match pattern, or holds a capture, an
            ``any`` or a ref to a value not captured.
    """
    if isinstance(line, bytes):
        return line
    if isinstance(line, LineMatch):
        raise UnsendableLine("an admin line to send cannot be a match pattern")
    out = b""
    for part in line.parts:
        if isinstance(part, Ref):
            if part.name not in captures:
                raise UnsendableLine(f"{part.name} was not captured")
            out += captures[part.name]
        elif isinstance(part, bytes):
            out += part
        else:
            raise UnsendableLine("an admin line to send holds a capture or any")
    return out


def _line_matches(want: AdminLinePattern, got: bytes, captures: Mapping[str, bytes]) -> bool:
    if isinstance(want, LineMatch):
        return re.fullmatch(want.pattern, got.decode("latin-1")) is not None
    try:
        return line_text(want, captures) == got
    except UnsendableLine:
        return False


def _rows_match(
    want: Sequence[AdminLinePattern], rows: Sequence[bytes], extra: LineMatch | None, captures: Mapping[str, bytes]
) -> bool:
    """Whether each pattern of ``want`` takes a row of its own, and every row left matches ``extra``.

    A pattern may match several rows and a row several patterns (a regex row
    and an exact one), so the first row a pattern matches need not be its own.
    This is a bipartite matching that must cover every pattern and every row
    ``extra`` cannot take: rows first find patterns, then patterns find rows,
    by augmenting paths, which keep every row and pattern already placed
    placed (so whenever such a matching exists, this finds one).
    """
    fits = [[j for j, row in enumerate(rows) if _line_matches(w, row, captures)] for w in want]
    takers = [[i for i, js in enumerate(fits) if j in js] for j in range(len(rows))]
    owner: dict[int, int] = {}  # row -> its pattern
    placed: dict[int, int] = {}  # pattern -> its row
    for j, row in enumerate(rows):
        if not (extra is not None and _line_matches(extra, row, captures)) and not _augment(j, takers, owner, placed):
            return False
    return all(i in placed or _augment(i, fits, placed, owner) for i in range(len(want)))


def _augment(v: int, adjacent: Sequence[Sequence[int]], mine: dict[int, int], theirs: dict[int, int]) -> bool:
    """Give ``v`` a partner along an augmenting path (Kuhn): whoever is placed stays placed.

    ``adjacent[v]`` are the partners ``v`` may take on the other side;
    ``mine`` maps this side to its partner, ``theirs`` the other side back.
    """
    seen: set[int] = set()

    def find(v: int) -> bool:
        for u in adjacent[v]:
            if u not in seen:
                seen.add(u)
                if u not in theirs or find(theirs[u]):
                    mine[v], theirs[u] = u, v
                    return True
        return False

    return find(v)


def match_admin(
    admin: AdminPattern, got: Sequence[Message | bytes], captures: Mapping[str, bytes], *, any_eol: bool = False
) -> str:
    """Match received admin lines against an admin pattern (listing rows unordered if it says so).

    With ``any_eol`` a line may end in LF or CR LF whatever the pattern says (GM-ADMIN-014).
    """
    if len(got) < len(admin.lines):
        return f"got {len(got)} of {len(admin.lines)} admin lines"
    lines = []
    for m in got:
        if not isinstance(m, AdminLine):
            return f"expected admin text, got {m!r}"
        if m.eol != admin.eol and not (any_eol and m.eol in (b"\n", b"\r\n")):
            return f"line {m.text!r} ends with {m.eol!r}, expected {admin.eol!r}"
        lines.append(m.text)
    want = list(admin.lines)
    if admin.unordered and want and want[-1] == b".":
        # rows in any order (gearmand prints them in hash order), the closing "." last
        ok = lines[-1:] == [b"."] and _rows_match(want[:-1], lines[:-1], admin.extra, captures)
    else:
        ok = all(_line_matches(w, g, captures) for w, g in zip(want, lines, strict=True))
    return "" if ok else f"admin lines {[x.decode('latin-1') for x in lines]}"
