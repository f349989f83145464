"""The sans-IO interface between a server implementation and whatever drives it.

PURE. A ``ServerNode`` (the reference model, or any sans-IO server) never sees a
socket or a clock: the driver (the simulator, or the asyncio shell of
``gearsim serve``) tells it about connections, bytes and the current tick, and
it answers with ``Output`` values. Time is an integer tick count; one tick is
one millisecond of virtual (or mapped wall) time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, final

from gearsim.protocol.codec import encode_many
from gearsim.protocol.packets import Message

__all__ = ["TICKS_PER_SECOND", "Close", "ConnId", "MessageNode", "Output", "Send", "ServerNode"]

#: ticks are milliseconds: every conversion between ticks and seconds uses this
TICKS_PER_SECOND: Final[int] = 1000

#: a connection, as numbered by the driver (unique for the driver's lifetime)
ConnId = int


class _Fields:
    """The slots of a ``Send``: ``Send`` freezes them, ``_Filling`` fills them (see ``Send.of``)."""

    __slots__ = ("_data", "conn", "from_messages", "messages")


@final  # Send.of builds exactly a Send
class Send(_Fields):
    """Bytes the server writes to a connection, and the messages they encode (a frozen value).

    ``Send(conn, data, messages)`` gives both. ``Send.of(conn, messages)``
    gives the messages alone: ``data`` is then their encoding, made when it
    is first read, so a driver that hands the messages on as they are (the
    simulator on a plain link) never encodes them; ``from_messages`` says
    which kind a Send is. Equality, hashing and ``repr`` are those of the
    three fields.
    """

    __slots__ = ()
    __match_args__ = ("conn", "data", "messages")

    conn: ConnId
    messages: tuple[Message, ...]
    _data: bytes | None
    #: True for ``Send.of``: ``data`` is exactly the encoding of ``messages``
    from_messages: bool

    def __init__(self, conn: ConnId, data: bytes, messages: tuple[Message, ...] = ()) -> None:
        _set_conn(self, conn)
        _set_data(self, data)
        _set_from_messages(self, False)
        _set_messages(self, messages)

    @classmethod
    def of(cls, conn: ConnId, messages: tuple[Message, ...]) -> Send:
        """A Send of ``messages`` whose ``data`` is their encoding, made on first read."""
        # the model makes one per reply: filled as a _Filling with plain slot stores,
        # then made a Send (the same slots), instead of four calls of the slots' setters
        filling: Any = _new_object(_Filling)
        filling.conn = conn
        filling._data = None
        filling.from_messages = True
        filling.messages = messages
        filling.__class__ = Send
        return filling  # type: ignore[no-any-return]

    @property
    def data(self) -> bytes:
        """The bytes written.

        Raises:
            ValueError: for a ``Send.of`` whose messages cannot be encoded.
        """
        data = self._data
        if data is None:
            data = encode_many(list(self.messages))
            _set_data(self, data)
        return data

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Send is frozen: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Send is frozen: cannot delete {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Send):
            return NotImplemented
        return (self.conn, self.data, self.messages) == (other.conn, other.data, other.messages)

    def __hash__(self) -> int:
        return hash((self.conn, self.data, self.messages))

    def __repr__(self) -> str:
        return f"Send(conn={self.conn!r}, data={self.data!r}, messages={self.messages!r})"


class _Filling(_Fields):
    """A ``Send`` being filled by ``Send.of``: its slots without its frozen ``__setattr__``."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Close:
    """The server closes a connection; ``reason`` says why, for traces."""

    conn: ConnId
    reason: str = ""


Output = Send | Close

_new_object = object.__new__
# the slots' own setters: Send blocks attribute assignment to stay frozen
_set_conn = _Fields.__dict__["conn"].__set__
_set_data = _Fields.__dict__["_data"].__set__
_set_from_messages = _Fields.__dict__["from_messages"].__set__
_set_messages = _Fields.__dict__["messages"].__set__


class ServerNode(Protocol):
    """A Gearman server as a sans-IO state machine."""

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        """A new connection was accepted from ``peer`` (an address for 'workers')."""
        ...

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        """Bytes arrived on ``conn`` (any chunking: the node buffers partial messages)."""
        ...

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        """The other end closed ``conn`` (or the link was cut)."""
        ...

    def next_deadline(self) -> int | None:
        """The earliest tick at which ``advance`` has work to do, or None."""
        ...

    def advance(self, now: int) -> list[Output]:
        """Fire every timer due at or before ``now``."""
        ...


class MessageNode(ServerNode, Protocol):
    """A ``ServerNode`` that can also take whole messages instead of their bytes.

    A driver that holds messages (the simulator, which is given them by its
    scripted clients) calls ``receive_messages`` to spare encoding them here
    and decoding them there; it must behave exactly as ``receive`` of their
    encoding would.
    """

    def receive_messages(self, conn: ConnId, messages: Sequence[Message], now: int) -> list[Output] | None:
        """``receive(conn, encode_many(messages), now)`` without the bytes.

        Returns None, having done nothing, when the node cannot take them as
        messages now (it holds part of an earlier message, or a message would
        not decode back to itself); the driver then sends the bytes.
        """
        ...
