"""English for reports (PURE): a count with its noun, singular for one.

Every layer writes sentences for people (a report, a trace's remark, a
command's summary line), so the one rule for plurals lives at the bottom,
beside the errors, where each of them may import it.
"""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1 ("1 case", "2 cases", "0 bytes"). Pure."""
    return f"{n} {noun}{'s' * (n != 1)}"
