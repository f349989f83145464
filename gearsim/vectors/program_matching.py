"""Matching for program cases: packets and admin lines against patterns, output against ``expect_exit``.

PURE: values in, a problem description out ('' when it matches). Used by
``gearsim.io.programs``, which records what programs and the served
model sent and judges it here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gearsim.protocol import codec
from gearsim.protocol.packets import Magic, Message
from gearsim.protocol.trace import format_message, quote
from gearsim.vectors import matching
from gearsim.vectors.parse import AdminPattern, ExitExpectation, OutputMatch, PacketPattern, Ref

__all__ = [
    "admin_text",
    "describe",
    "exit_text",
    "match",
    "match_admin",
    "match_all",
    "match_exit",
    "output_lines",
    "show",
    "wire",
]


def wire(item: Message | bytes) -> bytes:
    """The bytes of a recorded message (undecodable bytes as they are)."""
    return item if isinstance(item, bytes) else codec.wire(item)


def show(item: Message | bytes) -> str:
    """A recorded message as the trace shows it."""
    return f"undecodable bytes {quote(item)}" if isinstance(item, bytes) else format_message(item)


def describe(pattern: PacketPattern, captures: Mapping[str, bytes] | None = None) -> str:
    """A packet pattern for a report."""
    return matching.describe_packet(pattern, captures or {})


def match(
    pattern: PacketPattern,
    got: Message | bytes,
    default_magic: Magic,
    captures: Mapping[str, bytes],
    bind: dict[str, bytes],
) -> str:
    """'' when ``got`` matches ``pattern``; else why not (gearsim.vectors.matching.match_packet)."""
    return matching.match_packet(pattern, got, captures, bind, default_magic)


def match_all(
    patterns: list[PacketPattern], got: list[Message | bytes], captures: Mapping[str, bytes], bind: dict[str, bytes]
) -> str:
    """'' when the server's messages ``got`` match ``patterns`` (several: in any order); else why not."""
    if len(got) < len(patterns):
        return f"got {len(got)} of {len(patterns)} packets"
    if len(patterns) == 1:
        return matching.match_packet(patterns[0], got[0], captures, bind)
    return matching.match_unordered(patterns, got, captures, bind)


def admin_text(admin: AdminPattern, captures: Mapping[str, bytes] | None = None) -> str:
    """Admin pattern lines joined for a report."""
    return " | ".join(matching.describe_line(line, captures or {}) for line in admin.lines)


def match_admin(admin: AdminPattern, got: list[Message | bytes], captures: Mapping[str, bytes] | None = None) -> str:
    """'' when the admin lines ``got`` are those of ``admin``; else why not."""
    return matching.match_admin(admin, got, captures or {})


def exit_text(expect: ExitExpectation) -> str:
    """What ``expect`` asks of a program's end, for a report."""
    text = f"exit status {expect.status}"
    if expect.stdout is not None:
        text += f", {len(expect.stdout)} output lines as the case says"
    if expect.stdout_contains:
        text += f", output containing {' and '.join(map(repr, expect.stdout_contains))}"
    return text


def output_lines(stdout: bytes) -> list[str]:
    """A program's output as lines: split at LF, a final line without LF counted, decoded as UTF-8."""
    text = stdout.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def match_exit(expect: ExitExpectation, status: int | None, stdout: bytes, captures: Mapping[str, bytes]) -> str:
    """'' when a program that ended with ``status`` and printed ``stdout`` meets ``expect``; else why not.

    ``captures`` are the values the case's steps captured (bytes, compared as UTF-8 text).
    """
    if status != expect.status:
        return f"exit status {status}, expected {expect.status}"
    text = stdout.decode("utf-8", "replace")
    for piece in expect.stdout_contains:
        if piece not in text:
            return f"the output has no {piece!r}"
    if expect.stdout is None:
        return ""
    lines = output_lines(stdout)
    for i, want in enumerate(expect.stdout):
        if i >= len(lines):
            return f"the output ends after {len(lines)} lines, expected {len(expect.stdout)}"
        line = lines[i]
        if isinstance(want, OutputMatch):
            if re.fullmatch(want.pattern, line) is None:
                return f"output line {i + 1} {line!r} does not match /{want.pattern}/"
        else:
            expected = want if isinstance(want, str) else captures.get(want.name, b"").decode("utf-8", "replace")
            if line != expected:
                label = f" (the {want.name} captured)" if isinstance(want, Ref) else ""
                return f"output line {i + 1} is {line!r}, expected {expected!r}{label}"
    if len(lines) > len(expect.stdout):
        return f"output line {len(expect.stdout) + 1} {lines[len(expect.stdout)]!r} is one too many"
    return ""
