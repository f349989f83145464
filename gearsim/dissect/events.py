"""What reading a capture yields: its events, the connections they name, and what was seen.

This module owns the values of ``gearsim.dissect.capture``'s reading, so that
the readers of events (jobs, check, roles, annotate, record, serve's log) can
name them without the reader itself: ``Event`` (one thing read, in capture
order), ``EventKind`` (its ``kind`` values), ``ConnInfo`` (who a connection
joins, on its open event) and ``CaptureStats`` (what the reading saw, for the
line that says why nothing was found).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from gearsim.dissect.netparse import READABLE_LINKTYPES, linktype_name
from gearsim.protocol.packets import Message
from gearsim.words import counted

__all__ = ["CaptureStats", "ConnInfo", "Event", "EventKind"]

#: the link types gearsim reads, as a refusal lists them
_READS = "gearsim reads link types " + ", ".join(linktype_name(n) for n in sorted(READABLE_LINKTYPES))


class EventKind:
    """The ``kind`` values of an Event."""

    MESSAGE = "message"
    OPEN = "open"
    #: one direction ended: its FIN was reached in sequence order (``note`` "FIN"), or its end sent RST ("RST")
    FIN = "fin"
    CLOSE = "close"
    #: IP fragments that never made a whole datagram (``conn`` 0: no connection is known)
    UNASSEMBLED = "unassembled"
    #: Problem kinds: gap, lost, skipped, error, truncated, unassembled
    PROBLEMS = frozenset({"gap", "lost", "skipped", "error", "truncated", "unassembled"})


class ConnInfo(NamedTuple):
    """Who a connection joins: the client (or worker) end, the server end, how it was seen."""

    client: str
    server: str
    #: True when the capture joined the connection after its SYN
    midstream: bool


class Event(NamedTuple):
    """One thing read from the capture, in capture order.

    ``direction`` is ``c>s`` (to the Gearman port: from a client or worker),
    ``s>c`` or empty for open and close. ``offset``/``end`` are stream byte
    offsets of that direction (``end`` only for problems). ``frame`` is the
    1-based frame number that completed the event, ``time_ns`` its time.
    """

    time_ns: int
    frame: int
    conn: int
    direction: str
    kind: str
    offset: int
    end: int
    message: Message | None
    note: str
    #: set on ``open`` events only
    info: ConnInfo | None = None


@dataclass(slots=True)
class CaptureStats:
    """What reading a capture found, for the line that says why nothing was shown."""

    frames: int = 0
    #: TCP connections looked at (matched a Gearman port, or examined for Gearman bytes)
    tcp_connections: int = 0
    gearman_connections: int = 0
    #: server endpoints proven Gearman by their bytes (not by port)
    detected_servers: list[str] = field(default_factory=list)
    #: server-side ports of TCP connections that were not Gearman
    other_ports: Counter[int] = field(default_factory=Counter)
    datagrams_reassembled: int = 0
    datagrams_unassembled: int = 0
    #: frames passed over because gearsim does not read their link type, by (pcapng interface, link type)
    unread_links: Counter[tuple[int, int]] = field(default_factory=Counter)

    def unreadable(self) -> str | None:
        """Why no frame could be read, when every frame was of a link type gearsim does not read; else None."""
        if not self.frames or sum(self.unread_links.values()) < self.frames:
            return None
        return f"cannot read {'; '.join(self._unread())}: {_READS}"

    def skipped(self) -> list[str]:
        """One note per interface (and link type) passed over, when other frames could be read."""
        if self.unreadable() is not None:
            return []
        # frames of other link types were read, so the capture is a pcapng with several interfaces: name it
        return [f"note: skipped {what}: {_READS}" for what in self._unread(interfaces=True)]

    def _unread(self, *, interfaces: bool = False) -> list[str]:
        many = interfaces or len(self.unread_links) > 1 or any(iface for iface, _ in self.unread_links)
        return [
            f"{counted(count, 'frame')} of link type {linktype_name(linktype)}"
            + (f" on interface {iface}" if many else "")
            for (iface, linktype), count in sorted(self.unread_links.items())
        ]

    def nothing_found(self, ports: Iterable[int] | None) -> str:
        """The one line telling the user no Gearman traffic was found, and what to try."""
        if ports is not None:
            where = "on port " + ", ".join(str(p) for p in sorted(set(ports)))
            hint = "; without --port, gearsim looks for Gearman on every port"
        else:
            where = "on any port"
            hint = "; if a server is there, name its port with --port N"
        ports_seen = [str(p) for p, _ in self.other_ports.most_common(5)]
        other = f" ({'port' if len(ports_seen) == 1 else 'ports'} {', '.join(ports_seen)})" if ports_seen else ""
        return (
            f"no Gearman traffic found {where}: {counted(self.frames, 'frame')}, "
            f"{counted(self.tcp_connections, 'TCP connection')} looked at{other}, "
            f"none with Gearman packets or admin commands{hint}"
        )
