"""Playing the scripted actors of a case against a live, in-process server (I/O, asyncio).

Program cases (gearsim.io.programs) and library cases
(gearsim.io.library_cases) both judge something gearsim does not control (a
program, a library through its driver) while gearsim itself plays the case's
other actors over in-process connections to the same server. This module
owns what they share: the records of a run and the per-connection streams
built from them, waiting on them with a wall-clock deadline, and the scripted
steps (``connect``, ``send``, ``expect``, ``expect_silence``,
``expect_close``, ``disconnect`` of a scripted actor) with captured values,
matched by gearsim.vectors.program_matching.

A session fails by raising ``gearsim.run.result.StepFailed``; whoever plays
it turns that into a verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from gearsim.errors import HarnessError
from gearsim.model import ServerOptions
from gearsim.protocol.codec import encode
from gearsim.protocol.node import ConnId
from gearsim.protocol.packets import Magic, Message, Packet
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_record
from gearsim.run.result import StepFailed
from gearsim.vectors import program_matching as pm
from gearsim.vectors.matching import line_text
from gearsim.vectors.parse import Case, PacketPattern, Ref, Step

__all__ = ["SCRIPTED_WITHIN", "ScriptedSession", "Stream", "case_options"]

#: ms a scripted actor's expect waits at least
SCRIPTED_WITHIN = 2000


def case_options(case: Case) -> ServerOptions:
    """The server options a case asks for (schema-checked: job_retries, worker_wakeup, exceptions, epoch0)."""
    o = case.options
    default = ServerOptions()
    retries = o.get("job_retries")
    return ServerOptions(
        job_retries=None if retries is None else int(retries),
        worker_wakeup=int(o.get("worker_wakeup", default.worker_wakeup)),
        exceptions=bool(o.get("exceptions", default.exceptions)),
        epoch0=int(o.get("epoch0", default.epoch0)),
    )


@dataclass
class Stream:
    """What one connection sent (c2s) and received (s2c), and how far steps have read."""

    conn: ConnId
    local: bool
    label: str = ""
    c2s: list[Message | bytes] = field(default_factory=list)
    s2c: list[Message | bytes] = field(default_factory=list)
    read_c2s: int = 0
    read_s2c: int = 0
    peer_closed: bool = False
    server_closed: bool = False

    @property
    def closed(self) -> bool:
        return self.peer_closed or self.server_closed


class ScriptedSession:
    """Records, streams, captures and the scripted steps; subclasses say how local connections open."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self.records: list[TraceRecord] = []
        self.streams: dict[ConnId, Stream] = {}
        self.bound: dict[str, ConnId] = {}
        self.captures: dict[str, bytes] = {}
        self.notes: list[str] = []
        self.acceptable = False
        self.step: Step | None = None  # the step being played
        self._opening_local = False
        self._wake = asyncio.Event()

    # ------------------------------------------------------- subclass hooks

    def open_local(self, actor: str) -> ConnId:
        """Open an in-process connection for the scripted ``actor``."""
        raise NotImplementedError

    def send_local(self, conn: ConnId, data: bytes) -> None:
        raise NotImplementedError

    def close_local(self, conn: ConnId) -> None:
        raise NotImplementedError

    def within(self, step: Step) -> int:
        """How long (ms) the step may wait."""
        return max(step.within or 0, SCRIPTED_WITHIN)

    def ended(self, step: Step) -> bool:
        """True when whatever plays the step's actor can send nothing more (beyond a closed connection)."""
        return False

    # --------------------------------------------------------------- records

    def record(self, record: TraceRecord) -> None:
        """Take one record (the server's recorder callback)."""
        self.records.append(record)
        if record.kind == Kind.ACCEPT:
            self.streams[record.conn] = Stream(record.conn, local=self._opening_local, label=record.label)
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

    def wake(self) -> None:
        """Make every wait look again (something it may wait for happened)."""
        self._wake.set()

    async def until(self, ready: Callable[[], bool], ms: int) -> bool:
        """Wait until ``ready()`` or ``ms`` pass; return ``ready()``'s last value."""
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

    # ----------------------------------------------------------------- steps

    def stream_of(self, step: Step) -> Stream:
        conn = self.bound.get(step.actor)
        if conn is None:
            raise StepFailed(step, f"{step.actor} has no connection (no connect step before this one)", actor="")
        return self.streams[conn]

    async def scripted_step(self, step: Step) -> None:
        """Play one step of a scripted actor (or an ``advance``)."""
        action = step.action
        if action == "advance":
            await asyncio.sleep(step.ms / 1000)
        elif action == "connect":
            self._opening_local = True
            try:
                conn = self.open_local(step.actor)
            finally:
                self._opening_local = False
            self.bound[step.actor] = conn
        elif action == "disconnect":
            self.close_local(self.stream_of(step).conn)
        elif action == "send":
            self.scripted_send(step)
        else:
            await self.expect_step(step)

    async def expect_step(self, step: Step) -> None:
        """``expect``, ``expect_close`` or ``expect_silence``: what the server sent the actor."""
        actor = step.actor
        if step.action == "expect_close":
            stream = self.stream_of(step)
            if not await self.until(lambda: stream.server_closed, self.within(step)):
                raise StepFailed(step, f"{actor}: the server did not close the connection", "a close", "")
        elif step.action == "expect_silence":
            stream = self.stream_of(step)
            seen = len(stream.s2c)
            await asyncio.sleep(step.ms / 1000)
            if len(stream.s2c) > seen:
                sent = stream.s2c[seen]
                why = f"{actor}: the server sent {pm.show(sent)}"
                raise StepFailed(step, why, f"silence {step.ms} ms", received=[sent])
        else:
            await self._expect(step)

    def scripted_send(self, step: Step) -> None:
        stream = self.stream_of(step)
        if stream.closed:
            return
        if step.packet is not None:
            data = encode(self.resolve(step, step.packet), length=step.packet.length)
        elif step.admin is not None:
            data = b"".join(line_text(line, self.captures) + step.admin.eol for line in step.admin.lines)
        else:
            data = step.wire or b""
        self.send_local(stream.conn, data)

    def resolve(self, step: Step, pattern: PacketPattern, default_magic: Magic = Magic.REQ) -> Packet:
        """The packet a scripted send (or a server_send) writes: refs replaced by captured values."""
        args: list[bytes] = []
        for arg in pattern.args:
            if isinstance(arg, Ref):
                if arg.name not in self.captures:
                    raise HarnessError(f"{arg.name} was not captured (an alternative accepted earlier has no capture)")
                args.append(self.captures[arg.name])
            elif isinstance(arg, bytes):
                args.append(arg)
            else:
                raise StepFailed(step, f"a scripted send cannot send a {type(arg).__name__} argument", actor="")
        magic = pattern.magic if pattern.magic is not None else default_magic
        return Packet(magic, pattern.type, tuple(args))

    async def take(self, step: Step, direction: str, count: int) -> list[Message | bytes]:
        """The next ``count`` messages of the actor's stream one way (fewer when it ends or time runs out)."""
        stream = self.stream_of(step)
        items = stream.c2s if direction == Direction.C2S else stream.s2c

        def have() -> int:
            return len(items) - (stream.read_c2s if direction == Direction.C2S else stream.read_s2c)

        await self.until(lambda: have() >= count or stream.closed or self.ended(step), self.within(step))
        start = stream.read_c2s if direction == Direction.C2S else stream.read_s2c
        got = items[start : start + count]
        if direction == Direction.C2S:
            stream.read_c2s += len(got)
        else:
            stream.read_s2c += len(got)
        return got

    async def admin_or_wire(self, step: Step, direction: str) -> None:
        """Check an admin or wire payload of a step, one way."""
        if step.admin is not None:
            got = await self.take(step, direction, len(step.admin.lines))
            problem = pm.match_admin(step.admin, got, self.captures)
            if problem:
                expected = pm.admin_text(step.admin, self.captures)
                actual = "; ".join(map(pm.show, got))
                raise StepFailed(step, f"{step.actor}: {problem}", expected, actual, received=got)
        elif step.wire is not None:
            taken: list[Message | bytes] = []
            while sum(len(pm.wire(m)) for m in taken) < len(step.wire):
                more = await self.take(step, direction, 1)
                if not more:
                    break
                taken += more
            data = b"".join(pm.wire(m) for m in taken)
            if data != step.wire:
                raise StepFailed(step, f"{step.actor}: other bytes", step.wire.hex(), data.hex(), received=taken)

    async def _expect(self, step: Step) -> None:
        patterns = [step.packet] if step.packet is not None else list(step.packets)
        if not patterns:
            await self.admin_or_wire(step, Direction.S2C)
            return
        got = await self.take(step, Direction.S2C, len(patterns))
        problem = self.match_all(patterns, got)
        if not problem:
            return
        for alt in step.accept:
            alts = [alt.packet] if alt.packet is not None else list(alt.packets)
            if self.profile in alt.profiles and alts and not self.match_all(alts, got):
                self.acceptable = True
                self.notes.append(f"step {step.index}: {', '.join(alt.profiles)} behaviour")
                return
        expected = "; ".join(pm.describe(p) for p in patterns)
        raise StepFailed(step, f"{step.actor}: {problem}", expected, "; ".join(map(pm.show, got)), received=got)

    def match_all(self, patterns: list[PacketPattern], got: list[Message | bytes]) -> str:
        """'' when ``got`` matches ``patterns`` (captures bound); else why not."""
        bind: dict[str, bytes] = {}
        problem = pm.match_all(patterns, got, self.captures, bind)
        if not problem:
            self.captures.update(bind)
        return problem
