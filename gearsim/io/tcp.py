"""A real server under test over TCP, as a ``ServerPeer`` for the runner (I/O).

Each actor of a case gets its own loopback socket. Time is wall time in
milliseconds since the peer was made. Vectors speak in virtual milliseconds;
``span`` maps them: an advance or a silence that no server timer depends on is
shortened to ``quick`` ms (a real server answers loopback requests in well under
that), unless the case is ``timed``, and an expect may wait at least
``within_floor`` ms. The mapping is stated in every report (``describe``).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable

from gearsim.errors import DecodeError, HarnessError, InputError
from gearsim.protocol.codec import Decoder
from gearsim.protocol.packets import Message
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_record
from gearsim.run.batch import CONNECT_TIMEOUT, SEND_STALL

__all__ = ["MAX_BODY", "MAX_MESSAGES", "MAX_RECEIVED", "TcpPeer", "TcpPeerFactory", "parse_address"]

#: most messages one connection may deliver in one case; past it the client closes it ("flood")
MAX_MESSAGES = 2000
#: most bytes one connection may deliver in one case; past it the client closes it ("flood")
MAX_RECEIVED = 16 * 1024 * 1024
#: the largest body accepted from a server: a bigger header is a BodyTooLarge DecodeError at once
MAX_BODY = 16 * 1024 * 1024


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT`` too; an empty host is 127.0.0.1) as (host, port).

    Raises:
        InputError: no port, or a port outside 1-65535 (the message quotes the text).
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"expected HOST:PORT with a port from 1 to 65535, got {text!r}")
    host = host.removeprefix("[").removesuffix("]")
    return host or "127.0.0.1", int(port)


class _Conn:
    __slots__ = ("closed", "count", "decoder", "inbox", "received", "sock")

    def __init__(self, sock: socket.socket, inbox: deque[Message]) -> None:
        self.sock = sock
        self.decoder = Decoder(max_body=MAX_BODY)
        self.inbox = inbox
        self.closed = False
        self.received = 0
        self.count = 0


class TcpPeer:
    """A ServerPeer that talks to a real server at ``host:port``.

    Args:
        timed: the case tests server timers; waits are not shortened.
        quick: ms that stand in for an advance or silence when not timed.
        within_floor: the least ms an expect waits for a reply.
        connect_timeout: seconds a connect may take.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timed: bool = False,
        quick: int = 150,
        within_floor: int = 2000,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.host, self.port = host, port
        self.timed = timed
        self.quick = quick
        self.within_floor = within_floor
        self.connect_timeout = connect_timeout
        self._t0 = time.monotonic()
        self._sel = selectors.DefaultSelector()
        self._conns: dict[str, _Conn] = {}
        self._boxes: dict[str, deque[Message]] = {}
        self._records: list[TraceRecord] = []
        self._conn_ids: dict[str, int] = {}
        self._tdecs: dict[str, Decoder] = {}

    def now(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def _record(
        self, actor: str, direction: str, kind: str, message: Message | None = None, data: bytes = b"", note: str = ""
    ) -> None:
        conn = self._conn_ids.setdefault(actor, len(self._conn_ids) + 1)
        rec = TraceRecord(self.now(), len(self._records), conn, actor, direction, kind, message, data, note)
        self._records.append(rec)

    def connect(self, actor: str) -> None:
        """Connect the actor.

        Raises:
            HarnessError: the server cannot be reached.
        """
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise HarnessError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = _Conn(sock, self.inbox(actor))
        old = self._conns.get(actor)
        if old is not None and not old.closed:
            self._drop(actor, old)
        self._conns[actor] = conn
        self._sel.register(sock, selectors.EVENT_READ, actor)
        self._record(actor, Direction.EVENT, Kind.CONNECT, note=f"to {self.host}:{self.port}")

    def send(self, actor: str, data: bytes) -> None:
        """Write all of ``data`` (a server that stops reading for ``SEND_STALL`` s is a harness error).

        Raises:
            HarnessError: the actor is not connected, or the write fails or stalls.
        """
        conn = self._conns.get(actor)
        if conn is None:
            raise HarnessError(f"{actor} sends before it connects")
        if conn.closed:
            self._record(actor, Direction.C2S, Kind.DISCARD, data=data, note="the connection is closed")
            return
        view = memoryview(data)
        deadline = time.monotonic() + SEND_STALL
        while view:
            try:
                sent = conn.sock.send(view)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    stalled = f"{actor}: the server stopped reading (write stalled {SEND_STALL:g} s)"
                    raise HarnessError(stalled) from None
                self._pump(0.01)
                continue
            except OSError as exc:
                self._record(actor, Direction.EVENT, Kind.CLOSE, note=f"write failed: {exc}")
                self._drop(actor, conn)
                return
            view = view[sent:]
        self._trace_sent(actor, data)

    def disconnect(self, actor: str) -> None:
        conn = self._conns.get(actor)
        if conn is not None and not conn.closed:
            self._record(actor, Direction.EVENT, Kind.CLOSE, note="by client")
            self._drop(actor, conn)

    def _drop(self, actor: str, conn: _Conn) -> None:
        conn.closed = True
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn.sock)
        conn.sock.close()

    def _pump(self, timeout: float) -> None:
        for key, _ in self._sel.select(timeout):
            actor = key.data
            conn = self._conns.get(actor)
            if conn is None or conn.closed or conn.sock is not key.fileobj:
                continue  # a socket dropped earlier in this batch, or replaced by a reconnect
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                self._record(actor, Direction.EVENT, Kind.CLOSE, note=f"read failed: {exc}")
                self._drop(actor, conn)
                continue
            if not data:
                pending = conn.decoder.buffered
                mid = f" in the middle of a message ({pending} bytes of it received)" if pending else ""
                self._record(actor, Direction.EVENT, Kind.CLOSE, note="by server" + mid)
                self._drop(actor, conn)
                continue
            conn.received += len(data)
            if conn.received > MAX_RECEIVED:
                note = f"flood: more than {MAX_RECEIVED} bytes on one connection; closed by gearsim"
                self._record(actor, Direction.S2C, Kind.DECODE_ERROR, data=data[:64], note=note)
                self._drop(actor, conn)
                continue
            try:
                messages = conn.decoder.feed(data)
            except DecodeError as exc:
                self._record(actor, Direction.S2C, Kind.DECODE_ERROR, data=data[:256], note=str(exc))
                self._drop(actor, conn)
                continue
            room = MAX_MESSAGES - conn.count
            flooded = len(messages) > room
            if flooded:
                messages = messages[: max(room, 0)]
            conn.count += len(messages)
            for m in messages:
                self._record(actor, Direction.S2C, Kind.SEND, m)
            conn.inbox.extend(messages)
            if flooded:
                note = f"flood: more than {MAX_MESSAGES} messages on one connection; closed by gearsim"
                self._record(actor, Direction.S2C, Kind.DECODE_ERROR, note=note)
                self._drop(actor, conn)

    def wait(self, until: int, ready: Callable[[], bool]) -> None:
        while not ready():
            left = until - self.now()
            if left <= 0:
                return
            if not self._sel.get_map():
                time.sleep(left / 1000)  # nothing can arrive: no open connection
                return
            self._pump(left / 1000)

    def inbox(self, actor: str) -> deque[Message]:
        return self._boxes.setdefault(actor, deque())

    def closed(self, actor: str) -> bool:
        conn = self._conns.get(actor)
        return conn is not None and conn.closed

    def _trace_sent(self, actor: str, data: bytes) -> None:
        # the trace shows what was sent as messages, decoded by a decoder of its own
        tdec = self._tdecs.setdefault(actor, Decoder())
        try:
            messages = tdec.feed(data)
        except DecodeError:
            self._tdecs[actor] = Decoder()
            self._record(actor, Direction.C2S, Kind.SEND, data=data, note="undecodable")
            return
        for m in messages:
            self._record(actor, Direction.C2S, Kind.SEND, m)

    def trace_tail(self, lines: int = 12) -> str:
        return "\n".join(format_record(r) for r in self._records[-lines:])

    def records(self) -> tuple[TraceRecord, ...]:
        return tuple(self._records)

    def span(self, ms: int, kind: str) -> int:
        if kind == "within":
            return max(ms, self.within_floor)
        if self.timed:
            return ms
        return min(ms, self.quick)

    def close_all(self) -> None:
        """Close every connection this peer opened."""
        for actor, conn in list(self._conns.items()):
            if not conn.closed:
                self._drop(actor, conn)
        self._sel.close()


class TcpPeerFactory:
    """Builds a TcpPeer per case against one server, closing the previous case's sockets."""

    def __init__(self, host: str, port: int, *, quick: int = 150, within_floor: int = 2000) -> None:
        self.host, self.port = host, port
        self.quick = quick
        self.within_floor = within_floor
        self._last: TcpPeer | None = None

    def __call__(self, case: object) -> TcpPeer:
        self.close()
        timed = bool(getattr(case, "timed", False))
        self._last = TcpPeer(self.host, self.port, timed=timed, quick=self.quick, within_floor=self.within_floor)
        return self._last

    def close(self) -> None:
        """Close the sockets of the last case."""
        if self._last is not None:
            self._last.close_all()
            self._last = None

    def describe(self) -> str:
        """How vector time maps to wall time, for reports."""
        return (
            f"wall time; advances and silences shortened to {self.quick} ms unless a case is timed; "
            f"expects wait at least {self.within_floor} ms"
        )
