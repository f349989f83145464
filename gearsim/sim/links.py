"""Link models: what the simulated network does to the bytes of one connection.

PURE. This module owns the *policy* of a link, not its scheduling: a frozen
``LinkConfig`` (latency, jitter, re-chunking, loss, a cut), the ``Chunking``
modes, and the functions that turn one write into the pieces the network
delivers, draw a delay, or decide a loss. Every random choice is drawn from the
``random.Random`` passed in, which is the simulator's own, so that a seed fixes
every chunk boundary; nothing here touches the global ``random`` or a clock.

The ordering guarantees (TCP semantics: bytes of one direction arrive in the
order they were written, a later piece never overtakes an earlier one, and
coalescing only merges pieces that arrive at the same tick) are enforced by
``gearsim.sim.simulator``, which owns the event heap.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

__all__ = ["MAX_SPLIT_CUTS", "Chunking", "LinkConfig", "draw_delay", "draws_loss", "merges", "split_write"]

#: the largest number of extra cut points SPLIT puts into one write
MAX_SPLIT_CUTS = 3


class Chunking(enum.Enum):
    """How a link re-chunks the bytes written to it."""

    #: each write arrives as one piece
    NONE = "none"
    #: each write is cut at up to ``MAX_SPLIT_CUTS`` random points (repeats collapse)
    SPLIT = "split"
    #: writes that would arrive at the same tick are merged into one piece
    COALESCE = "coalesce"
    #: SPLIT, and the first piece of a write merges, by a coin flip, into the
    #: previous write's last piece when both arrive at the same tick, so piece
    #: boundaries and write boundaries stop lining up
    BOTH = "both"
    #: every byte arrives as its own piece (trio's lockstep stream, in spirit)
    BYTEWISE = "bytewise"


@dataclass(frozen=True, slots=True)
class LinkConfig:
    """One connection's link, applied to both directions.

    Attributes:
        latency: ticks between a write and its delivery.
        jitter: extra ticks drawn uniformly from ``0..jitter`` per piece; order
            is kept, so a piece delayed less than its predecessor waits for it.
        chunking: how writes are re-chunked (see ``Chunking``).
        max_chunk: the largest piece delivered (a segment size), in every mode.
        drop: probability that a data delivery is lost. A loss models a
            partition, not corruption: the bytes are lost and the connection is
            cut, so both ends see it close.
        cut_at: absolute tick at which the link is cut both ways.

    Raises:
        ValueError: a negative latency, jitter or ``cut_at``, a ``max_chunk``
            below 1, or a ``drop`` outside ``0..1``.
    """

    latency: int = 0
    jitter: int = 0
    chunking: Chunking = Chunking.NONE
    max_chunk: int | None = None
    drop: float = 0.0
    cut_at: int | None = None

    def __post_init__(self) -> None:
        if self.latency < 0 or self.jitter < 0:
            raise ValueError(f"latency and jitter must be >= 0, got {self.latency} and {self.jitter}")
        if self.max_chunk is not None and self.max_chunk < 1:
            raise ValueError(f"max_chunk must be >= 1 or None, got {self.max_chunk}")
        if not 0.0 <= self.drop <= 1.0:
            raise ValueError(f"drop is a probability, got {self.drop}")
        if self.cut_at is not None and self.cut_at < 0:
            raise ValueError(f"cut_at must be a tick >= 0, got {self.cut_at}")

    @property
    def plain(self) -> bool:
        """True when the link only delays: no jitter, re-chunking or loss."""
        return self.jitter == 0 and self.chunking is Chunking.NONE and self.max_chunk is None and self.drop == 0.0

    @property
    def coalesces(self) -> bool:
        """True when same-tick pieces may merge (COALESCE or BOTH)."""
        return self.chunking is Chunking.COALESCE or self.chunking is Chunking.BOTH


def split_write(config: LinkConfig, data: bytes, rng: random.Random) -> list[bytes]:
    """The pieces the link cuts one write into, in order; they join back to ``data``.

    Draws from ``rng`` only in SPLIT and BOTH modes, and only for writes of two
    bytes or more, so a plain link never disturbs the random sequence.
    """
    mode = config.chunking
    size = len(data)
    if mode is Chunking.BYTEWISE:
        return [data[i : i + 1] for i in range(size)]
    pieces = [data]
    if (mode is Chunking.SPLIT or mode is Chunking.BOTH) and size >= 2:
        # random() rather than randint/sample: a third of the cost on the hot path
        random_ = rng.random
        cuts = int(random_() * (min(size - 1, MAX_SPLIT_CUTS) + 1))
        if cuts:
            points = sorted({1 + int(random_() * (size - 1)) for _ in range(cuts)})
            bounds = [0, *points, size]
            pieces = [data[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]
    limit = config.max_chunk
    if limit is not None and size > limit:
        pieces = [p[i : i + limit] for p in pieces for i in range(0, len(p), limit)]
    return pieces


def merges(config: LinkConfig, rng: random.Random) -> bool:
    """Whether a write's first piece joins the previous piece arriving at the same tick.

    Always under COALESCE, by a coin flip from ``rng`` under BOTH, never otherwise.
    Call it only when such a merge is possible.
    """
    if config.chunking is Chunking.COALESCE:
        return True
    return config.chunking is Chunking.BOTH and rng.random() < 0.5


def draw_delay(config: LinkConfig, rng: random.Random) -> int:
    """Ticks from a write to its delivery: the latency plus a jitter draw (if any)."""
    if config.jitter:
        return config.latency + int(rng.random() * (config.jitter + 1))
    return config.latency


def draws_loss(config: LinkConfig, rng: random.Random) -> bool:
    """Whether one delivery is lost; draws from ``rng`` only when ``drop`` > 0."""
    return config.drop > 0.0 and rng.random() < config.drop
