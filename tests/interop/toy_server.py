"""A tiny Gearman job server that gearsim has never seen, broken on purpose (asyncio, one file).

It speaks enough of the protocol for gearsim's vectors to judge it: ECHO,
abilities, foreground and background jobs at three priorities, GRAB_JOB(_UNIQ),
NOOP wake-ups, WORK_* forwarding, GET_STATUS, SET_CLIENT_ID, OPTION_REQ and
the admin ``status``, ``workers`` and ``version`` lines. What it gets wrong is
chosen on the command line, so tests can prove that gearsim catches it:

* ``--crash-on TYPE``: the first packet of that type kills the process with
  SIGSEGV (a real signal, as a C server's crash would be);
* ``--hang-on TYPE``: the first packet of that type stops the server from
  answering anything, while the process stays alive;
* ``--error-word WORD``: the code word of its ERROR replies (gearmand says
  ``INVALID_COMMAND``; the spec lets a server choose its own words);
* ``--no-admin``: no admin text protocol at all: a text line closes the
  connection (the admin protocol is optional for a server);
* ``--shutdown-delay MS --shutdown-status N``: the admin ``shutdown`` is
  answered ``OK`` and the process exits with status N (default 0, as asked)
  MS milliseconds later, as a server that finishes its work first may; with
  ``--shutdown-closes-port`` it stops listening at once (Perl's server does),
  so for those MS the process runs but nobody can connect;
* ``--refuse TYPE`` (repeatable): a packet of that type is answered with an
  ERROR, as a server that does not implement it answers (GM-SERVER-004);
* ``--bare-unknown-error``: a packet of a type it does not know is answered
  with an ERROR holding only the code word, without the NUL and text the
  packet table gives ERROR (GM-FRAME-004, a MUST). Without it the answer is a
  well-formed ERROR, one of the behaviours the spec allows (GM-FRAME-013 only
  permits a close).

And ``--break NAME`` (repeatable) breaks one server MUST rule (job lifecycle,
framing, echo, errors, options), named in ``BREAKS`` below with the rule it
breaks: the switches the vectors must catch (tests/interop/test_toy_breakages.py).
Without them it answers a \\0RES request with ERROR INVALID_MAGIC (GM-FRAME-011)
and matches the option name without regard to case (GM-OPTION-003).

And two legal but slow habits, which a harness must not mistake for bugs:

* ``--delay-on TYPE --delay MS``: a packet of that type is processed MS
  milliseconds late (its connection waits; other connections go on), as a
  server with one thread per connection may do;
* ``--close-delay MS``: a connection the client closed is noticed MS
  milliseconds late (it stays in listings until then).

And four choices the spec leaves to a server at MUST level (each breaks a SHOULD):

* ``--no-coalesce``: every submission makes a new job, whatever its unique
  (GM-COAL-001 asks for coalescing), as gear does;

* ``--fail-dropped-jobs``: the jobs of a worker that disconnects end with
  WORK_FAIL to their listeners instead of being requeued (GM-DISC-001 allows
  either, GM-DISC-002 prefers the requeue), as Perl's server and gear do;
* ``--empty-unknown-status``: STATUS_RES for a handle it does not know has
  empty numerator and denominator (GM-FIELD-005 prefers 0), as Perl's server
  and gear answer;
* ``--exact-option``: OPTION_REQ names are matched with their letter case
  (GM-OPTION-003 asks for case-insensitive matching), as Perl's server does.

And ``--habit NAME`` (repeatable), the choices ``LEGAL`` below lists with
the rule that leaves each open (MAY rules, opaque handles, TCP's lack of
message boundaries): handles of 63 bytes or of bare digits, replies written
in pieces 2 ms apart or held back and written together, admin rows newest
first or ending in ``\\r\\n``, Perl's ``status`` rows (active functions only)
and ``workers`` rows (``: `` with no functions), a workers listing of
registered connections only, one sleeper woken per job or the newest first,
listeners served newest first, gearmand 1.1's per-function order, a repeated
CAN_DO counted twice, whitespace stripped from client ids, an empty function
name refused. No verdict may hold any of them against the toy
(tests/interop/test_toy_habits.py). No bundled case looks at some of them
yet (a workers row without functions, a client id with whitespace, a worker
of several functions under ``spec``); they are there for the cases to come.

Usage: ``python toy_server.py --port PORT [--host 127.0.0.1] [--crash-on CAN_DO_TIMEOUT]``.
It listens on 127.0.0.1 only and logs one line to stderr when it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import struct
import sys
from collections import deque
from dataclasses import dataclass, field

REQ, RES = b"\0REQ", b"\0RES"
# packet numbers (the Gearman protocol's)
CAN_DO, CANT_DO, RESET_ABILITIES, PRE_SLEEP, NOOP = 1, 2, 3, 4, 6
SUBMIT_JOB, JOB_CREATED, GRAB_JOB, NO_JOB, JOB_ASSIGN = 7, 8, 9, 10, 11
WORK_STATUS, WORK_COMPLETE, WORK_FAIL, GET_STATUS, ECHO_REQ, ECHO_RES = 12, 13, 14, 15, 16, 17
SUBMIT_JOB_BG, ERROR, STATUS_RES, SUBMIT_JOB_HIGH, SET_CLIENT_ID, CAN_DO_TIMEOUT = 18, 19, 20, 21, 22, 23
WORK_EXCEPTION, OPTION_REQ, OPTION_RES, WORK_DATA, WORK_WARNING = 25, 26, 27, 28, 29
GRAB_JOB_UNIQ, JOB_ASSIGN_UNIQ, SUBMIT_JOB_HIGH_BG, SUBMIT_JOB_LOW, SUBMIT_JOB_LOW_BG = 30, 31, 32, 33, 34
NAMES = {v: k for k, v in globals().items() if k.isupper() and isinstance(v, int)}
SUBMITS = {
    SUBMIT_JOB: (1, False),
    SUBMIT_JOB_BG: (1, True),
    SUBMIT_JOB_HIGH: (0, False),
    SUBMIT_JOB_HIGH_BG: (0, True),
    SUBMIT_JOB_LOW: (2, False),
    SUBMIT_JOB_LOW_BG: (2, True),
}
#: how many arguments each request has (the last one may hold NULs)
ARGS = {
    CAN_DO: 1, CANT_DO: 1, SET_CLIENT_ID: 1, CAN_DO_TIMEOUT: 2, GET_STATUS: 1, ECHO_REQ: 1, OPTION_REQ: 1,
    WORK_STATUS: 3, WORK_COMPLETE: 2, WORK_FAIL: 1, WORK_EXCEPTION: 2, WORK_DATA: 2, WORK_WARNING: 2,
    **{t: 3 for t in SUBMITS},
}  # fmt: skip


#: ``--break NAME``: the one MUST rule of spec/requirements.yaml each breaks, and how
BREAKS = {
    "coalesce-ended": ("GM-COAL-005", "an ended job keeps its unique: a new submission gets its handle and never runs"),
    "no-coalesce-running": ("GM-COAL-004", "a job leaves the unique index once a worker takes it"),
    "swap-progress": ("GM-WORK-003", "WORK_STATUS is forwarded with numerator and denominator swapped"),
    "status-not-running": ("GM-STATUS-004", "GET_STATUS reports a job a worker holds as known but not running"),
    "background-listens": ("GM-SUBMIT-004", "a background submitter is made a listener, as a foreground one is"),
    "ignore-priority": ("GM-PRIO-002", "every job joins one first-in first-out queue, whatever its priority"),
    "no-wake": ("GM-SLEEP-002", "a new job wakes no sleeping worker (PRE_SLEEP with a job queued still gets NOOP)"),
    "lose-worker-jobs": ("GM-DISC-001", "the jobs of a worker that disconnects vanish: not requeued, nobody told"),
    "grab-any-function": ("GM-WORKER-012", "a worker with nothing of its own queued is given another function's job"),
    "reuse-handles": ("GM-LIMIT-005", "a new job takes the lowest handle number no job holds, an ended job's too"),
    "cant-do-ignored": ("GM-WORKER-003", "CANT_DO is accepted and changes nothing"),
    "fail-with-reason": ("GM-WORK-005", "WORK_FAIL is forwarded with a reason text after the handle"),
    "forward-after-end": ("GM-WORK-007", "an ended job's worker can still send for it, and its packets are forwarded"),
    "status-remembers-ended": ("GM-STATUS-005", "GET_STATUS reports an ended job as known, no longer running"),
    "echo-c-string": ("GM-ECHO-001", "ECHO_RES carries the echoed bytes up to the first NUL, as a C string"),
    "echo-long-header": ("GM-FRAME-001", "ECHO_RES over 8 KiB announces one byte more than its body carries"),
    "res-magic-closes": ("GM-FRAME-011", "a request framed with \\0RES closes the connection, as a bad magic does"),
    "bad-magic-ignored": ("GM-FRAME-008", "a packet of neither magic \\0REQ nor \\0RES is skipped, connection kept"),
    "error-nul-terminated": ("GM-ERROR-001", "ERROR text ends with a NUL, as a C string written with its terminator"),
    "uniq-nul-terminated": ("GM-FIELD-002", "JOB_ASSIGN_UNIQ carries the unique with its terminating NUL"),
    "option-canonical": ("GM-OPTION-001", "OPTION_RES names the option in lower case, not as sent"),
    "listing-end-no-eol": ("GM-ADMIN-004", "a status or workers listing's closing full stop has no end of line"),
}  # fmt: skip


#: the legal habits above that break only a SHOULD, each a flag of its own
HABITS = ("no-coalesce", "fail-dropped-jobs", "empty-unknown-status", "exact-option")
#: ``--habit NAME``: a choice the spec leaves open, which no verdict may hold against the toy
LEGAL = {
    "long-handles": "GM-FIELD-001: handles of 63 bytes, naming this process, so a restart gives new ones",
    "digit-handles": "GM-FIELD-006: handles are opaque; these are bare decimal numbers",
    "split-writes": "GM-LIB-005: every packet and admin line goes out in pieces, 2 ms apart",
    "coalesce-writes": "GM-LIB-005: replies wait 10 ms and go out together in one write",
    "reverse-admin-rows": "GM-ADMIN-016: status and workers rows newest first",
    "status-active-only": "GM-ADMIN-005: status lists only functions with jobs or workers, as Perl's server",
    "admin-crlf": "GM-ADMIN-014: every admin reply line ends in \\r\\n",
    "workers-trailing-space": "GM-ADMIN-017: a workers row with no functions ends ': ', as Perl's server and gear",
    "workers-registered-only": "GM-ADMIN-017: workers lists only connections with functions",
    "workers-functions-newest-first": "GM-ADMIN-016: a workers row lists its functions newest first, as gearmand",
    "wake-one": "GM-SLEEP-005: a new job wakes one sleeping worker, the newest connection",
    "wake-newest-first": "GM-SLEEP-005: sleeping workers are woken newest connection first",
    "reverse-listeners": "GM-WORK-013: forwarded packets reach a job's listeners newest first",
    "per-function-order": "GM-PRIO-004: a worker's newest function with work is served first, whatever the priority",
    "count-repeated-can-do": "GM-WORKER-002: a repeated CAN_DO counts as a second registration, as in gearmand",
    "strip-client-id": "GM-WORKER-015: whitespace is removed from a client id",
    "refuse-empty-function": "GM-SUBMIT-008: an empty function name is refused with ERROR",
}


def packet(type_: int, *args: bytes, extra: int = 0) -> bytes:
    """A \\0RES packet; ``extra``: how many bytes more than the body its header announces."""
    body = b"\0".join(args)
    return RES + struct.pack(">II", type_, len(body) + extra) + body


@dataclass
class Job:
    handle: bytes
    function: bytes
    unique: bytes
    workload: bytes
    clients: list[Conn] = field(default_factory=list)
    worker: Conn | None = None
    numerator: bytes = b"0"
    denominator: bytes = b"0"


@dataclass(eq=False)
class Conn:
    writer: asyncio.StreamWriter
    fd: int
    #: "split-writes", "coalesce-writes" or "": how replies reach the socket
    writes: str = ""
    client_id: bytes = b"-"
    #: registered functions, oldest first (a dict keeps that order; "per-function-order" reads it), and how often
    abilities: dict[bytes, int] = field(default_factory=dict)
    sleeping: bool = False
    exceptions: bool = False
    pending: bytearray = field(default_factory=bytearray)
    pieces: deque[bytes] = field(default_factory=deque)
    flushing: bool = False

    def send(self, data: bytes) -> None:
        if self.writer.is_closing():
            return
        if self.writes == "split-writes":
            # cut inside the magic, the header and the body, so that no read holds a whole packet
            cuts = [0, *(n for n in (1, 6, 12, 12 + (len(data) - 12) // 2) if 0 < n < len(data)), len(data)]
            self.pieces.extend(data[a:b] for a, b in itertools.pairwise(sorted(set(cuts))) if a < b)
            if not self.flushing:
                self.flushing = True
                asyncio.get_running_loop().create_task(self.trickle())
        elif self.writes == "coalesce-writes":
            if not self.pending:
                asyncio.get_running_loop().call_later(0.01, self.flush)
            self.pending += data
        else:
            self.writer.write(data)

    def flush(self) -> None:
        if not self.writer.is_closing():
            self.writer.write(bytes(self.pending))
        self.pending.clear()

    async def trickle(self) -> None:
        with contextlib.suppress(ConnectionError):
            while self.pieces and not self.writer.is_closing():
                self.writer.write(self.pieces.popleft())
                await self.writer.drain()
                await asyncio.sleep(0.002)
        self.flushing = False


class Toy:
    def __init__(
        self,
        crash_on: int | None,
        hang_on: int | None,
        error_word: bytes,
        delay_on: int | None = None,
        delay: float = 0.0,
        close_delay: float = 0.0,
        admin: bool = True,
        bare_unknown_error: bool = False,
        shutdown_delay: float = 0.0,
        shutdown_status: int = 0,
        refuse: frozenset[int] = frozenset(),
        breaks: frozenset[str] = frozenset(),
        habits: frozenset[str] = frozenset(),
    ) -> None:
        self.refuse, self.breaks, self.habits = refuse, breaks, habits
        self.admin_protocol = admin
        self.shutdown_delay, self.shutdown_status = shutdown_delay, shutdown_status
        self.shutdown_closes_port = False
        self.listener: asyncio.Server | None = None
        self.bare_unknown_error = bare_unknown_error
        self.crash_on, self.hang_on, self.error_word = crash_on, hang_on, error_word
        self.delay_on, self.delay, self.close_delay = delay_on, delay, close_delay
        self.hung = asyncio.Event()
        self.conns: list[Conn] = []
        self.queues: dict[bytes, list[deque[Job]]] = {}
        self.jobs: dict[bytes, Job] = {}
        self.by_unique: dict[tuple[bytes, bytes], Job] = {}
        self.ended: dict[bytes, Job] = {}  # kept only by "forward-after-end" and "status-remembers-ended"
        self.handles = itertools.count(1)
        self.legal: frozenset[str] = frozenset()

    # ---------------------------------------------------------------- jobs

    def queue(self, function: bytes) -> list[deque[Job]]:
        return self.queues.setdefault(function, [deque(), deque(), deque()])

    def handle_text(self, n: int) -> bytes:
        if "digit-handles" in self.legal:
            return b"%d" % n
        if "long-handles" in self.legal:  # 63 bytes, the most GM-FIELD-001 allows
            head = b"H:toy-server-with-long-handles.example.org-%d:" % os.getpid()
            return head + b"%0*d" % (63 - len(head), n)
        return b"H:toy:%d" % n

    def new_handle(self) -> bytes:
        if "reuse-handles" in self.breaks:
            held = set(self.jobs)
            return next(h for n in itertools.count(1) if (h := self.handle_text(n)) not in held)
        return self.handle_text(next(self.handles))

    def wake(self, function: bytes) -> None:
        if "no-wake" in self.breaks:
            return
        sleepers = [c for c in self.conns if c.sleeping and function in c.abilities]
        if self.legal & {"wake-one", "wake-newest-first"}:
            sleepers.reverse()
        for conn in sleepers[:1] if "wake-one" in self.legal else sleepers:
            conn.sleeping = False
            conn.send(packet(NOOP))

    def take(self, conn: Conn) -> Job | None:
        if "per-function-order" in self.legal:  # gearmand 1.1: newest function first, then its priorities
            order = [(p, f) for f in reversed(conn.abilities) for p in range(3)]
        else:
            order = [(p, f) for p in range(3) for f in sorted(conn.abilities)]
        for priority, function in order:
            q = self.queue(function)[priority]
            if q:
                return q.popleft()
        if "grab-any-function" in self.breaks:
            return next((q.popleft() for qs in self.queues.values() for q in qs if q), None)
        return None

    def error(self, text: bytes, word: bytes | None = None) -> bytes:
        end = b"\0" if "error-nul-terminated" in self.breaks else b""
        return packet(ERROR, word or self.error_word, text + end)

    def finish(self, job: Job) -> None:
        self.jobs.pop(job.handle, None)
        if self.breaks & {"forward-after-end", "status-remembers-ended"}:
            self.ended[job.handle] = job
        if "coalesce-ended" not in self.breaks:
            self.by_unique.pop((job.function, job.unique), None)

    # ---------------------------------------------------------------- requests

    def handle(self, conn: Conn, type_: int, args: list[bytes]) -> None:
        if type_ == self.crash_on:
            os.kill(os.getpid(), signal.SIGSEGV)
        if type_ == self.hang_on:
            self.hung.set()
            return
        if type_ in self.refuse:
            conn.send(self.error(b"not implemented"))
        elif type_ == ECHO_REQ:
            echoed = args[0].split(b"\0")[0] if "echo-c-string" in self.breaks else args[0]
            conn.send(packet(ECHO_RES, echoed, extra=int("echo-long-header" in self.breaks and len(echoed) > 8192)))
        elif type_ in (CAN_DO, CAN_DO_TIMEOUT) and not args[0] and "refuse-empty-function" in self.legal:
            conn.send(self.error(b"empty function name"))
        elif type_ in (CAN_DO, CAN_DO_TIMEOUT):
            again = conn.abilities.get(args[0], 0) if "count-repeated-can-do" in self.legal else 0
            conn.abilities[args[0]] = again + 1
            self.queue(args[0])
        elif type_ == CANT_DO:
            if "cant-do-ignored" not in self.breaks:
                conn.abilities.pop(args[0], None)
        elif type_ == RESET_ABILITIES:
            conn.abilities.clear()
        elif type_ == SET_CLIENT_ID:
            client_id = b"".join(args[0].split()) if "strip-client-id" in self.legal else args[0]
            conn.client_id = client_id or b"-"
        elif type_ == OPTION_REQ:
            if (args[0] if "exact-option" in self.habits else args[0].lower()) == b"exceptions":
                conn.exceptions = True
                conn.send(packet(OPTION_RES, args[0].lower() if "option-canonical" in self.breaks else args[0]))
            else:
                conn.send(self.error(b"unknown option"))
        elif type_ in SUBMITS:
            self.submit(conn, type_, args)
        elif type_ == PRE_SLEEP:
            conn.sleeping = True
            if any(any(self.queue(f)) for f in conn.abilities):
                conn.sleeping = False
                conn.send(packet(NOOP))
        elif type_ in (GRAB_JOB, GRAB_JOB_UNIQ):
            conn.sleeping = False
            job = self.take(conn)
            if job is None:
                conn.send(packet(NO_JOB))
            else:
                job.worker = conn
                if "no-coalesce-running" in self.breaks:
                    self.by_unique.pop((job.function, job.unique), None)
                if type_ == GRAB_JOB:
                    conn.send(packet(JOB_ASSIGN, job.handle, job.function, job.workload))
                else:
                    unique = job.unique + (b"\0" if "uniq-nul-terminated" in self.breaks else b"")
                    conn.send(packet(JOB_ASSIGN_UNIQ, job.handle, job.function, unique, job.workload))
        elif type_ in (WORK_STATUS, WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION, WORK_DATA, WORK_WARNING):
            self.work(conn, type_, args)
        elif type_ == GET_STATUS:
            job = self.jobs.get(args[0])
            if job is None and "status-remembers-ended" in self.breaks and args[0] in self.ended:
                conn.send(packet(STATUS_RES, args[0], b"1", b"0", b"0", b"0"))
            elif job is None:
                none = b"" if "empty-unknown-status" in self.habits else b"0"
                conn.send(packet(STATUS_RES, args[0], b"0", b"0", none, none))
            else:
                running = b"1" if job.worker is not None and "status-not-running" not in self.breaks else b"0"
                conn.send(packet(STATUS_RES, job.handle, b"1", running, job.numerator, job.denominator))
        elif self.bare_unknown_error:
            conn.send(RES + struct.pack(">II", ERROR, len(self.error_word)) + self.error_word)
        else:
            conn.send(self.error(b"unknown packet type"))

    def submit(self, conn: Conn, type_: int, args: list[bytes]) -> None:
        function, unique, workload = args
        priority, background = SUBMITS[type_]
        if not function and "refuse-empty-function" in self.legal:
            conn.send(self.error(b"empty function name"))
            return
        job = self.by_unique.get((function, unique)) if unique and "no-coalesce" not in self.habits else None
        if job is None:
            job = Job(self.new_handle(), function, unique, workload)
            self.jobs[job.handle] = job
            if unique:
                self.by_unique[(function, unique)] = job
            self.queue(function)[1 if "ignore-priority" in self.breaks else priority].append(job)
            self.wake(function)
        if not background or "background-listens" in self.breaks:
            job.clients.append(conn)
        conn.send(packet(JOB_CREATED, job.handle))

    def work(self, conn: Conn, type_: int, args: list[bytes]) -> None:
        job = self.jobs.get(args[0])
        if job is None and "forward-after-end" in self.breaks:
            job = self.ended.get(args[0])
        if job is None or job.worker is not conn:
            conn.send(self.error(b"job not assigned to this worker"))
            return
        if type_ == WORK_STATUS:
            job.numerator, job.denominator = args[1], args[2]
            if "swap-progress" in self.breaks:
                args = [args[0], args[2], args[1]]
        if type_ == WORK_FAIL and "fail-with-reason" in self.breaks:
            args = [args[0], b"job failed"]
        for client in self.listeners(job):
            if type_ != WORK_EXCEPTION or client.exceptions:
                client.send(packet(type_, *args))
        if type_ in (WORK_COMPLETE, WORK_FAIL, WORK_EXCEPTION):
            self.finish(job)

    def listeners(self, job: Job) -> list[Conn]:
        return job.clients[::-1] if "reverse-listeners" in self.legal else job.clients

    def drop(self, conn: Conn) -> None:
        self.conns.remove(conn)
        for job in list(self.jobs.values()):
            if conn in job.clients:
                job.clients.remove(conn)
            if job.worker is conn and "lose-worker-jobs" in self.breaks:
                self.finish(job)
            elif job.worker is conn and "fail-dropped-jobs" in self.habits:
                for client in self.listeners(job):
                    client.send(packet(WORK_FAIL, job.handle))
                self.finish(job)
            elif job.worker is conn:  # back to the front of its queue, its progress forgotten (GM-DISC-003)
                job.worker = None
                job.numerator = job.denominator = b"0"
                self.queue(job.function)[1].appendleft(job)
                self.wake(job.function)

    def admin(self, conn: Conn, line: bytes) -> None:
        words = line.split()
        command = words[0].lower() if words else b""
        eol = b"\r\n" if "admin-crlf" in self.legal else b"\n"
        rows: list[bytes] = []
        if command == b"version":
            conn.send(b"OK 0.1-toy" + eol)
        elif command == b"status":
            for function in sorted(self.queues):  # every function ever named, as gearmand lists them
                queued = sum(len(q) for q in self.queues[function])
                running = sum(1 for j in self.jobs.values() if j.function == function and j.worker is not None)
                workers = sum(c.abilities.get(function, 0) for c in self.conns)
                if queued + running + workers or "status-active-only" not in self.legal:
                    rows.append(b"%s\t%d\t%d\t%d" % (function, queued + running, running, workers))
        elif command == b"workers":
            for c in self.conns:
                newest_first = "workers-functions-newest-first" in self.legal
                names = list(c.abilities)[::-1] if newest_first else sorted(c.abilities)
                functions = b"".join(b" " + f for f in names for _ in range(c.abilities[f]))
                if not functions and "workers-trailing-space" in self.legal:
                    functions = b" "
                if functions or "workers-registered-only" not in self.legal:
                    rows.append(b"%d 127.0.0.1 %s :%s" % (c.fd, c.client_id, functions))
        elif command == b"shutdown":
            conn.send(b"OK" + eol)
            if self.shutdown_closes_port and self.listener is not None:
                self.listener.close()
            # os._exit: the exit status is the point, and nothing is left to flush
            # a reply still going out in pieces or held back is written first, as a server flushes before it exits
            delay = max(self.shutdown_delay, 0.05 if conn.writes else 0.0)
            asyncio.get_running_loop().call_later(delay, os._exit, self.shutdown_status)
        else:
            conn.send(b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n")
        if command in (b"status", b"workers"):
            for row in rows[::-1] if "reverse-admin-rows" in self.legal else rows:
                conn.send(row + eol)
            # the closing full stop is a line too, its end of line included (GM-ADMIN-004)
            conn.send(b"." if "listing-end-no-eol" in self.breaks else b"." + eol)

    # ---------------------------------------------------------------- connections

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        writes = next((h for h in ("split-writes", "coalesce-writes") if h in self.legal), "")
        conn = Conn(writer, sock.fileno() if sock is not None else 0, writes)
        self.conns.append(conn)
        try:
            while not self.hung.is_set():
                first = await reader.read(1)
                if not first:
                    break
                if first != b"\0":
                    if not self.admin_protocol:
                        break
                    rest = await reader.readline()
                    self.admin(conn, (first + rest).rstrip(b"\r\n"))
                else:
                    header = first + await reader.readexactly(11)
                    type_, size = struct.unpack(">II", header[4:12])
                    body = await reader.readexactly(size)
                    if header[:4] == RES and "res-magic-closes" not in self.breaks:
                        conn.send(self.error(b"Request magic expected", b"INVALID_MAGIC"))
                        await writer.drain()
                        continue
                    if header[:4] == RES or (header[:4] != REQ and "bad-magic-ignored" not in self.breaks):
                        break  # bad magic: close
                    if header[:4] != REQ:
                        continue
                    count = ARGS.get(type_, 0)
                    args = body.split(b"\0", count - 1) if count else []
                    if count and len(args) != count:
                        conn.send(self.error(b"too few arguments"))
                        continue
                    if type_ == self.delay_on:
                        await asyncio.sleep(self.delay)
                    self.handle(conn, type_, args)
                await writer.drain()
            if self.hung.is_set():
                await asyncio.Event().wait()  # answer nothing, ever
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self.close_delay:
                await asyncio.sleep(self.close_delay)
            self.drop(conn)
            writer.close()


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--crash-on", metavar="TYPE", help="packet type name that kills the server with SIGSEGV")
    parser.add_argument("--hang-on", metavar="TYPE", help="packet type name after which the server answers nothing")
    parser.add_argument("--error-word", default="INVALID_COMMAND", help="code word of ERROR replies")
    parser.add_argument("--delay-on", metavar="TYPE", help="packet type name processed --delay ms late")
    parser.add_argument("--delay", type=int, default=300, metavar="MS")
    parser.add_argument("--close-delay", type=int, default=0, metavar="MS", help="notice a client's close late")
    parser.add_argument("--no-admin", action="store_true", help="no admin text protocol: a text line closes")
    parser.add_argument("--bare-unknown-error", action="store_true", help="answer unknown types with a bare ERROR")
    parser.add_argument("--shutdown-delay", type=int, default=0, metavar="MS", help="exit MS ms after 'shutdown'")
    parser.add_argument("--shutdown-status", type=int, default=0, metavar="N", help="exit status after 'shutdown'")
    parser.add_argument("--refuse", action="append", default=[], metavar="TYPE", help="answer this type with ERROR")
    parser.add_argument("--shutdown-closes-port", action="store_true", help="stop listening at 'shutdown'")
    parser.add_argument("--no-coalesce", action="store_true", help="never coalesce submissions")
    parser.add_argument("--fail-dropped-jobs", action="store_true", help="WORK_FAIL a dead worker's jobs")
    parser.add_argument("--exact-option", action="store_true", help="match option names with their case")
    parser.add_argument("--empty-unknown-status", action="store_true", help="empty numbers for unknown handles")
    parser.add_argument("--habit", dest="legal", action="append", default=[], choices=sorted(LEGAL), metavar="NAME")
    parser.add_argument("--break", dest="breaks", action="append", default=[], choices=sorted(BREAKS), metavar="NAME")
    args = parser.parse_args(argv)
    numbers = {name: number for number, name in NAMES.items()}
    toy = Toy(
        numbers[args.crash_on] if args.crash_on else None,
        numbers[args.hang_on] if args.hang_on else None,
        args.error_word.encode(),
        numbers[args.delay_on] if args.delay_on else None,
        args.delay / 1000,
        args.close_delay / 1000,
        not args.no_admin,
        args.bare_unknown_error,
        args.shutdown_delay / 1000,
        args.shutdown_status,
        frozenset(numbers[name] for name in args.refuse),
        frozenset(args.breaks),
        frozenset(h for h in HABITS if getattr(args, h.replace("-", "_"))),
    )
    toy.legal = frozenset(args.legal)
    server = await asyncio.start_server(toy.serve, args.host, args.port)
    toy.listener, toy.shutdown_closes_port = server, args.shutdown_closes_port
    print(f"toy gearman server on {args.host}:{args.port}", file=sys.stderr, flush=True)
    async with server:
        with contextlib.suppress(asyncio.CancelledError):  # 'shutdown' closed the listener
            await server.serve_forever()
    await asyncio.Event().wait()  # until the exit 'shutdown' scheduled


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
