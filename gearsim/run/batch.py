"""What a run over many cases needs to know about each case before it plays it (PURE).

This module owns the case analysis that decides how a batch of cases may share
servers: which cases leave a server as they found it (:func:`is_stateless`,
so a managed server may be reused after them), which cannot run on a real
server at all (:func:`real_server_skip`), and the most wall-clock time one play of a case can take over TCP
(:func:`case_wall_bound`). It also turns a selection into the ``(file,
case)`` pairs a batch plays (:func:`selected_cases`).

The processes and threads that play a batch live in ``gearsim.io.managed``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Protocol

from gearsim.errors import DecodeError, HarnessError
from gearsim.protocol.codec import decode_all
from gearsim.protocol.packets import AdminLine, Magic, Message, PacketType
from gearsim.run.expectations import DEFAULT_WITHIN, SETTLE
from gearsim.run.peer import ServerPeer
from gearsim.vectors.parse import Case, VectorFile

__all__ = [
    "CLOSE_WAIT",
    "CONNECT_TIMEOUT",
    "MODEL_ONLY_OPTIONS",
    "REAL_SERVER_AREAS",
    "REAL_SERVER_SKIP_FLAGS",
    "RESTART_BOUND",
    "SEND_STALL",
    "CaseRef",
    "ClosingFactory",
    "UnsupportedOption",
    "case_wall_bound",
    "excluded",
    "is_stateless",
    "real_server_skip",
    "selected_cases",
]

#: how long a send may stall on a server that stops reading before it is a harness error, seconds
SEND_STALL: Final[float] = 5.0
#: how long a restart_server step may take over TCP (stop, start, readiness), seconds
RESTART_BOUND: Final[float] = 20.0
#: how long a TCP connect to a server under test may take, seconds
CONNECT_TIMEOUT: Final[float] = 3.0
#: how long a disconnect (or the end of a case) waits for the server to close its end, seconds;
#: a server that does not close gets one such wait per case (gearsim.io.tcp)
CLOSE_WAIT: Final[float] = 2.0

#: the vector areas a real server is run on: all of them; a program case (client/) judges a
#: client program and is n/a for a server, the other client/ cases judge the server
REAL_SERVER_AREAS: Final[tuple[str, ...]] = ("codec", "server", "worker", "admin", "client", "regressions")

#: one case of one vector file, as a batch plays it
CaseRef = tuple[VectorFile, Case]


class ClosingFactory(Protocol):
    """A PeerFactory that holds servers or sockets until it is closed."""

    def __call__(self, case: Case) -> ServerPeer: ...

    def close(self) -> None: ...


def excluded(file: str, case: str, globs: Sequence[str]) -> bool:
    """Whether ``--exclude`` globs drop case ``case`` of file ``file``.

    A glob matches the case's id ``FILE::CASE`` or the file's name, with or
    without ``.yaml``: ``admin/*``, ``*::status-counts``, ``codec/framing.yaml``.
    """
    names = (f"{file}::{case}", file, file.removesuffix(".yaml"))
    return any(fnmatch.fnmatchcase(n, g) for g in globs for n in names)


def selected_cases(files: Iterable[VectorFile], chosen: Callable[[VectorFile], list[str]]) -> list[CaseRef]:
    """(file, case) pairs for a selection, in file order (``chosen`` is ``Selection.chosen``)."""
    refs: list[CaseRef] = []
    for vf in files:
        refs.extend((vf, vf.case(cid)) for cid in chosen(vf))
    return refs


# --------------------------------------------------------------------------- server options

#: options of the reference model that no real server has (option -> what it is)
MODEL_ONLY_OPTIONS: Mapping[str, str] = {
    "epoch0": "the model's virtual clock (Unix time at tick 0)",
    "node": "the model's node name in handles",
    "version": "the model's admin version reply",
    "pid": "the model's admin getpid reply",
    "verbose": "the model's admin verbose reply",
}
#: vector flags that keep a case off real servers (flag -> why): such cases are n/a there
REAL_SERVER_SKIP_FLAGS: Mapping[str, str] = {
    "VirtualClock": "needs the model's virtual clock (options.epoch0); a real server's clock cannot be set",
}


class UnsupportedOption(HarnessError):
    """A case needs a server start-up option that the server at hand cannot be given.

    How each server spells each option is its description's (gearsim.io.serverdesc).
    """


def real_server_skip(case: Case) -> str | None:
    """Why ``case`` cannot run against a real server (a flag in REAL_SERVER_SKIP_FLAGS), or None. Never raises."""
    for flag in case.flags:
        if flag in REAL_SERVER_SKIP_FLAGS:
            return f"{flag}: {REAL_SERVER_SKIP_FLAGS[flag]}"
    return None


# --------------------------------------------------------------------------- statelessness

#: requests that change nothing a later connection can see (abilities, jobs, functions)
_STATELESS_TYPES: frozenset[int] = frozenset(
    int(t)
    for t in (
        PacketType.ECHO_REQ,
        PacketType.GET_STATUS,
        PacketType.GET_STATUS_UNIQUE,
        PacketType.OPTION_REQ,
        PacketType.SET_CLIENT_ID,
        PacketType.PRE_SLEEP,
        PacketType.GRAB_JOB,
        PacketType.GRAB_JOB_UNIQ,
        PacketType.GRAB_JOB_ALL,
    )
)
#: admin commands (first word, lower case) that only report
_STATELESS_ADMIN: frozenset[bytes] = frozenset(
    {b"status", b"workers", b"version", b"getpid", b"verbose", b"show", b"prioritystatus"}
)


def _message_is_stateless(message: Message) -> bool:
    if isinstance(message, AdminLine):
        words = message.text.split()
        return bool(words) and words[0].lower() in _STATELESS_ADMIN
    return message.magic == Magic.REQ and int(message.type) in _STATELESS_TYPES


def _bytes_are_stateless(data: bytes) -> bool:
    try:
        messages = decode_all(data)
    except DecodeError:
        return False  # a server that cannot frame it may do anything with it
    return all(_message_is_stateless(m) for m in messages)


def is_stateless(case: Case) -> bool:
    """Whether playing ``case`` leaves a server as it found it, as far as other connections can see.

    True when everything the case sends decodes to requests with ``\\0REQ``
    magic that only read or only touch their own connection (ECHO_REQ,
    GET_STATUS, GET_STATUS_UNIQUE, OPTION_REQ, SET_CLIENT_ID, PRE_SLEEP, the
    GRAB_JOB family) or to admin commands that only report (``status``,
    ``workers``, ``version``, ``getpid``, ``verbose``, ``show ...``,
    ``prioritystatus``), and the case sets no server options. Anything else
    (a submission, an ability, ``maxqueue``, ``shutdown``, bytes that do not
    decode, an unknown type) counts as leaving state. Never raises.
    """
    if case.options or any(step.action == "restart_server" for step in case.steps):
        return False  # a restarted server is another process, holding whatever the case left
    if case.wire is not None:
        return _bytes_are_stateless(case.wire)
    for step in case.steps:
        if step.action != "send":
            continue
        if step.packet is not None:
            magic = step.packet.magic if step.packet.magic is not None else Magic.REQ
            if magic != Magic.REQ or int(step.packet.type) not in _STATELESS_TYPES or step.packet.length is not None:
                return False
        elif step.admin is not None:
            # a line with parts (a captured handle) names a job: "cancel job H" changes state
            if not all(
                isinstance(line, bytes) and _message_is_stateless(AdminLine(line, step.admin.eol))
                for line in step.admin.lines
            ):
                return False
        elif step.wire is not None and not _bytes_are_stateless(step.wire):
            return False
    return True


# --------------------------------------------------------------------------- time bounds


def case_wall_bound(
    case: Case, *, quick: int = 150, within_floor: int = 2000, connect_timeout: float = CONNECT_TIMEOUT
) -> float:
    """The most wall-clock seconds one play of ``case`` can take over TCP, whatever the server does.

    Sums what a TCP peer may wait per step: an expect its ``within`` (at least
    ``within_floor``), an advance or silence its shortened span (the full span
    for a ``timed`` case), a connect ``connect_timeout``, a send the
    :data:`SEND_STALL` write-stall limit, plus the end-of-case settle, and once
    per play the waits a TCP peer gives up after one miss: a cross-connection
    sync (``within_floor``, at least 1 s) and a disconnect's :data:`CLOSE_WAIT`.
    A codec case's server reaction is counted once per outcome it may be
    checked against. Never raises.
    """

    def within(ms: int | None) -> int:
        return max(ms if ms is not None else DEFAULT_WITHIN, within_floor)

    def short(ms: int) -> int:
        return ms if case.timed else min(ms, quick)

    if case.is_codec:
        if case.server is None:
            return 0.0
        replies = len(case.server.replies) + max((len(r.replies) for r in case.server_accept), default=0)
        one = connect_timeout + SEND_STALL + (replies + 1) * within(None) / 1000 + (short(200) + SETTLE) / 1000
        return one * (1 + len(case.server_accept))
    total_ms = SETTLE
    seconds = max(within_floor / 1000, 1.0) + CLOSE_WAIT
    for step in case.steps:
        if step.action == "connect":
            seconds += connect_timeout
        elif step.action == "send":
            seconds += SEND_STALL
        elif step.action == "restart_server":
            seconds += RESTART_BOUND
        elif step.action in ("advance", "expect_silence"):
            total_ms += short(step.ms)
        elif step.action.startswith("expect"):
            total_ms += within(step.within)
    return seconds + total_ms / 1000
