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
the Python running gearsim. Program files a vector's command names are found
relative to the vector file, the top of the bundled data or the current
folder (``program_commands``), so ``gearsim run --programs`` works from any
folder; a file found nowhere is an input error naming it.

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
``expect_exit`` says (status 0 when it says nothing). Everything a program
sends is also checked against the rules for its role, as a library's through
its driver is (gearsim.run.library_judge): a broken rule fails the case with
its id, whatever the steps say. The records (trace and chart) label each
connection with its actor, pass or fail. Programs run in their own
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
from dataclasses import dataclass, replace
from pathlib import Path

from gearsim.errors import GearsimBug, GearsimError, HarnessError, InputError
from gearsim.files import vector_root
from gearsim.io.children import track
from gearsim.io.scripted import ScriptedSession, case_options
from gearsim.io.serve import ServeShell
from gearsim.model import Server
from gearsim.model.profiles import DEFAULT_PROFILE
from gearsim.protocol.node import ConnId
from gearsim.protocol.packets import Magic, Role
from gearsim.protocol.trace import Direction, TraceRecord, format_record
from gearsim.run.batch import CaseRef
from gearsim.run.library_judge import Finding, check_sent, judged
from gearsim.run.result import CaseResult, StepFailed, Verdict, bug, inconclusive
from gearsim.run.runner import check_profile
from gearsim.vectors import program_matching as pm
from gearsim.vectors.parse import Case, Step, VectorFile

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
#: command words with these suffixes name program files, which must exist
SCRIPT_SUFFIXES = frozenset({".php", ".pl", ".pm", ".py", ".rb", ".js", ".mjs", ".sh", ".lua", ".tcl"})


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


class _Session(ScriptedSession):
    """One program case being played."""

    def __init__(self, case: Case, commands: Sequence[str], profile: str, within_floor: int) -> None:
        super().__init__(profile)
        self.case = case
        self.within_floor = within_floor
        self.programs: list[ProgramOutcome] = []
        self._procs: list[asyncio.subprocess.Process] = []
        self._io_tasks: list[asyncio.Task[tuple[bytes, bytes]]] = []
        self._launched: dict[int, int] = {}  # command index -> programs index
        self.shell = ServeShell(Server(profile, case_options(case)), recorder=self.record)
        program_actors = list(case.programs)
        self.commands = list(commands)
        if len(self.commands) == 1:
            self.command_of = dict.fromkeys(program_actors, 0)
        elif len(self.commands) == len(program_actors):
            self.command_of = {a: i for i, a in enumerate(program_actors)}
        else:
            raise HarnessError(
                f"the case has {len(program_actors)} program actors ({', '.join(program_actors)}) "
                f"but {len(self.commands)} commands were given: give one, or one per actor"
            )

    # ------------------------------------------------------ scripted hooks

    def open_local(self, actor: str) -> ConnId:
        return self.shell.open_local(lambda data: None, self.wake)

    def send_local(self, conn: ConnId, data: bytes) -> None:
        self.shell.send_local(conn, data)

    def close_local(self, conn: ConnId) -> None:
        self.shell.close_local(conn)

    def within(self, step: Step) -> int:
        if self._program(step.actor):
            return max(step.within or 0, self.within_floor)
        return super().within(step)

    def ended(self, step: Step) -> bool:
        return self._program(step.actor) and self._program_exited(step.actor)

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
        track(proc)
        self._launched[index] = len(self.programs)
        actors = tuple(a for a, i in self.command_of.items() if i == index)
        self.programs.append(ProgramOutcome(tuple(argv), proc.pid, actors))
        self._procs.append(proc)
        task = asyncio.create_task(proc.communicate())
        task.add_done_callback(lambda _: self.wake())  # a program that exits ends a wait for it
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

    def _program(self, actor: str) -> bool:
        return actor in self.case.programs

    async def play(self) -> None:
        await self.shell.start(_HOST, 0)
        for step in self.case.steps:
            self.step = step
            if self._program(step.actor):
                await self._program_step(step)
            else:
                await self.scripted_step(step)
        self.step = None
        await self._settle()

    async def _program_step(self, step: Step) -> None:
        actor = step.actor
        if step.action == "connect":
            await self._connect_program(step)
        elif step.action == "disconnect":
            stream = self.stream_of(step)
            if not await self.until(lambda: stream.closed, self.within(step)):
                raise StepFailed(step, f"{actor}: the program did not close its connection", "a close", "")
        elif step.action == "send":
            await self._program_sends(step)
        else:
            await self.expect_step(step)

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

        if not await self.until(lambda: fresh() is not None or self._program_exited(step.actor), self.within(step)):
            raise StepFailed(step, f"{step.actor}: the program did not connect within {self.within(step)} ms")
        conn = fresh()
        if conn is None:
            raise StepFailed(step, f"{step.actor}: the program exited without connecting")
        self.bound[step.actor] = conn

    async def _program_sends(self, step: Step) -> None:
        if step.packet is None:
            await self.admin_or_wire(step, Direction.C2S)
            return
        got = await self.take(step, Direction.C2S, 1)
        expected = pm.describe(step.packet)
        if not got:
            raise StepFailed(
                step, f"{step.actor}: the program sent nothing more within {self.within(step)} ms", expected, ""
            )
        bind: dict[str, bytes] = {}
        problem = pm.match(step.packet, got[0], Magic.REQ, self.captures, bind)
        if problem:
            raise StepFailed(step, f"{step.actor}: {problem}", expected, pm.show(got[0]), received=got[:1])
        self.captures.update(bind)

    def labelled(self) -> tuple[TraceRecord, ...]:
        """The records with each connection labelled by the actor bound to it (the trace and chart lanes)."""
        owner = {conn: actor for actor, conn in self.bound.items()}
        return tuple(r._replace(label=owner[r.conn]) if r.conn in owner else r for r in self.records)

    def findings(self) -> list[Finding]:
        """Every rule the programs broke in what they sent (the same checks as for libraries through drivers)."""
        roles = {actor: Role(self.case.actors[actor]) for actor in self.bound if self._program(actor)}
        return check_sent(self.labelled(), roles)

    async def _settle(self) -> None:
        await asyncio.sleep(SETTLE_MS / 1000)
        await self.finish_programs(EXIT_GRACE)
        for actor, conn in self.bound.items():
            stream = self.streams[conn]
            if stream.read_c2s < len(stream.c2s) and self._program(actor):
                item = stream.c2s[stream.read_c2s]
                why = f"{actor}: the program sent {pm.show(item)} after its last step"
                raise StepFailed(None, why, "nothing more", received=[item], actor=actor)
            if stream.read_s2c < len(stream.s2c):
                item = stream.s2c[stream.read_s2c]
                why = f"{actor}: the server sent {pm.show(item)} after the last step"
                raise StepFailed(None, why, "nothing more", received=[item], actor=actor)
        taken = set(self.bound.values())
        for conn, stream in self.streams.items():
            if conn not in taken and stream.c2s:
                raise StepFailed(
                    None,
                    f"a program opened connection c{conn} that no step expects and sent {pm.show(stream.c2s[0])}",
                    "no more connections",
                    received=stream.c2s[:1],
                    actor=stream.label,
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
                    raise StepFailed(None, f"{actor}: {problem}", pm.exit_text(expect), outcome.describe(), actor=actor)

    async def close(self) -> None:
        await self.finish_programs(0.0)
        await self.shell.close()


def _vector_folder(vf: VectorFile) -> Path | None:
    """The folder of the file ``vf`` was read from (bundled names are relative to the bundled vectors)."""
    for candidate in (vector_root() / vf.name, Path(vf.name)):
        if candidate.is_file():
            return candidate.resolve().parent
    return None


def _path_like(word: str) -> bool:
    """A command word that names a program file: a script by its suffix, or ./ or ../ (placeholders aside)."""
    if word.startswith("-") or "{" in word:
        return False
    return word.startswith(("./", "../")) or Path(word).suffix in SCRIPT_SUFFIXES


def program_commands(vf: VectorFile, case: Case, commands: Sequence[str] | None = None) -> list[str]:
    """The commands that play the case's program actors, their program files found.

    The vector's commands (no ``commands`` given) name files relative to the
    vector file's folder, the top of the bundled data (a checkout's root, or
    the installed package's data) or the current folder, tried in that order;
    commands given on the command line, relative to the current folder. A
    word that names a file is replaced by its absolute path.

    Raises:
        InputError: a command names a program file that is in none of those
            places (the message names the file and where it looked), or
            cannot be split.
    """
    if commands:
        texts, bases = list(commands), [Path.cwd()]
    else:
        folder = _vector_folder(vf)
        texts = [p.command for p in case.programs.values()]
        bases = [b for b in (folder, vector_root().parent, Path.cwd()) if b is not None]
    out = []
    for text in texts:
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise InputError(f"{vf.name}::{case.id}: command {text!r}: {exc}") from None
        for i, word in enumerate(words):
            if not _path_like(word):
                continue
            found = next((b / word for b in bases if (b / word).is_file()), None)
            if found is None:
                where = ", ".join(str(b) for b in dict.fromkeys(bases))
                raise InputError(f"{vf.name}::{case.id}: program file {word} not found (looked in {where})")
            words[i] = str(found.resolve())
        out.append(shlex.join(words))
    return out


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
            # about the whole case, not what the actor of the step it was at received
            why = f"the case did not end within its time limit of {time_limit:g} s"
            failure = StepFailed(session.step, why, actor="")
        except StepFailed as exc:
            failure = exc
        except (GearsimError, OSError) as exc:
            harness = exc
        except Exception as exc:
            raise bug(base, session.step, exc) from exc
    finally:
        await session.close()
    notes = tuple(session.notes) + tuple(f"program: {p.describe()}" for p in session.programs)
    records = session.labelled()
    trace = "\n".join(format_record(r) for r in records[-16:])
    if harness is not None:
        return inconclusive(base, harness, trace=trace, records=records, notes=notes), session.programs
    passed = Verdict.ACCEPTABLE if session.acceptable else Verdict.PASS
    result = judged(base, session.findings(), failure, passed=passed, trace=trace, records=records, notes=notes)
    return result, session.programs


def run_program_case(
    vf: VectorFile,
    case: Case,
    commands: Sequence[str] | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
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
    resolved = program_commands(vf, case, commands)
    sessions: list[_Session] = []

    async def main() -> tuple[CaseResult, list[ProgramOutcome]]:
        sessions.append(_Session(case, resolved, profile, within_floor))
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
    refs: Sequence[CaseRef],
    commands: Sequence[str] | None = None,
    *,
    profile: str = DEFAULT_PROFILE,
    within_floor: int = DEFAULT_WITHIN_FLOOR,
    time_limit: float = DEFAULT_TIME_LIMIT,
    progress: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Play every program case of ``refs`` (with ``commands``, or the vector's), in order.

    Other cases are NOT_APPLICABLE. ``progress`` is called with each result.

    Raises:
        InputError, GearsimBug: as :func:`run_program_case`.
    """
    results: list[CaseResult] = []
    for vf, case in refs:
        result, _ = run_program_case(
            vf, case, commands, profile=profile, within_floor=within_floor, time_limit=time_limit
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return results
