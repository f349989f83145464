"""Cutting a run of cases into parts that play side by side, for the slow interop tests.

A long-lived server test plays its cases in order on one server so that a
case's state leaking into a later case shows; CI's time budget makes it play
a few such runs side by side, each on a server of its own. Where the runs are
cut is the one trade those tests make (a leak across a cut cannot show), so it
is written once, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def consecutive(items: Sequence[T], parts: int) -> list[list[T]]:
    """``items`` cut into ``parts`` runs of consecutive items, in order, whose lengths differ by at most one.

    Every item is in exactly one run, and no run is empty: fewer items than
    ``parts`` give one run per item, none give no runs.

    Raises:
        ValueError: ``parts`` is less than 1.
    """
    if parts < 1:
        raise ValueError(f"cannot cut into {parts} parts")
    size, longer = divmod(len(items), parts)
    runs, start = [], 0
    for n in range(parts):
        end = start + size + (n < longer)
        if end > start:
            runs.append(list(items[start:end]))
        start = end
    return runs
