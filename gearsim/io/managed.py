"""Real servers under test: starting them per case, and playing a batch of cases on several at once (I/O).

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
  on it since its start was *stateless* (``gearsim.run.batch.is_stateless``:
  it sent only requests that change nothing beyond their own connection).
  Otherwise it stops the peer by its recorded PID and starts a fresh one.
* :class:`UserServerFactory` is the factory for a user-given ``--server``:
  it runs every case on that server as is, says in ``describe`` that leftover
  state can affect later cases, and turns a case whose ``options`` it cannot
  apply into an INCONCLUSIVE verdict ("needs server option --job-retries=2").
* Both build ``gearsim.io.tcp.TcpPeer``, which bounds what a hostile server
  can make gearsim hold (messages and bytes per connection) and says when a
  server closed a connection in the middle of a message.
* :func:`run_cases` plays a list of cases on several managed servers at once
  (one factory per thread; every case still gets its own server) and returns
  the results in input order.

The pure analysis of cases these build on (statelessness, option flags,
model-only cases, wall-clock bounds) is ``gearsim.run.batch``.

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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gearsim.errors import HarnessError
from gearsim.io.peers import PEERS, RunningPeer, start_peer, stop_peer
from gearsim.io.tcp import TcpPeer, TcpPeerFactory
from gearsim.run.batch import CaseRef, ClosingFactory, UnsupportedOption, is_stateless, option_flags, real_server_skip
from gearsim.run.runner import CaseResult, Verdict, run_case
from gearsim.vectors.parse import Case

__all__ = [
    "DEFAULT_JOBS",
    "PEER_PROFILES",
    "ManagedPeerFactory",
    "UserServerFactory",
    "run_cases",
    "server_args",
]


#: managed servers played at once by gearsim run --peer and gearsim matrix
DEFAULT_JOBS = 12

#: the profile each peer gearsim starts is judged under by default (gearsim matrix, baselines)
PEER_PROFILES: Mapping[str, str] = {
    "gearmand-c": "gearmand-1.1",
    "perl-gearman-server": "perl-1.130",
    "gear": "gear-0.16",
}


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


# --------------------------------------------------------------------------- factories


class UserServerFactory(TcpPeerFactory):
    """The PeerFactory for a user-given ``--server HOST:PORT``: every case on that one server.

    gearsim cannot restart such a server, so state a case leaves behind can
    change later cases (``describe`` says so), and a case whose ``options``
    need a start-up option raises :class:`UnsupportedOption` from ``__call__``,
    which the runner turns into an INCONCLUSIVE verdict with the reason
    "needs server option --job-retries=2".
    """

    def __call__(self, case: object) -> TcpPeer:
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
        self._last: TcpPeer | None = None

    def _alive(self) -> bool:
        peer = self._running
        return peer is not None and (peer.process is None or peer.process.poll() is None)

    def __call__(self, case: Case) -> TcpPeer:
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
        self._last = TcpPeer(
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


def run_cases(
    cases: Sequence[CaseRef],
    make_factory: Callable[[int], ClosingFactory],
    profile: str,
    *,
    jobs: int = 4,
    progress: Callable[[CaseResult], None] | None = None,
    skip_virtual: bool = True,
    level: str = "should",
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
            result = run_case(ref[0], ref[1], factory, profile, level=level)
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
