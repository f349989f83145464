"""The reference server: connections, framing and dispatch of binary packets.

PURE: no sockets, clocks, threads or global random; time is the ``now`` tick
(milliseconds) given to every call. ``Server`` implements
``gearsim.protocol.node.ServerNode`` and reproduces gearmand 1.1.20 byte for byte
(the measured facts the B- ids name, summarised in spec/gearman.md), with the
differences of other implementations selected by a ``Profile``. It owns the
connections, the server's lifecycle and submissions; the other client
requests (status, echo, options) are in client_requests.py, worker requests
in worker_requests.py, job and
queue rules in jobs.py, admin text commands in admin.py, timers in
deadlines.py, framing and encoding in wire.py. All of them work on one
``ServerState`` (context.py), so none of them imports this module.

The ``fd`` that the admin 'workers' command shows is a per-server counter
starting at 3 (the first descriptor after stdin, stdout, stderr), one per
accepted connection; real servers show their own numbers, so a runner
compares that column loosely.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gearsim.model import admin
from gearsim.model.client_requests import ClientRequests
from gearsim.model.cnumbers import strtol
from gearsim.model.context import Crash, Lifecycle, ServerState
from gearsim.model.deadlines import Deadlines
from gearsim.model.jobs import JobStore, Outbox
from gearsim.model.options import ServerOptions
from gearsim.model.profiles import DEFAULT_PROFILE, Profile, get_profile
from gearsim.model.replies import (
    ARGUMENT_TOO_LARGE_UNIQUE,
    INVALID_COMMAND,
    INVALID_MAGIC,
    QUEUE_FULL,
    perl_invalid_args,
    perl_server_error,
)
from gearsim.model.state import (
    Conn,
    ConnectionView,
    Framing,
    FunctionView,
    JobView,
    Priority,
)
from gearsim.model.wire import decoder_for, frame, outputs, reply_lines
from gearsim.model.worker_requests import WORK, Handler, WorkerRequests
from gearsim.protocol.node import Close, ConnId, Output, Send
from gearsim.protocol.packets import SPECS, AdminLine, Magic, Message, Packet, PacketType

__all__ = ["Server", "ServerOptions"]

#: GEARMAND_RECV_BUFFER_SIZE (8192) less the 12-byte header: room for a packet's NUL-terminated arguments
_RECV_ARGS = 8192 - 12
_SHORT_BODY = "short body: gearmand read past the packet boundary (B-P6)"
_SHUT_DOWN = "admin shutdown: the server exited"

_REQ = Magic.REQ
_READING = Framing.READING
_STALLED = Framing.STALLED
_WEDGED = Framing.WEDGED
_DRAINING = Lifecycle.DRAINING
# read per packet: globals, since a member read off its enum class is slow on Python 3.11
_SERVING = Lifecycle.SERVING
_EXITED = Lifecycle.EXITED
_JOB_CREATED = PacketType.JOB_CREATED
_send_of = Send.of
_SUBMIT_REDUCES = frozenset((PacketType.SUBMIT_REDUCE_JOB, PacketType.SUBMIT_REDUCE_JOB_BACKGROUND))
_res = Packet.res

#: Perl's SUBMIT header (Gearman::Server::Client, _cmd_submit_job): '.' is not a newline
_PERL_SUBMIT_HEADER = re.compile(rb"^(.+?)\0(.*?)\0")

_SUBMITS: dict[PacketType, tuple[Priority, bool]] = {
    PacketType.SUBMIT_JOB: (Priority.NORMAL, False),
    PacketType.SUBMIT_JOB_BG: (Priority.NORMAL, True),
    PacketType.SUBMIT_JOB_HIGH: (Priority.HIGH, False),
    PacketType.SUBMIT_JOB_HIGH_BG: (Priority.HIGH, True),
    PacketType.SUBMIT_JOB_LOW: (Priority.LOW, False),
    PacketType.SUBMIT_JOB_LOW_BG: (Priority.LOW, True),
    # B-U13: epoch jobs are background, NORMAL priority
    PacketType.SUBMIT_JOB_EPOCH: (Priority.NORMAL, True),
    # B-U15: reduce jobs are NORMAL priority
    PacketType.SUBMIT_REDUCE_JOB: (Priority.NORMAL, False),
    PacketType.SUBMIT_REDUCE_JOB_BACKGROUND: (Priority.NORMAL, True),
}
#: what a submit reads off its type: _SUBMITS' pair, the arguments the table lays
#: out, and whether it is the epoch submit, a reduce submit or neither
_PLAIN, _EPOCH, _REDUCE = 0, 1, 2
_SUBMITS_ROW: dict[PacketType, tuple[Priority, bool, int, int]] = {
    type_: (
        priority,
        background,
        len(SPECS[type_].args),
        _EPOCH if type_ == PacketType.SUBMIT_JOB_EPOCH else _REDUCE if type_ in _SUBMIT_REDUCES else _PLAIN,
    )
    for type_, (priority, background) in _SUBMITS.items()
}


class Server:
    """A sans-IO Gearman job server (``gearsim.protocol.node.ServerNode``)."""

    def __init__(self, profile: Profile | str = DEFAULT_PROFILE, options: ServerOptions | None = None) -> None:
        """Raises KeyError for an unknown profile name."""
        self.profile = get_profile(profile)
        self.options = options if options is not None else ServerOptions()
        self.store = JobStore(
            self.profile,
            job_retries=self.options.job_retries,
            worker_wakeup=self.options.worker_wakeup,
            epoch0=self.options.epoch0,
        )
        self.conns: dict[ConnId, Conn] = {}
        #: moved on by admin 'shutdown' (profile ``admin_shutdown`` "exit") and by a crash
        self.lifecycle = Lifecycle.SERVING
        #: why the process ended, for the close of every connection
        self._exit_reason = _SHUT_DOWN
        #: ``store.ended`` when last looked at after 'shutdown graceful'
        self._ended_seen = 0
        self._next_fd = 3
        #: job timers and epoch wake-ups, indexed
        self.deadlines = Deadlines(self.store)
        #: the deadlines' heap of timers (the same list), read by next_deadline
        self._timers = self.deadlines.timers
        #: what the handlers and admin commands work on
        self.state = ServerState(self.profile, self.options, self.store, self.deadlines, self.conns)
        self.workers = WorkerRequests(self.state)
        # read per submit and per call: worked out once
        self._epoch_wakeup = self.profile.epoch_wakeup_noop
        self._perl_submit = self.profile.submit_header == "perl-regex"
        #: the handle's host part when it is the node name, not the peer (B-U9)
        self._node_host = self.options.node.encode() if self.profile.handle_host == "node" else None
        self.clients = ClientRequests(self.state)
        self._handlers: dict[int, Handler] = {**self.clients.handlers(), **self.workers.handlers()}
        for type_ in _SUBMITS:
            self._handlers[type_] = self._submit
        #: the fast path of _packet: type number -> (handler, arguments the table
        #: lays out), for every type this profile implements and has a handler for
        self._ready: dict[int, tuple[Handler, int]] = {
            number: (handler, len(SPECS[number].args))
            for number, handler in self._handlers.items()
            if number in SPECS and number != PacketType.TEXT and SPECS[number].name in self.profile.implemented
        }

    # ------------------------------------------------------------ ServerNode

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        """A new connection from ``peer``; it gets the next fd number.

        Raises:
            ValueError: ``conn`` is already open.
        """
        if conn in self.conns:
            raise ValueError(f"connection {conn} is already open")
        if self.lifecycle is not Lifecycle.SERVING:
            # Perl closed its listening socket: the connection is refused
            return [Close(conn, self._exit_reason)]
        self.conns[conn] = Conn(
            id=conn,
            peer=peer,
            fd=self._next_fd,
            decoder=decoder_for(self.profile, self.options),
            exceptions=self.options.exceptions,
        )
        self._next_fd += 1
        return []

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        """Bytes from ``conn``; returns what the server sends or closes in answer."""
        c = self.conns.get(conn)
        if c is None or not data or c.framing is _WEDGED:
            return []
        if c.framing is _STALLED:
            # B-P6: gearmand read these bytes as the rest of a short packet and
            # then failed (realloc with an underflowed size): close, no reply
            self.store.now = now
            return self._answer(c, [], _SHORT_BODY)
        messages, after = frame(c, data, self.profile.bad_magic)
        return self._run(c, messages, after, now)

    def receive_messages(self, conn: ConnId, messages: Sequence[Message], now: int) -> list[Output] | None:
        """``receive`` of the encoding of ``messages``, without the bytes (``MessageNode``).

        Returns None, having done nothing, when the connection holds part of a
        message, no longer reads (stalled, wedged), or a message would not
        decode back to itself: the caller sends the bytes instead.
        """
        c = self.conns.get(conn)
        if c is None or not messages:
            return []
        if c.framing is not _READING:
            return None
        # the model reads no offsets: it runs the messages as given, uncopied
        if not c.decoder.take_messages(messages):
            return None
        if self.lifecycle is not _SERVING:
            return self._run(c, messages, None, now)
        # _run, for the simulator's hot path: each request packet this profile
        # implements with all its arguments runs straight from the table
        # (take_messages set every packet's _args); anything else, or a handler
        # that closes, stalls, wedges or shuts down, hands the rest to _run_from
        self.store.now = now
        out: Outbox = []
        ready = self._ready
        try:
            for index, message in enumerate(messages):
                if type(message) is Packet and message._magic is _REQ:
                    entry = ready.get(message._type)
                    if entry is not None and (entry[1] < 2 or len(message._args) >= entry[1]):
                        reason = entry[0](c, message, out)
                        if reason is None and c.framing is _READING and self.lifecycle is _SERVING:
                            continue
                        reason = self._after_message(c, messages, index, reason, out)
                        break
                reason = self._run_from(c, messages, index, out, None)
                break
            else:
                reason = None
        except Crash as crash:
            reason = None
            self._crashed(crash, out)
        if reason is None and self.lifecycle is _SERVING:
            if not out:
                return []
            if len(out) == 1:
                to, reply_ = out[0]
                return [_send_of(to.id, (reply_,))]
            return outputs(out)
        return self._answer(c, out, reason)

    def _run(self, c: Conn, messages: Sequence[Message], after: str | None, now: int) -> list[Output]:
        """Run the messages ``c`` sent, then what framing said (``frame``'s second value)."""
        self.store.now = now
        out: Outbox = []
        reason: str | None = None
        try:
            reason = self._run_from(c, messages, 0, out, after)
        except Crash as crash:
            self._crashed(crash, out)
        if reason is None and self.lifecycle is _SERVING:
            # _answer's common case, and outputs' for one message (the simulator's hot path)
            if not out:
                return []
            if len(out) == 1:
                conn, message = out[0]
                return [_send_of(conn.id, (message,))]
            return outputs(out)
        return self._answer(c, out, reason)

    def _after_message(
        self, c: Conn, messages: Sequence[Message], index: int, reason: str | None, out: Outbox
    ) -> str | None:
        """_run_from's steps after message ``index`` ran and gave ``reason``: stop, or run the rest."""
        if reason is not None or c.framing is _WEDGED:
            return reason
        if self.lifecycle is _DRAINING and self._calm_after_job_end():
            # Perl exits inside the job's end: the rest of the input is not read
            self.lifecycle = Lifecycle.EXITING
            return None
        return self._run_from(c, messages, index + 1, out, None)

    def _run_from(self, c: Conn, messages: Sequence[Message], start: int, out: Outbox, after: str | None) -> str | None:
        """Run ``messages[start:]`` into ``out``, then what framing said; the close reason, or None.

        Raises:
            Crash: a handler's server process died.
        """
        reason: str | None = None
        ready = self._ready
        for message in messages[start:] if start else messages:
            if c.framing is _STALLED:
                reason = _SHORT_BODY
                break
            # the common case first: a request packet this profile implements,
            # with all its arguments (what _packet would decide, decided sooner)
            if type(message) is Packet:
                entry = ready.get(message.type)
                if entry is not None and message.magic is _REQ and (entry[1] < 2 or len(message.args) >= entry[1]):
                    reason = entry[0](c, message, out)
                else:
                    reason = self._packet(c, message, out)
            else:
                reason = self._dispatch(c, message, out)
            if reason is not None or c.framing is _WEDGED:
                break
            if self.lifecycle is _DRAINING and self._calm_after_job_end():
                # Perl exits inside the job's end: the rest of the input is not read
                self.lifecycle = Lifecycle.EXITING
                break
        else:
            # every message ran: then what framing said after them
            if c.framing is _STALLED and c.decoder.buffered:
                reason = _SHORT_BODY
            elif after == "close":
                reason = "bad magic (B-P2)"
            elif after == "wedge":
                c.framing = _WEDGED
            elif after is not None:
                reason = after
        return reason

    def _crashed(self, crash: Crash, out: Outbox) -> None:
        """The process dies inside a handler: nothing queued so far is sent."""
        self.lifecycle = Lifecycle.EXITING
        self._exit_reason = f"the server crashed: {crash}"
        out.clear()

    def _answer(self, c: Conn, out: Outbox, reason: str | None) -> list[Output]:
        """What is sent for ``out``, then the close for ``reason`` (or the shutdown's closes)."""
        if self.lifecycle is not _SERVING:
            return self._after_shutdown(out)
        if reason is None:
            return outputs(out)
        self._drop(c, out)
        return [*outputs(out), Close(c.id, reason)]

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        """The peer closed ``conn``: requeue its jobs, release its submissions (B-K7, B-U11)."""
        c = self.conns.get(conn)
        if c is None:
            return []
        self.store.now = now
        out: Outbox = []
        self._drop(c, out)
        if self.lifecycle is not Lifecycle.SERVING:
            return self._after_shutdown(out)
        return outputs(out)

    def next_deadline(self) -> int | None:
        """The earliest job timer (B-K8), or 2.0's epoch wake-up (B-U13)."""
        if self.lifecycle is _EXITED:
            return None
        # the heap itself first: most calls find no timer armed, and skip next_timer's call
        tick = self.deadlines.next_timer() if self._timers else None
        if self._epoch_wakeup:
            epoch = self.deadlines.next_epoch()
            if epoch is not None and (tick is None or epoch < tick):
                return epoch
        return tick

    def advance(self, now: int) -> list[Output]:
        """Fire the job timers and epoch wake-ups due at or before ``now``."""
        if self.lifecycle is Lifecycle.EXITED:
            return []
        self.store.now = now
        out: Outbox = []
        for c in self.deadlines.due_timers(now):
            if c.timer is None or c.timer[0] > now:
                continue
            job = c.timer[1]
            c.timer = None
            if self.profile.can_do_timeout_timer != "per-job":
                # the event stays bound to its job, live, reused or freed (B-K8)
                self.store.requeue_struct(job, out)
                continue
            if job.worker is None or job.worker.conn is not c:
                continue
            if self.profile.can_do_timeout == "fail-seconds":
                self.store.fail(job, Magic.RES, out)
            else:
                # B-K8: gearmand requeues, the client hears nothing
                self.store.queue(job, out)
        if self.profile.epoch_wakeup_noop:
            for job in self.deadlines.due_epochs(now):
                self.store.wake(job.function, out)
        if self.lifecycle is not Lifecycle.SERVING:
            return self._after_shutdown(out)
        return outputs(out)

    # ---------------------------------------------------------- introspection

    def jobs(self) -> tuple[JobView, ...]:
        """Every job the server holds, in creation order."""
        return tuple(JobView.of(j) for j in self.store.jobs.values())

    def functions(self) -> tuple[FunctionView, ...]:
        """Every function the server knows, in creation order."""
        return self.store.function_views()

    @property
    def connections(self) -> tuple[ConnectionView, ...]:
        """Every open connection, in connect order."""
        return tuple(ConnectionView.of(c) for c in self.conns.values())

    # ---------------------------------------------------------------- dispatch

    def _dispatch(self, c: Conn, message: Message, out: Outbox) -> str | None:
        """Run one message; return a reason when the connection must close."""
        if isinstance(message, AdminLine):
            result = admin.run(self.state, c, message, out)
            if result.close is not None:
                return result.close
            if result.reply is not None:
                out.extend((c, line) for line in reply_lines(result.reply))
            if result.shutdown is not None:
                self.lifecycle = result.shutdown
                self._ended_seen = self.store.ended
                # Perl exits inside the command: the rest of the input is not read
                return _SHUT_DOWN if result.shutdown is Lifecycle.EXITING else None
            return None
        return self._packet(c, message, out)

    def _packet(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        profile = self.profile
        number = int(p.type)
        spec = SPECS.get(number)
        if spec is None or number == PacketType.TEXT:
            # B-P3: type 0 or >= 43
            if profile.unknown_type == "close":
                return f"packet type {number} out of range (B-P3)"
            if profile.unknown_type == "error":
                out.append((c, perl_server_error(number)))
            return None
        short = len(spec.args) >= 2 and len(p.args) < len(spec.args)
        if short and profile.short_body == "close":
            return f"{spec.name} with too few arguments"
        if short and profile.short_body == "stall-then-close":
            # B-P6: gearmand keeps looking for the missing NULs past the body
            c.framing = _STALLED
            return None
        # "per-command", "last-optional": the declared body was read whole; the
        # command reads the fields it needs from it (below, and in the handlers)
        if p.magic != Magic.REQ:
            if profile.res_magic_request == "error":
                out.append((c, INVALID_MAGIC))  # B-P4
                return None
            if profile.res_magic_request == "stall":
                c.framing = _WEDGED
                return None
        handler = self._handlers.get(number)
        if handler is None or spec.name not in profile.implemented:
            if profile.unimplemented == "error-command-not-expected":
                out.append((c, INVALID_COMMAND))  # B-P5, B-U14, B-K12
            elif profile.unimplemented == "error-perl-cmd":
                out.append((c, perl_server_error(number)))
            return None
        if short and profile.short_body == "last-optional" and len(p.args) < len(spec.args) - 1 and number not in WORK:
            # gear: an argument before the last is missing (IndexError)
            return f"{spec.name} with too few arguments (IndexError)"
        return handler(c, p, out)

    # ------------------------------------------------------------- handlers

    def _submit(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        profile = self.profile
        type_ = p._type  # Packet's own slot (a property read is a call)
        if type(type_) is not PacketType:
            type_ = PacketType(type_)
        # one row per submit type (a submit is on the simulator's hot path)
        priority, background, argc, kind = _SUBMITS_ROW[type_]
        if self._perl_submit:
            body = b"\0".join(p.args)
            match = _PERL_SUBMIT_HEADER.match(body)
            if match is None:
                out.append((c, perl_invalid_args(b"No func/uniq header [" + body + b"].")))
                return None
            function, unique = match[1], match[2]
            p = Packet(p.magic, p.type, (function, unique, body[match.end() :]))
        try:
            args = p._args  # Packet's own slot: the args property is a Python call
        except AttributeError:  # a decoded packet not split yet
            args = p.args
        function, unique = args[0], args[1]
        count = len(args)
        if (
            profile.fixed_buffers
            and (len(function) + len(unique) + 2 if count == 3 else sum(map(len, args[:-1])) + count - 1) > _RECV_ARGS
        ):
            # the NUL-terminated arguments are looked for in gearmand's 8 KiB receive
            # buffer only: when they cannot fit, the read fails and the connection
            # closes (probe argument-over-8k; protocol.cc:190-203)
            return "arguments over gearmand's 8 KiB receive buffer (constants.h:82)"
        reducer = b""
        when = 0
        # gear ("last-optional") reads a missing workload as empty
        data = args[-1] if count == argc else b""
        checked = unique
        if kind == _EPOCH:
            # B-U13: strtoll base 10; junk is 0 (run now); overflow closes (B-P9)
            when, overflow = strtol(args[2])
            if overflow:
                # no reply, no job; gearmand then closes the connection (16 runs in 20,
                # probe epoch-overflow; a race, the defect refusal-race)
                return "SUBMIT_JOB_EPOCH time overflows strtoll (server.cc:264-269)"
        elif kind == _REDUCE:
            reducer = args[2]
            if profile.reduce_unique_check == "reducer":
                # B-U15: the reducer, not the unique, is length-checked (server.cc:157)
                checked = reducer
        unique_max = profile.unique_max
        if unique_max is not None and len(checked) > unique_max:
            out.append((c, ARGUMENT_TOO_LARGE_UNIQUE))  # B-U7
            return None
        host = self._node_host
        store = self.store
        job, _ = store.add(
            function=store.function(function),
            unique=unique,
            data=data,
            reducer=reducer,
            priority=priority,
            when=when,
            handle_host=c.peer.encode() if host is None else host,
            listener=None if background else c,
            out=out,
        )
        if job is None:
            out.append((c, QUEUE_FULL))  # B-U16
            return None
        out.append((c, _res(_JOB_CREATED, job.handle)))
        return None

    # ------------------------------------------------------------- teardown

    def _after_shutdown(self, out: Outbox) -> list[Output]:
        """What is sent, then, after a bare 'shutdown', the exit: every connection closed.

        A process exit: no WORK_FAIL, no requeue, nothing more is sent. After
        'shutdown graceful' the connections stay and only new ones are refused,
        until a job a worker held ends while no function has a queue entry
        (PERL-6): then the same exit.
        """
        if self.lifecycle is _DRAINING and self._calm_after_job_end():
            self.lifecycle = Lifecycle.EXITING
        sends = outputs(out)
        if self.lifecycle is _DRAINING:
            return sends
        self.lifecycle = Lifecycle.EXITED
        closes: list[Output] = []
        for c in self.conns.values():
            c.timer = None
            closes.append(Close(c.id, self._exit_reason))
        self.conns.clear()
        return [*sends, *closes]

    def _calm_after_job_end(self) -> bool:
        """Perl's shutdown_if_calm after a job end: did one end since the last look, with no queue entry left?"""
        ended = self.store.ended
        if ended == self._ended_seen:
            return False
        self._ended_seen = ended
        return not self.store.queue_entries()

    def _drop(self, c: Conn, out: Outbox) -> None:
        """gearman_server_con_free: registrations first (requeue), then submissions."""
        if c.id not in self.conns:
            return
        self.deadlines.unbind(c)
        while c.registrations:
            self.workers.unregister(c, c.registrations[0], out)
        while c.held:
            self.workers.release_jobs(c.held.pop(), out)  # jobs kept past CANT_DO (cantdo_held)
        while c.client_jobs:
            self.store.release_client(c, c.client_jobs[0])
        del self.conns[c.id]
