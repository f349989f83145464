"""Real servers under test, one fresh server per case (I/O).

``gearsim run --server HOST:PORT`` replays every case against one long-lived
server, so whatever a case leaves behind (a queued job, a registered function,
the server-wide handle counter, a ``maxqueue`` setting, or the whole server
after the admin ``shutdown`` case) changes what later cases see. This module
removes that leak for servers gearsim starts itself ("managed" servers):

* :class:`ManagedPeerFactory` is a ``PeerFactory`` that starts a peer from
  :mod:`gearsim.io.peers` for a case, with the case's ``options`` turned into
  command-line options (``--job-retries=N``, ``--worker-wakeup=N``,
  ``--exceptions``). It reuses the running peer for the next case only when
  that is safe: same options, the process still alive, and every case played
  on it since its start was *stateless* (:func:`is_stateless`: it sent only
  requests that change nothing beyond their own connection). Otherwise it
  stops the peer by its recorded PID and starts a fresh one.
* :class:`UserServerFactory` is the factory for a user-given ``--server``:
  it runs every case on that server as is, says in ``describe`` that leftover
  state can affect later cases, and turns a case whose ``options`` it cannot
  apply into an INCONCLUSIVE verdict ("needs server option --job-retries=2").
* :class:`GuardedTcpPeer` is the TCP peer both use. It bounds what a hostile
  server can make gearsim hold (messages and bytes per connection) and says
  when a server closed a connection in the middle of a message.
* :func:`run_cases` plays a list of cases on several managed servers at once
  (one factory per thread; every case still gets its own server) and returns
  the results in input order.

Measured with tools/bench/suite.py --policies on C gearmand and the 261
server-judging cases (codec, server, worker, admin) bundled at the time:

* one shared server, in order: 53 s, and 11 verdicts differ from fresh
  servers (9 FAIL from leftover functions and jobs in ``status``/``show
  unique jobs`` listings and from a dropped function; the 2 option cases
  cannot be applied). On a shared Perl server the admin ``shutdown`` case
  stops the server and every later case is INCONCLUSIVE;
* fresh server per case, one at a time: 68 s, 235 starts;
* reuse after stateless cases, one at a time: 68 s, 193 starts; the same
  verdicts as fresh (apart from gearmand's timing-dependent pass/acceptable
  flips on the 64-byte handle/unique cases, which both policies show);
* 8 at once: 14 s fresh, 10 s with reuse. Reuse is the default: it is as
  correct as fresh and saves a start per stateless case.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from gearsim.errors import DecodeError, HarnessError
from gearsim.io.peers import PEERS, RunningPeer, start_peer, stop_peer
from gearsim.io.tcp import TcpPeer, TcpPeerFactory
from gearsim.protocol.codec import decode_all
from gearsim.protocol.packets import AdminLine, Magic, Message, PacketType
from gearsim.run.runner import DEFAULT_WITHIN, SETTLE, CaseResult, ServerPeer, Verdict, run_case
from gearsim.vectors.parse import Case, VectorFile

__all__ = [
    "MODEL_ONLY_OPTIONS",
    "REAL_SERVER_SKIP_FLAGS",
    "GuardedTcpPeer",
    "ManagedPeerFactory",
    "UnsupportedOption",
    "UserServerFactory",
    "case_wall_bound",
    "is_stateless",
    "option_flags",
    "real_server_skip",
    "run_cases",
    "selected_cases",
    "server_args",
]

#: how long a send may stall on a server that stops reading (TcpPeer's fixed value), seconds
SEND_STALL = 5.0

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

#: vector option -> (gearmand-c command-line flag, takes a value)
_GEARMAND_FLAGS: Mapping[str, tuple[str, bool]] = {
    "job_retries": ("--job-retries", True),
    "worker_wakeup": ("--worker-wakeup", True),
    "exceptions": ("--exceptions", False),
}
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
    """A case needs a server start-up option that the server at hand cannot be given."""


def option_flags(options: Mapping[str, int | bool]) -> tuple[str, ...]:
    """The gearmand command-line options for a case's ``options``, in a stable order.

    ``{job_retries: 2}`` gives ``("--job-retries=2",)``; a false boolean option
    and a zero count give nothing, as they are gearmand's defaults.

    Raises:
        UnsupportedOption: an option gearsim does not know how to pass.
    """
    flags: list[str] = []
    for key in sorted(options):
        value = options[key]
        if key in MODEL_ONLY_OPTIONS:
            raise UnsupportedOption(f"option {key} is {MODEL_ONLY_OPTIONS[key]}; a real server cannot be given it")
        try:
            flag, valued = _GEARMAND_FLAGS[key]
        except KeyError:
            raise UnsupportedOption(f"unknown server option {key!r}") from None
        if valued:
            if isinstance(value, bool) or int(value) != value:
                raise UnsupportedOption(f"server option {key!r} needs a whole number, not {value!r}")
            if value:
                flags.append(f"{flag}={value}")
        elif value:
            flags.append(flag)
    return tuple(flags)


def server_args(peer: str, options: Mapping[str, int | bool]) -> tuple[str, ...]:
    """Command-line arguments that give peer ``peer`` a case's ``options``.

    Only C gearmand has such options; the Perl server and gear accept a case
    without options only.

    Raises:
        ValueError: ``peer`` is not a known peer.
        UnsupportedOption: the peer cannot be started with these options.
    """
    if peer not in PEERS:
        raise ValueError(f"unknown peer {peer!r}; known peers: {', '.join(sorted(PEERS))}")
    flags = option_flags(options)
    if flags and peer != "gearmand-c":
        raise UnsupportedOption(f"{peer} has no start-up option for {' '.join(flags)}")
    return flags


# --------------------------------------------------------------------------- statelessness


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
    if case.options:
        return False
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


def real_server_skip(case: Case) -> str | None:
    """Why ``case`` cannot run against a real server (a flag in REAL_SERVER_SKIP_FLAGS), or None. Never raises."""
    for flag in case.flags:
        if flag in REAL_SERVER_SKIP_FLAGS:
            return f"{flag}: {REAL_SERVER_SKIP_FLAGS[flag]}"
    return None


def case_wall_bound(case: Case, *, quick: int = 150, within_floor: int = 2000, connect_timeout: float = 3.0) -> float:
    """The most wall-clock seconds one play of ``case`` can take over TCP, whatever the server does.

    Sums what :class:`TcpPeer` may wait per step: an expect its ``within``
    (at least ``within_floor``), an advance or silence its shortened span (the
    full span for a ``timed`` case), a connect ``connect_timeout``, a send the
    5 s write-stall limit, plus the end-of-case settle. A codec case's server
    reaction is counted once per outcome it may be checked against. Never raises.
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
    seconds = 0.0
    for step in case.steps:
        if step.action == "connect":
            seconds += connect_timeout
        elif step.action == "send":
            seconds += SEND_STALL
        elif step.action in ("advance", "expect_silence"):
            total_ms += short(step.ms)
        elif step.action.startswith("expect"):
            total_ms += within(step.within)
    return seconds + total_ms / 1000


# --------------------------------------------------------------------------- the guarded TCP peer


#: the TCP peer both factories use: gearsim.io.tcp.TcpPeer bounds what a hostile
#: server can make it hold (messages and bytes per connection, body size)
GuardedTcpPeer = TcpPeer



# --------------------------------------------------------------------------- factories


class UserServerFactory(TcpPeerFactory):
    """The PeerFactory for a user-given ``--server HOST:PORT``: every case on that one server.

    gearsim cannot restart such a server, so state a case leaves behind can
    change later cases (``describe`` says so), and a case whose ``options``
    need a start-up option raises :class:`UnsupportedOption` from ``__call__``,
    which the runner turns into an INCONCLUSIVE verdict with the reason
    "needs server option --job-retries=2".
    """

    def __call__(self, case: object) -> GuardedTcpPeer:
        """A peer for ``case`` on the user's server.

        Raises:
            UnsupportedOption: the case needs a server start-up option.
        """
        options = getattr(case, "options", None)
        if options:
            self.close()
            raise UnsupportedOption(f"needs server option {' '.join(option_flags(options))}")
        return super().__call__(case)

    def describe(self) -> str:
        """How vector time maps to wall time, and the caveat about leftover state."""
        return (
            f"{super().describe()}; one long-lived server: state left by a case (queued jobs, registered "
            "functions, the handle counter, maxqueue settings, a shutdown) can affect later cases, and cases "
            "that need server start-up options are inconclusive"
        )


class ManagedPeerFactory:
    """A PeerFactory that starts peer ``name`` itself, fresh for each case unless reuse is safe.

    Args:
        name: a key of :data:`gearsim.io.peers.PEERS`.
        rundir: run directory for the peer's PID file and logs (created).
        reuse: keep a running peer for the next case when every case played on
            it so far was stateless and the options are the same; False starts
            a fresh peer for every case (and every codec reaction alternative).
        quick, within_floor: as for :class:`TcpPeer`.
        start_timeout: seconds a peer may take to listen.

    ``starts`` and ``reuses`` count what happened, for measurements.
    Call :meth:`close` at the end: it stops the last peer by its PID.
    """

    def __init__(
        self,
        name: str,
        rundir: Path,
        *,
        reuse: bool = True,
        quick: int = 150,
        within_floor: int = 2000,
        start_timeout: float = 10.0,
    ) -> None:
        if name not in PEERS:
            raise ValueError(f"unknown peer {name!r}; known peers: {', '.join(sorted(PEERS))}")
        self.name = name
        self.rundir = Path(rundir)
        self.reuse = reuse
        self.quick = quick
        self.within_floor = within_floor
        self.start_timeout = start_timeout
        self.starts = 0
        self.reuses = 0
        self._running: RunningPeer | None = None
        self._args: tuple[str, ...] = ()
        self._clean = False
        self._last: GuardedTcpPeer | None = None

    def _alive(self) -> bool:
        peer = self._running
        return peer is not None and (peer.process is None or peer.process.poll() is None)

    def __call__(self, case: Case) -> GuardedTcpPeer:
        """A peer for ``case``: the running server if reuse is safe, else a fresh one.

        Raises:
            UnsupportedOption: the peer cannot be started with the case's options.
            PeerError: the peer cannot be started or stopped (a HarnessError).
        """
        self._close_sockets()
        args = server_args(self.name, case.options)
        if self.reuse and self._clean and self._args == args and self._alive():
            self.reuses += 1
        else:
            self._stop()
            self._running = start_peer(self.name, self.rundir, args, timeout=self.start_timeout)
            self._args = args
            self.starts += 1
        self._clean = self.reuse and is_stateless(case)
        assert self._running is not None  # started just above
        self._last = GuardedTcpPeer(
            self._running.host,
            self._running.port,
            timed=case.timed,
            quick=self.quick,
            within_floor=self.within_floor,
        )
        return self._last

    @property
    def running(self) -> RunningPeer | None:
        """The peer started for the last case, if it is still running."""
        return self._running if self._alive() else None

    def _close_sockets(self) -> None:
        if self._last is not None:
            self._last.close_all()
            self._last = None

    def _stop(self) -> None:
        peer, self._running = self._running, None
        self._clean = False
        if peer is not None:
            stop_peer(peer)

    def close(self) -> None:
        """Close the last case's sockets and stop the running peer by its PID.

        Raises:
            PeerError: the peer could not be stopped.
        """
        self._close_sockets()
        self._stop()

    def describe(self) -> str:
        """What the factory does, for reports."""
        policy = "reused only after stateless cases with the same options" if self.reuse else "fresh for every case"
        timing = TcpPeerFactory("", 0, quick=self.quick, within_floor=self.within_floor).describe()
        return f"{self.name} started by gearsim on 127.0.0.1, {policy}, with each case's options; {timing}"


# --------------------------------------------------------------------------- running many cases

CaseRef = tuple[VectorFile, Case]


class ClosingFactory(Protocol):
    """A PeerFactory that holds servers or sockets until it is closed."""

    def __call__(self, case: Case) -> ServerPeer: ...

    def close(self) -> None: ...


def run_cases(
    cases: Sequence[CaseRef],
    make_factory: Callable[[int], ClosingFactory],
    profile: str,
    *,
    jobs: int = 4,
    progress: Callable[[CaseResult], None] | None = None,
    skip_virtual: bool = True,
) -> list[CaseResult]:
    """Play ``cases`` on ``jobs`` factories at once; results in the order of ``cases``.

    ``make_factory(i)`` builds the i-th factory (give each its own run
    directory); each is used by one thread at a time and closed at the end.
    With managed factories every case still gets a server no other case
    touches. ``jobs=1`` runs in this thread, in order. With ``skip_virtual``
    a case flagged for the model only (:func:`real_server_skip`) is n/a, with
    the flag as its reason, and no server is touched for it.

    Raises:
        PeerError: a peer could not be stopped at the end (the results are lost;
            peers that cannot be started become INCONCLUSIVE verdicts instead).
    """
    jobs = max(1, min(jobs, len(cases) or 1))
    factories = [make_factory(i) for i in range(jobs)]
    pool: queue.SimpleQueue[ClosingFactory] = queue.SimpleQueue()
    for f in factories:
        pool.put(f)
    lock = threading.Lock()

    def one(ref: CaseRef) -> CaseResult:
        vf, case = ref
        skip = real_server_skip(case) if skip_virtual else None
        if skip is not None and case.applies_to(profile):
            result = CaseResult(vf.name, case.id, vf.area, Verdict.NOT_APPLICABLE, case.requirements, reason=skip)
            if progress is not None:
                with lock:
                    progress(result)
            return result
        factory = pool.get()
        try:
            result = run_case(ref[0], ref[1], factory, profile)
        finally:
            pool.put(factory)
        if progress is not None:
            with lock:
                progress(result)
        return result

    try:
        if jobs == 1:
            return [one(ref) for ref in cases]
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="gearsim-case") as executor:
            return list(executor.map(one, cases))
    finally:
        errors: list[str] = []
        for f in factories:
            try:
                f.close()
            except HarnessError as exc:
                errors.append(str(exc))
        if errors:
            raise HarnessError("; ".join(errors))


def selected_cases(files: Iterable[VectorFile], chosen: Callable[[VectorFile], list[str]]) -> list[CaseRef]:
    """(file, case) pairs for a selection, in file order (``chosen`` is ``Selection.chosen``)."""
    refs: list[CaseRef] = []
    for vf in files:
        refs.extend((vf, vf.case(cid)) for cid in chosen(vf))
    return refs
