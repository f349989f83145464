"""A driver: the adapter program that speaks for a client or worker library under test (I/O).

This module owns the process side of the driver protocol (spec/driver.md):
starting an adapter from a command line, writing one JSON request a line to
its stdin, reading one JSON reply a line from its stdout, keeping what it
writes to stderr, and stopping it by its PID. It knows nothing of cases or
verdicts; gearsim.io.library_cases plays cases through it.

A driver that misbehaves never hangs or crashes gearsim: every read has a
deadline, and each way it can break is a ``DriverBroken`` whose ``kind`` says
which (``start``, ``hung``, ``died``, ``garbage``) and whose message quotes
the offending line and the tail of stderr. The library's own failures are not
exceptions: they come back as replies with ``ok: false`` and a typed error
(``library``, ``timeout``, ``lost``, ``unsupported``).

Command lines are split like a shell line (no shell runs them); ``{python}``
is the Python running gearsim and ``{drivers}`` the folder of the bundled
reference drivers. A bare name of a bundled driver (``php``, ``perl``,
``gear``) stands for its command (gearsim.drivers.REFERENCE).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from gearsim.errors import HarnessError
from gearsim.io.children import track

__all__ = [
    "ERROR_KINDS",
    "PROTOCOL",
    "DriverBroken",
    "DriverProcess",
    "Reply",
    "driver_argv",
]

#: the protocol version a hello names
PROTOCOL: Final[str] = "gearsim-driver/1"
#: the kinds of error a driver may report for a request
ERROR_KINDS: Final[frozenset[str]] = frozenset({"library", "timeout", "lost", "unsupported"})
#: seconds a driver gets, beyond a request's own timeout, to write its reply
GRACE: Final[float] = 5.0
#: seconds a driver gets to answer hello (start-up of its interpreter included)
HELLO_TIMEOUT: Final[float] = 20.0
#: the longest reply line read (a 1 MiB payload in base64 is about 1.4 MB)
_LINE_LIMIT: Final[int] = 64 * 1024 * 1024
#: how deep a reply may nest arrays and objects (the protocol's deepest: an event in a submission's events, 3)
_DEPTH_LIMIT: Final[int] = 64
#: stderr kept per driver
_STDERR_LIMIT: Final[int] = 64 * 1024


class DriverBroken(Exception):
    """The driver itself broke the protocol: it cannot start, hangs, dies or writes garbage.

    Attributes:
        kind: ``start``, ``hung``, ``died`` or ``garbage``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Reply:
    """One reply: ``ok``, the fields the operation returns, or the typed error."""

    ok: bool
    body: Mapping[str, Any]
    error_kind: str = ""
    error_message: str = ""

    def describe(self) -> str:
        if self.ok:
            shown = {k: v for k, v in self.body.items() if k not in ("id", "ok")}
            text = json.dumps(shown, sort_keys=True)
            return "ok " + (text if len(text) <= 300 else text[:297] + "...")
        return f"error {self.error_kind}: {self.error_message}"


def _depth(value: object) -> int:
    """How deep ``value`` nests arrays and objects (1 for an object of scalars), without recursing."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        inner = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if inner is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in inner)
    return deepest


def _printable(text: str) -> str:
    """A library's message for a one-line report: control characters (a NUL, a newline) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text.strip())


def driver_argv(command: str, substitutions: Mapping[str, str] | None = None) -> list[str]:
    """The argv of a driver command: a bundled name, or a shell-like line with ``{python}``, ``{drivers}``.

    Raises:
        HarnessError: the line cannot be split, or is empty.
    """
    from gearsim.drivers import REFERENCE, drivers_dir

    if command in REFERENCE:
        command = REFERENCE[command].command
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise HarnessError(f"driver command {command!r}: {exc}") from None
    if not words:
        raise HarnessError("empty driver command")
    values = {"{python}": sys.executable, "{drivers}": str(drivers_dir()), **(substitutions or {})}
    out = []
    for word in words:
        for key, value in values.items():
            word = word.replace(key, value)
        out.append(word)
    return out


@dataclass
class DriverProcess:
    """One running driver, playing one actor of a case (a client or a worker).

    Build with ``await DriverProcess.start(...)``; always ``await stop()``.
    """

    argv: tuple[str, ...]
    actor: str
    proc: asyncio.subprocess.Process
    stderr: bytearray = field(default_factory=bytearray)
    lines_read: int = 0
    #: a request went unanswered past its deadline: the driver is stuck, so ``stop`` asks no ``bye``
    hung: bool = False
    _next_id: int = 1
    _stderr_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def start(cls, argv: Sequence[str], actor: str, env: Mapping[str, str] | None = None) -> DriverProcess:
        """Start the driver in its own session.

        Raises:
            DriverBroken: the program cannot be started (kind ``start``).
        """
        environ = dict(os.environ)
        environ.update(env or {})
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=_LINE_LIMIT,
                env=environ,
            )
        except OSError as exc:
            raise DriverBroken("start", f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        track(proc)
        driver = cls(tuple(argv), actor, proc)
        driver._stderr_task = asyncio.create_task(driver._drain_stderr())
        return driver

    async def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None  # a pipe, by start()
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            room = _STDERR_LIMIT - len(self.stderr)
            if room > 0:
                self.stderr += chunk[:room]

    def stderr_tail(self, limit: int = 600) -> str:
        text = bytes(self.stderr).decode("utf-8", "replace").strip()
        if len(text) > limit:
            text = "..." + text[-limit:]
        return text.replace("\n", " | ")

    def _what(self) -> str:
        return f"driver {shlex.join(self.argv)} (PID {self.pid}, actor {self.actor})"

    async def request(self, op: str, args: Mapping[str, Any], timeout: float) -> Reply:
        """Send one request and wait up to ``timeout`` + GRACE seconds for its reply.

        Raises:
            DriverBroken: the driver hung, died, or wrote something that is not
                a reply to this request (the message says which line).
        """
        request_id = self._next_id
        self._next_id += 1
        line = json.dumps({"id": request_id, "op": op, **args}, separators=(",", ":")) + "\n"
        stdin = self.proc.stdin
        assert stdin is not None  # a pipe, by start()
        try:
            stdin.write(line.encode("utf-8"))
            await asyncio.wait_for(stdin.drain(), timeout=timeout + GRACE)
        except (BrokenPipeError, ConnectionResetError):
            raise await self._died(f"before it read the {op} request") from None
        except TimeoutError:
            self.hung = True
            raise DriverBroken("hung", f"{self._what()} did not read its {op} request") from None
        except asyncio.CancelledError:
            self.hung = True  # cut by a case's time limit: as _reply says
            raise
        return await self._reply(op, request_id, timeout + GRACE)

    async def _reply(self, op: str, request_id: int, limit: float) -> Reply:
        stdout = self.proc.stdout
        assert stdout is not None  # a pipe, by start()
        try:
            raw = await asyncio.wait_for(stdout.readline(), timeout=limit)
        except asyncio.CancelledError:
            # cut from outside (a case's time limit): the reply may still come, before any later
            # request's, so this driver is hung as far as stop is concerned: no bye, whose reply
            # would never be the next line (it cost each timed-out case GRACE + 0.5 s more)
            self.hung = True
            raise
        except TimeoutError:
            self.hung = True
            raise DriverBroken(
                "hung", f"{self._what()} wrote no reply to {op} within {limit:g} s; stderr: {self.stderr_tail()}"
            ) from None
        except (ValueError, asyncio.LimitOverrunError):
            raise DriverBroken("garbage", f"{self._what()} wrote a line longer than {_LINE_LIMIT} bytes") from None
        if not raw:
            raise await self._died(f"without replying to {op}")
        self.lines_read += 1
        return self._parse(op, request_id, raw)

    def _parse(self, op: str, request_id: int, raw: bytes) -> Reply:
        where = f"{self._what()}, stdout line {self.lines_read}"
        shown = raw[:200].decode("utf-8", "replace").rstrip("\n")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):  # an integer of more than 4300 digits is a ValueError too
            raise DriverBroken("garbage", f"{where} is not JSON: {shown!r}") from None
        except RecursionError:
            raise DriverBroken("garbage", f"{where} nests arrays or objects too deep to read: {shown!r}") from None
        if not isinstance(data, dict):
            raise DriverBroken("garbage", f"{where} is not a JSON object: {shown!r}")
        depth = _depth(data)
        if depth > _DEPTH_LIMIT:
            # what reads a reply (describe, str, repr) recurses: bounded here, it never meets a RecursionError
            raise DriverBroken("garbage", f"{where} nests arrays or objects {depth} deep (at most {_DEPTH_LIMIT})")
        if data.get("id") != request_id:
            raise DriverBroken("garbage", f"{where} answers id {data.get('id')!r}, expected {request_id} ({op})")
        ok = data.get("ok")
        if ok is True:
            return Reply(True, data)
        if ok is not False:
            raise DriverBroken("garbage", f"{where} has no boolean 'ok': {shown!r}")
        error = data.get("error")
        kind = error.get("kind") if isinstance(error, dict) else None
        if not isinstance(kind, str) or kind not in ERROR_KINDS:  # a list or an object as kind is not hashable
            kinds = ", ".join(sorted(ERROR_KINDS))
            raise DriverBroken("garbage", f"{where}: an error reply needs error.kind, one of {kinds}: {shown!r}")
        assert isinstance(error, dict)  # kind came from it
        return Reply(False, data, kind, _printable(str(error.get("message", ""))))

    async def _died(self, when: str) -> DriverBroken:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), timeout=2.0)
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._stderr_task), timeout=1.0)
        status = self.proc.returncode
        return DriverBroken(
            "died", f"{self._what()} exited (status {status}) {when}; stderr: {self.stderr_tail() or 'nothing'}"
        )

    def exited(self) -> bool:
        return self.proc.returncode is not None

    async def stop(self, *, bye: bool = True, grace: float = 2.0) -> int | None:
        """Ask the driver to end (``bye``), then SIGTERM and SIGKILL its process group; return its status.

        A hung driver is not asked: its replies come in order, so the ``bye``'s
        would come after the one it never wrote.
        """
        if self.proc.returncode is None and bye and not self.hung:
            with contextlib.suppress(DriverBroken, OSError, RuntimeError):
                await self.request("bye", {}, 0.5)
        stdin = self.proc.stdin
        if stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                stdin.close()
        for sig, wait in ((None, grace), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            if sig is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, sig)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=wait)
                break
            except TimeoutError:
                continue
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stderr_task
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the driver's process group (the last resort, outside any event loop)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
