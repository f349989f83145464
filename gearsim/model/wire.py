"""The reference server's wire side: framing what a connection sends, encoding what it gets.

PURE. ``decoder_for`` makes a connection's ``Decoder`` as the profile and the
options say (the body limit, the type range checked on the header, gear's
unchecked magic); ``frame`` decodes a connection's bytes with it and says what
a framing fault means (a bad magic closes or wedges, B-P2; a type out of
range closes, B-P3); ``outputs`` turns the queued (connection, message) pairs
into ``Send`` values, one per run of messages to the same connection;
``reply_lines`` cuts an admin reply into its text lines.

Faults are found on the header, before its body arrives, as gearmand finds
them, and buffering is the decoder's: linear in the bytes received.
"""

from __future__ import annotations

from gearsim.errors import BadMagic, UnknownType
from gearsim.model.jobs import Outbox
from gearsim.model.options import ServerOptions
from gearsim.model.profiles import Profile
from gearsim.model.state import Conn
from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import ConnId, Output, Send
from gearsim.protocol.packets import SPECS, AdminLine, Magic, Message, PacketType

__all__ = ["WIRE_TYPES", "decoder_for", "frame", "outputs", "reply_lines"]

#: the type numbers gearmand reads; 0 and 43 and above close on the header (B-P3)
WIRE_TYPES: frozenset[int] = frozenset(n for n in SPECS if n != PacketType.TEXT)


def decoder_for(profile: Profile, options: ServerOptions) -> Decoder:
    """A new connection's decoder: ``options.max_body``, and the header checks ``profile`` makes."""
    return Decoder(
        max_body=options.max_body,
        types=WIRE_TYPES if profile.unknown_type == "close" else None,
        # gear does not check the magic: the packet is read as a request
        unknown_magic=Magic.REQ if profile.bad_magic == "ignore" else None,
    )


def frame(c: Conn, data: bytes, bad_magic: str) -> tuple[list[Message], str | None]:
    """Decode ``data``: the messages, and what to do after them.

    The second value is None, "close" or "wedge" for a bad magic (B-P2, as
    the profile says), or a close reason when the stream cannot be framed.
    """
    messages, error = c.decoder.feed_until_error(data)
    if error is None:
        return messages, None
    if isinstance(error, BadMagic):
        return messages, "wedge" if bad_magic == "stall" else "close"
    if isinstance(error, UnknownType):
        return messages, f"packet type {error.number} out of range (B-P3)"
    return messages, f"cannot frame: {error}"


def reply_lines(reply: bytes) -> list[AdminLine]:
    """An admin reply's bytes as the lines a reader cuts at each LF (a CR before it is part of the end).

    Never through a ``Decoder``: the reply is text the server writes, and a
    function name can look like a packet header (NUL first) or be longer than
    an admin line may be. A last line without LF keeps an empty ``eol``.
    """
    lines: list[AdminLine] = []
    pos = 0
    while pos < len(reply):
        nl = reply.find(b"\n", pos)
        if nl < 0:
            lines.append(AdminLine(reply[pos:], b"", pos))
            break
        if nl > pos and reply[nl - 1] == 13:
            lines.append(AdminLine(reply[pos : nl - 1], b"\r\n", pos))
        else:
            lines.append(AdminLine(reply[pos:nl], b"\n", pos))
        pos = nl + 1
    return lines


def outputs(out: Outbox) -> list[Output]:
    """One Send per run of messages to the same connection, in order (bytes encoded when first read)."""
    if not out:
        return []
    if len(out) == 1:
        conn, message = out[0]
        return [Send.of(conn.id, (message,))]
    # runs of messages to one connection: (conn id, [message...])
    runs: list[tuple[ConnId, list[Message]]] = []
    last: ConnId | None = None
    for conn, message in out:
        if conn.id == last:
            runs[-1][1].append(message)
        else:
            last = conn.id
            runs.append((last, [message]))
    return [Send.of(cid, tuple(messages)) for cid, messages in runs]
