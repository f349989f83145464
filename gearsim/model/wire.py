"""The reference server's wire side: framing what a connection sends, encoding what it gets.

PURE. ``frame`` decodes a connection's bytes with its ``Decoder`` (handling a
bad magic as the profile says, B-P2); ``outputs`` turns the queued
(connection, message) pairs into ``Send`` values, one per run of messages to
the same connection.
"""

from __future__ import annotations

from gearsim.errors import BadMagic, DecodeError
from gearsim.model.jobs import Outbox
from gearsim.model.state import Conn
from gearsim.protocol.codec import Decoder, encode, encode_admin
from gearsim.protocol.node import ConnId, Output, Send
from gearsim.protocol.packets import Magic, Message, Packet

__all__ = ["NO_LIMIT", "frame", "outputs"]

#: gearmand allocates whatever body size a header declares (B-P8)
NO_LIMIT = 2**32


def frame(c: Conn, data: bytes, bad_magic: str) -> tuple[list[Message], str | None]:
    """Decode ``data``: the messages, and what to do after them.

    The second value is None, "close" or "wedge" for a bad magic (B-P2, as
    the profile says), or a close reason when the stream cannot be framed.
    """
    pending = c.pending
    decoder = c.decoder
    base = decoder.offset  # stream offset of pending[0]
    try:
        messages = decoder.feed(data)
    except BadMagic as exc:
        buf = pending + data
        cut = exc.offset - base
        messages = Decoder(max_body=NO_LIMIT).feed(buf[:cut])
        rest = buf[cut:]
        if bad_magic == "ignore":
            # gear does not check the magic: the packet is read as a request
            c.decoder = Decoder(max_body=NO_LIMIT)
            c.pending = b""
            more, after = frame(c, Magic.REQ.value + rest[4:], bad_magic)
            return messages + more, after
        return messages, "wedge" if bad_magic == "stall" else "close"
    except DecodeError as exc:
        return [], f"cannot frame: {exc}"
    # what the decoder still holds: the tail of pending + data
    kept = decoder.buffered
    c.pending = (pending + data if pending else data)[-kept:] if kept else b""
    return messages, None


def outputs(out: Outbox) -> list[Output]:
    """One Send per run of messages to the same connection, in order."""
    if not out:
        return []
    if len(out) == 1:
        conn, message = out[0]
        data = encode(message) if isinstance(message, Packet) else encode_admin(message)
        return [Send(conn.id, data, (message,))]
    # runs of messages to one connection: [conn id, [data...], [message...]]
    runs: list[tuple[ConnId, list[bytes], list[Message]]] = []
    last: ConnId | None = None
    for conn, message in out:
        data = encode(message) if isinstance(message, Packet) else encode_admin(message)
        if conn.id == last:
            runs[-1][1].append(data)
            runs[-1][2].append(message)
        else:
            last = conn.id
            runs.append((last, [data], [message]))
    return [Send(cid, b"".join(datas), tuple(messages)) for cid, datas, messages in runs]
