"""Split vector cases and simulation seeds over K/N shards (PURE).

A CI matrix of N jobs (or N machines) runs ``gearsim run --shard K/N`` with K
from 1 to N; together they run every case exactly once, and no two shards
share one. The assignment of a case depends only on its id (``file::case``)
and N: the first 8 bytes of the SHA-256 of the id, as an unsigned big-endian
number, modulo N. So it is the same on every machine, in every Python process
(``hash()`` is salted per process and is not used), whatever else is selected,
and a case keeps its shard when other cases are added or removed.

Seed sweeps shard by the seed itself: seed ``s`` belongs to shard
``s mod N + 1``, which spreads any run of consecutive seeds evenly.

pytest-xdist needs none of this: it spreads the test items of one pytest run
over local cores by itself. ``--gearsim-shard K/N`` is for spreading one suite
over several pytest runs (CI jobs), and combines with ``-n auto`` in each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["WHOLE", "Shard", "parse_shard", "shard_of", "shard_of_seed", "split", "split_seeds"]


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``total`` (1-based: ``1/4`` .. ``4/4``)."""

    index: int
    total: int

    def __post_init__(self) -> None:
        if self.total < 1 or not 1 <= self.index <= self.total:
            raise ValueError(f"a shard is K/N with 1 <= K <= N, got {self.index}/{self.total}")

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"

    def holds(self, case_id: str) -> bool:
        """True when the case with id ``case_id`` (``file::case``) belongs to this shard."""
        return shard_of(case_id, self.total) == self.index

    def holds_seed(self, seed: int) -> bool:
        """True when simulation seed ``seed`` belongs to this shard."""
        return shard_of_seed(seed, self.total) == self.index


#: running everything: the one shard of one
WHOLE = Shard(1, 1)


def parse_shard(text: str) -> Shard:
    """``"K/N"`` as a Shard.

    Raises:
        ValueError: not two decimal integers with 1 <= K <= N (the message
            quotes the text, for command-line errors).
    """
    k, sep, n = text.strip().partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit():
        raise ValueError(f"expected K/N (for example 2/4), got {text!r}")
    index, total = int(k), int(n)
    if total < 1 or not 1 <= index <= total:
        raise ValueError(f"expected K/N with 1 <= K <= N, got {text!r}")
    return Shard(index, total)


def shard_of(case_id: str, total: int) -> int:
    """The shard (1..``total``) that the case ``case_id`` belongs to."""
    if total < 1:
        raise ValueError(f"the number of shards must be at least 1, got {total}")
    digest = hashlib.sha256(case_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def shard_of_seed(seed: int, total: int) -> int:
    """The shard (1..``total``) that simulation seed ``seed`` belongs to."""
    if total < 1:
        raise ValueError(f"the number of shards must be at least 1, got {total}")
    return seed % total + 1


def split(case_ids: Iterable[str], shard: Shard) -> list[str]:
    """The case ids (``file::case``) of ``shard``, in their given order."""
    return [c for c in case_ids if shard.holds(c)]


def split_seeds(seeds: Iterable[int], shard: Shard) -> list[int]:
    """The seeds of ``shard``, in their given order."""
    return [s for s in seeds if shard.holds_seed(s)]
