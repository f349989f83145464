"""Real servers under test: one per case or one shared, their health, and a batch of cases on them (I/O).

Three ways to judge a real server, one factory each (each is a runner
``PeerFactory`` with a ``close``, and the hooks :func:`run_cases` calls around
every case: :class:`ServerHooks`):

* :class:`ManagedPeerFactory` starts a described server itself
  (``--server-command``, ``--peer``: :mod:`gearsim.io.serverdesc`,
  :mod:`gearsim.io.launch`) with the case's ``options`` spelled by its
  description. It reuses the running server for the next case only when that
  is safe: same options, the process still alive, and every case played on it
  since its start was *stateless* (``gearsim.run.batch.is_stateless``).
  Otherwise it stops the server by its recorded PID and starts a fresh one. A
  case whose option the description cannot spell is n/a with the reason.
* :class:`UserServerFactory` is a long-lived server given as ``--server
  HOST:PORT``. Each case runs in a namespace of its own
  (``gearsim.run.namespace``: function names, uniques and client ids mapped to
  run-unique names, listings judged on the case's own rows, results shown
  with the vector's names); a case that needs a fresh server is n/a with
  "needs a fresh server: use --server-command (...)".
* Both build ``gearsim.io.tcp.TcpPeer``, which orders sends across connections
  and bounds what a hostile server can make gearsim hold.

Crashes and hangs are verdicts. After every case the factory checks the
server: a managed one by its process (and one read-only round trip, so a
crash still in progress is seen), a user's one by a fresh connect and a round
trip. A case during which the server died is FAIL "server crashed" with the
exit status or signal and the tail of the server's output, whatever the case
itself expected; a managed factory starts a fresh server for the next case.
A user's server that stopped answering leaves the rest of the run
INCONCLUSIVE "server down since FILE::CASE", without touching it again.

Measured with tools/bench/suite.py --policies on C gearmand and the 261
server-judging cases bundled at the time: fresh server per case, one at a
time, 68 s and 235 starts; reuse after stateless cases, 68 s and 193 starts,
the same verdicts; 8 at once, 14 s fresh and 10 s with reuse.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from gearsim.errors import HarnessError, ServerSilent
from gearsim.io.launch import LaunchError, RunningServer, start_server, stop_server
from gearsim.io.peers import PEERS, peer_description
from gearsim.io.preflight import first_contact
from gearsim.io.readiness import round_trip
from gearsim.io.serverdesc import ServerDescription
from gearsim.io.tcp import TcpPeer, TcpPeerFactory
from gearsim.run.batch import CaseRef, ClosingFactory, UnsupportedOption, is_stateless, real_server_skip
from gearsim.run.namespace import (
    Namespace,
    case_names,
    fresh_server_need,
    logical_result,
    namespaced_case,
    sends_shutdown,
)
from gearsim.run.runner import CaseResult, PeerFactory, Verdict, run_case
from gearsim.vectors.parse import Case, VectorFile

__all__ = [
    "DEFAULT_JOBS",
    "HEALTH_TIMEOUT",
    "PEER_PROFILES",
    "ManagedPeerFactory",
    "ServerHooks",
    "UserServerFactory",
    "play_case",
    "run_cases",
]

#: seconds the after-case check waits for the server's read-only round trip
HEALTH_TIMEOUT = 3.0
#: managed servers played at once by gearsim run --peer and gearsim matrix
DEFAULT_JOBS = 12
#: the profile each peer gearsim starts is judged under by default (its description's ``profile``)
PEER_PROFILES: Mapping[str, str] = {name: peer_description(name).profile for name in PEERS}
#: the rule a server that dies breaks (spec/requirements.yaml)
CRASH_RULE = "GM-SERVER-005"


class ServerHooks(Protocol):
    """What :func:`run_cases` asks of a real-server factory around each case."""

    def unsupported(self, case: Case) -> str | None:
        """Why ``case`` cannot be played on this server (it is n/a then), or None."""
        ...

    def prepare(self, case: Case) -> Case:
        """The case as it is played (mapped into a namespace on a shared server)."""
        ...

    def finish(self, case: Case, result: CaseResult) -> CaseResult:
        """The result as reported: names mapped back, a crash or hang of the server made a FAIL."""
        ...

    def down(self) -> str | None:
        """ "server down since FILE::CASE" once a shared server stopped answering, else None."""
        ...


def _hooks(factory: object) -> ServerHooks | None:
    """The hooks of ``factory`` or of the factory it wraps (``inner``), if any."""
    seen = 0
    while factory is not None and seen < 8:
        if all(hasattr(factory, name) for name in ("unsupported", "prepare", "finish", "down")):
            return factory  # type: ignore[return-value]
        factory = getattr(factory, "inner", None)
        seen += 1
    return None


def _crash_result(result: CaseResult, what: str, tail: str) -> CaseResult:
    """``result`` as FAIL "server crashed" (or hung), the case's own verdict in a note.

    A crash the case records as the profile's known defect (a ``crash``
    outcome the runner matched) stays KNOWN_DEFECT, with how the server ended
    and its output added.
    """
    trace = (result.trace + (f"\n--- server output ---\n{tail}" if tail else "")).strip("\n")
    if result.verdict is Verdict.KNOWN_DEFECT and result.crash_met:
        return replace(result, trace=trace, notes=(*result.notes, what))
    own = f"the case itself gave {result.verdict.value}" + (f" ({result.reason})" if result.reason else "")
    return replace(
        result,
        verdict=Verdict.FAIL,
        reason=what,
        step=None,
        expected="the server keeps running and answering",
        actual=what,
        trace=trace,
        notes=(*result.notes, own),
        rules=(CRASH_RULE,),
        # about the server, not what an actor received: the case's own failing step is only in the note
        actor="",
        received=(),
    )


# --------------------------------------------------------------------------- servers gearsim starts


class ManagedPeerFactory:
    """A PeerFactory that starts a described server itself, fresh for each case unless reuse is safe.

    Args:
        server: a bundled peer's name (``gearmand-c``) or a server description.
        rundir: run directory for the server's PID file and output (created).
        reuse: keep a running server for the next case when every case played
            on it so far was stateless and the options are the same; False
            starts a fresh one for every case (and every codec reaction
            alternative).
        quick, within_floor: as for :class:`TcpPeer`.
        start_timeout: seconds a server may take to be ready (default: its description's).

    ``starts`` and ``reuses`` count what happened, for measurements.
    Call :meth:`close` at the end: it stops the last server by its PID.

    Raises:
        ValueError: ``server`` is not a bundled peer's name.
    """

    def __init__(
        self,
        server: str | ServerDescription,
        rundir: Path,
        *,
        reuse: bool = True,
        quick: int = 150,
        within_floor: int = 2000,
        start_timeout: float | None = None,
    ) -> None:
        self.description = peer_description(server) if isinstance(server, str) else server
        self.name = self.description.name
        self.rundir = Path(rundir)
        self.reuse = reuse
        self.quick = quick
        self.within_floor = within_floor
        self.start_timeout = start_timeout
        self.starts = 0
        self.reuses = 0
        self._running: RunningServer | None = None
        self._options: tuple[tuple[str, int | bool], ...] = ()
        self._clean = False
        self._last: TcpPeer | None = None
        #: servers that died while the current case was played (several for codec alternatives),
        #: each with how and when it ended ("exited with status 1 during this case")
        self._deaths: list[tuple[RunningServer, str]] = []
        #: the case the running server last served, to tell its deaths from the current case's
        self._previous: Case | None = None
        #: the last start failures in a row: after two, later cases fail at once with the same error
        self._failed_starts: list[str] = []

    def _alive(self) -> bool:
        return self._running is not None and self._running.alive()

    def __call__(self, case: Case) -> TcpPeer:
        """A peer for ``case``: the running server if reuse is safe, else a fresh one.

        Raises:
            UnsupportedOption: the server cannot be given the case's options.
            LaunchError: the server cannot be started or stopped (a HarnessError).
        """
        self._close_sockets()
        self.description.option_args(case.options)  # raises UnsupportedOption before anything stops
        options = tuple(sorted(case.options.items()))
        if self.reuse and self._clean and self._options == options and self._alive():
            self.reuses += 1
        else:
            self._note_death()
            self._stop()
            if len(self._failed_starts) >= 2:
                raise LaunchError(f"not started again after 2 failed starts: {self._failed_starts[-1]}")
            try:
                self._running = start_server(self.description, self.rundir, case.options, timeout=self.start_timeout)
            except LaunchError as exc:
                self._failed_starts.append(str(exc))
                raise
            self._failed_starts = []
            self._options = options
            self.starts += 1
        self._clean = self.reuse and is_stateless(case)
        assert self._running is not None  # started just above
        self._last = TcpPeer(
            self._running.host,
            self._running.port,
            timed=case.timed,
            quick=self.quick,
            within_floor=self.within_floor,
            sync=self.description.sync,
            restarter=lambda: self._restart(case),
        )
        return self._last

    def _restart(self, case: Case) -> None:
        """A case's ``restart_server`` step: stop the server by its PID, start it on the same port, ready.

        Raises:
            LaunchError: it could not be stopped, or not started again on that port.
        """
        server = self._running
        if server is None:
            raise LaunchError(f"{self.name}: no running server to restart")
        self._note_death()  # a server that had died before the step is still reported as a crash
        self._running = None
        self._clean = False
        stop_server(server)
        self._running = start_server(
            self.description, self.rundir, case.options, timeout=self.start_timeout, port=server.port
        )
        self.starts += 1

    def _note_death(self) -> None:
        server = self._running
        if server is not None:
            death = server.death()
            if death is not None:
                self._deaths.append((server, f"{death} during this case"))

    def _settle_previous(self) -> None:
        """Deal with a server that ended after the last case's final health check.

        A server asked to ``shutdown`` by the last case may take a moment to
        exit; seen only now, that exit must not fail this case.  Any other
        death between cases is still a crash (never hidden), reported here
        and naming the case it followed, since that case's result is out.
        """
        server, previous = self._running, self._previous
        if server is None or previous is None:
            return
        death = server.death()
        if death is None:
            return
        self._forget(server)
        if death == "exited with status 0" and sends_shutdown(previous):
            return
        self._deaths.append((server, f"{death} after case {previous.id}, before this case started"))

    # ------------------------------------------------------------------ hooks

    def unsupported(self, case: Case) -> str | None:
        """The reason a case's options cannot be given to this server, or None. Never raises."""
        try:
            self.description.option_args(case.options)
        except UnsupportedOption as exc:
            return str(exc)
        return None

    def prepare(self, case: Case) -> Case:
        """The case as it is (a server of its own needs no namespace)."""
        self._deaths = []
        self._settle_previous()
        return case

    def finish(self, case: Case, result: CaseResult) -> CaseResult:
        """Check the server the case ran on: a death or a hang makes the result FAIL. Never raises."""
        self._previous = case
        if result.verdict is Verdict.NOT_APPLICABLE:
            return result
        server = self._running
        hung = ""
        if server is not None and server.alive():
            problem = round_trip(server.host, server.port, self.description.sync, HEALTH_TIMEOUT)
            if problem is not None:
                # a server that is going (it crashed, or was asked to stop: Perl closes its port first) may
                # refuse connections a moment before its process ends: that is a death, not a hang
                server.wait_gone(HEALTH_TIMEOUT)
            if problem is not None and server.alive():
                hung = problem
        self._note_death()
        deaths, self._deaths = self._deaths, []
        for dead, death in deaths:
            if death == "exited with status 0 during this case" and sends_shutdown(case):
                continue  # the case asked it to stop
            self._forget(dead)
            return _crash_result(result, f"server crashed: {self.name} {death}", dead.log_tail())
        if hung and server is not None:
            tail = server.log_tail()
            self._forget(server)
            return _crash_result(result, f"server hung: {self.name} {hung} after this case", tail)
        return result

    def down(self) -> str | None:
        """Never: a managed server that died is replaced for the next case."""
        return None

    def _forget(self, server: RunningServer) -> None:
        """Stop (if needed) and drop a server that crashed or hung, so the next case gets a fresh one."""
        if server is self._running:
            self._close_sockets()
            with contextlib.suppress(LaunchError):
                stop_server(server)
            self._running = None
            self._clean = False

    # ------------------------------------------------------------------ the rest

    @property
    def running(self) -> RunningServer | None:
        """The server started for the last case, if it is still running."""
        return self._running if self._alive() else None

    def _close_sockets(self) -> None:
        if self._last is not None:
            self._last.close_all()
            self._last = None

    def _stop(self) -> None:
        server, self._running = self._running, None
        self._clean = False
        if server is not None:
            stop_server(server)

    def close(self) -> None:
        """Close the last case's sockets and stop the running server by its PID.

        Raises:
            LaunchError: the server could not be stopped.
        """
        self._close_sockets()
        self._stop()

    def describe(self) -> str:
        """What the factory does, for reports."""
        policy = "reused only after stateless cases with the same options" if self.reuse else "fresh for every case"
        timing = TcpPeerFactory("", 0, quick=self.quick, within_floor=self.within_floor).describe()
        return f"{self.name} started by gearsim on 127.0.0.1, {policy}, with each case's options; {timing}"


# --------------------------------------------------------------------------- a user's long-lived server


class UserServerFactory(TcpPeerFactory):
    """The PeerFactory for a user-given ``--server HOST:PORT``: every case on that one server, each in a namespace.

    Args:
        host, port: the server.
        quick, within_floor: as for :class:`TcpPeer`.
        nonce: the run's part of every namespace (default: from the process id and the clock).
        sync: the read-only round trip the server answers (default: found on first use, by
            ``gearsim.io.preflight.first_contact``).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        quick: int = 150,
        within_floor: int = 2000,
        nonce: str | None = None,
        sync: str | None = None,
    ) -> None:
        super().__init__(host, port, quick=quick, within_floor=within_floor)
        self.nonce = nonce or f"{os.getpid() % 4096:03x}{time.time_ns() // 1000 % 4096:03x}"
        self._sync = sync
        #: what the server did instead of answering ECHO_REQ and GET_STATUS ("" when it answers one)
        self._unanswered = ""
        self._count = 0
        self._namespace: Namespace | None = None
        self._down_since: str | None = None

    @property
    def sync(self) -> str:
        """The round trip used to order sends and to check the server is up ("" for none).

        Raises:
            HarnessError: the server cannot be connected to (on the first look only).
            NotGearman: what answers there is no Gearman server (on the first look only).
            ServerSilent: it accepts connections and answers none of ECHO_REQ, GET_STATUS and the admin
                line 'version' (on the first look only): every case would only wait for nothing.
        """
        if self._sync is None:
            # three probes at once: a silent address is known in one timeout, not three
            contact = first_contact(self.host, self.port)
            silence = contact.silence()
            if silence is not None:
                raise ServerSilent(silence)
            self._sync, self._unanswered = contact.round_trip()
        return self._sync

    def __call__(self, case: object) -> TcpPeer:
        """A peer for ``case`` on the user's server, in the namespace :meth:`prepare` chose.

        Raises:
            HarnessError: the server cannot be connected to.
        """
        self.close()
        timed = bool(getattr(case, "timed", False))
        self._last = TcpPeer(
            self.host,
            self.port,
            timed=timed,
            quick=self.quick,
            within_floor=self.within_floor,
            sync=self.sync,
            namespace=self._namespace,
        )
        return self._last

    def unsupported(self, case: Case) -> str | None:
        """ "needs a fresh server: use --server-command (...)" for a case a shared server cannot judge."""
        return fresh_server_need(case)

    def prepare(self, case: Case) -> Case:
        """``case`` mapped into a namespace of its own."""
        self._count += 1
        self._namespace = Namespace.for_case(self.nonce, self._count)
        return namespaced_case(case, self._namespace)

    def finish(self, case: Case, result: CaseResult) -> CaseResult:
        """Names back to the vector's; a server that no longer answers makes this case FAIL. Never raises."""
        if self._namespace is not None:
            result = logical_result(result, self._namespace, case_names(case))
        if result.verdict is Verdict.NOT_APPLICABLE:
            return result
        self.close()
        problem = round_trip(self.host, self.port, self._sync or "", HEALTH_TIMEOUT)
        if problem is None:
            return result
        self._down_since = result.id
        return _crash_result(result, f"server crashed or stopped answering during this case: {problem}", "")

    def down(self) -> str | None:
        """ "server down since FILE::CASE" once it stopped answering."""
        return f"server down since {self._down_since}" if self._down_since else None

    def describe(self) -> str:
        """How vector time maps to wall time, and how cases share the server."""
        shared = (
            f"one long-lived server, each case in its own namespace (run {self.nonce}): names mapped to run-unique "
            f"ones, listings judged on the case's own rows, cases that need a fresh server n/a"
        )
        if self._sync:
            return f"{super().describe()}; {shared}; sends ordered across connections by {self._sync}"
        # first, so that the report's first line says it: every case's FAIL may well come from this alone
        problems = f" ({self._unanswered})" if self._unanswered else ""
        return (
            f"the server answers neither ECHO_REQ nor GET_STATUS{problems}: sends are not ordered across "
            f"connections; {super().describe()}; {shared}"
        )


# --------------------------------------------------------------------------- running cases


def play_case(vf: VectorFile, case: Case, factory: PeerFactory, profile: str, *, level: str = "should") -> CaseResult:
    """Play one case with ``factory``'s :class:`ServerHooks` around it when it has them (else ``run_case``).

    The hooks decide n/a reasons (an option the server cannot take, a case that
    needs a fresh server), the namespace on a shared server, the check after
    the case (a crash or a hang is FAIL) and, once a shared server is down,
    INCONCLUSIVE "server down since CASE: not run" without touching it.

    Raises:
        GearsimBug: as ``run_case``.
    """
    hooks = _hooks(factory)
    if hooks is None or not case.applies_to(profile):
        return run_case(vf, case, factory, profile, level=level)
    base = CaseResult(vf.name, case.id, vf.area, Verdict.NOT_APPLICABLE, case.requirements, vector_sha256=vf.sha256)
    reason = hooks.unsupported(case)
    if reason is not None:
        return replace(base, reason=reason)
    down = hooks.down()
    if down is not None:
        return replace(base, verdict=Verdict.INCONCLUSIVE, reason=f"{down}: not run")
    result = run_case(vf, hooks.prepare(case), factory, profile, level=level)
    return hooks.finish(case, result)


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
    a case flagged for the model only (``real_server_skip``) is n/a, with the
    flag as its reason, and no server is touched for it. A factory with
    :class:`ServerHooks` (or wrapping one as ``inner``) gets them called
    around every case: n/a reasons, namespaces, the after-case health check,
    and once its server is down the remaining cases are INCONCLUSIVE without
    being played. ``level`` is passed to ``run_case``.

    Raises:
        LaunchError: a server could not be stopped at the end (the results are
            lost; servers that cannot be started become INCONCLUSIVE verdicts instead).
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
        else:
            factory = pool.get()
            try:
                result = play_case(vf, case, factory, profile, level=level)
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
