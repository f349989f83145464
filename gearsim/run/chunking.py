"""Seeded re-chunking plans: how one byte stream is cut into writes.

PURE: no sockets, clocks or global ``random``; every choice comes from a
``random.Random`` seeded from the plan's seed and the write's index, so the
same (seed, write index, bytes) always gives the same pieces, whatever ran
before. Used by ``gearsim run --chunking SEED`` (gearsim.run.chunked wraps a
peer so that every send goes out in these pieces) and by the tests that
check that a vector's verdict does not depend on how its bytes are cut.

Real clients break when bytes arrive in odd chunks (a reply spanning two
reads, a header whose body comes later), so a plan exercises four shapes:

* ``BYTEWISE``: one byte per write; a write longer than twice
  ``BYTEWISE_EDGE`` goes out byte by byte for its first and last
  ``BYTEWISE_EDGE`` bytes and its middle in one piece (a 1 MiB body cut
  into a million writes tests nothing more than a header, its arguments and
  an end cut so, and was a million simulator events: the step bound);
* ``HEADER_BODY``: every binary packet cut between its 12-byte header and its
  body, and once more inside the header;
* ``COALESCE``: several messages in one write (consecutive sends of one actor
  are joined before cutting; see ``ChunkPlan.coalesce``), no cut inside;
* ``ADMIN_MIDLINE``: every admin text line cut inside its text, and between a
  ``\\r`` and its ``\\n``;

plus ``MIXED``, which draws one of those (or up to four random cuts) per write.

Seeds 0 to 3 give the four pure shapes in that order (so "a few seeds" in CI
cover each); every other seed is ``MIXED``. Seeds 2 and >= 4 also join
consecutive sends.
"""

from __future__ import annotations

import enum
import itertools
import random
from dataclasses import dataclass
from typing import Final

__all__ = ["BYTEWISE_EDGE", "ChunkPlan", "Cut", "Mode", "boundaries", "expand"]

#: the most random cuts a MIXED write gets when it draws "random"
MAX_RANDOM_CUTS: Final[int] = 4
#: the bytes at each end of a long write that BYTEWISE sends one by one (a header and its
#: arguments at the start, the end of a body and the next message's start at the end)
BYTEWISE_EDGE: Final[int] = 2048
_HEADER: Final[int] = 12


class Mode(enum.Enum):
    """The shape of the cuts a plan makes."""

    BYTEWISE = "bytewise"
    HEADER_BODY = "header-body"
    COALESCE = "coalesce"
    ADMIN_MIDLINE = "admin-midline"
    RANDOM = "random"
    MIXED = "mixed"


_PURE: Final[tuple[Mode, ...]] = (Mode.BYTEWISE, Mode.HEADER_BODY, Mode.COALESCE, Mode.ADMIN_MIDLINE)
_MIXED_CHOICES: Final[tuple[Mode, ...]] = (*_PURE, Mode.RANDOM)


@dataclass(frozen=True, slots=True)
class Cut:
    """What a plan did to one write: the mode drawn and the piece sizes."""

    index: int
    mode: Mode
    sizes: tuple[int, ...]

    def describe(self) -> str:
        shown = ",".join(str(s) for s in self.sizes[:16]) + (",..." if len(self.sizes) > 16 else "")
        return f"write {self.index}: {self.mode.value} -> {len(self.sizes)} pieces [{shown}]"


def boundaries(data: bytes) -> list[tuple[int, int, bool]]:
    """The messages in ``data`` as (start, end, is_binary), tolerating junk.

    A binary message starts with a NUL byte and is 12 header bytes plus the
    body length the header declares (cut short at the end of ``data``); an
    admin line runs to its ``\\n`` inclusive (or to the end). Bad magic and
    truncated packets are framed the same way, so malformed vectors are cut
    as faithfully as good ones.
    """
    out: list[tuple[int, int, bool]] = []
    pos, size = 0, len(data)
    while pos < size:
        if data[pos] == 0:
            if size - pos < _HEADER:
                end = size
            else:
                end = min(size, pos + _HEADER + int.from_bytes(data[pos + 8 : pos + 12], "big"))
            out.append((pos, end, True))
        else:
            nl = data.find(b"\n", pos)
            end = size if nl < 0 else nl + 1
            out.append((pos, end, False))
        pos = end
    return out


def _header_body_points(data: bytes, rng: random.Random) -> set[int]:
    points: set[int] = set()
    for start, end, binary in boundaries(data):
        points.add(start)
        if binary and end - start > 1:
            points.add(start + 1 + int(rng.random() * min(_HEADER - 1, end - start - 1)))
            if end - start > _HEADER:
                points.add(start + _HEADER)
    return points


def _midline_points(data: bytes, rng: random.Random) -> set[int]:
    points: set[int] = set()
    for start, end, binary in boundaries(data):
        points.add(start)
        if binary:
            continue
        text_end = end - 1 if data[end - 1 : end] == b"\n" else end
        if text_end - start >= 2:
            points.add(start + 1 + int(rng.random() * (text_end - start - 1)))
        if text_end > start and data[text_end - 1 : text_end] == b"\r" and text_end < end:
            points.add(text_end)  # "\r" | "\n"
    return points


def _random_points(data: bytes, rng: random.Random) -> set[int]:
    if len(data) < 2:
        return set()
    count = 1 + int(rng.random() * min(MAX_RANDOM_CUTS, len(data) - 1))
    return {1 + int(rng.random() * (len(data) - 1)) for _ in range(count)}


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    """The re-chunking a seed expands to; ``cut`` applies it to one write.

    Attributes:
        seed: the seed the plan was expanded from.
        mode: the shape of every write, or MIXED (drawn per write).
        coalesce: consecutive sends of one actor are joined into one write
            before cutting (a peer wrapper does the joining).
    """

    seed: int
    mode: Mode
    coalesce: bool

    def describe(self) -> str:
        """The expanded parameters, for failure reports."""
        mode = self.mode.value
        if self.mode is Mode.MIXED:
            mode += " (drawn per write from bytewise/header-body/coalesce/admin-midline/random)"
        joined = "consecutive sends of one actor joined" if self.coalesce else "each send is its own write"
        return f"chunking seed {self.seed}: mode {mode}; {joined}"

    def _rng(self, index: int) -> random.Random:
        # a string seed is hashed with SHA-512 by random.Random: stable across runs and hash seeds
        return random.Random(f"gearsim-chunking:{self.seed}:{index}")

    def cut(self, index: int, data: bytes) -> tuple[list[bytes], Cut]:
        """The pieces write number ``index`` (0, 1, ... per connection set) goes out in.

        The pieces join back to ``data`` and none is empty.
        """
        rng = self._rng(index)
        mode = self.mode
        if mode is Mode.MIXED:
            mode = _MIXED_CHOICES[int(rng.random() * len(_MIXED_CHOICES))]
        if mode is Mode.BYTEWISE:
            size = len(data)
            if size > 2 * BYTEWISE_EDGE:
                points = {*range(1, BYTEWISE_EDGE + 1), *range(size - BYTEWISE_EDGE, size)}
            else:
                points = set(range(1, size))
        elif mode is Mode.HEADER_BODY:
            points = _header_body_points(data, rng)
        elif mode is Mode.ADMIN_MIDLINE:
            points = _midline_points(data, rng)
        elif mode is Mode.RANDOM:
            points = _random_points(data, rng)
        else:
            points = set()
        bounds = [0, *sorted(p for p in points if 0 < p < len(data)), len(data)]
        pieces = [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
        return pieces, Cut(index, mode, tuple(len(p) for p in pieces))


def expand(seed: int) -> ChunkPlan:
    """The plan of ``seed``: 0 bytewise, 1 header-body, 2 coalesce, 3 admin-midline, else mixed.

    Raises:
        ValueError: a negative seed.
    """
    if seed < 0:
        raise ValueError(f"a chunking seed is >= 0, got {seed}")
    if seed < len(_PURE):
        mode = _PURE[seed]
        return ChunkPlan(seed, mode, coalesce=mode is Mode.COALESCE)
    return ChunkPlan(seed, Mode.MIXED, coalesce=True)
