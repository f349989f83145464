"""The reference model as the search's state machine, with handles mapped (PURE).

This module owns driving ``gearsim.model.Server`` (through its sans-IO
interface: connect, receive, disconnect, next_deadline, advance) with the ops
of a history, and comparing what it sends with what the server sent.

Handles are the server's to choose, so they are never compared as literals:
the first time a model handle and a captured handle stand in the same place
(a JOB_CREATED, a JOB_ASSIGN), they are paired, and from then on each
stands for the other in both directions; a request naming a captured handle
the model never paired (a job created before the capture began, or a handle
a client made up) reaches the model as an alias no model handle can equal,
and the model's echo of it maps back. Everything else (functions, uniques,
workloads, numbers) is compared byte for byte.

Admin text replies are compared loosely (listings hold descriptors and hash
orders that differ between servers): a reply line consumes a captured reply
line, a listing consumes the captured listing through its full stop, and
what differs is kept as a note.

Snapshots pickle the model and copy the pairings: a search that backs out
of an order must also forget the handles it paired on the way.
"""

from __future__ import annotations

import pickle
from collections.abc import Collection, Sequence
from typing import Final

from gearsim.lincheck.history import CONNECT, DISCONNECT, Op, Seen
from gearsim.model import Server, ServerOptions
from gearsim.protocol.codec import encode_many
from gearsim.protocol.node import Close, Output, Send
from gearsim.protocol.packets import SPECS, AdminLine, Message, Packet, PacketType

#: the packets that hand a worker a job (and so its handle)
_ASSIGNS: Final[frozenset[int]] = frozenset(
    int(t) for t in (PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL)
)

__all__ = ["ALIAS", "HANDLE_ARGS", "GearmanMachine", "Out"]

#: what applying an op makes the model do: (connection, message), or (connection, None) for a close
Out = tuple[int, Message | None]

#: packet type -> the positions of its handle arguments
HANDLE_ARGS: Final[dict[int, tuple[int, ...]]] = {
    number: tuple(i for i, name in enumerate(spec.args) if name == "handle")
    for number, spec in SPECS.items()
    if "handle" in spec.args
}
#: (pickled model, tick, pairings made, notes made, captured handle -> model handle)
Snapshot = tuple[bytes, int, int, int, dict[bytes, bytes]]
#: (profile, options) -> a fresh model, pickled (a value cache: the same bytes for the same arguments)
_FRESH: dict[tuple[str, str], bytes] = {}
#: prefix of the model-side stand-in for a captured handle the model never made (no model handle starts so)
ALIAS: Final[bytes] = b"\xffseen:"
_NS_PER_TICK: Final[int] = 1_000_000


class GearmanMachine:
    """One reference server fed a history's ops, and the pairing of its handles with the captured ones."""

    def __init__(
        self,
        profile: str = "gearmand-1.1",
        origin_ns: int = 0,
        options: ServerOptions | None = None,
        *,
        judged: frozenset[int] | None = None,
        silent: Collection[tuple[int, int]] = (),
    ) -> None:
        """Raises KeyError for an unknown profile.

        ``judged``: the packet types compared (others the model sends are
        dropped, and so are closes); None: everything. ``silent``: (conn, op
        index) of ops whose outputs are all dropped.
        """
        self.node = Server(profile, options)
        #: the pickled fresh model, while no op has run (every partition starts from one: pickle it once)
        self._fresh: bytes | None = _FRESH.get((profile, repr(options)))
        if self._fresh is None:
            self._fresh = _FRESH[(profile, repr(options))] = pickle.dumps(self.node, pickle.HIGHEST_PROTOCOL)
        self._fresh_of_profile = self._fresh
        self.judged = judged
        self.silent = frozenset(silent)
        self.origin_ns = origin_ns
        self.now = 0
        #: captured handle -> model handle (or alias), and back
        self.to_model: dict[bytes, bytes] = {}
        self.to_seen: dict[bytes, bytes] = {}
        #: differences in admin replies (for information, not findings)
        self.notes: list[str] = []

    # ------------------------------------------------------------- ops

    def apply(self, op: Op) -> list[Out]:
        """Feed one op to the model at its time; what the model sends or closes in answer (timers first)."""
        self._fresh = None
        node = self.node
        now = (op.time_ns - self.origin_ns) // _NS_PER_TICK
        if now < self.now:
            now = self.now
        self.now = now
        raw: list[Output] = []
        deadline = node.next_deadline()
        while deadline is not None and deadline <= now:
            raw.extend(node.advance(deadline))
            following = node.next_deadline()
            if following is not None and following <= deadline:
                break  # a deadline that does not move on: stop rather than spin
            deadline = following
        kind = op.kind
        if kind == CONNECT:
            raw.extend(node.connect(op.conn, now, op.peer.rsplit(":", 1)[0] if op.peer else "127.0.0.1"))
        elif kind == DISCONNECT:
            raw.extend(node.disconnect(op.conn, now))
        elif (message := op.message) is not None:
            if type(message) is Packet and message.type in HANDLE_ARGS:
                message = self._mapped(message)
            # the decoded message itself when it decodes back to itself (no encode and decode per op)
            taken = node.receive_messages(op.conn, (message,), now)
            if taken is None:
                taken = node.receive(op.conn, encode_many([message]), now)
            raw.extend(taken)
        out: list[Out] = []
        if self.silent and (op.conn, op.index) in self.silent:
            return out
        judged = self.judged
        for item in raw:
            if type(item) is Send:
                conn = item.conn
                if judged is None:
                    for m in item.messages:
                        out.append((conn, m))
                else:
                    for m in item.messages:
                        if type(m) is Packet and m.type in judged:
                            out.append((conn, m))
            elif type(item) is Close and judged is None:
                out.append((item.conn, None))
        return out

    def _mapped(self, message: Message) -> Message:
        """The message to feed the model: captured handles replaced by the model's (or aliases)."""
        if type(message) is Packet:
            where = HANDLE_ARGS.get(message.type)
            if where:
                args = list(message.args)
                for i in where:
                    if i < len(args) and args[i]:
                        args[i] = self.model_handle(args[i])
                message = Packet(message.magic, message.type, tuple(args))
        return message

    def carries(self, message: Message | None) -> bytes | None:
        """The captured job handle a message the model sends hands its receiver (None: none, or not paired yet).

        Only job assignments count: a worker learns a handle from them alone.
        """
        if type(message) is Packet and message.type in _ASSIGNS and message.args:
            return self.to_seen.get(message.args[0])
        return None

    def model_handle(self, seen: bytes) -> bytes:
        """The model's handle for a captured one: its pair, or an alias the model cannot have made."""
        handle = self.to_model.get(seen)
        if handle is None:
            handle = ALIAS + seen
            self.to_model[seen] = handle
            self.to_seen[handle] = seen
        return handle

    # --------------------------------------------------------- matching

    def match(self, message: Message | None, seen: Sequence[Seen], pos: int) -> int:
        """Does model output ``message`` stand for ``seen[pos]``? Returns how many observations it consumes.

        0: it does not (nothing is learned); 1 or more: it does (handles first
        seen here are paired); -1: it stands for nothing the server sent and
        that is not a difference (an admin listing row the captured listing
        lacks, noted).
        """
        got = seen[pos].message
        if message is None or got is None:
            return 1 if message is got else 0
        if type(message) is AdminLine:
            return self._match_admin(message, seen, pos)
        if type(got) is not Packet or type(message) is not Packet:
            return 0
        if message.type != got.type or message.magic != got.magic or len(message.args) != len(got.args):
            return 0
        where = HANDLE_ARGS.get(message.type)
        if not where:
            return 1 if message.args == got.args else 0
        learn: list[tuple[bytes, bytes]] = []
        for i, (want, have) in enumerate(zip(message.args, got.args, strict=True)):
            if i in where:
                paired = self.to_seen.get(want)
                if paired is None:
                    if have in self.to_model or not want or not have:
                        return 0  # the captured handle already stands for another job
                    learn.append((want, have))
                elif paired != have:
                    return 0
            elif want != have:
                return 0
        for want, have in learn:
            self.to_seen[want] = have
            self.to_model[have] = want
        return 1

    def _match_admin(self, line: AdminLine, seen: Sequence[Seen], pos: int) -> int:
        got = seen[pos].message
        if type(got) is not AdminLine:
            return 0
        if line.text == b".":
            end = pos
            while end < len(seen) and isinstance(seen[end].message, AdminLine) and seen[end].message != line:
                end += 1
            if end == len(seen):
                return 0
            if end > pos:
                self.notes.append(f"frame {seen[pos].frame}: {end - pos} admin rows the model does not list")
            return end - pos + 1
        if got.text == b"." and line.text != b".":
            self.notes.append(f"frame {seen[pos].frame}: the model also lists admin row {line.text!r}")
            return -1
        if got != line:
            self.notes.append(f"frame {seen[pos].frame}: admin {got.text!r}, model {line.text!r}")
        return 1

    def substitute(self, message: Message | None, got: Message | None) -> None:
        """Adopt the server's ``got`` in place of the model's ``message``: pair their handles where both are new."""
        if type(message) is not Packet or type(got) is not Packet or message.type != got.type:
            return
        for i in HANDLE_ARGS.get(message.type, ()):
            if i < len(message.args) and i < len(got.args):
                want, have = message.args[i], got.args[i]
                if want and have and want not in self.to_seen and have not in self.to_model:
                    self.to_seen[want] = have
                    self.to_model[have] = want

    # ------------------------------------------------------- snapshots

    def snapshot(self) -> Snapshot:
        """The model's state and the pairings and notes as they stand (a search may pair differently later)."""
        return (
            self._fresh if self._fresh is not None else pickle.dumps(self.node, pickle.HIGHEST_PROTOCOL),
            self.now,
            len(self.to_model),
            len(self.notes),
            dict(self.to_model),
        )

    def restore(self, snap: Snapshot) -> None:
        """Go back to ``snap``: the model, its pairings and its notes as they were."""
        data, self.now, _pairs, notes, to_model = snap
        self.node = pickle.loads(data)
        self._fresh = data if data is self._fresh_of_profile else None
        self.to_model = dict(to_model)
        self.to_seen = {model: seen for seen, model in to_model.items()}
        del self.notes[notes:]

    def fingerprint(self, snap: Snapshot, since: int) -> tuple[object, ...]:
        """A key for ``snap`` that also tells apart the pairings made after the first ``since``."""
        data, now, pairs, _notes, to_model = snap
        made = tuple(list(to_model.items())[since:pairs]) if pairs > since else ()
        return hash(data), now, made

    def describe_handle(self, handle: bytes) -> str:
        """How the model knows a captured handle: 'paired', 'alias' (never created in the capture) or 'new'."""
        model = self.to_model.get(handle)
        if model is None:
            return "new"
        return "alias" if model.startswith(ALIAS) else "paired"
