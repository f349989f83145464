"""The normaliser: what the model and a real server said, in a form that compares.

PURE. Only what a profile leaves free is normalised away, nothing else:

* **handle spelling**: every job handle a side hands out in JOB_CREATED becomes
  ``Hd(k)``, k counting in order of first appearance on that side; the same
  handle anywhere later (JOB_ASSIGN*, WORK_*, STATUS_RES, 'show jobs' rows) is
  written ``Hd(k)`` too. Handles a side never handed out stay raw bytes.
* **admin listing order**: rows of status, prioritystatus, workers, show jobs
  and show unique jobs are sorted (gearmand prints them in hash or I/O-thread
  order); the closing '.' stays last.
* **other tenants of a shared server**: listing rows are kept only when they
  belong to this example (its namespaced functions, uniques and client ids,
  or handles it was given), on both sides alike.
* **the fd column of 'workers'**, which is the server's own descriptor number.
* **ERROR code words and texts**, only when asked (``error_labels``: under the
  ``spec`` profile, where GM-ERROR-003 makes them labels a server chooses):
  each argument of an ERROR becomes ``*``; that an ERROR came, and how many
  arguments it has, must still be equal.

Everything else (magic, type, every other argument byte, ends of line, the
order of packets on one connection, a close) must be equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gearsim.fuzz.actions import ADMIN_LISTINGS, Hd
from gearsim.protocol.packets import AdminLine, Message, Packet, PacketType

__all__ = ["ERROR_LABEL", "CAdmin", "CPacket", "HandleBook", "View", "normalise"]

#: argument positions that hold a job handle, by packet type (responses)
_HANDLE_ARG: dict[int, int] = {
    PacketType.JOB_CREATED: 0,
    PacketType.JOB_ASSIGN: 0,
    PacketType.JOB_ASSIGN_UNIQ: 0,
    PacketType.JOB_ASSIGN_ALL: 0,
    PacketType.WORK_STATUS: 0,
    PacketType.WORK_COMPLETE: 0,
    PacketType.WORK_FAIL: 0,
    PacketType.WORK_EXCEPTION: 0,
    PacketType.WORK_DATA: 0,
    PacketType.WORK_WARNING: 0,
    PacketType.STATUS_RES: 0,
}


@dataclass(frozen=True, slots=True)
class CPacket:
    """A received packet with handles replaced by ``Hd``."""

    magic: bytes
    type: int
    args: tuple[bytes | Hd, ...]

    def describe(self) -> str:
        name = PacketType(self.type).name if self.type in PacketType._value2member_map_ else f"TYPE{self.type}"
        shown = " ".join(f"H#{a.index}" if isinstance(a, Hd) else repr(a) for a in self.args)
        magic = "" if self.magic == b"\0RES" else f" magic={self.magic!r}"
        return f"{name}{magic} {shown}".rstrip()


@dataclass(frozen=True, slots=True)
class CAdmin:
    """The admin text one step got back: lines (normalised) and their ends of line."""

    lines: tuple[bytes, ...]
    eols: tuple[bytes, ...]
    listing: bool

    def describe(self) -> str:
        return " | ".join(line.decode("latin-1") for line in self.lines)


Canon = CPacket | CAdmin


@dataclass(frozen=True, slots=True)
class View:
    """What one connection saw during one step, normalised."""

    messages: tuple[Canon, ...] = ()
    closed: bool = False
    #: the barrier's echo never came back (the connection stalled)
    stalled: bool = False

    def describe(self) -> str:
        parts = [m.describe() for m in self.messages]
        if self.closed:
            parts.append("<closed>")
        if self.stalled:
            parts.append("<no reply to the barrier echo>")
        return "; ".join(parts) if parts else "<nothing>"


@dataclass
class HandleBook:
    """One side's handles, in order of first JOB_CREATED."""

    handles: list[bytes] = field(default_factory=list)
    index: dict[bytes, int] = field(default_factory=dict)

    def learn(self, handle: bytes) -> int:
        k = self.index.get(handle)
        if k is None:
            k = len(self.handles)
            self.handles.append(handle)
            self.index[handle] = k
        return k

    def canon(self, value: bytes) -> bytes | Hd:
        k = self.index.get(value)
        return value if k is None else Hd(k)


#: what an ERROR argument becomes when code words and texts are labels
ERROR_LABEL = b"*"


def _packet(p: Packet, book: HandleBook, error_labels: bool = False) -> CPacket:
    if error_labels and int(p.type) == PacketType.ERROR:
        return CPacket(bytes(p.magic), int(p.type), tuple(ERROR_LABEL for _ in p.args))
    args: list[bytes | Hd] = list(p.args)
    pos = _HANDLE_ARG.get(int(p.type))
    if pos is not None and pos < len(args):
        raw = p.args[pos]
        if int(p.type) == PacketType.JOB_CREATED:
            book.learn(raw)
        args[pos] = book.canon(raw)
    return CPacket(bytes(p.magic), int(p.type), tuple(args))


def _keep_row(command: str, row: bytes, namespace: bytes, book: HandleBook) -> bytes | None:
    """The normalised row, or None when it belongs to someone else."""
    if command in ("status", "prioritystatus", "show unique jobs"):
        return row if row.startswith(namespace) else None
    if command == "workers":
        words = row.split(b" ")
        if len(words) < 4 or not words[2].startswith(namespace):
            return None
        return b" ".join([b"*", *words[1:]])
    if command == "show jobs":
        handle, sep, rest = row.partition(b"\t")
        k = book.index.get(handle)
        return None if k is None else b"H#%d" % k + sep + rest
    return row


def _admin(lines: Sequence[AdminLine], command: str, namespace: bytes, book: HandleBook) -> CAdmin:
    texts = [line.text for line in lines]
    eols = [line.eol for line in lines]
    if command not in ADMIN_LISTINGS:
        return CAdmin(tuple(texts), tuple(eols), False)
    rows: list[tuple[bytes, bytes]] = []
    tail: list[tuple[bytes, bytes]] = []
    for text, eol in zip(texts, eols, strict=True):
        if text == b"." or tail:
            tail.append((text, eol))
            continue
        kept = _keep_row(command, text, namespace, book)
        if kept is not None:
            rows.append((kept, eol))
    rows.sort()
    both = rows + tail
    return CAdmin(tuple(t for t, _ in both), tuple(e for _, e in both), True)


def normalise(
    messages: Iterable[Message],
    *,
    book: HandleBook,
    namespace: bytes,
    command: str = "",
    closed: bool = False,
    stalled: bool = False,
    error_labels: bool = False,
) -> View:
    """One connection's messages of one step as a View; ``book`` learns new handles.

    ``command`` is the admin command of the step when this connection sent it:
    the admin lines it got back are that command's reply. ``error_labels``:
    ERROR code words and texts compare equal whatever they say (GM-ERROR-003).
    """
    out: list[Canon] = []
    pending: list[AdminLine] = []
    for m in messages:
        if isinstance(m, Packet):
            if pending:
                out.append(_admin(pending, command, namespace, book))
                pending = []
            out.append(_packet(m, book, error_labels))
        else:
            pending.append(m)
    if pending:
        out.append(_admin(pending, command, namespace, book))
    return View(tuple(out), closed, stalled)
