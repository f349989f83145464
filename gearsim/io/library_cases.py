"""Client under test through a driver: play library cases and judge them (I/O).

A *library case* (vector format v1, a case with ``library``) names the actors
a client or worker library plays; gearsim starts one driver process per such
actor (spec/driver.md; the same command for each, told its role in
``hello``), gives it the addresses of the case's servers
(gearsim.io.library_server: the reference model, scripted, or down) and plays
the steps:

* ``call``: a driver operation; its reply is matched against ``reply`` at
  once, or by a later ``await`` step when the call says ``nowait``;
* ``sent``: the library has sent a matching packet, on any of its connections;
* ``server_die``: the server the actor last sent to dies (its connections
  close, its ports refuse), the others go on;
* ``server_close`` / ``server_send``: the server closes the actor's connections,
  or writes a packet to it;
* every other step is a scripted actor's, as in server vectors.

Each call becomes a driver request by gearsim.io.library_calls. Then
gearsim.run.library_judge checks every packet the library sent against
the rules for its role and every call's report against the wire. Verdicts:
n/a when the driver lacks a capability the case needs; INCONCLUSIVE when the
driver itself breaks the protocol (hangs, dies, writes garbage: the reason
says which and quotes its stderr) or the harness fails; FAIL with rule ids;
else PASS. Whatever a driver writes ends as one of these; any other exception
inside gearsim is a gearsim bug, raised as ``GearsimBug`` naming the case and
step (gearsim.errors), never a verdict. Whatever happens, every driver is
stopped by its PID.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

from gearsim.errors import GearsimBug, GearsimError
from gearsim.io.driver import HELLO_TIMEOUT, PROTOCOL, DriverBroken, DriverProcess, Reply, driver_argv
from gearsim.io.library_calls import call_note, driver_request, expected_text, needs_of
from gearsim.io.library_server import LibraryServer
from gearsim.io.scripted import ScriptedSession, case_options
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.node import ConnId
from gearsim.protocol.packets import Magic, Packet, Role
from gearsim.protocol.trace import Direction, Kind, TraceRecord
from gearsim.run.library_judge import (
    CallRecord,
    Finding,
    check_calls,
    check_sent,
    decode_reply,
    judged,
    match_reply,
    with_call_readings,
)
from gearsim.run.result import CaseResult, StepFailed, Verdict, bug, inconclusive
from gearsim.vectors import program_matching as pm
from gearsim.vectors.parse import Case, Step, VectorFile

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "KIND_CALL",
    "KIND_REPLY",
    "DriverInfo",
    "needs_of",
    "run_library_case",
]

#: seconds a whole library case may take
DEFAULT_TIME_LIMIT: Final[float] = 90.0
#: ms the end of a case waits for packets still on their way
SETTLE_MS: Final[int] = 100
#: ms a ``sent``, ``server_close`` or scripted expect step waits at least for what the library does
SENT_WITHIN: Final[int] = 5000
#: trace record kinds of driver calls and replies (events on the actor's lane)
KIND_CALL: Final[str] = "call"
KIND_REPLY: Final[str] = "reply"

#: the library rule a reply expectation checks, by the fields it names (first match)
_REPLY_RULES: Final[tuple[tuple[frozenset[str], str], ...]] = (
    (frozenset({"outcome", "result", "events"}), "GM-LIB-003"),
    (frozenset({"known", "running", "numerator", "denominator", "clients"}), "GM-LIB-004"),
    (frozenset({"job"}), "GM-LIB-008"),
    (frozenset({"handle"}), "GM-LIB-002"),
)


@dataclass(frozen=True)
class DriverInfo:
    """What a driver said in its hello: the library it drives and what it offers."""

    library: str
    capabilities: frozenset[str]


class _NotApplicable(Exception):
    pass


def _decoded(driver: DriverProcess, op: str, record: CallRecord, reply: Reply) -> dict[str, Any]:
    """The values of a successful reply to ``op``.

    Raises:
        _Garbage: the reply lacks a field ``op`` must return, or has one malformed
            (decode_reply raises nothing else, whatever JSON the driver wrote).
    """
    try:
        return decode_reply(op, reply.body, bool(record.args.get("background")))
    except ValueError as exc:
        raise _Garbage(f"driver of {driver.actor} (PID {driver.pid}): the reply to {op} is malformed: {exc}") from None


class _Garbage(Exception):
    """A reply that is JSON but not what the operation returns (the driver broke the protocol)."""


class _LibrarySession(ScriptedSession):
    """One library case being played."""

    def __init__(self, case: Case, command: str, profile: str) -> None:
        super().__init__(profile)
        assert case.library is not None  # checked by run_library_case
        self.case = case
        self.command = command
        self.spec = case.library
        self.server = LibraryServer(
            self.spec.servers, self.spec.actors, profile, case_options(case), recorder=self.record
        )
        self.drivers: dict[str, DriverProcess] = {}
        self.infos: dict[str, DriverInfo] = {}
        self.calls: list[CallRecord] = []
        self.pending: dict[str, tuple[Step, CallRecord, asyncio.Task[Reply]]] = {}

    # ------------------------------------------------------ scripted hooks

    def within(self, step: Step) -> int:
        """A scripted actor waits on what a library does: as long as a library step would (a loaded machine)."""
        return max(step.within or 0, SENT_WITHIN)

    async def until(self, ready: Callable[[], bool], ms: int) -> bool:
        """``ScriptedSession.until``, which also stops waiting when a nowait call's driver broke the protocol.

        The case is then unjudged whatever the wait would have seen (``play``
        says so), so waiting out the step's time only delays that verdict.
        """
        await super().until(lambda: ready() or self._broken_driver() is not None, ms)
        return ready()

    def open_local(self, actor: str) -> ConnId:
        return self.server.open_local(lambda data: None, self.wake, actor)

    def send_local(self, conn: ConnId, data: bytes) -> None:
        self.server.send_local(conn, data)

    def close_local(self, conn: ConnId) -> None:
        self.server.close_local(conn)

    def record(self, record: TraceRecord) -> None:
        # one numbering for the servers' records and the drivers' calls: the position in the trace
        super().record(record._replace(seq=len(self.records)))

    def _event(self, actor: str, kind: str, note: str) -> int:
        seq = len(self.records)
        self.record(TraceRecord(self.server.now(), seq, 0, actor, Direction.EVENT, kind, None, b"", note))
        return seq

    # ------------------------------------------------------------- drivers

    async def start(self) -> None:
        await self.server.start()
        argv = driver_argv(self.command)
        for actor in self.spec.actors:
            driver = await DriverProcess.start(argv, actor)
            self.drivers[actor] = driver
            role = self.case.actors[actor]
            hello = {"protocol": PROTOCOL, "role": role, "servers": self.server.addresses(actor)}
            reply = await driver.request("hello", hello, HELLO_TIMEOUT)
            which = f"driver of {actor} (PID {driver.pid})"
            if not reply.ok:
                raise DriverBroken("garbage", f"{which} could not start the library: {reply.describe()}")
            caps = reply.body.get("capabilities")
            if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
                raise DriverBroken("garbage", f"{which}: hello's reply has no list of capabilities")
            library = reply.body.get("library", "")
            if not isinstance(library, str):
                raise DriverBroken("garbage", f"{which}: hello's library is not a string: {reply.describe()}")
            self.infos[actor] = DriverInfo(library, frozenset(caps))
            self._event(actor, KIND_CALL, f"hello: {self.infos[actor].library}")
        lacking = sorted({c for a, i in self.infos.items() for c in needs_of(self.case, a) - i.capabilities})
        if lacking:
            raise _NotApplicable(f"the driver does not offer {', '.join(lacking)}")

    async def stop(self) -> None:
        for _, _, task in self.pending.values():
            task.cancel()
        for driver in self.drivers.values():
            await driver.stop(bye=not driver.exited())
        await self.server.close()

    def kill_leftovers(self) -> None:
        for driver in self.drivers.values():
            driver.kill()

    # ----------------------------------------------------------------- steps

    async def play(self) -> None:
        await self.start()
        for step in self.case.steps:
            self.step = step
            try:
                await self._play_step(step)
            except StepFailed as failed:
                # a driver that broke the protocol on a nowait call is why the library did
                # nothing the step could see: the case is unjudged, not failed by the library
                await self._settle_silent_calls()
                broken = self._broken_driver()
                if broken is not None:
                    raise broken from None
                raise self._explained(failed) from None
        self.step = None
        for actor in list(self.pending):
            raise StepFailed(None, f"{actor}: a nowait call was never awaited", actor=actor)
        await asyncio.sleep(SETTLE_MS / 1000)

    async def _play_step(self, step: Step) -> None:
        if step.action == "call":
            await self._call(step)
        elif step.action == "await":
            await self._await(step)
        elif step.action == "sent":
            await self._sent(step)
        elif step.action == "server_close":
            await self._server_close(step)
        elif step.action == "server_send":
            self._server_send(step)
        elif step.action == "server_die":
            await self._server_die(step)
        else:
            await self.scripted_step(step)

    async def _settle_silent_calls(self) -> None:
        """Wait for each pending nowait call whose library has sent nothing since it was made.

        A step failed, and such a call may be why: its driver may have hung
        (spec/driver.md: no reply within ``timeout_ms`` plus GRACE), which leaves
        the case unjudged as it would for a call the case waited on, or its
        library may have given up (an error reply, which the failure's reason
        then quotes). Either way the call ends by its own deadline, so the wait
        is bounded; a call whose library did send something is not waited for.
        """
        silent = [
            task
            for actor, (_, record, task) in self.pending.items()
            if not task.done() and not self._sent_since(actor, record.seq)
        ]
        if silent:
            await asyncio.wait(silent)

    def _library_sent(self, actor: str) -> Iterator[TraceRecord]:
        """The send records of what ``actor``'s library sent, on any of its connections, in order."""
        return (r for r in self.records if r.label == actor and r.direction == Direction.C2S and r.kind == Kind.SEND)

    def _sent_since(self, actor: str, seq: int) -> bool:
        """Whether ``actor``'s library has sent a packet or line after trace record ``seq``."""
        return any(r.seq > seq for r in self._library_sent(actor))

    def _broken_driver(self) -> BaseException | None:
        """Why a nowait call's driver broke the protocol (died, garbage, a malformed reply), or None."""
        for actor, (call_step, record, task) in self.pending.items():
            if not task.done() or task.cancelled():
                continue
            error = task.exception()
            if error is not None:
                return error
            reply = task.result()
            call = call_step.call
            if reply.ok and call is not None:
                try:
                    _decoded(self.drivers[actor], call.op, record, reply)
                except _Garbage as garbage:
                    return garbage
        return None

    def _explained(self, failed: StepFailed) -> StepFailed:
        """A step's failure, with the error of each nowait call that ended meanwhile (its likely cause)."""
        for actor, (call_step, _, task) in self.pending.items():
            if task.done() and not task.cancelled() and task.exception() is None and not task.result().ok:
                call = call_step.call
                op = call.op if call is not None else "call"
                failed.reason += f" (meanwhile {actor}'s {op} failed: {task.result().describe()})"
        return failed

    async def _call(self, step: Step) -> None:
        call = step.call
        assert call is not None  # a call step
        request, judge = driver_request(step, self.captures)
        driver = self.drivers[step.actor]
        seq = self._event(step.actor, KIND_CALL, call_note(call.op, request))
        record = CallRecord(step.actor, call.op, judge, seq, capabilities=self.infos[step.actor].capabilities)
        task = asyncio.create_task(driver.request(call.op, request, call.timeout / 1000))
        if call.nowait:
            task.add_done_callback(lambda _: self.wake())
            self.pending[step.actor] = (step, record, task)
            return
        await self._judge_reply(step, step, record, await task)

    async def _await(self, step: Step) -> None:
        call_step, record, task = self.pending.pop(step.actor)
        await self._judge_reply(step, call_step, record, await task)

    async def _judge_reply(self, step: Step, call_step: Step, record: CallRecord, reply: Reply) -> None:
        call = call_step.call
        assert call is not None  # a call step
        self._event(step.actor, KIND_REPLY, f"{call.op}: {reply.describe()}")
        values: dict[str, Any] = {}
        if reply.ok:
            values = _decoded(self.drivers[step.actor], call.op, record, reply)
        self.calls.append(replace(record, reply=values if reply.ok else None))
        expect = step.reply
        if expect is None:
            return
        bind: dict[str, bytes] = {}
        caps = self.infos[step.actor].capabilities
        problem = match_reply(
            expect, reply.ok, reply.error_kind, values, self.captures, bind, caps, reply.error_message.strip()
        )
        if problem:
            raise StepFailed(
                step, f"{step.actor}: {call.op}: {problem}", expected_text(step), reply.describe(), self.rules(step)
            )
        self.captures.update(bind)

    async def _sent(self, step: Step) -> None:
        pattern = step.packet
        assert pattern is not None  # schema: sent needs packet
        within = step.within if step.within is not None else SENT_WITHIN
        bind: dict[str, bytes] = {}

        def found() -> bool:
            for r in self._library_sent(step.actor):
                attempt: dict[str, bytes] = {}
                item = r.message if r.message is not None else r.data
                if not pm.match(pattern, item, Magic.REQ, self.captures, attempt):
                    bind.update(attempt)
                    return True
            return False

        if not await self.until(found, within):
            alike = [
                r.message
                for r in self._library_sent(step.actor)
                if isinstance(r.message, Packet) and int(r.message.type) == int(pattern.type)
            ]
            raise StepFailed(
                step,
                f"{step.actor}: the library sent no {pattern.name} like this within {within} ms",
                pm.describe(pattern, self.captures),
                "; ".join(map(pm.show, alike)) or f"no {pattern.name} at all",
                self.rules(step),
                received=alike,
            )
        self.captures.update(bind)

    async def _server_close(self, step: Step) -> None:
        within = step.within if step.within is not None else SENT_WITHIN
        if not await self.until(lambda: bool(self.server.connections_of(step.actor)), within):
            raise StepFailed(step, f"{step.actor}: the library has no connection to close")
        self.server.close_actor(step.actor)

    async def _server_die(self, step: Step) -> None:
        # the server the library last sent to (a library may hold connections to every server)
        if self.server.kill_server_of(step.actor) is None:
            raise StepFailed(step, f"{step.actor}: the library has sent nothing to a server that could die")
        await asyncio.sleep(0)  # let the closes reach the library before the next step

    def _server_send(self, step: Step) -> None:
        assert step.packet is not None  # schema: server_send needs packet
        packet = self.resolve(step, step.packet, Magic.RES)
        if not self.server.inject(step.actor, packet):
            raise StepFailed(step, f"{step.actor}: the library has no connection to send {packet.name} on")

    # ----------------------------------------------------------- judgement

    def rules(self, step: Step) -> tuple[str, ...]:
        """The rules a library step checks: its own, else the library rule of what its reply expects."""
        if step.rules or step.requirements:
            return step.rules or step.requirements
        expect = step.reply
        if expect is not None:
            if not expect.ok:
                return ("GM-LIB-006",)
            for fields, rule in _REPLY_RULES:
                if fields & set(expect.fields):
                    return (rule,)
        return tuple(r for r in self.case.requirements if r.startswith("GM-LIB-"))

    def findings(self) -> list[Finding]:
        roles = {actor: Role(self.case.actors[actor]) for actor in self.spec.actors}
        given: dict[str, set[bytes]] = {}
        for call in self.calls:
            handle = call.args.get("handle")
            if isinstance(handle, bytes):
                given.setdefault(call.actor, set()).add(handle)
        # a nowait call still unanswered when the case ended is judged too (its reply None): a submission
        # whose packet shifted the workload makes the scripted worker's JOB_ASSIGN step fail first, and
        # without this the FAIL would cite that server rule instead of the library's GM-LIB-001
        unanswered = [record for _, record, _ in self.pending.values()]
        calls = sorted([*self.calls, *unanswered], key=lambda c: c.seq)
        return with_call_readings(check_sent(self.records, roles, given), check_calls(self.records, calls))

    def library(self) -> str:
        """The library the first driver to say hello named (``CaseResult.library``); "" when none did."""
        return next((info.library for info in self.infos.values()), "")

    def driver_notes(self) -> list[str]:
        notes = []
        for actor, driver in self.drivers.items():
            info = self.infos.get(actor)
            library = f"{info.library}, " if info else ""
            text = f"driver for {actor}: {library}PID {driver.pid}"
            if driver.stderr:
                text += f"; stderr: {driver.stderr_tail()}"
            notes.append(text)
        return notes


# --------------------------------------------------------------------------- running


async def _play(session: _LibrarySession, base: CaseResult, time_limit: float) -> CaseResult:
    """Play the session within ``time_limit`` s and judge it; its drivers are always stopped before this returns.

    Raises:
        GearsimBug: an unexpected exception inside gearsim (not a verdict).
    """
    failure: StepFailed | None = None
    try:
        try:
            async with asyncio.timeout(time_limit):
                await session.play()
        except StepFailed as exc:
            failure = exc
        finally:
            await session.stop()
    except _NotApplicable as exc:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason=str(exc), notes=tuple(session.driver_notes()))
    except TimeoutError:
        return _inconclusive(base, session, f"the case did not end within its time limit of {time_limit:g} s")
    except DriverBroken as exc:
        return _inconclusive(base, session, f"driver {exc.kind}: {exc}")
    except _Garbage as exc:
        return _inconclusive(base, session, f"driver garbage: {exc}")
    except (GearsimError, OSError) as exc:
        return _inconclusive(base, session, exc)
    except Exception as exc:  # what a driver does ends above (reading its replies raises nothing else)
        raise bug(base, session.step, exc) from exc
    records = tuple(session.records)
    passed = Verdict.ACCEPTABLE if session.acceptable else Verdict.PASS
    notes = [*session.notes, *session.driver_notes()]
    return judged(
        base, session.findings(), failure, passed=passed, trace=session.trace_tail(), records=records, notes=notes
    )


def _inconclusive(base: CaseResult, session: _LibrarySession, problem: object) -> CaseResult:
    records = tuple(session.records)
    return inconclusive(base, problem, trace=session.trace_tail(), records=records, notes=session.driver_notes())


def run_library_case(
    vf: VectorFile,
    case: Case,
    command: str,
    *,
    profile: str = DEFAULT_PROFILE,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> CaseResult:
    """Play one library case with the driver ``command`` (a bundled name or a command line).

    Never raises for what the library or its driver did: see the module
    docstring for the verdicts. A case that is not a library case is
    NOT_APPLICABLE.

    Raises:
        GearsimBug: an unexpected exception inside gearsim, naming the case and
            the step it was at (a bug to report, never a verdict).
    """
    base = CaseResult(vf.name, case.id, vf.area, Verdict.PASS, case.requirements, vector_sha256=vf.sha256)
    if not case.is_library:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="not a library case")
    sessions: list[_LibrarySession] = []

    async def main() -> CaseResult:
        sessions.append(_LibrarySession(case, command, profile))
        result = await _play(sessions[0], base, time_limit)
        return replace(result, library=sessions[0].library())

    try:
        return asyncio.run(main())
    except (GearsimError, OSError) as exc:  # the session could not be set up (a driver command that cannot be split)
        return replace(base, verdict=Verdict.INCONCLUSIVE, reason=f"harness: {exc}")
    except GearsimBug:
        raise
    except (Exception, asyncio.CancelledError) as exc:  # what a driver did ends as a verdict in _play, never here
        raise bug(base, sessions[0].step if sessions else None, exc) from exc
    finally:
        for session in sessions:
            session.kill_leftovers()
