"""The asyncio shell that runs a sans-IO ``ServerNode`` as a real TCP server (I/O).

This module owns sockets, the event loop and the wall clock; the node owns
every protocol decision. The shell converts clocks (a tick is one wall
millisecond since tick 0, ``now()``; tick 0 may be pinned to a wall time so
that a model's epoch clock is the wall clock), moves bytes (``receive`` for
what a connection sent, ``Send``/``Close`` outputs back to the transports) and
calls ``node.advance(now)`` when ``node.next_deadline()`` is due.

It also keeps one connection from hurting the others (``ServeLimits``):

* fairness: at most ``turn_bytes`` of one connection reach the node per turn
  of the event loop; the rest waits with reading paused (TCP pushes back on
  the sender), so a 200k-job pipelined burst cannot starve another client's
  ECHO;
* back-pressure: a connection whose replies pile up unread is not read until
  its peer reads them;
* optional timeouts: ``idle_timeout`` closes a connection that sent nothing
  for that long, ``message_timeout`` one whose message (header, body or admin
  line) is still unfinished that long after its first byte (slow headers);
  neither is on by default, as in gearmand.

Every message can be observed, both directions, as ``gearsim.protocol.trace``
records: written to a ``ServeLog`` (text or JSONL) and/or handed to a
``recorder`` callback (the client-under-test harness). With ``check`` each
message a peer sends is judged (``gearsim.io.serve_log.Checker``) and every
violation is logged with its rule id and printed to ``alerts``. Observation
costs a second decode of what the peers send, so it is off unless asked for.

Besides TCP connections the shell can hold *local* connections
(``open_local``): in-process ends that a harness scripts, whose bytes reach the
node exactly like a socket's, and whose replies arrive through a callback.

``gearsim serve`` (``serve_forever``) binds 127.0.0.1 unless told otherwise,
prints ``listening on HOST:PORT`` first, so a parent process can read the port
it got with ``--port 0``, and returns on SIGINT, SIGTERM or when the node
exits (Perl's admin ``shutdown``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TextIO

from gearsim.errors import HarnessError
from gearsim.io.serve_conn import ConnState, LocalEnd, ServeLimits, ShellProtocol
from gearsim.io.serve_log import Checker, Observer, Recorder, ServeLog
from gearsim.io.serve_process import ServeProcess, start_serve_process
from gearsim.model.options import ServerOptions
from gearsim.model.profiles import Profile
from gearsim.model.wire import decoder_for
from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import TICKS_PER_SECOND, Close, ConnId, Output, Send, ServerNode
from gearsim.protocol.trace import Direction, Kind

__all__ = [
    "DEFAULT_HOST",
    "LocalEnd",
    "Recorder",
    "ServeLimits",
    "ServeProcess",
    "ServeShell",
    "serve_forever",
    "start_serve_process",
]

#: the address ``gearsim serve`` binds unless told otherwise
DEFAULT_HOST = "127.0.0.1"
#: the body limit of the observation decoders unless told: as large as a header can announce
_NO_LIMIT = 2**32
#: the note of a close that serve's own stop caused
SHUT_DOWN = "serve shut down"


class ServeShell:
    """Runs ``node`` behind asyncio transports; call ``start`` inside a running loop.

    Outputs are written at once: gathering the writes of one turn of the
    event loop per connection was measured slower (one more loop turn of
    latency per reply, for few saved system calls).

    Args:
        node: the server (the reference model or any ``ServerNode``).
        log: a text stream (one canonical trace line per message and event) or
            a ``ServeLog`` (text or JSONL).
        recorder: called with every record (messages both ways, accepts, closes,
            and a ``violation`` record per violation when checking).
        check: judge every message a peer sends; violations go to the log,
            the recorder and ``alerts``.
        alerts: where each violation is printed as one line (None: nowhere).
        limits: fairness and timeouts (``ServeLimits``).
        tick0_wall: the wall time (Unix seconds) that tick 0 stands for; None:
            the moment the shell starts. Give the model's epoch0 to make its
            epoch clock the wall clock.
        max_body: the observation decoder's body limit for a node that is not
            the reference model (the model's own framing is used for it).
    """

    def __init__(
        self,
        node: ServerNode,
        *,
        log: TextIO | ServeLog | None = None,
        recorder: Recorder | None = None,
        check: bool = False,
        alerts: TextIO | None = None,
        limits: ServeLimits | None = None,
        tick0_wall: float | None = None,
        max_body: int = _NO_LIMIT,
    ) -> None:
        self.node = node
        self.log = log if isinstance(log, ServeLog) or log is None else ServeLog(log)
        observe = self.log is not None or recorder is not None or check
        #: logs, records and judges every message (None: nobody is watching)
        self.observer = Observer(self.log, recorder, Checker() if check else None, alerts) if observe else None
        #: where violations and internal errors are printed, one line each
        self.alerts = alerts
        self.limits = limits if limits is not None else ServeLimits()
        self.tick0_wall = tick0_wall
        self.max_body = max_body
        self._decode = observe or self.limits.message_timeout is not None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._server: asyncio.AbstractServer | None = None
        self._conns: dict[ConnId, ConnState] = {}
        self._next_conn: ConnId = 1
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick: int | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._listening = False
        #: set when the node exits (Perl's admin 'shutdown'): serve_forever returns
        self.exited: asyncio.Event | None = None
        self.address: tuple[str, int] = ("", 0)

    # ------------------------------------------------------------------ clock

    def now(self) -> int:
        """Wall milliseconds since tick 0 (the node's ticks)."""
        loop = self._loop
        return 0 if loop is None else int((loop.time() - self._t0) * TICKS_PER_SECOND)

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = self._loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        if self.tick0_wall is not None:
            self._t0 -= max(0.0, time.time() - self.tick0_wall)
        self.exited = asyncio.Event()
        limits = self.limits
        if limits.idle_timeout is not None or limits.message_timeout is not None:
            self._sweep()
        return loop

    # --------------------------------------------------------------- lifetime

    async def start(self, host: str = DEFAULT_HOST, port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: any free port); return the address bound.

        Raises:
            HarnessError: the address cannot be bound (in use, not local, no permission, a host name
                that does not resolve).
        """
        loop = self._bind()
        try:
            self._server = await loop.create_server(
                lambda: ShellProtocol(self), host, port, reuse_address=True, family=socket.AF_INET
            )
        except socket.gaierror as exc:
            # its errno is a getaddrinfo code (EAI_*), which os.strerror calls "Unknown error -2"
            why = exc.strerror or str(exc)
            raise HarnessError(
                f"cannot listen on {host}:{port}: the host name {host!r} could not be resolved ({why})"
            ) from None
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise HarnessError(f"cannot listen on {host}:{port}: {why}") from None
        except (OverflowError, TypeError) as exc:
            raise HarnessError(f"cannot listen on {host}:{port}: {exc}") from None
        self._listening = True
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        return self.address

    def bind_loop(self) -> None:
        """Use the running loop without listening (local connections only).

        Raises:
            RuntimeError: no event loop is running.
        """
        self._bind()

    async def close(self) -> None:
        """Stop listening and close every connection, each logged as closed by the server (serve shut down)."""
        for handle in (self._timer, self._sweeper):
            if handle is not None:
                handle.cancel()
        self._timer = self._sweeper = None
        self._stop_listening()
        now = self.now()
        for c in list(self._conns.values()):
            if not c.closing:
                self._close_conn(c, now, SHUT_DOWN)
            if isinstance(c.end, LocalEnd):
                self._lost(c.id)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let connection_lost callbacks run
        if self.log is not None:
            self.log.flush()

    def _stop_listening(self) -> None:
        if self._server is not None and self._listening:
            self._listening = False
            self._server.close()

    # --------------------------------------------------------- local connections

    def open_local(self, on_data: Callable[[bytes], None], on_close: Callable[[], None], peer: str = "local") -> ConnId:
        """Open an in-process connection; the server's bytes go to ``on_data``.

        ``on_close`` is called once when the server closes it. Must be called
        from the loop's thread.
        """
        conn = self._next_conn
        end = LocalEnd(conn, on_data, on_close)
        return self._accept(end, peer, conn)

    def send_local(self, conn: ConnId, data: bytes) -> None:
        """Bytes written by the harness on a local connection.

        Raises:
            KeyError: ``conn`` is not an open local connection.
        """
        c = self._conns.get(conn)
        if c is None or not isinstance(c.end, LocalEnd):
            raise KeyError(conn)
        self._receive(conn, data)

    def close_local(self, conn: ConnId) -> None:
        """The harness closes a local connection (the node sees a disconnect)."""
        c = self._conns.get(conn)
        if c is not None and isinstance(c.end, LocalEnd):
            c.end.closed = True
            self._lost(conn)

    # -------------------------------------------------------------- callbacks

    def _accept(self, end: asyncio.Transport | LocalEnd, peername: object, conn: ConnId | None = None) -> ConnId:
        conn = self._next_conn if conn is None else conn
        self._next_conn = conn + 1
        if isinstance(peername, tuple) and len(peername) >= 2:
            host, where = str(peername[0]), f"{peername[0]}:{peername[1]}"
        else:
            host = where = str(peername)
        loop = self._loop
        c = self._conns[conn] = ConnState(conn, end, where, loop.time() if loop is not None else 0.0)
        now = self.now()
        if self._decode:
            c.decoder = self._decoder()
        self._event(now, c, Kind.ACCEPT, where)
        self._apply(self._safely(c, self.node.connect, conn, now, host))
        return conn

    def _decoder(self) -> Decoder:
        """An observation decoder that frames as the node does: the reference model's own
        (its body limit, its header checks, gear's unchecked magic), else one with ``max_body``."""
        profile, options = getattr(self.node, "profile", None), getattr(self.node, "options", None)
        if isinstance(profile, Profile) and isinstance(options, ServerOptions):
            return decoder_for(profile, options)
        return Decoder(max_body=self.max_body)

    def _receive(self, conn: ConnId, data: bytes) -> None:
        c = self._conns.get(conn)
        if c is None or c.closing:
            return
        loop = self._loop
        if loop is not None:
            c.last_rx = loop.time()
        if isinstance(c.end, LocalEnd):
            self._process(c, data)
            return
        # libuv reads a busy socket up to 32 times per turn: count what this turn took
        if not c.backlog and c.turn_used + len(data) <= self.limits.turn_bytes:
            if not c.turn_used and loop is not None:
                loop.call_soon(c.new_turn)
            c.turn_used += len(data)
            self._process(c, data)
            return
        # more than one turn's share: the rest waits, and nothing more is read meanwhile
        c.backlog.append(memoryview(data))
        self._pause_reading(c)
        if not c.scheduled and loop is not None:
            c.scheduled = True
            loop.call_soon(self._drain, c)

    def _drain(self, c: ConnState) -> None:
        """Hand the node one turn's share of ``c``'s backlog; come back next turn for the rest."""
        c.scheduled = False
        if c.closing or self._conns.get(c.id) is not c:
            c.backlog.clear()
            return
        budget = self.limits.turn_bytes
        parts: list[bytes] = []
        backlog = c.backlog
        while backlog and budget > 0:
            head = backlog[0]
            if len(head) <= budget:
                parts.append(bytes(backlog.popleft()))
                budget -= len(head)
            else:
                parts.append(bytes(head[:budget]))
                backlog[0] = head[budget:]
                budget = 0
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if not c.turn_used and self._loop is not None:
            self._loop.call_soon(c.new_turn)
        c.turn_used += len(data)
        self._process(c, data)
        if backlog and not c.closing and self._loop is not None:
            c.scheduled = True
            self._loop.call_soon(self._drain, c)
        else:
            self._resume_reading(c)

    def _process(self, c: ConnState, data: bytes) -> None:
        now = self.now()
        if c.decoder is not None:
            self._observe_in(now, c, data)
        elif self.observer is not None:  # undecodable since an earlier error: the raw bytes
            self.observer.message(now, c.id, c.peer, Direction.C2S, None, data)
        self._apply(self._safely(c, self.node.receive, c.id, data, now))

    def _pause_reading(self, c: ConnState) -> None:
        if not c.read_paused and not isinstance(c.end, LocalEnd) and not c.end.is_closing():
            c.read_paused = True
            c.end.pause_reading()

    def _resume_reading(self, c: ConnState) -> None:
        if c.read_paused and not c.backlog and not c.write_paused and not c.closing:
            c.read_paused = False
            if not isinstance(c.end, LocalEnd) and not c.end.is_closing():
                c.end.resume_reading()

    def _writing(self, conn: ConnId, *, paused: bool) -> None:
        """The transport's send buffer passed its high (or fell below its low) water mark."""
        c = self._conns.get(conn)
        if c is None:
            return
        c.write_paused = paused
        if paused:
            self._pause_reading(c)
        else:
            self._resume_reading(c)

    def _lost(self, conn: ConnId) -> None:
        c = self._conns.pop(conn, None)
        if c is None:
            return
        c.backlog.clear()
        if self.observer is not None:
            self.observer.closed(conn)
        if c.closing:
            return
        now = self.now()
        self._event(now, c, Kind.CLOSE, "closed by the peer")
        self._apply(self._safely(None, self.node.disconnect, conn, now))

    def _fire(self) -> None:
        self._timer = None
        due = self._timer_tick
        self._timer_tick = None
        # call_at may run a little early on a coarse clock: the node's tick is never before its deadline
        now = max(self.now(), due if due is not None else 0)
        self._apply(self._safely(None, self.node.advance, now))

    def _sweep(self) -> None:
        """Close the connections past ``idle_timeout`` or ``message_timeout``; run again a little later."""
        loop = self._loop
        if loop is None:
            return
        idle, slow = self.limits.idle_timeout, self.limits.message_timeout
        t = loop.time()
        now = self.now()
        for c in list(self._conns.values()):
            if c.closing or isinstance(c.end, LocalEnd):
                continue
            if slow is not None and c.partial_since is not None and t - c.partial_since >= slow:
                self._shell_close(c, now, f"a message still unfinished {slow:g} s after its first byte (slow sender)")
            elif idle is not None and t - c.last_rx >= idle:
                self._shell_close(c, now, f"nothing received for {idle:g} s (idle timeout)")
        period = min(x for x in (idle, slow) if x is not None) / 4
        self._sweeper = loop.call_later(min(1.0, max(0.01, period)), self._sweep)

    def _safely(self, c: ConnState | None, call: Callable[..., list[Output]], *args: object) -> list[Output]:
        """``call``'s outputs; a node that raises is a gearsim bug: said on one line, its connection closed.

        Serving goes on for everyone else (the node may be left inconsistent
        for that connection, never silently).
        """
        try:
            return call(*args)
        except Exception as exc:  # a bug in the node: every other connection keeps its server
            where = f"c{c.id} {c.peer}" if c is not None else "a timer or a disconnect"
            line = f"gearsim serve: internal error on {where}: {type(exc).__name__}: {exc} (a bug in the server model)"
            if self.alerts is not None:
                self.alerts.write(line + "\n")
                self.alerts.flush()
            if c is not None and not c.closing:
                self._close_conn(c, self.now(), f"internal error: {type(exc).__name__}: {exc}")
                if isinstance(c.end, LocalEnd):
                    self._lost(c.id)
            return []

    def _shell_close(self, c: ConnState, now: int, reason: str) -> None:
        """The shell itself ends a connection: logged as closed by the server; the node is told."""
        self._close_conn(c, now, reason)
        if isinstance(c.end, LocalEnd):
            self._lost(c.id)
        self._apply(self._safely(None, self.node.disconnect, c.id, now))

    def _close_conn(self, c: ConnState, now: int, reason: str) -> None:
        c.closing = True
        c.backlog.clear()
        self._event(now, c, Kind.CLOSE, f"closed by the server: {reason}")
        c.end.close()

    # ---------------------------------------------------------------- outputs

    def _apply(self, outputs: Iterable[Output]) -> None:
        self._follow_node()  # before the replies: a client told "OK" must find the door shut
        conns = self._conns
        for output in outputs:
            c = conns.get(output.conn)
            if c is None:
                continue
            if isinstance(output, Send):
                end = c.end
                if end.is_closing():
                    continue
                end.write(output.data)
                if self.observer is not None:
                    self.observer.sent(self.now(), c.id, c.peer, output)
            elif isinstance(output, Close):
                if c.closing:
                    continue
                self._close_conn(c, self.now(), output.reason)
                if isinstance(c.end, LocalEnd):
                    self._lost(output.conn)
        self._rearm()

    def _rearm(self) -> None:
        tick = self.node.next_deadline()
        if tick == self._timer_tick:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_tick = tick
        if tick is not None and self._loop is not None:
            self._timer = self._loop.call_at(self._t0 + tick / TICKS_PER_SECOND, self._fire)

    def _follow_node(self) -> None:
        """A node that stopped accepting (draining) or exited (Perl's admin 'shutdown') takes serve with it.

        The node says so in its ``lifecycle`` (the reference model's; other
        nodes have none and never stop).
        """
        state = getattr(getattr(self.node, "lifecycle", None), "value", None)
        if state == "exited" or state == "draining":
            self._stop_listening()  # new connections are refused, as the real server's are
        if state == "exited" and self.exited is not None and not self.exited.is_set():
            self.exited.set()

    # ------------------------------------------------------------ observation

    def _event(self, now: int, c: ConnState, kind: str, note: str) -> None:
        if self.observer is not None:
            self.observer.event(now, c.id, c.peer, kind, note)

    def _observe_in(self, now: int, c: ConnState, data: bytes) -> None:
        decoder = c.decoder
        assert decoder is not None
        observer = self.observer
        start = decoder.offset + decoder.buffered  # the stream offset of data[0]
        messages, error = decoder.feed_until_error(data)
        if error is not None:
            c.decoder = None
            c.partial_since = None
            if observer is not None:
                if messages:  # what came before the fault, then the fault
                    observer.received(now, c.id, c.peer, messages)
                observer.undecodable(now, c.id, c.peer, data[max(0, error.offset - start) :], error)
            return
        if decoder.buffered == 0:
            c.partial_since = None
        elif messages or c.partial_since is None:
            loop = self._loop
            c.partial_since = loop.time() if loop is not None else None
        if observer is not None and messages:
            observer.received(now, c.id, c.peer, messages)


async def serve_forever(
    node: ServerNode,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    log: TextIO | ServeLog | None = None,
    announce: TextIO | None = None,
    header: Mapping[str, object] | None = None,
    check: bool = False,
    alerts: TextIO | None = None,
    limits: ServeLimits | None = None,
    tick0_wall: float | None = None,
    max_body: int = _NO_LIMIT,
) -> ServeShell:
    """Serve ``node`` until SIGINT, SIGTERM or the node's exit; print ``listening on HOST:PORT`` first.

    With a log, its first line is the run header: when, the pid, the address
    bound, then ``header``'s fields. Returns the shell (its ``violations``).

    Raises:
        HarnessError: the address cannot be bound, or the log cannot be written ("cannot write log NAME: why";
            once serving, that ends the run as SIGTERM does).
    """
    shell = ServeShell(
        node, log=log, check=check, alerts=alerts, limits=limits, tick0_wall=tick0_wall, max_body=max_body
    )
    bound_host, bound_port = await shell.start(host, port)
    stop = asyncio.Event()
    if shell.log is not None:
        shell.log.on_error = stop.set  # a log that fills up midway ends the run, which then says so
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
        try:
            shell.log.header({"started": started, "pid": os.getpid(), "listen": f"{bound_host}:{bound_port}",
                              **(header or {})})  # fmt: skip
        except HarnessError:
            # a log that cannot be written (a full disk): stop listening before saying so, not leave the socket open
            await shell.close()
            raise
    out = announce if announce is not None else sys.stdout
    out.write(f"listening on {bound_host}:{bound_port}\n")
    out.flush()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    exited = shell.exited
    assert exited is not None  # start() made it
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(exited.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await shell.close()
    if shell.log is not None and shell.log.error is not None:
        raise shell.log.error
    return shell
