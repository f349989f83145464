"""The asyncio shell that runs a sans-IO ``ServerNode`` as a real TCP server (I/O).

This module owns sockets, the event loop and the wall clock; the node owns
every protocol decision. The shell only converts clocks (a tick is one wall
millisecond since the shell was made, ``now()``), moves bytes (``receive`` for
what a connection sent, ``Send``/``Close`` outputs back to the transports) and
calls ``node.advance(now)`` when ``node.next_deadline()`` is due.

Every message can be observed, both directions, as ``gearsim.protocol.trace``
records: written one line each to a log (``format_record``, which uses
``format_message``) and/or handed to a ``recorder`` callback (the
client-under-test harness). Observation costs a second decode of what the
peers send, so it is off unless asked for.

Besides TCP connections the shell can hold *local* connections
(``open_local``): in-process ends that a harness scripts, whose bytes reach the
node exactly like a socket's, and whose replies arrive through a callback.

``gearsim serve`` (``serve_main``) binds 127.0.0.1 unless told otherwise and
prints ``listening on HOST:PORT`` first, so a parent process can read the port
it got with ``--port 0``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, cast

from gearsim.errors import DecodeError, HarnessError
from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import Close, ConnId, Output, Send, ServerNode
from gearsim.protocol.packets import Message
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_record

__all__ = [
    "DEFAULT_HOST",
    "LocalEnd",
    "Recorder",
    "ServeProcess",
    "ServeShell",
    "serve_forever",
    "start_serve_process",
]

#: the address ``gearsim serve`` binds unless told otherwise
DEFAULT_HOST = "127.0.0.1"
#: the label of every connection in log lines
_LABEL = "peer"
#: the body limit of the observation decoders: as large as the model's
_NO_LIMIT = 2**32

#: receives every record the shell observes
Recorder = Callable[[TraceRecord], None]


class LocalEnd:
    """The harness side of a local connection: what the server sends arrives in ``on_data``."""

    __slots__ = ("closed", "conn", "on_close", "on_data")

    def __init__(self, conn: ConnId, on_data: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        self.conn = conn
        self.on_data = on_data
        self.on_close = on_close
        self.closed = False

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.on_data(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_close()

    def is_closing(self) -> bool:
        return self.closed


class _Protocol(asyncio.Protocol):
    """One accepted TCP connection; everything it sees goes to the shell."""

    __slots__ = ("conn", "shell", "transport")

    def __init__(self, shell: ServeShell) -> None:
        self.shell = shell
        self.conn: ConnId = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream server only makes stream transports (uvloop's do not subclass asyncio.Transport)
        self.transport = cast("asyncio.Transport", transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.conn = self.shell._accept(self.transport, peer)

    def data_received(self, data: bytes) -> None:
        self.shell._receive(self.conn, data)

    def eof_received(self) -> bool:
        return False  # close our side too: Gearman has no half-closed state

    def connection_lost(self, exc: Exception | None) -> None:
        self.shell._lost(self.conn)


class ServeShell:
    """Runs ``node`` behind asyncio transports; call ``start`` inside a running loop.

    Outputs are written at once: gathering the writes of one turn of the
    event loop per connection was measured slower (one more loop turn of
    latency per reply, for few saved system calls).

    Args:
        node: the server (the reference model or any ``ServerNode``).
        log: a text stream that gets one line per message and connection event.
        recorder: called with every record (messages both ways, accepts, closes).
    """

    def __init__(
        self,
        node: ServerNode,
        *,
        log: TextIO | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.node = node
        self.log = log
        self.recorder = recorder
        self._observe = log is not None or recorder is not None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._server: asyncio.AbstractServer | None = None
        self._ends: dict[ConnId, asyncio.Transport | LocalEnd] = {}
        self._decoders: dict[ConnId, Decoder | None] = {}
        self._server_closed: set[ConnId] = set()
        self._next_conn: ConnId = 1
        self._timer: asyncio.TimerHandle | None = None
        self._timer_tick: int | None = None
        self._seq = 0
        self.address: tuple[str, int] = ("", 0)

    # ------------------------------------------------------------------ clock

    def now(self) -> int:
        """Wall milliseconds since ``start`` (the node's ticks)."""
        loop = self._loop
        return 0 if loop is None else int((loop.time() - self._t0) * 1000)

    # --------------------------------------------------------------- lifetime

    async def start(self, host: str = DEFAULT_HOST, port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0: any free port); return the address bound.

        Raises:
            HarnessError: the address cannot be bound (in use, not local, no permission).
        """
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        try:
            self._server = await self._loop.create_server(
                lambda: _Protocol(self), host, port, reuse_address=True, family=socket.AF_INET
            )
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise HarnessError(f"cannot listen on {host}:{port}: {why}") from None
        except (OverflowError, TypeError) as exc:
            raise HarnessError(f"cannot listen on {host}:{port}: {exc}") from None
        sockname = self._server.sockets[0].getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        return self.address

    def bind_loop(self) -> None:
        """Use the running loop without listening (local connections only).

        Raises:
            RuntimeError: no event loop is running.
        """
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()

    async def close(self) -> None:
        """Stop listening and close every connection (the node is told each one ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._server is not None:
            self._server.close()
        for conn, end in list(self._ends.items()):
            end.close()
            if isinstance(end, LocalEnd):
                self._lost(conn)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let connection_lost callbacks run

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
        if not isinstance(self._ends.get(conn), LocalEnd):
            raise KeyError(conn)
        self._receive(conn, data)

    def close_local(self, conn: ConnId) -> None:
        """The harness closes a local connection (the node sees a disconnect)."""
        end = self._ends.get(conn)
        if isinstance(end, LocalEnd):
            end.closed = True
            self._lost(conn)

    # -------------------------------------------------------------- callbacks

    def _accept(self, end: asyncio.Transport | LocalEnd, peername: object, conn: ConnId | None = None) -> ConnId:
        conn = self._next_conn if conn is None else conn
        self._next_conn = conn + 1
        self._ends[conn] = end
        if isinstance(peername, tuple) and len(peername) >= 2:
            host, where = str(peername[0]), f"{peername[0]}:{peername[1]}"
        else:
            host = where = str(peername)
        now = self.now()
        if self._observe:
            self._decoders[conn] = Decoder(max_body=_NO_LIMIT)
            self._event(now, conn, Kind.ACCEPT, where)
        self._apply(self.node.connect(conn, now, host))
        return conn

    def _receive(self, conn: ConnId, data: bytes) -> None:
        now = self.now()
        if self._observe:
            self._observe_in(now, conn, data)
        self._apply(self.node.receive(conn, data, now))

    def _lost(self, conn: ConnId) -> None:
        end = self._ends.pop(conn, None)
        if end is None:
            return
        now = self.now()
        if conn in self._server_closed:
            self._server_closed.discard(conn)
            self._decoders.pop(conn, None)
            return
        if self._observe:
            self._decoders.pop(conn, None)
            self._event(now, conn, Kind.CLOSE, "closed by the peer")
        self._apply(self.node.disconnect(conn, now))

    def _fire(self) -> None:
        self._timer = None
        due = self._timer_tick
        self._timer_tick = None
        # call_at may run a little early on a coarse clock: the node's tick is never before its deadline
        now = max(self.now(), due if due is not None else 0)
        self._apply(self.node.advance(now))

    # ---------------------------------------------------------------- outputs

    def _apply(self, outputs: Iterable[Output]) -> None:
        ends = self._ends
        for output in outputs:
            end = ends.get(output.conn)
            if isinstance(output, Send):
                if end is None or end.is_closing():
                    continue
                end.write(output.data)
                if self._observe:
                    self._observe_out(output)
            elif isinstance(output, Close):
                if end is None:
                    continue
                self._server_closed.add(output.conn)
                if self._observe:
                    self._event(self.now(), output.conn, Kind.CLOSE, f"closed by the server: {output.reason}")
                end.close()
                if isinstance(end, LocalEnd):
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
            self._timer = self._loop.call_at(self._t0 + tick / 1000, self._fire)

    # ------------------------------------------------------------ observation

    def _emit(self, record: TraceRecord) -> None:
        if self.log is not None:
            self.log.write(format_record(record) + "\n")
        if self.recorder is not None:
            self.recorder(record)

    def _event(self, now: int, conn: ConnId, kind: str, note: str) -> None:
        self._seq += 1
        self._emit(TraceRecord(now, self._seq, conn, _LABEL, Direction.EVENT, kind, None, b"", note))

    def _message(self, now: int, conn: ConnId, direction: str, message: Message | None, data: bytes) -> None:
        self._seq += 1
        self._emit(TraceRecord(now, self._seq, conn, _LABEL, direction, Kind.SEND, message, data, ""))

    def _observe_in(self, now: int, conn: ConnId, data: bytes) -> None:
        decoder = self._decoders.get(conn)
        if decoder is None:  # undecodable earlier: show the raw bytes
            self._message(now, conn, Direction.C2S, None, data)
            return
        try:
            messages = decoder.feed(data)
        except DecodeError as exc:
            self._decoders[conn] = None
            self._event(now, conn, Kind.DECODE_ERROR, str(exc))
            self._message(now, conn, Direction.C2S, None, data)
            return
        for m in messages:
            self._message(now, conn, Direction.C2S, m, b"")

    def _observe_out(self, output: Send) -> None:
        now = self.now()
        messages: Iterable[Message] = output.messages
        if not messages:
            try:
                messages = Decoder(max_body=_NO_LIMIT).feed(output.data)
            except DecodeError:
                self._message(now, output.conn, Direction.S2C, None, output.data)
                return
        for m in messages:
            self._message(now, output.conn, Direction.S2C, m, b"")


async def serve_forever(
    node: ServerNode,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    log: TextIO | None = None,
    announce: TextIO | None = None,
) -> None:
    """Serve ``node`` until SIGINT or SIGTERM; print ``listening on HOST:PORT`` first.

    Raises:
        HarnessError: the address cannot be bound.
    """
    shell = ServeShell(node, log=log)
    bound_host, bound_port = await shell.start(host, port)
    out = announce if announce is not None else sys.stdout
    out.write(f"listening on {bound_host}:{bound_port}\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await shell.close()
        if log is not None:
            log.flush()


@dataclass
class ServeProcess:
    """A ``gearsim serve`` child process: where it listens and how to stop it (by its PID)."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def address(self) -> tuple[str, int]:
        """(host, port) to connect to."""
        return (self.host, self.port)

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM the recorded PID, wait, then SIGKILL; return the exit status. Idempotent."""
        proc = self.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
        return proc.returncode


def start_serve_process(
    *,
    port: int = 0,
    log: Path | None = None,
    profile: str = "gearmand-1.1",
    extra_args: Sequence[str] = (),
    timeout: float = 10.0,
) -> ServeProcess:
    """Start ``python -m gearsim serve`` on 127.0.0.1 and read the port it announces.

    The child runs in its own session; stop it with ``ServeProcess.stop``.

    Raises:
        HarnessError: it exited or did not announce ``listening on HOST:PORT``
            within ``timeout`` seconds (the message quotes its stderr).
    """
    command = [sys.executable, "-m", "gearsim", "serve", "--port", str(port), "--profile", profile]
    if log is not None:
        command += ["--log", str(log)]
    command += list(extra_args)
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    text = line.decode("utf-8", "replace").strip()
    prefix = "listening on "
    if text.startswith(prefix):
        host, _, port_text = text[len(prefix) :].rpartition(":")
        if port_text.isdigit():
            return ServeProcess(proc, host, int(port_text), log)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    err = proc.stderr.read().decode("utf-8", "replace").strip()
    proc.stdout.close()
    proc.stderr.close()
    raise HarnessError(f"gearsim serve did not start (exit {proc.returncode}): {text or err or 'no output'}")
