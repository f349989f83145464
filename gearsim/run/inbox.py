"""What an expect step takes from an actor's inbox, and what it says when too little came.

PURE (time is the peer's). This module owns the reading side of an
expectation: ``take`` (a number of messages, or a listing up to its closing
full stop), ``take_bytes`` (raw bytes, whole messages at a time), and
``with_held``, which adds to the problem of an expectation that timed out
short what the connection holds of a message not yet whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from gearsim.protocol import codec
from gearsim.protocol.packets import AdminLine, Message
from gearsim.run.peer import ServerPeer

__all__ = ["closes_listing", "take", "take_bytes", "with_held"]


def take(peer: ServerPeer, actor: str, count: int | None, within: int) -> list[Message]:
    """``count`` messages, or (None: rows not counted in advance) a listing's up to its closing ".".

    Fewer when ``within`` ms pass first or the connection closes.
    """
    box = peer.inbox(actor)

    def more(have: Sequence[Message]) -> bool:
        return len(have) < count if count is not None else not any(closes_listing(m) for m in have)

    peer.wait(peer.now() + peer.span(within, "within"), lambda: not more(box) or peer.closed(actor))
    got: list[Message] = []
    while box and more(got):
        got.append(box.popleft())
    return got


def closes_listing(message: Message) -> bool:
    """Whether ``message`` is the line holding only a full stop that ends a listing (GM-ADMIN-004)."""
    return isinstance(message, AdminLine) and message.text == b"."


def take_bytes(peer: ServerPeer, actor: str, size: int, within: int) -> list[Message]:
    """Whole messages until they hold ``size`` bytes on the wire; fewer on timeout or close."""
    box = peer.inbox(actor)
    deadline = peer.now() + peer.span(within, "within")

    def enough() -> bool:
        return sum(len(codec.wire(m)) for m in box) >= size or peer.closed(actor)

    peer.wait(deadline, enough)
    got: list[Message] = []
    have = 0
    while box and have < size:
        m = box.popleft()
        got.append(m)
        have += len(codec.wire(m))
    return got


def with_held(peer: ServerPeer, actor: str, problem: str) -> str:
    """``problem`` of an expectation that timed out short, with what the connection holds of the next message.

    The start of a reply may have come: a report that says how much of it
    (an admin line without its end, a packet short of its announced length)
    sends its reader to the bytes, not to the clock.
    """
    held = peer.held(actor)
    return f"{problem}; {held}" if held else problem
