"""The two sides of a differential run: the model (sans-IO) and a real server (sockets).

A ``Side`` opens one connection per actor, writes bytes, and after every step
runs a *barrier* that makes "everything the server will say about this step
has arrived" an observable fact instead of a guess about timing:

1. an ECHO_REQ carrying a fresh token goes on the acting connection, and the
   side waits for the matching ECHO_RES (or a close): the server has now
   handled the step's packet, and everything that packet made it send is
   queued on the relevant connections;
2. then the same on every other open connection: each ECHO_RES comes after
   whatever the step queued there (a server answers one connection in order).

The echo packets are stripped from what the step observed. The model gets
exactly the same bytes, echoes included, so it sees what the server saw.

A client-side close races with everything after it on a real server, so
``disconnect`` on the real side also waits until the admin 'workers' listing
(on a private control connection) no longer shows the actor's client id:
gearmand has then freed the connection, requeued its jobs and queued its
NOOPs. ``ModelSide`` is PURE; ``RealSide`` is the I/O edge (wall-clock
timeouts on every wait).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque
from typing import Final, Protocol

from gearsim.errors import DecodeError, HarnessError
from gearsim.io.preflight import round_trip
from gearsim.io.tcp import TcpPeer
from gearsim.model import Server, ServerOptions
from gearsim.model.profiles import Profile
from gearsim.protocol.codec import Decoder, encode
from gearsim.protocol.node import Close, ConnId, Output, Send
from gearsim.protocol.packets import Message, Packet, PacketType

__all__ = ["ANSWER_LIMIT", "BARRIER_PREFIX", "ModelSide", "RealSide", "Side", "barrier_request", "is_barrier"]

#: every barrier echo payload starts with this
BARRIER_PREFIX = b"gearsim-barrier-"
#: ms of virtual time one step takes on the model side
STEP_TICKS = 10
#: the longest answer to an admin command read by RealSide (a real one is 'OK' or a short ERR line)
ANSWER_LIMIT = 4096
#: the longest 'workers' listing read by RealSide: an example's is a few rows, a server streaming more is lying
LISTING_LIMIT = 1 << 20


#: the round trips a barrier can be made of, and the reply type that closes each
_BARRIER_REPLY: Final = {"ECHO_REQ": PacketType.ECHO_RES, "GET_STATUS": PacketType.STATUS_RES}


def barrier_request(sync: str, token: bytes) -> bytes:
    """The bytes of one barrier: ``ECHO_REQ`` with ``token`` as its payload, or ``GET_STATUS`` of ``token``.

    GET_STATUS for a server that answers no ECHO_REQ (gear): its STATUS_RES
    names the handle asked about, an unknown one, and changes nothing.

    Raises:
        ValueError: ``sync`` is neither round trip.
    """
    if sync not in _BARRIER_REPLY:
        raise ValueError(f"a barrier is an ECHO_REQ or a GET_STATUS, not {sync!r}")
    return encode(Packet.req(PacketType[sync], token))


def is_barrier(message: Message, token: bytes | None = None) -> bool:
    """True for the ECHO_RES or STATUS_RES that closes a barrier (of ``token``, if given)."""
    if not isinstance(message, Packet) or not message.args:
        return False
    if int(message.type) not in (PacketType.ECHO_RES, PacketType.STATUS_RES):
        return False
    body = message.args[0]
    return body == token if token is not None else body.startswith(BARRIER_PREFIX)


class Side(Protocol):
    """One server under comparison, seen from its clients."""

    name: str

    def connect(self, actor: str) -> None: ...

    def send(self, actor: str, data: bytes) -> None: ...

    def disconnect(self, actor: str, client_id: bytes) -> None: ...

    def barrier(self, first: str, token: bytes) -> set[str]:
        """Run the barrier (acting actor first); return the actors whose echo never came."""
        ...

    def take(self, actor: str) -> list[Message]:
        """Messages received by ``actor`` since the last take (barrier echoes removed)."""
        ...

    def closed(self, actor: str) -> bool: ...

    def actors(self) -> list[str]:
        """Actors with an open connection, in name order."""
        ...

    def close_all(self) -> None: ...


class ModelSide:
    """The reference model, driven directly through ``gearsim.protocol.node.ServerNode`` (PURE)."""

    def __init__(
        self, profile: Profile | str, options: ServerOptions | None = None, name: str = "model", sync: str = ""
    ) -> None:
        self.name = name
        self.node = Server(profile, options)
        #: the round trip barriers are made of: the real side's, so that both sides see the same requests;
        #: by default ECHO_REQ where the profile's server answers it, else GET_STATUS (gear)
        self.sync = sync or ("ECHO_REQ" if "ECHO_REQ" in self.node.profile.implemented else "GET_STATUS")
        self._now = 0
        self._next_conn: ConnId = 1
        self._conns: dict[str, ConnId] = {}
        self._owner: dict[ConnId, str] = {}
        self._decoders: dict[str, Decoder] = {}
        self._boxes: dict[str, deque[Message]] = {}
        self._closed: set[str] = set()

    def _route(self, outputs: list[Output]) -> None:
        for out in outputs:
            actor = self._owner.get(out.conn)
            if actor is None or actor in self._closed:
                continue
            if isinstance(out, Send):
                try:
                    self._boxes[actor].extend(self._decoders[actor].feed(out.data))
                except DecodeError as exc:
                    raise HarnessError(f"model sent undecodable bytes to {actor}: {exc}") from exc
            elif isinstance(out, Close):
                self._closed.add(actor)

    def _tick(self) -> None:
        self._now += STEP_TICKS
        deadline = self.node.next_deadline()
        if deadline is not None and deadline <= self._now:
            self._route(self.node.advance(self._now))

    def connect(self, actor: str) -> None:
        self._tick()
        conn = self._next_conn
        self._next_conn += 1
        self._conns[actor] = conn
        self._owner[conn] = actor
        self._decoders[actor] = Decoder()
        self._boxes[actor] = deque()
        self._closed.discard(actor)
        self._route(self.node.connect(conn, self._now))

    def send(self, actor: str, data: bytes) -> None:
        if actor in self._closed or actor not in self._conns:
            return
        self._route(self.node.receive(self._conns[actor], data, self._now))

    def disconnect(self, actor: str, client_id: bytes) -> None:
        conn = self._conns.pop(actor, None)
        if conn is None:
            return
        self._tick()
        self._closed.add(actor)
        self._route(self.node.disconnect(conn, self._now))

    def barrier(self, first: str, token: bytes) -> set[str]:
        echo = barrier_request(self.sync, token)
        missing: set[str] = set()
        order = [first] if first in self._conns else []
        order += [a for a in self.actors() if a != first]
        for actor in order:
            if actor in self._closed:
                continue
            self.send(actor, echo)
            box = self._boxes[actor]
            if not any(is_barrier(m, token) for m in box) and actor not in self._closed:
                missing.add(actor)
        self._tick()
        return missing

    def take(self, actor: str) -> list[Message]:
        box = self._boxes.get(actor)
        if box is None:
            return []
        got = [m for m in box if not is_barrier(m)]
        box.clear()
        return got

    def closed(self, actor: str) -> bool:
        return actor in self._closed

    def actors(self) -> list[str]:
        return sorted(a for a in self._conns if a not in self._closed)

    def close_all(self) -> None:
        for actor in list(self._conns):
            self.disconnect(actor, b"")


class RealSide:
    """A real server at host:port, through a ``TcpPeer`` (the I/O edge).

    Args:
        timeout: seconds any one wait may take (a barrier echo, a disconnect
            to be noticed); past it the step is recorded as stalled.
        admin: the server speaks the admin protocol: a disconnect is seen done
            when ``workers`` no longer lists the connection, and functions are
            dropped after each example. Without it a disconnect is done when
            the server closed its end of the socket (TcpPeer), and nothing is
            dropped (every example uses names of its own anyway).
        sync: the read-only round trip the server answers (ECHO_REQ or
            GET_STATUS; "" for neither), asked on a fresh connection by
            :meth:`stopped` to tell a server that stopped answering from one
            that left a single connection unanswered.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 3.0,
        name: str = "server",
        admin: bool = True,
        sync: str = "ECHO_REQ",
    ) -> None:
        self.name = name
        self.host, self.port = host, port
        self.timeout = timeout
        self.admin = admin
        self.sync = sync
        #: set by :meth:`stopped` once the server answers nothing: nothing more is asked of it, closes do not wait
        self.down = False
        # the driver orders connections with barriers of its own: no syncs by the peer
        self.peer = TcpPeer(host, port, within_floor=0, sync="", close_wait=timeout)
        self._open: set[str] = set()
        self._ctl: socket.socket | None = None

    def connect(self, actor: str) -> None:
        self.peer.connect(actor)
        self._open.add(actor)

    def send(self, actor: str, data: bytes) -> None:
        if actor in self._open and not self.peer.closed(actor):
            self.peer.send(actor, data)

    def _control(self) -> socket.socket:
        if self._ctl is None:
            try:
                self._ctl = socket.create_connection((self.host, self.port), timeout=self.timeout)
            except OSError as exc:
                raise HarnessError(f"cannot open a control connection to {self.host}:{self.port}: {exc}") from None
            self._ctl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._ctl

    def _workers(self) -> bytes:
        """The admin ``workers`` listing, read within ``timeout``.

        Raises:
            HarnessError: it did not end in time (a bare TimeoutError escaped here
                before, past the check for a server that stopped answering), or
                the control connection closed or failed.
        """
        sock = self._control()
        late = f"the admin 'workers' listing did not end within {self.timeout:g} s"
        data = bytearray()
        deadline = time.monotonic() + self.timeout
        try:
            sock.sendall(b"workers\n")
            # the end is looked for in what came since the last look (and the two bytes before it): not
            # every byte again per read, which was quadratic in a long listing
            looked = 0
            while not (data.startswith(b".\n") or data.find(b"\n.\n", max(0, looked - 2)) >= 0):
                looked = len(data)
                if len(data) > LISTING_LIMIT:
                    # an example's listing is a few rows: a server streaming more is not listing workers
                    raise HarnessError(f"the admin 'workers' listing ran past {LISTING_LIMIT} bytes without its '.'")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError(late)
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    raise HarnessError("the server closed the control connection")
                data += chunk
        except TimeoutError:
            raise HarnessError(late) from None
        except OSError as exc:
            raise HarnessError(f"the control connection failed: {exc}") from None
        return bytes(data)

    def disconnect(self, actor: str, client_id: bytes) -> None:
        if actor not in self._open:
            return
        self._open.discard(actor)
        self.peer.disconnect(actor)
        if not client_id or not self.admin:
            return
        needle = b" " + client_id + b" :"
        deadline = time.monotonic() + self.timeout
        while needle in self._workers():
            if time.monotonic() > deadline:
                raise HarnessError(f"the server did not notice that {actor} closed within {self.timeout} s")
            time.sleep(0.001)

    def barrier(self, first: str, token: bytes) -> set[str]:
        # a server that answers neither round trip (sync "") is still sent the echo: its wait runs out
        echo = barrier_request(self.sync or "ECHO_REQ", token)
        missing: set[str] = set()
        if first in self._open and not self.peer.closed(first):
            self.peer.send(first, echo)
            missing |= self._await([first], token)
        others = [a for a in self.actors() if a != first]
        for actor in others:
            self.peer.send(actor, echo)
        if others:
            missing |= self._await(others, token)
        return missing

    def _await(self, actors: list[str], token: bytes) -> set[str]:
        boxes = {a: self.peer.inbox(a) for a in actors}

        def done() -> bool:
            return all(self.peer.closed(a) or any(is_barrier(m, token) for m in boxes[a]) for a in actors)

        self.peer.wait(self.peer.now() + int(self.timeout * 1000), done)
        return {a for a in actors if not self.peer.closed(a) and not any(is_barrier(m, token) for m in boxes[a])}

    def stopped(self, stalled: set[str], error: str = "") -> str | None:
        """Whether the server stopped answering altogether: None if a fresh connection's probe is answered.

        Called when a wait ran out: ``stalled`` are the actors whose barrier
        echo never came within ``timeout``, or ``error`` is the wait that
        failed (a 'workers' listing, a ``drop function`` answer). A server
        that answers the probe on a new connection is still up: what the
        step met is a finding about that step. Otherwise the answer is one
        line saying what was waited for and how long, and the side is
        ``down``: its connections are then dropped without waiting for
        closes no one will see.
        """
        if not self.sync:
            return None  # nothing a fresh connection could be asked that would show the server is up
        problem = round_trip(self.host, self.port, self.sync, self.timeout)
        if problem is None:
            return None
        self.down = True
        self.peer.close_wait = 0
        what = error or (
            f"no reply within {self.timeout:g} s to the step's barrier ECHO_REQ on {', '.join(sorted(stalled))}"
        )
        return f"{what}; then a fresh connection: {problem}"

    def take(self, actor: str) -> list[Message]:
        box = self.peer.inbox(actor)
        got = [m for m in box if not is_barrier(m)]
        box.clear()
        return got

    def closed(self, actor: str) -> bool:
        return self.peer.closed(actor)

    def actors(self) -> list[str]:
        return sorted(a for a in self._open if not self.peer.closed(a))

    def forget(self, functions: list[bytes], attempts: int = 200) -> None:
        """Drop ``functions`` on the server (hidden from the comparison) so that its tables stay small.

        Run after ``close_all``: gearmand refuses while a worker of the function
        is still connected, so each drop is retried until it is OK or unknown.
        Nothing is done for a server without the admin protocol.
        """
        if not self.admin or self.down:
            return
        sock = self._control()
        for fn in functions:
            for _ in range(attempts):
                command = b"drop function " + fn
                sock.sendall(command + b"\n")
                reply = self._answer(sock, command)
                if reply is None:
                    return
                if reply.startswith(b"OK") or b"not found" in reply:
                    break
                time.sleep(0.001)

    def _answer(self, sock: socket.socket, command: bytes) -> bytes | None:
        """The one-line answer to an admin ``command`` on ``sock``; None when the server closed the connection.

        Read within ``timeout`` and ANSWER_LIMIT bytes: a server that streams
        bytes without a newline, or one now and then, held the run forever.

        Raises:
            HarnessError: no whole line within the time or the length.
        """
        shown = repr(command.decode("ascii", "replace"))
        what = f"the server's answer to {shown}"
        reply = b""
        deadline = time.monotonic() + self.timeout
        while b"\n" not in reply:
            if len(reply) > ANSWER_LIMIT:
                raise HarnessError(f"{what} ran past {ANSWER_LIMIT} bytes without a newline")
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(4096)
            except TimeoutError:
                said = f"{what} ended no line ({len(reply)} bytes)" if reply else f"the server did not answer {shown}"
                raise HarnessError(f"{said} within {self.timeout:g} s") from None
            except OSError as exc:
                raise HarnessError(f"{what} could not be read: {exc}") from None
            if not chunk:
                return None
            reply += chunk
        return reply

    def close_all(self) -> None:
        self.peer.close_all()
        self._open.clear()

    def shutdown(self) -> None:
        """Close the control connection too."""
        self.close_all()
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.close()
            self._ctl = None
