"""Protocol actions of the differential machine, over small universes.

PURE. An ``Action`` is one thing an actor does to the server: connect,
disconnect, send one binary packet, or send one admin line. Its arguments are
*tokens*, resolved separately for each side of the comparison:

* ``Fn("f1")``: a function name from the universe, prefixed on the wire by the
  example's namespace (so examples can share one real server);
* ``Uq("u1")``: a unique; ``""`` and ``"-"`` are sent as they are (they have
  protocol meaning), the others get the namespace prefix;
* ``Hd(k)``: the k-th job handle this conversation was given by JOB_CREATED, as
  that side spelled it (a handle past the known ones is a fixed unknown one);
* plain ``bytes``: sent as they are.

The universes are small on purpose (fakeredis's habit): two functions, four
uniques, three workloads, four handle slots, so that coalescing, wake-ups and
handle reuse actually happen within twenty steps.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gearsim.protocol.codec import encode
from gearsim.protocol.packets import Packet, PacketType

__all__ = [
    "ADMIN_ACTOR",
    "ADMIN_LISTINGS",
    "CLIENTS",
    "FUNCTIONS",
    "HANDLE_SLOTS",
    "SUBMITS",
    "UNIQUES",
    "WORKERS",
    "WORKLOADS",
    "Action",
    "Fn",
    "Hd",
    "Kind",
    "Names",
    "Token",
    "actor_role",
    "submit_args",
]

CLIENTS: Final[tuple[str, ...]] = ("c1", "c2")
WORKERS: Final[tuple[str, ...]] = ("w1", "w2")
ADMIN_ACTOR: Final[str] = "a1"
#: the worker the end-of-example drain uses
DRAIN_WORKER: Final[str] = "wd"
FUNCTIONS: Final[tuple[str, ...]] = ("f1", "f2")
UNIQUES: Final[tuple[str, ...]] = ("", "-", "u1", "u2")
WORKLOADS: Final[tuple[bytes, ...]] = (b"", b"a", b"b")
HANDLE_SLOTS: Final[int] = 4

#: every submission variant, with the protocol's argument layout handled by submit_args
SUBMITS: Final[tuple[PacketType, ...]] = (
    PacketType.SUBMIT_JOB,
    PacketType.SUBMIT_JOB_BG,
    PacketType.SUBMIT_JOB_HIGH,
    PacketType.SUBMIT_JOB_HIGH_BG,
    PacketType.SUBMIT_JOB_LOW,
    PacketType.SUBMIT_JOB_LOW_BG,
    PacketType.SUBMIT_JOB_EPOCH,
    PacketType.SUBMIT_JOB_SCHED,
    PacketType.SUBMIT_REDUCE_JOB,
    PacketType.SUBMIT_REDUCE_JOB_BACKGROUND,
)
BACKGROUND: Final[frozenset[PacketType]] = frozenset(
    {
        PacketType.SUBMIT_JOB_BG,
        PacketType.SUBMIT_JOB_HIGH_BG,
        PacketType.SUBMIT_JOB_LOW_BG,
        PacketType.SUBMIT_JOB_EPOCH,
        PacketType.SUBMIT_REDUCE_JOB_BACKGROUND,
    }
)
#: admin commands whose reply is a listing ending in "."; their rows may come in any order
ADMIN_LISTINGS: Final[frozenset[str]] = frozenset(
    {"status", "workers", "prioritystatus", "show jobs", "show unique jobs"}
)
#: admin commands that change nothing (a regression vector may leave them out)
ADMIN_READ_ONLY: Final[frozenset[str]] = ADMIN_LISTINGS | {"version"}

#: an epoch long past: the job is runnable at once on every server clock
EPOCH_PAST: Final[bytes] = b"1"


@dataclass(frozen=True, slots=True)
class Fn:
    """A function name from the universe (namespaced on the wire)."""

    name: str


@dataclass(frozen=True, slots=True)
class Uq:
    """A unique from the universe; "" and "-" are literal, others namespaced."""

    name: str


@dataclass(frozen=True, slots=True)
class Hd:
    """The ``index``-th handle the conversation was given (per side)."""

    index: int


Token = bytes | Fn | Uq | Hd


class Kind(enum.Enum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    PACKET = "packet"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Action:
    """One step of a conversation, with side-independent tokens."""

    kind: Kind
    actor: str
    type: PacketType | None = None
    args: tuple[Token, ...] = ()

    @property
    def command(self) -> str:
        """For an admin action: its command words without arguments ('show jobs', 'maxqueue')."""
        if self.kind is not Kind.ADMIN or not self.args:
            return ""
        first = self.args[0]
        word = first.decode("ascii", "replace") if isinstance(first, bytes) else ""
        if word == "show" and len(self.args) > 1 and isinstance(self.args[1], bytes):
            return "show " + " ".join(a.decode("ascii", "replace") for a in self.args[1:] if isinstance(a, bytes))
        return word

    def describe(self) -> str:
        def show(t: Token) -> str:
            if isinstance(t, Fn):
                return t.name
            if isinstance(t, Uq):
                return f"uniq:{t.name!r}"
            if isinstance(t, Hd):
                return f"H#{t.index}"
            if self.kind is Kind.ADMIN:
                return t.decode("ascii", "replace")
            return repr(t)

        if self.kind is Kind.PACKET and self.type is not None:
            return f"{self.actor} {self.type.name} {' '.join(show(a) for a in self.args)}".rstrip()
        if self.kind is Kind.ADMIN:
            return f"{self.actor} admin '{' '.join(show(a) for a in self.args)}'"
        return f"{self.actor} {self.kind.value}"


def actor_role(actor: str) -> str:
    """'client', 'worker' or 'admin', from the actor's name."""
    if actor.startswith("c"):
        return "client"
    if actor.startswith("w"):
        return "worker"
    return "admin"


def submit_args(type_: PacketType, fn: str, unique: str, workload: bytes) -> tuple[Token, ...]:
    """The arguments of a submission of ``type_`` (epoch, schedule and reduce fields included)."""
    if type_ is PacketType.SUBMIT_JOB_EPOCH:
        return (Fn(fn), Uq(unique), EPOCH_PAST, workload)
    if type_ is PacketType.SUBMIT_JOB_SCHED:
        return (Fn(fn), Uq(unique), b"", b"", b"", b"", b"", workload)
    if type_ in (PacketType.SUBMIT_REDUCE_JOB, PacketType.SUBMIT_REDUCE_JOB_BACKGROUND):
        reducer = FUNCTIONS[-1] if fn != FUNCTIONS[-1] else FUNCTIONS[0]
        return (Fn(fn), Uq(unique), Fn(reducer), b"", workload)
    return (Fn(fn), Uq(unique), workload)


#: the unique by which gearmand takes a submission's workload as its unique
_DASH: Final = Uq("-")


class Names:
    """Resolves tokens to one side's bytes: the namespace and that side's handles."""

    def __init__(self, namespace: bytes) -> None:
        self.namespace = namespace

    def function(self, name: str) -> bytes:
        return self.namespace + name.encode("ascii")

    def unique(self, name: str) -> bytes:
        return name.encode("ascii") if name in ("", "-") else self.namespace + name.encode("ascii")

    def client_id(self, actor: str) -> bytes:
        return self.namespace + actor.encode("ascii")

    @staticmethod
    def unknown_handle(index: int) -> bytes:
        return b"H:gearsim-none:%d" % index

    def token(self, token: Token, handles: Sequence[bytes]) -> bytes:
        if isinstance(token, Fn):
            return self.function(token.name)
        if isinstance(token, Uq):
            return self.unique(token.name)
        if isinstance(token, Hd):
            return handles[token.index] if token.index < len(handles) else self.unknown_handle(token.index)
        return token

    def wire(self, action: Action, handles: Sequence[bytes]) -> bytes:
        """The bytes ``action`` sends (b"" for connect and disconnect).

        The workload of a submission with the unique ``-`` is namespaced too:
        gearmand takes it as the job's unique, and an example's names alone
        kept it apart from other examples' jobs only while the server kept its
        functions apart. After an example's ``drop function`` of a function
        with jobs (gearmand 1.1 keeps them, pointing at the freed function),
        seed 0's example 192 was given example 150's job for workload ``b``
        and reported a divergence its own conversation does not show. An empty
        workload stays empty: it makes no unique to share.
        """
        args = tuple(self.token(t, handles) for t in action.args)
        if action.kind is Kind.PACKET and action.type is not None:
            if _DASH in action.args and action.type.name.startswith("SUBMIT_") and args[-1]:
                args = (*args[:-1], self.namespace + args[-1])
            return encode(Packet.req(action.type, *args))
        if action.kind is Kind.ADMIN:
            return b" ".join(args) + b"\n"
        return b""
