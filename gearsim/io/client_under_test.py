"""Client under test: launch real client and worker programs against the served model (I/O).

A *program case* is a lifecycle case (vector format v1) in which some actors
are played by programs launched from command lines, and the others are
scripted by gearsim exactly as in server vectors. The server is the reference
model behind ``gearsim.io.serve.ServeShell`` on 127.0.0.1, whose recorder
sees every message both ways; the case is judged on those records.

Conventions within v1 (until the format says it directly; see the report to
the lead):

* a case is a program case when it names ``program`` in ``profiles`` (which
  keeps it out of every run against a server profile) and has actors whose
  names start with ``prog`` (``prog``, ``prog_client``, ``prog_worker``): those
  are the program's connections;
* program actors take commands in declaration order: with one command every
  program actor is that program's connection, with N commands for N actors
  the i-th actor is the i-th program's;
* a command is split like a shell line (no shell runs it); ``{host}`` and
  ``{port}`` in it are replaced by the served address.

Steps, for a program actor:

* ``connect``: launch its program (if not yet running) and bind the next new
  connection to the actor;
* ``send``: the program's next message on that connection must match (literal
  arguments, ``ref`` to an earlier capture, ``any``);
* ``expect`` / ``expect_close`` / ``expect_silence``: what the server sent
  the program, as for scripted actors (captures bind here);
* ``disconnect``: the program closes the connection.

Scripted actors are in-process connections to the same model: their ``send``
is performed, their ``expect`` checked. ``advance`` waits on the wall clock.
Order is checked per connection and direction; across connections only as
far as scripted steps force it. At the end every program must exit with
status 0 and every message must have been accounted for by a step.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from gearsim.codec import encode, encode_admin
from gearsim.errors import GearsimError, HarnessError
from gearsim.io.serve import ServeShell
from gearsim.loading import Selection
from gearsim.model import Server, ServerOptions
from gearsim.node import ConnId
from gearsim.packets import AdminLine, Magic, Message, Packet
from gearsim.runner import CaseResult, Verdict
from gearsim.trace import Direction, Kind, TraceRecord, format_record
from gearsim.vectors import AdminPattern, AnyValue, Capture, Case, PacketPattern, Ref, Step, VectorFile

__all__ = [
    "PROGRAM_PREFIX",
    "PROGRAM_PROFILE",
    "ProgramOutcome",
    "is_program_actor",
    "is_program_case",
    "run_program_case",
    "run_program_cases",
]

#: the pseudo-profile that marks a program case (and keeps it out of server runs)
PROGRAM_PROFILE = "program"
#: actors whose names start with this are played by programs
PROGRAM_PREFIX = "prog"
#: ms a program step waits at least (program start-up included)
DEFAULT_WITHIN_FLOOR = 10_000
#: seconds programs get to exit after the last step, before they are stopped
EXIT_GRACE = 10.0
#: ms the end-of-case check waits for stray messages
SETTLE_MS = 100
_HOST = "127.0.0.1"


def is_program_actor(name: str) -> bool:
    """True when the actor named ``name`` is a program's connection."""
    return name.startswith(PROGRAM_PREFIX)


def is_program_case(case: Case) -> bool:
    """True for a lifecycle case marked for programs with at least one program actor."""
    return PROGRAM_PROFILE in case.profiles and any(is_program_actor(a) for a in case.actors)


@dataclass
class ProgramOutcome:
    """One launched program: its command, PID and how it ended."""

    command: tuple[str, ...]
    pid: int
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


class _Failed(Exception):
    def __init__(self, step: Step | None, reason: str, expected: str = "", actual: str = "") -> None:
        super().__init__(reason)
        self.step = step
        self.reason = reason
        self.expected = expected
        self.actual = actual


class _Session:
    """One program case being played."""

    def __init__(self, case: Case, commands: Sequence[str], profile: str, within_floor: int) -> None:
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
        self.shell = ServeShell(Server(profile, _options(case)), recorder=self._record)
        self.commands = list(commands)
        program_actors = [a for a in case.actors if is_program_actor(a)]
        if len(self.commands) == 1:
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
        argv = [a.replace("{host}", host).replace("{port}", str(port)) for a in shlex.split(self.commands[index])]
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
        self.programs.append(ProgramOutcome(tuple(argv), proc.pid))
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
                    await task
            outcome.stdout, outcome.stderr = task.result()
            outcome.returncode = proc.returncode

    def _program_exited(self, actor: str) -> bool:
        index = self._launched.get(self.command_of.get(actor, -1))
        return index is not None and self._io_tasks[index].done()

    # ----------------------------------------------------------------- steps

    def _stream(self, step: Step) -> _Stream:
        conn = self.bound.get(step.actor)
        if conn is None:
            raise _Failed(step, f"{step.actor} has no connection (no connect step before this one)")
        return self.streams[conn]

    def _within(self, step: Step) -> int:
        if is_program_actor(step.actor):
            return max(step.within or 0, self.within_floor)
        return max(step.within or 0, 2000)

    async def play(self) -> None:
        await self.shell.start(_HOST, 0)
        for step in self.case.steps:
            await self._step(step)
        await self._settle()

    async def _step(self, step: Step) -> None:
        action, actor = step.action, step.actor
        program = is_program_actor(actor)
        if action == "advance":
            await asyncio.sleep(step.ms / 1000)
        elif action == "connect":
            await (self._connect_program(step) if program else self._connect_local(step))
        elif action == "disconnect":
            if program:
                stream = self._stream(step)
                if not await self._until(lambda: stream.peer_closed or stream.server_closed, self._within(step)):
                    raise _Failed(step, f"{actor}: the program did not close its connection", "a close", "")
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
                raise _Failed(step, f"{actor}: the server did not close the connection", "a close", "")
        elif action == "expect_silence":
            stream = self._stream(step)
            seen = len(stream.s2c)
            await asyncio.sleep(step.ms / 1000)
            if len(stream.s2c) > seen:
                raise _Failed(step, f"{actor}: the server sent {_show(stream.s2c[seen])}", f"silence {step.ms} ms")
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
            raise _Failed(step, f"{step.actor}: the program did not connect within {self._within(step)} ms")
        conn = fresh()
        if conn is None:
            raise _Failed(step, f"{step.actor}: the program exited without connecting")
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
            data = b"".join(line + step.admin.eol for line in step.admin.lines)
        else:
            data = step.wire or b""
        self.shell.send_local(stream.conn, data)

    def _resolve(self, step: Step, pattern: PacketPattern) -> Packet:
        args: list[bytes] = []
        for arg in pattern.args:
            if isinstance(arg, Ref):
                args.append(self.captures[arg.name])
            elif isinstance(arg, bytes):
                args.append(arg)
            else:
                raise _Failed(step, f"a scripted send cannot send a {type(arg).__name__} argument")
        magic = pattern.magic if pattern.magic is not None else Magic.REQ
        return Packet(magic, pattern.type, tuple(args))

    async def _take(self, step: Step, direction: str, count: int) -> list[Message | bytes]:
        stream = self._stream(step)
        items = stream.c2s if direction == Direction.C2S else stream.s2c

        def have() -> int:
            return len(items) - (stream.read_c2s if direction == Direction.C2S else stream.read_s2c)

        def ended() -> bool:
            closed = stream.peer_closed or stream.server_closed
            return closed or (is_program_actor(step.actor) and self._program_exited(step.actor))

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
            expected = _describe(step.packet)
            if not got:
                raise _Failed(
                    step, f"{step.actor}: the program sent nothing more within {self._within(step)} ms", expected, ""
                )
            bind: dict[str, bytes] = {}
            problem = _match(step.packet, got[0], Magic.REQ, self.captures, bind)
            if problem:
                raise _Failed(step, f"{step.actor}: {problem}", expected, _show(got[0]))
            self.captures.update(bind)
        elif step.admin is not None:
            got = await self._take(step, Direction.C2S, len(step.admin.lines))
            problem = _match_admin(step.admin, got)
            if problem:
                raise _Failed(step, f"{step.actor}: {problem}", _admin_text(step.admin), "; ".join(map(_show, got)))
        elif step.wire is not None:
            got = await self._take_wire(step, Direction.C2S, len(step.wire))
            data = b"".join(_wire(m) for m in got)
            if data != step.wire:
                raise _Failed(step, f"{step.actor}: other bytes", step.wire.hex(), data.hex())

    async def _take_wire(self, step: Step, direction: str, size: int) -> list[Message | bytes]:
        got: list[Message | bytes] = []
        while sum(len(_wire(m)) for m in got) < size:
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
                expected = "; ".join(_describe(p) for p in patterns)
                raise _Failed(step, f"{step.actor}: {problem}", expected, "; ".join(map(_show, got)))
        elif step.admin is not None:
            got = await self._take(step, Direction.S2C, len(step.admin.lines))
            problem = _match_admin(step.admin, got)
            if problem:
                raise _Failed(step, f"{step.actor}: {problem}", _admin_text(step.admin), "; ".join(map(_show, got)))
        elif step.wire is not None:
            got = await self._take_wire(step, Direction.S2C, len(step.wire))
            data = b"".join(_wire(m) for m in got)
            if data != step.wire:
                raise _Failed(step, f"{step.actor}: other bytes", step.wire.hex(), data.hex())

    def _match_all(self, patterns: list[PacketPattern], got: list[Message | bytes]) -> str:
        if len(got) < len(patterns):
            return f"got {len(got)} of {len(patterns)} packets"
        bind: dict[str, bytes] = {}
        if len(patterns) == 1:
            problem = _match(patterns[0], got[0], Magic.RES, self.captures, bind)
        else:
            left = list(got)
            problem = ""
            for pattern in patterns:
                for i, message in enumerate(left):
                    trial = dict(bind)
                    if not _match(pattern, message, Magic.RES, self.captures, trial):
                        bind = trial
                        del left[i]
                        break
                else:
                    problem = f"no received packet matches {_describe(pattern)}"
                    break
        if not problem:
            self.captures.update(bind)
        return problem

    async def _settle(self) -> None:
        await asyncio.sleep(SETTLE_MS / 1000)
        await self.finish_programs(EXIT_GRACE)
        for actor, conn in self.bound.items():
            stream = self.streams[conn]
            if stream.read_c2s < len(stream.c2s) and is_program_actor(actor):
                item = stream.c2s[stream.read_c2s]
                raise _Failed(None, f"{actor}: the program sent {_show(item)} after its last step", "nothing more")
            if stream.read_s2c < len(stream.s2c):
                item = stream.s2c[stream.read_s2c]
                raise _Failed(None, f"{actor}: the server sent {_show(item)} after the last step", "nothing more")
        taken = set(self.bound.values())
        for conn, stream in self.streams.items():
            if conn not in taken and stream.c2s:
                raise _Failed(
                    None,
                    f"a program opened connection c{conn} that no step expects and sent {_show(stream.c2s[0])}",
                    "no more connections",
                )
        for outcome in self.programs:
            if outcome.stopped or outcome.returncode != 0:
                raise _Failed(None, f"program {outcome.describe()}", "exit status 0")

    async def close(self) -> None:
        await self.finish_programs(0.0)
        await self.shell.close()


def _options(case: Case) -> ServerOptions:
    """The case's ``options`` (schema-checked: job_retries, worker_wakeup, exceptions, epoch0)."""
    o = case.options
    default = ServerOptions()
    return ServerOptions(
        job_retries=int(o.get("job_retries", default.job_retries)),
        worker_wakeup=int(o.get("worker_wakeup", default.worker_wakeup)),
        exceptions=bool(o.get("exceptions", default.exceptions)),
        epoch0=int(o.get("epoch0", default.epoch0)),
    )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by ``pid`` (each program runs in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


# --------------------------------------------------------------------------- matching


def _wire(item: Message | bytes) -> bytes:
    if isinstance(item, bytes):
        return item
    return encode(item) if isinstance(item, Packet) else encode_admin(item)


def _show(item: Message | bytes) -> str:
    from gearsim.trace import format_message, quote

    return f"undecodable bytes {quote(item)}" if isinstance(item, bytes) else format_message(item)


def _describe(pattern: PacketPattern) -> str:
    parts = []
    for arg in pattern.args:
        if isinstance(arg, Capture):
            parts.append(f"<{arg.name}>")
        elif isinstance(arg, AnyValue):
            parts.append("<any>")
        elif isinstance(arg, Ref):
            parts.append(f"<={arg.name}>")
        else:
            parts.append(repr(arg))
    return f"{pattern.name} [{', '.join(parts)}]"


def _match(
    pattern: PacketPattern,
    got: Message | bytes,
    default_magic: Magic,
    captures: dict[str, bytes],
    bind: dict[str, bytes],
) -> str:
    """'' when ``got`` matches ``pattern``; else why not. New captures go into ``bind``."""
    if not isinstance(got, Packet):
        return f"expected {pattern.name}, got {_show(got)}"
    magic = pattern.magic if pattern.magic is not None else default_magic
    if bytes(got.magic) != bytes(magic):
        return f"magic {bytes(got.magic)!r}, expected {bytes(magic)!r}"
    if int(got.type) != int(pattern.type):
        return f"expected {pattern.name}, got {_show(got)}"
    if len(got.args) != len(pattern.args):
        return f"{_show(got)} has {len(got.args)} arguments, expected {len(pattern.args)}"
    for i, (want, have) in enumerate(zip(pattern.args, got.args, strict=True)):
        if isinstance(want, AnyValue):
            continue
        if isinstance(want, Capture):
            known = bind.get(want.name, captures.get(want.name))
            if known is not None and known != have:
                return f"argument {i + 1} is {have!r}, but {want.name} was {known!r}"
            bind[want.name] = have
            continue
        expected = captures.get(want.name) if isinstance(want, Ref) else want
        if have != expected:
            return f"argument {i + 1} of {_show(got)} is {have!r}, expected {expected!r}"
    return ""


def _admin_text(admin: AdminPattern) -> str:
    return " | ".join(line.decode("latin-1") for line in admin.lines)


def _match_admin(admin: AdminPattern, got: list[Message | bytes]) -> str:
    if len(got) < len(admin.lines):
        return f"got {len(got)} of {len(admin.lines)} admin lines"
    lines = []
    for m in got:
        if not isinstance(m, AdminLine):
            return f"expected admin text, got {_show(m)}"
        if m.eol != admin.eol:
            return f"line {m.text!r} ends with {m.eol!r}, expected {admin.eol!r}"
        lines.append(m.text)
    want = list(admin.lines)
    if admin.unordered and want and want[-1] == b".":
        ok = sorted(lines[:-1]) == sorted(want[:-1]) and lines[-1:] == want[-1:]
    else:
        ok = lines == want
    return "" if ok else f"admin lines {[x.decode('latin-1') for x in lines]}"


# --------------------------------------------------------------------------- running


async def _run(
    case: Case, commands: Sequence[str], profile: str, within_floor: int, base: CaseResult
) -> tuple[CaseResult, list[ProgramOutcome]]:
    session = _Session(case, commands, profile, within_floor)
    try:
        await session.play()
    except _Failed as failed:
        await session.close()
        notes = tuple(session.notes) + tuple(f"program: {p.describe()}" for p in session.programs)
        result = replace(
            base,
            verdict=Verdict.FAIL,
            reason=failed.reason,
            step=failed.step.index if failed.step else None,
            expected=failed.expected,
            actual=failed.actual,
            trace=session.trace_tail(),
            notes=notes,
        )
        return result, session.programs
    except (GearsimError, KeyError, OSError) as exc:
        await session.close()
        return replace(
            base, verdict=Verdict.INCONCLUSIVE, reason=f"harness: {exc}", trace=session.trace_tail()
        ), session.programs
    await session.close()
    notes = tuple(session.notes) + tuple(f"program: {p.describe()}" for p in session.programs)
    verdict = Verdict.ACCEPTABLE if session.acceptable else Verdict.PASS
    return replace(base, verdict=verdict, notes=notes), session.programs


def run_program_case(
    vf: VectorFile,
    case: Case,
    commands: Sequence[str],
    *,
    profile: str = "gearmand-1.1",
    within_floor: int = DEFAULT_WITHIN_FLOOR,
) -> tuple[CaseResult, list[ProgramOutcome]]:
    """Play one program case with ``commands`` against a freshly served model.

    Returns the verdict and what each launched program did (PID, exit
    status, output). Never raises for a program's behaviour: a mismatch is
    FAIL, a program that cannot be started or a command count that does not
    fit the case is INCONCLUSIVE; a case that is not a program case is
    NOT_APPLICABLE.
    """
    base = CaseResult(vf.name, case.id, vf.area, Verdict.PASS, case.requirements)
    if not is_program_case(case):
        return replace(base, verdict=Verdict.NOT_APPLICABLE, reason="not a program case"), []
    try:
        return asyncio.run(_run(case, commands, profile, within_floor, base))
    except HarnessError as exc:
        return replace(base, verdict=Verdict.INCONCLUSIVE, reason=f"harness: {exc}"), []


def run_program_cases(
    selection: Selection,
    commands: Sequence[str],
    *,
    profile: str = "gearmand-1.1",
    within_floor: int = DEFAULT_WITHIN_FLOOR,
) -> list[CaseResult]:
    """Play every selected program case with ``commands``; other cases are NOT_APPLICABLE."""
    results: list[CaseResult] = []
    for vf in selection.files:
        for case_id in selection.chosen(vf):
            result, _ = run_program_case(vf, vf.case(case_id), commands, profile=profile, within_floor=within_floor)
            results.append(result)
    return results
