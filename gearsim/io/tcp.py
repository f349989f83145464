"""A real server under test over TCP, as a ``ServerPeer`` for the runner (I/O).

Each actor of a case gets its own loopback socket. Time is wall time in
milliseconds since the peer was made. Vectors speak in virtual milliseconds;
``span`` maps them: an advance or a silence that no server timer depends on is
shortened to ``quick`` ms (a real server answers loopback requests in well under
that), unless the case is ``timed``, and an expect may wait at least
``within_floor`` ms. The mapping is stated in every report (``describe``).

Causality. A vector is written as one sequence of steps, and the reference
model processes them in that order; a real server reads each connection on its
own and may process a later request on connection B before an earlier one on
connection A (gearmand hands connections to several I/O threads). Where the
protocol gives no ordering, this peer waits for evidence that the server has
processed what came before:

* before a send on one connection, every *other* connection that sent whole,
  well-formed requests since its last check gets a read-only request with a
  token of gearsim's (``ECHO_REQ``, or ``GET_STATUS`` of a handle no server
  issued, for servers without ECHO such as gear 0.16) and waits for the
  matching reply (a server answers a connection's requests in order, so the
  reply comes back only after the earlier requests were processed). The reply
  is kept out of the actor's inbox and shows in the trace as a sync record; a
  connection that sent admin text, bytes that do not decode, or a packet the
  validator objects to is never synced (the server's parse state there is
  part of what the case tests);
* a ``disconnect`` half-closes the socket and waits until the server closes its
  end (a server closes a connection's socket once it has noticed the end of
  it), and :meth:`TcpPeer.close_all` does the same for every connection left
  at the end of a case, so a reused server no longer lists them.

Each wait is bounded (``sync_timeout``, ``close_wait``); a server that does not
answer an echo or does not close its end gets one such wait per case, then
the peer stops waiting and says so in the trace.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable

from gearsim.errors import DecodeError, HarnessError, InputError
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.protocol.trace import Direction, Kind, TraceRecord, format_record, held_text
from gearsim.protocol.validate import check
from gearsim.run.batch import CLOSE_WAIT, CONNECT_TIMEOUT, SEND_STALL
from gearsim.run.namespace import Namespace, listing_command, owns_row

__all__ = [
    "CLOSE_WAIT",
    "FOREIGN_ROW_NOTE",
    "MAX_BODY",
    "MAX_MESSAGES",
    "MAX_RECEIVED",
    "SYNC_KINDS",
    "SYNC_NOTE",
    "TcpPeer",
    "TcpPeerFactory",
    "is_sync_reply",
    "parse_address",
    "sync_request",
]

#: most messages one connection may deliver in one case; past it the client closes it ("flood")
MAX_MESSAGES = 2000
#: most bytes one connection may deliver in one case; past it the client closes it ("flood")
MAX_RECEIVED = 16 * 1024 * 1024
#: the largest body accepted from a server: a bigger header is a BodyTooLarge DecodeError at once
MAX_BODY = 16 * 1024 * 1024
#: the note on trace records of gearsim's own ordering echoes
SYNC_NOTE = "gearsim sync"
_SYNC_PREFIX = b"gearsim-sync-"
#: the note on trace records of listing rows that belong to other cases (a shared server)
FOREIGN_ROW_NOTE = "another case's row: left out (--server namespace)"
#: replies whose first argument is a handle the server gave this case
_HANDLE_REPLIES = frozenset(
    {PacketType.JOB_CREATED, PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL}
)
#: the read-only requests a sync can use, by name ("" means: do not sync)
SYNC_KINDS: tuple[str, ...] = ("ECHO_REQ", "GET_STATUS", "")


def sync_request(kind: str, token: bytes) -> Packet:
    """The request of sync ``kind`` carrying ``token`` (an ``ECHO_REQ``, or a ``GET_STATUS`` of it as a handle).

    Raises:
        ValueError: ``kind`` is not ECHO_REQ or GET_STATUS.
    """
    if kind == "ECHO_REQ":
        return Packet.req(PacketType.ECHO_REQ, token)
    if kind == "GET_STATUS":
        return Packet.req(PacketType.GET_STATUS, token)
    raise ValueError(f"unknown sync request {kind!r}; known: ECHO_REQ, GET_STATUS")


def is_sync_reply(message: Message, token: bytes) -> bool:
    """Whether ``message`` answers the sync request that carried ``token``."""
    if not isinstance(message, Packet) or not message.args or message.args[0] != token:
        return False
    return (message.type == PacketType.ECHO_RES and len(message.args) == 1) or message.type == PacketType.STATUS_RES


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
    __slots__ = (
        "closed",
        "closing",
        "count",
        "decoder",
        "dirty",
        "inbox",
        "listings",
        "received",
        "sent_decoder",
        "sock",
        "syncable",
        "token",
    )

    def __init__(self, sock: socket.socket, inbox: deque[Message]) -> None:
        self.sock = sock
        self.decoder = Decoder(max_body=MAX_BODY)
        #: decodes what this connection sent, for the trace and to know when it ends on a message boundary
        self.sent_decoder = Decoder()
        self.inbox = inbox
        self.closed = False
        #: half-closed by the client; waiting for the server to close its end
        self.closing = False
        self.received = 0
        self.count = 0
        #: sent requests since its last sync
        self.dirty = False
        #: everything sent decoded to well-formed \0REQ packets, so a sync request is read as one
        self.syncable = True
        #: the token of the sync echo in flight, if any
        self.token: bytes | None = None
        #: admin listings asked for and not yet ended by their "." line
        self.listings = 0

    def at_boundary(self) -> bool:
        """Whether a sync request written now would be read by the server as a packet of its own."""
        return self.syncable and not self.closed and not self.closing and self.sent_decoder.buffered == 0


class TcpPeer:
    """A ServerPeer that talks to a real server at ``host:port``.

    Args:
        timed: the case tests server timers; waits are not shortened.
        quick: ms that stand in for an advance or silence when not timed.
        within_floor: the least ms an expect waits for a reply.
        connect_timeout: seconds a connect may take.
        sync: the request a sync uses: ``ECHO_REQ`` (default), ``GET_STATUS``,
            or ``""`` for none (sends are not ordered across connections).
        close_wait: seconds a disconnect waits for the server to close its end
            (0: close at once, as a plain ``close()``).
        sync_timeout: seconds a sync waits for its echo (default: ``within_floor``, at least 1 s).
        namespace: on a shared server, the case's namespace: rows of admin
            listings that carry neither its tag nor a handle it was given are
            left out of the inbox (and shown in the trace as another case's).
        restarter: stops the server and starts it again on the same address,
            returning once it serves; given, the peer has ``restart()`` (the
            runner's ``restart_server`` step), else it cannot restart.
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
        sync: str = "ECHO_REQ",
        close_wait: float = CLOSE_WAIT,
        sync_timeout: float | None = None,
        namespace: Namespace | None = None,
        restarter: Callable[[], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        if restarter is not None:
            self._restarter = restarter
            self.restart = self._restart
        self.timed = timed
        self.quick = quick
        self.within_floor = within_floor
        self.connect_timeout = connect_timeout
        if sync not in SYNC_KINDS:
            raise ValueError(f"unknown sync request {sync!r}; known: ECHO_REQ, GET_STATUS or empty")
        self.sync = sync
        self.close_wait = close_wait
        self.sync_timeout = sync_timeout if sync_timeout is not None else max(within_floor / 1000, 1.0)
        self._t0 = time.monotonic()
        self._sel = selectors.DefaultSelector()
        self._conns: dict[str, _Conn] = {}
        self._boxes: dict[str, deque[Message]] = {}
        self._records: list[TraceRecord] = []
        self._conn_ids: dict[str, int] = {}
        self._syncs = 0
        self.namespace = namespace
        #: handles the server gave this case (JOB_CREATED, JOB_ASSIGN*): its rows in ``show jobs``
        self._handles: set[bytes] = set()
        #: set once a server failed to answer a sync or to close its end: no more such waits
        self._no_sync = False
        self._no_close_wait = False

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
        if self.sync:
            self._sync_others(actor)
            if conn.closed:  # the server closed it while the others were synced
                self._record(actor, Direction.C2S, Kind.DISCARD, data=data, note="the connection is closed")
                return
        if self._write(actor, conn, data):
            self._trace_sent(actor, conn, data)

    def _write(self, actor: str, conn: _Conn, data: bytes) -> bool:
        """Write all of data; False when the write failed (the connection is dropped then).

        Raises:
            HarnessError: the server stopped reading for ``SEND_STALL`` s.
        """
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
                return False
            view = view[sent:]
        return True

    # ------------------------------------------------------------------ causality

    def _sync_others(self, actor: str) -> None:
        """Echo on every other connection with unsynced requests, and wait for the echoes.

        Raises:
            HarnessError: a sync echo stalled on a server that stopped reading.
        """
        if self._no_sync:
            return
        pending: list[tuple[str, _Conn]] = []
        for other, conn in self._conns.items():
            if other == actor or not conn.dirty or not conn.at_boundary():
                continue
            self._syncs += 1
            token = _SYNC_PREFIX + str(self._syncs).encode()
            packet = sync_request(self.sync, token)
            if not self._write(other, conn, encode(packet)):
                continue
            conn.token = token
            conn.dirty = False
            self._record(other, Direction.C2S, Kind.SEND, packet, note=SYNC_NOTE)
            pending.append((other, conn))
        if not pending:
            return

        def answered() -> bool:
            return all(conn.token is None or conn.closed for _, conn in pending)

        self.wait(self.now() + int(self.sync_timeout * 1000), answered)
        late = [other for other, conn in pending if conn.token is not None and not conn.closed]
        if late:
            self._no_sync = True
            note = (
                f"{SYNC_NOTE}: no reply to {self.sync} on {', '.join(late)} within {self.sync_timeout:g} s; "
                "later steps of this case are not synced"
            )
            self._record(late[0], Direction.EVENT, Kind.SEND, note=note)

    def _foreign_row(self, conn: _Conn, message: Message) -> bool:
        """Whether ``message`` is another case's row of a listing (only with a namespace)."""
        if isinstance(message, Packet):
            if message.type in _HANDLE_REPLIES and message.args:
                self._handles.add(message.args[0])
            return False
        if self.namespace is None or conn.listings <= 0:
            return False
        text = message.text
        if text == b".":
            conn.listings -= 1
            return False
        if text.startswith((b"OK", b"ERR")):
            return False
        return not owns_row(text, self.namespace, self._handles)

    def _is_sync_reply(self, conn: _Conn, message: Message) -> bool:
        return conn.token is not None and is_sync_reply(message, conn.token)

    def disconnect(self, actor: str) -> None:
        """Close the actor's connection: half-close, then wait for the server to close its end.

        Raises:
            HarnessError: never in practice; a server that does not close is noted in the trace.
        """
        conn = self._conns.get(actor)
        if conn is None or conn.closed:
            return
        self._record(actor, Direction.EVENT, Kind.CLOSE, note="by client")
        self._close_gracefully({actor: conn})

    def _close_gracefully(self, conns: dict[str, _Conn]) -> None:
        """Half-close every connection given and wait (at most ``close_wait``) until the server closed each."""
        waiting: dict[str, _Conn] = {}
        for actor, conn in conns.items():
            if conn.closed:
                continue
            if self.close_wait <= 0 or self._no_close_wait:
                self._drop(actor, conn)
                continue
            try:
                conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self._drop(actor, conn)
                continue
            conn.closing = True
            waiting[actor] = conn
        if not waiting:
            return
        self.wait(self.now() + int(self.close_wait * 1000), lambda: all(c.closed for c in waiting.values()))
        open_ = [actor for actor, conn in waiting.items() if not conn.closed]
        if open_:
            self._no_close_wait = True
            note = f"the server did not close its end within {self.close_wait:g} s; closed by gearsim"
            for actor in open_:
                self._record(actor, Direction.EVENT, Kind.CLOSE, note=note)
                self._drop(actor, waiting[actor])

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
                if conn.closing:
                    self._record(actor, Direction.EVENT, Kind.EOF, note="the server closed its end")
                    self._drop(actor, conn)
                    continue
                pending = conn.decoder.buffered
                mid = f" in the middle of a message ({pending} bytes of it received)" if pending else ""
                self._record(actor, Direction.EVENT, Kind.CLOSE, note="by server" + mid)
                self._drop(actor, conn)
                continue
            if conn.closing:
                self._record(actor, Direction.S2C, Kind.DISCARD, data=data[:256], note="after the client closed")
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
                if self._is_sync_reply(conn, m):
                    conn.token = None
                    self._record(actor, Direction.S2C, Kind.SEND, m, note=SYNC_NOTE)
                    continue
                if self._foreign_row(conn, m):
                    self._record(actor, Direction.S2C, Kind.DISCARD, m, note=FOREIGN_ROW_NOTE)
                    continue
                self._record(actor, Direction.S2C, Kind.SEND, m)
                conn.inbox.append(m)
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

    def _restart(self) -> None:
        """Restart the server; return once every connection to the stopped one has read its end.

        The stopped process closed them all: reading those ends now (bounded by
        ``within_floor``) lets the next steps see each closed, as on the model.

        Raises:
            HarnessError: the server could not be stopped or started again.
        """
        self._record("(server)", Direction.EVENT, Kind.RESTART, note=f"stopped and started again on {self.port}")
        self._restarter()
        live = [actor for actor, conn in self._conns.items() if not conn.closed]
        self.wait(self.now() + self.within_floor, lambda: all(self._conns[a].closed for a in live))
        for actor in live:
            conn = self._conns[actor]
            if not conn.closed:
                self._drop(actor, conn)

    def held(self, actor: str) -> str:
        conn = self._conns.get(actor)
        return "" if conn is None else held_text(conn.decoder.head(), conn.decoder.buffered)

    def closed(self, actor: str) -> bool:
        conn = self._conns.get(actor)
        return conn is not None and conn.closed

    def _trace_sent(self, actor: str, conn: _Conn, data: bytes) -> None:
        # the trace shows what was sent as messages, decoded by a decoder of the connection's own
        conn.dirty = True
        try:
            messages = conn.sent_decoder.feed(data)
        except DecodeError:
            conn.sent_decoder = Decoder()
            conn.syncable = False
            self._record(actor, Direction.C2S, Kind.SEND, data=data, note="undecodable")
            return
        for m in messages:
            if isinstance(m, AdminLine):
                conn.syncable = False
                if listing_command(m.text) is not None:
                    conn.listings += 1
            elif m.magic != Magic.REQ or check(m):
                conn.syncable = False
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
        """Close every connection this peer opened, waiting (bounded) for the server to close each too."""
        self._close_gracefully({actor: conn for actor, conn in self._conns.items() if not conn.closed})
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
