"""Client under test: launch real client and worker programs against the served model (I/O).

A *program case* is a lifecycle case (vector format v1) with ``programs``: the
actors it names are played by programs launched from command lines, the
others are scripted by gearsim exactly as in server vectors. The server is the
reference model behind ``gearsim.io.serve.ServeShell`` on 127.0.0.1, whose
recorder sees every message both ways; the case is judged on those records.

Commands: each program actor's ``command`` from the vector, unless commands
are given (``gearsim run --client``): with one command one program plays every
program actor, with N commands for N program actors the i-th (in the order of
``programs``) plays the i-th. A command is split like a shell line (no shell
runs it); ``{host}`` and ``{port}`` become the served address, ``{python}``
the Python running gearsim.

Steps, for a program actor:

* ``connect``: launch its program (if not yet running), bind its next new connection;
* ``send``: the program's next message there must match (literal, ``ref``, ``any``, ``capture``);
* ``expect`` / ``expect_close`` / ``expect_silence``: what the server sent it, as for scripted actors;
* ``disconnect``: the program closes the connection.

Scripted actors are in-process connections to the same model: their ``send``
is performed, their ``expect`` checked. ``advance`` waits on the wall clock.
Order is checked per connection and direction; across connections only as
far as scripted steps force it. At the end every message must have been
accounted for by a step and every program must exit as its actors'
``expect_exit`` says (status 0 when it says nothing). Programs run in their own
sessions and are stopped by PID: after a failure, when they do not exit
``EXIT_GRACE`` s after the last step, and when the case outlives its time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from gearsim.errors import GearsimBug, GearsimError, HarnessError
from gearsim.files import Selection
from gearsim.io.serve import ServeShell
from gearsim.model import Server, ServerOptions
from gearsim.protocol.codec import encode
from gearsim.protocol.node import ConnId
from gearsim.protocol.packets import Magic, Message, Packet
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_record
from gearsim.run.result import CaseResult, StepFailed, Verdict, bug, failed, inconclusive
from gearsim.run.runner import check_profile
from gearsim.vectors import program_matching as pm
from gearsim.vectors.matching import line_text
from gearsim.vectors.parse import Case, PacketPattern, Ref, Step, VectorFile

__all__ = [
    "DEFAULT_TIME_LIMIT",
    "ProgramOutcome",
    "is_program_case",
    "run_program_case",
    "run_program_cases",
]

#: ms a program step waits at least (program start-up included)
DEFAULT_WITHIN_FLOOR = 10_000
#: seconds programs get to exit after the last step, before they are stopped
EXIT_GRACE = 10.0
#: seconds a whole program case may take (wall clock) before its programs are stopped and it fails
DEFAULT_TIME_LIMIT = 180.0
#: ms the end-of-case check waits for stray messages
SETTLE_MS = 100
_HOST = "127.0.0.1"


def is_program_case(case: Case) -> bool:
    """True for a program case (a case with ``programs``); the same as ``case.is_program``."""
    return case.is_program


@dataclass
class ProgramOutcome:
    """One launched program: its command, the actors it plays, its PID and how it ended."""

    command: tuple[str, ...]
    pid: int
    actors: tuple[str, ...] = ()
    returncode: int | None = None
    stopped: bool = False
    stdout: bytes = b""
    stderr: bytes = b""

    def describe(self) -> str:
        status = "stopped by gearsim" if self.stopped else f"exit {self.returncode}"
        out = self.stdout.decode("utf-8", "replace").strip().replace("\n", " | ")
        err = self.stderr.decode("utf-8", "replace").strip().replace("\n", " | ")
        text = f"{shlex.join(self.command)} (PID {self.pid}, {status})"
        if out:
            text += f"; stdout: {out[:400]}"
        if err:
            text += f"; stderr: {err[:400]}"
        return text


@dataclass
class _Stream:
    """What one connection sent (c2s) and received (s2c), and how far steps have read."""

    conn: ConnId
    local: bool
    c2s: list[Message | bytes] = field(default_factory=list)
    s2c: list[Message | bytes] = field(default_factory=list)
    read_c2s: int = 0
    read_s2c: int = 0
    peer_closed: bool = False
    server_closed: bool = False


class _Session:
    """One program case being played."""

    def __init__(self, case: Case, commands: Sequence[str] | None, profile: str, within_floor: int) -> None:
        self.case = case
        self.profile = profile
        self.within_floor = within_floor
        self.records: list[TraceRecord] = []
        self.streams: dict[ConnId, _Stream] = {}
        self.bound: dict[str, ConnId] = {}
        self.captures: dict[str, bytes] = {}
        self.programs: list[ProgramOutcome] = []
        self._procs: list[asyncio.subprocess.Process] = []
        self._io_tasks: list[asyncio.Task[tuple[bytes, bytes]]] = []
        self._launched: dict[int, int] = {}  # command index -> programs index
        self._opening_local = False
        self._wake = asyncio.Event()
        self.notes: list[str] = []
        self.acceptable = False
        self.step: Step | None = None  # the step being played
        self.shell = ServeShell(Server(profile, _options(case)), recorder=self._record)
        program_actors = list(case.programs)
        self.commands = list(commands) if commands else [p.command for p in case.programs.values()]
        if not commands:
            self.command_of = {a: i for i, a in enumerate(program_actors)}
        elif len(self.commands) == 1:
            self.command_of = dict.fromkeys(program_actors, 0)
        elif len(self.commands) == len(program_actors):
            self.command_of = {a: i for i, a in enumerate(program_actors)}
        else:
            raise HarnessError(
                f"the case has {len(program_actors)} program actors ({', '.join(program_actors)}) "
                f"but {len(self.commands)} commands were given: give one, or one per actor"
            )

    # --------------------------------------------------------------- records

    def _record(self, record: TraceRecord) -> None:
        self.records.append(record)
        if record.kind == Kind.ACCEPT:
            self.streams[record.conn] = _Stream(record.conn, local=self._opening_local)
        stream = self.streams.get(record.conn)
        if stream is not None:
            if record.kind == Kind.SEND:
                item: Message | bytes = record.message if record.message is not None else record.data
                (stream.c2s if record.direction == Direction.C2S else stream.s2c).append(item)
            elif record.kind == Kind.CLOSE:
                if "by the server" in record.note:
                    stream.server_closed = True
                else:
                    stream.peer_closed = True
        self._wake.set()

    async def _until(self, ready: Callable[[], bool], ms: int) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ms / 1000
        while not ready():
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=left)
        return True

    def trace_tail(self, lines: int = 16) -> str:
        return "\n".join(format_record(r) for r in self.records[-lines:])

    # -------------------------------------------------------------- programs

    async def _launch(self, index: int) -> None:
        host, port = self.shell.address
        try:
            words = shlex.split(self.commands[index])
        except ValueError as exc:
            raise HarnessError(f"command #{index + 1} {self.commands[index]!r}: {exc}") from None
        subst = {"{host}": host, "{port}": str(port), "{python}": sys.executable}
        argv = [_substitute(w, subst) for w in words]
        if not argv:
            raise HarnessError(f"empty command #{index + 1}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise HarnessError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        self._launched[index] = len(self.programs)
        actors = tuple(a for a, i in self.command_of.items() if i == index)
        self.programs.append(ProgramOutcome(tuple(argv), proc.pid, actors))
        self._procs.append(proc)
        task = asyncio.create_task(proc.communicate())
        task.add_done_callback(lambda _: self._wake.set())  # a program that exits ends a wait for it
        self._io_tasks.append(task)

    async def finish_programs(self, grace: float) -> None:
        """Wait up to ``grace`` s for every program to exit, then stop the rest by PID."""
        for outcome, proc, task in zip(self.programs, self._procs, self._io_tasks, strict=True):
            if outcome.returncode is not None:
                continue
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=grace)
            except TimeoutError:
                outcome.stopped = True
                _signal_group(proc.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(task), timeout=3.0)
                except TimeoutError:
                    _signal_group(proc.pid, signal.SIGKILL)
                    await asyncio.wait([task])
            if not task.cancelled() and task.exception() is None:
                outcome.stdout, outcome.stderr = task.result()
            outcome.returncode = proc.returncode

    def kill_leftovers(self) -> None:
        """SIGKILL the group of every program not yet reaped (the last resort, outside any event loop)."""
        for proc in self._procs:
            if proc.returncode is None:
                _signal_group(proc.pid, signal.SIGKILL)

    def _program_exited(self, actor: str) -> bool:
        index = self._launched.get(self.command_of.get(actor, -1))
        return index is not None and self._io_tasks[index].done()

    # ----------------------------------------------------------------- steps

    def _stream(self, step: Step) -> _Stream:
        conn = self.bound.get(step.actor)
        if conn is None:
            raise StepFailed(step, f"{step.actor} has no connection (no connect step before this one)")
        return self.streams[conn]

    def _program(self, actor: str) -> bool:
        return actor in self.case.programs

    def _within(self, step: Step) -> int:
        if self._program(step.actor):
            return max(step.within or 0, self.within_floor)
        return max(step.within or 0, 2000)

    async def play(self) -> None:
        await self.shell.start(_HOST, 0)
        for step in self.case.steps:
            self.step = step
            await self._step(step)
        self.step = None
        await self._settle()

    async def _step(self, step: Step) -> None:
        action, actor = step.action, step.actor
        program = self._program(actor)
        if action == "advance":
            await asyncio.sleep(step.ms / 1000)
        elif action == "connect":
            await (self._connect_program(step) if program else self._connect_local(step))
        elif action == "disconnect":
            if program:
                stream = self._stream(step)
                if not await self._until(lambda: stream.peer_closed or stream.server_closed, self._within(step)):
                    raise StepFailed(step, f"{actor}: the program did not close its connection", "a close", "")
            else:
                self.shell.close_local(self._stream(step).conn)
        elif action == "send":
            if program:
                await self._program_sends(step)
            else:
                self._scripted_send(step)
        elif action == "expect_close":
            stream = self._stream(step)
            if not await self._until(lambda: stream.server_closed, self._within(step)):
                raise StepFailed(step, f"{actor}: the server did not close the connection", "a close", "")
        elif action == "expect_silence":
            stream = self._stream(step)
            seen = len(stream.s2c)
            await asyncio.sleep(step.ms / 1000)
            if len(stream.s2c) > seen:
                raise StepFailed(step, f"{actor}: the server sent {pm.show(stream.s2c[seen])}", f"silence {step.ms} ms")
        else:
            await self._expect(step)

    async def _connect_program(self, step: Step) -> None:
        index = self.command_of[step.actor]
        if index not in self._launched:
            await self._launch(index)

        def fresh() -> ConnId | None:
            taken = set(self.bound.values())
            for conn, stream in self.streams.items():
                if not stream.local and conn not in taken:
                    return conn
            return None

        if not await self._until(lambda: fresh() is not None or self._program_exited(step.actor), self._within(step)):
            raise StepFailed(step, f"{step.actor}: the program did not connect within {self._within(step)} ms")
        conn = fresh()
        if conn is None:
            raise StepFailed(step, f"{step.actor}: the program exited without connecting")
        self.bound[step.actor] = conn

    async def _connect_local(self, step: Step) -> None:
        self._opening_local = True
        try:
            conn = self.shell.open_local(lambda data: None, lambda: None)
        finally:
            self._opening_local = False
        self.bound[step.actor] = conn

    def _scripted_send(self, step: Step) -> None:
        stream = self._stream(step)
        if stream.peer_closed or stream.server_closed:
            return
        if step.packet is not None:
            data = encode(self._resolve(step, step.packet), length=step.packet.length)
        elif step.admin is not None:
            data = b"".join(line_text(line, self.captures) + step.admin.eol for line in step.admin.lines)
        else:
            data = step.wire or b""
        self.shell.send_local(stream.conn, data)

    def _resolve(self, step: Step, pattern: PacketPattern) -> Packet:
        args: list[bytes] = []
        for arg in pattern.args:
            if isinstance(arg, Ref):
                if arg.name not in self.captures:
                    raise HarnessError(f"{arg.name} was not captured (an alternative accepted earlier has no capture)")
                args.append(self.captures[arg.name])
            elif isinstance(arg, bytes):
                args.append(arg)
            else:
                raise StepFailed(step, f"a scripted send cannot send a {type(arg).__name__} argument")
        magic = pattern.magic if pattern.magic is not None else Magic.REQ
        return Packet(magic, pattern.type, tuple(args))

    async def _take(self, step: Step, direction: str, count: int) -> list[Message | bytes]:
        stream = self._stream(step)
        items = stream.c2s if direction == Direction.C2S else stream.s2c

        def have() -> int:
            return len(items) - (stream.read_c2s if direction == Direction.C2S else stream.read_s2c)

        def ended() -> bool:
            closed = stream.peer_closed or stream.server_closed
            return closed or (self._program(step.actor) and self._program_exited(step.actor))

        await self._until(lambda: have() >= count or ended(), self._within(step))
        start = stream.read_c2s if direction == Direction.C2S else stream.read_s2c
        got = items[start : start + count]
        if direction == Direction.C2S:
            stream.read_c2s += len(got)
        else:
            stream.read_s2c += len(got)
        return got

    async def _program_sends(self, step: Step) -> None:
        if step.packet is not None:
            got = await self._take(step, Direction.C2S, 1)
            expected = pm.describe(step.packet)
            if not got:
                raise StepFailed(
                    step, f"{step.actor}: the program sent nothing more within {self._within(step)} ms", expected, ""
                )
            bind: dict[str, bytes] = {}
            problem = pm.match(step.packet, got[0], Magic.REQ, self.captures, bind)
            if problem:
                raise StepFailed(step, f"{step.actor}: {problem}", expected, pm.show(got[0]))
            self.captures.update(bind)
        else:
            await self._admin_or_wire(step, Direction.C2S)

    async def _admin_or_wire(self, step: Step, direction: str) -> None:
        """Check an admin or wire payload of a program's send or of an expect."""
        if step.admin is not None:
            got = await self._take(step, direction, len(step.admin.lines))
            problem = pm.match_admin(step.admin, got, self.captures)
            if problem:
                expected = pm.admin_text(step.admin, self.captures)
                raise StepFailed(step, f"{step.actor}: {problem}", expected, "; ".join(map(pm.show, got)))
        elif step.wire is not None:
            got = await self._take_wire(step, direction, len(step.wire))
            data = b"".join(pm.wire(m) for m in got)
            if data != step.wire:
                raise StepFailed(step, f"{step.actor}: other bytes", step.wire.hex(), data.hex())

    async def _take_wire(self, step: Step, direction: str, size: int) -> list[Message | bytes]:
        got: list[Message | bytes] = []
        while sum(len(pm.wire(m)) for m in got) < size:
            more = await self._take(step, direction, 1)
            if not more:
                break
            got += more
        return got

    async def _expect(self, step: Step) -> None:
        patterns = [step.packet] if step.packet is not None else list(step.packets)
        if patterns:
            got = await self._take(step, Direction.S2C, len(patterns))
            problem = self._match_all(patterns, got)
            if problem:
                for alt in step.accept:
                    alts = [alt.packet] if alt.packet is not None else list(alt.packets)
                    if self.profile in alt.profiles and alts and not self._match_all(alts, got):
                        self.acceptable = True
                        self.notes.append(f"step {step.index}: {', '.join(alt.profiles)} behaviour")
                        return
                expected = "; ".join(pm.describe(p) for p in patterns)
                raise StepFailed(step, f"{step.actor}: {problem}", expected, "; ".join(map(pm.show, got)))
        else:
            await self._admin_or_wire(step, Direction.S2C)

    def _match_all(self, patterns: list[PacketPattern], got: list[Message | bytes]) -> str:
        bind: dict[str, bytes] = {}
        problem = pm.match_all(patterns, got, self.captures, bind)
        if not problem:
            self.captures.update(bind)
        return problem

    async def _settle(self) -> None:
        await asyncio.sleep(SETTLE_MS / 1000)
        await self.finish_programs(EXIT_GRACE)
        for actor, conn in self.bound.items():
            stream = self.streams[conn]
            if stream.read_c2s < len(stream.c2s) and self._program(actor):
                item = stream.c2s[stream.read_c2s]
                raise StepFailed(None, f"{actor}: the program sent {pm.show(item)} after its last step", "nothing more")
            if stream.read_s2c < len(stream.s2c):
                item = stream.s2c[stream.read_s2c]
                raise StepFailed(None, f"{actor}: the server sent {pm.show(item)} after the last step", "nothing more")
        taken = set(self.bound.values())
        for conn, stream in self.streams.items():
            if conn not in taken and stream.c2s:
                raise StepFailed(
                    None,
                    f"a program opened connection c{conn} that no step expects and sent {pm.show(stream.c2s[0])}",
                    "no more connections",
                )
        for outcome in self.programs:
            if outcome.stopped:
                raise StepFailed(
                    None, f"program {outcome.describe()}: it did not exit {EXIT_GRACE:g} s after the last step"
                )
            for actor in outcome.actors:
                expect = self.case.programs[actor].expect_exit
                problem = pm.match_exit(expect, outcome.returncode, outcome.stdout, self.captures)
                if problem:
                    raise StepFailed(None, f"{actor}: {problem}", pm.exit_text(expect), outcome.describe())

    async def close(self) -> None:
        await self.finish_programs(0.0)
        await self.shell.close()


def _options(case: Case) -> ServerOptions:
    """The case's ``options`` (schema-checked: job_retries, worker_wakeup, exceptions, epoch0)."""
    o = case.options
    default = ServerOptions()
    retries = o.get("job_retries")
    return ServerOptions(
        job_retries=None if retries is None else int(retries),
        worker_wakeup=int(o.get("worker_wakeup", default.worker_wakeup)),
        exceptions=bool(o.get("exceptions", default.exceptions)),
        epoch0=int(o.get("epoch0", default.epoch0)),
    )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (each program runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _substitute(word: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        word = word.replace(key, value)
    return word


# --------------------------------------------------------------------------- running


async def _run(session: _Session, time_limit: float, base: CaseResult) -> tuple[CaseResult, list[ProgramOutcome]]:
    """Play the session within ``time_limit`` s; programs are always stopped before this returns.

    Raises:
        GearsimBug: an unexpected exception inside gearsim (not a verdict).
    """
    failure: StepFailed | None = None
    harness: Exception | None = None
    try:
        try:
            async with asyncio.timeout(time_limit):
                await session.play()
        except TimeoutError:
            failure = StepFailed(session.step, f"the case did not end within its time limit of {time_limit:g} s")
        except StepFailed as exc:
            failure = exc
        except (GearsimError, OSError) as exc:
            harness = exc
        except Exception as exc:
            raise bug(base, session.step, exc) from exc
    finally:
        await session.close()
    notes = tuple(session.notes) + tuple(f"program: {p.describe()}" for p in session.programs)
    records = tuple(session.records)
    if failure is not None:
        result = failed(base, failure, trace=session.trace_tail(), records=records, notes=notes)
    elif harness is not None:
        result = inconclusive(base, harness, trace=session.trace_tail(), records=records, notes=notes)
    else:
        verdict = Verdict.ACCEPTABLE if session.acceptable else Verdict.PASS
        result = replace(base, verdict=verdict, notes=notes, records=records)
    return result, session.programs


def run_program_case(
    vf: VectorFile,
    case: Case,
    commands: Sequence[str] | None = None,
    *,
    profile: str = "gearmand-1.1",
    within_floor: int = DEFAULT_WITHIN_FLOOR,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> tuple[CaseResult, list[ProgramOutcome]]:
    """Play one program case against a freshly served model.

    ``commands`` replace the vector's commands (see the module's docstring);
    None or empty plays each program actor with its vector command. Returns
    the verdict and what each launched program did (PID, exit status,
    output). Never raises for a program's behaviour: a mismatch, a program
    that exits as the case does not say, or one that outlives ``time_limit``
    (it is stopped by PID) is FAIL; a program that cannot be started, a
    command count that does not fit the case or a harness failure is
    INCONCLUSIVE; a case that is not a program case is NOT_APPLICABLE.

    Raises:
        InputError: ``profile`` is not a known profile.
        GearsimBug: an unexpected exception inside gearsim (a bug, not a verdict).
    """
    check_profile(profile)
    base = CaseResult(vf.name, case.id, vf.area, Verdict.PASS, case.requirements, vector_sha256=vf.sha256)
    if not case.is_program:
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="not a program case"), []
    sessions: list[_Session] = []

    async def main() -> tuple[CaseResult, list[ProgramOutcome]]:
        sessions.append(_Session(case, commands, profile, within_floor))
        return await _run(sessions[0], time_limit, base)

    try:
        return asyncio.run(main())
    except (GearsimError, OSError) as exc:  # the session could not be set up: a command that does not fit, a port
        return inconclusive(base, exc), sessions[0].programs if sessions else []
    except GearsimBug:
        raise
    except (Exception, asyncio.CancelledError) as exc:
        raise bug(base, sessions[0].step if sessions else None, exc) from exc
    finally:
        for session in sessions:
            session.kill_leftovers()


def run_program_cases(
    selection: Selection,
    commands: Sequence[str] | None = None,
    *,
    profile: str = "gearmand-1.1",
    within_floor: int = DEFAULT_WITHIN_FLOOR,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> list[CaseResult]:
    """Play every selected program case (with ``commands``, or the vector's); other cases are NOT_APPLICABLE."""
    results: list[CaseResult] = []
    for vf in selection.files:
        for case_id in selection.chosen(vf):
            case = vf.case(case_id)
            result, _ = run_program_case(
                vf, case, commands, profile=profile, within_floor=within_floor, time_limit=time_limit
            )
            results.append(result)
    return results
