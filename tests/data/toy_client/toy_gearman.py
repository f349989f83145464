"""toy_gearman: a deliberately small Gearman client and worker library, written for gearsim's own tests.

None of gearsim's vectors were written for it, so it checks that the library
cases judge a library they have never seen: a correct toy must pass them all.
It can also be built broken (``broken=True``), with two defects users of
other libraries met: WORK_STATUS sent as a percentage (a fractional numerator
over 100, breaking GM-FIELD-003) and the unique-status request sent with the
server-only type STATUS_RES_UNIQUE framed \\0REQ (breaking GM-FRAME-003). The
broken toy must fail exactly the cases that exercise those two.

Finer switches (``breaks={NAME, ...}``) each break one client- or worker-side
MUST of spec/requirements.yaml, named in ``BREAKS`` with the rule and how:
tests/interop/test_toy_client_breakages.py checks the library cases catch each.

And legal habits (``habits={NAME, ...}``): choices the spec leaves to a
library, each named in ``HABITS`` with the rule that allows it; no verdict
may hold any of them against the toy (tests/interop/test_toy_client_habits.py).

Blocking sockets, one connection per object, tried in the order the servers
were given (the next one when a connect fails). A client whose connection the
server has already closed connects again before its next submission, so a
dead server is passed over (GM-LIB-007).
"""

from __future__ import annotations

import itertools
import random
import socket
import string
import struct
import time
import uuid

REQ, RES = b"\0REQ", b"\0RES"
T = {
    "CAN_DO": 1, "CANT_DO": 2, "PRE_SLEEP": 4, "NOOP": 6, "SUBMIT_JOB": 7, "JOB_CREATED": 8, "GRAB_JOB": 9,
    "NO_JOB": 10, "JOB_ASSIGN": 11, "WORK_STATUS": 12, "WORK_COMPLETE": 13, "WORK_FAIL": 14, "GET_STATUS": 15,
    "SUBMIT_JOB_BG": 18, "ERROR": 19, "STATUS_RES": 20, "SUBMIT_JOB_HIGH": 21, "SET_CLIENT_ID": 22,
    "CAN_DO_TIMEOUT": 23, "WORK_EXCEPTION": 25, "OPTION_REQ": 26, "OPTION_RES": 27, "WORK_DATA": 28,
    "WORK_WARNING": 29, "GRAB_JOB_UNIQ": 30, "JOB_ASSIGN_UNIQ": 31, "SUBMIT_JOB_HIGH_BG": 32,
    "SUBMIT_JOB_LOW": 33, "SUBMIT_JOB_LOW_BG": 34, "SUBMIT_JOB_EPOCH": 36, "GET_STATUS_UNIQUE": 41,
    "STATUS_RES_UNIQUE": 42, "RESET_ABILITIES": 3, "GRAB_JOB_ALL": 39, "JOB_ASSIGN_ALL": 40,
}  # fmt: skip
NAME = {v: k for k, v in T.items()}
ARGS = {"JOB_CREATED": 1, "JOB_ASSIGN": 3, "JOB_ASSIGN_UNIQ": 4, "JOB_ASSIGN_ALL": 5, "WORK_STATUS": 3,
        "WORK_COMPLETE": 2, "WORK_FAIL": 1, "ERROR": 2, "STATUS_RES": 5, "OPTION_RES": 1, "WORK_DATA": 2,
        "WORK_WARNING": 2, "WORK_EXCEPTION": 2, "STATUS_RES_UNIQUE": 6}  # fmt: skip
SUBMIT = {
    (False, "normal"): "SUBMIT_JOB", (False, "high"): "SUBMIT_JOB_HIGH", (False, "low"): "SUBMIT_JOB_LOW",
    (True, "normal"): "SUBMIT_JOB_BG", (True, "high"): "SUBMIT_JOB_HIGH_BG", (True, "low"): "SUBMIT_JOB_LOW_BG",
}  # fmt: skip

#: each finer switch: the MUST rule it breaks, and how
BREAKS = {
    "wrong-handle": ("GM-LIB-009", "a worker sends WORK_COMPLETE for another handle than the job's"),
    "report-after-end": ("GM-WORK-014", "a worker sends WORK_DATA for a job it has already ended"),
    "long-unique": ("GM-FIELD-002", "a client generates a 64-byte unique when its caller gives none"),
    "fail-as-success": ("GM-LIB-003", "a client reports WORK_FAIL as a completion with an empty result"),
    "low-as-normal": ("GM-LIB-001", "a client submits a low-priority job as SUBMIT_JOB / SUBMIT_JOB_BG"),
    # the NUL itself breaks GM-FRAME-005, which no receiver can see: on the wire it ends the unique early,
    # so the server is given another unique and workload than the caller's
    "nul-unique": ("GM-LIB-001", "a client generates a unique holding a NUL when its caller gives none"),
    "no-unique-arg": ("GM-FRAME-004", "a client leaves the unique argument out of SUBMIT_JOB*"),
    "noop-gives-up": ("GM-LIB-010", "a worker whose NOOP is answered by NO_JOB stops asking for work"),
    "no-cant-do": ("GM-LIB-011", "a worker whose caller unregisters a function never sends CANT_DO"),
    "lowercase-handle": ("GM-LIB-002", "a client reports a JOB_CREATED handle lower-cased, normalised as a key"),
    "status-swapped": ("GM-LIB-004", "a client reports a status's numerator and denominator swapped"),
    "strip-payload": ("GM-LIB-008", "a worker hands its caller the workload with trailing whitespace stripped"),
    "closed-as-submitted": (
        "GM-LIB-006",
        "a client reports a background submission made, with no handle, when the connection closes before "
        "JOB_CREATED (fire and forget)",
    ),
    "one-read-one-packet": (
        "GM-LIB-005",
        "a client or worker takes each read as one whole packet: what else it brought is dropped, and a packet "
        "split over reads is an error",
    ),
    "rebuilds-handle": (
        "GM-FIELD-006",
        "a client parses a handle as H:host:N and sends it back rebuilt with the host it connected to",
    ),
    "error-code-case": (
        "GM-ERROR-003",
        "a client ends a request on an ERROR only when its code word is one of gearmand's upper-case ones; "
        "any other it skips as noise, and waits on",
    ),
}

#: each legal habit: the rule of spec/requirements.yaml that allows it, and what the toy then does
HABITS = {
    "grab-job": ("GM-WORKER-008", "a worker grabs with GRAB_JOB: JOB_ASSIGN has no unique, so its caller gets none"),
    "grab-job-all": ("GM-WORKER-010", "a worker grabs with GRAB_JOB_ALL, as libgearman does"),
    "sleep-first": (
        "GM-SLEEP-001",
        "a worker opens each wait for work with PRE_SLEEP, not GRAB_*: the server wakes it at once when a job waits",
    ),
    "regrab-timer": (
        "GM-SLEEP-007",
        "a sleeping worker grabs again after 100 ms without a NOOP (Perl's Gearman::Worker does after 10 s)",
    ),
    "reset-abilities": (
        "GM-WORKER-005",
        "a worker whose functions change sends RESET_ABILITIES and CAN_DO for each it keeps, never CANT_DO, "
        "as python-gearman does",
    ),
    "lazy-register": (
        "GM-LIB-011",
        "CAN_DO, CAN_DO_TIMEOUT, CANT_DO and SET_CLIENT_ID wait, and go out in one write with the next request",
    ),
    "client-id-on-connect": (
        "GM-WORKER-013",
        "every connection first sends SET_CLIENT_ID with 30 random letters of its own, as Perl's worker does",
    ),
    "generated-unique": ("GM-LIB-001", "a client whose caller gives no unique sends a UUID, as libgearman does"),
    "option-at-connect": (
        "GM-WORK-008",
        "a client asks for the exceptions option on every connection it makes, as Perl's Gearman::Client with "
        "exceptions => 1 does",
    ),
    "lazy-option": (
        "GM-OPTION-004",
        "OPTION_REQ waits, and goes out in one write with the client's next request; its OPTION_RES is read then",
    ),
    "servers-reversed": (
        "GM-LIB-007",
        "a client or worker tries the servers it was given last first (gear's client shuffles them)",
    ),
    "split-writes": (
        "GM-FRAME-007",
        "every packet is written in pieces 1 ms apart, its header in two and its body in two (TCP keeps no "
        "message boundaries: receivers read by the declared length)",
    ),
}

#: the ERROR code words the ``error-code-case`` switch knows, spelled as gearmand 1.1 spells them
GEARMAND_CODES = frozenset({b"QUEUE_ERROR", b"NO_SUCH_JOB", b"JOB_EXISTS", b"UNKNOWN_COMMAND", b"ERR_NOT_CONNECTED"})


class GearmanError(Exception):
    """The server answered ERROR."""


class LostConnection(Exception):
    """The connection closed (or could not be made)."""


class Timeout(Exception):
    """Nothing arrived in time."""


class Connection:
    def __init__(
        self, servers: list[tuple[str, int]], breaks: frozenset[str] = frozenset(), habits: frozenset[str] = frozenset()
    ) -> None:
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.breaks = breaks
        self.habits = habits
        self.host = ""
        #: packets written with the next one that is not held (habits lazy-register, lazy-option)
        self.held = b""
        #: OPTION_RES still to come for OPTION_REQ sent without waiting (habit lazy-option)
        self.options_owed = 0
        for host, port in reversed(servers) if "servers-reversed" in habits else servers:
            try:
                self.sock = socket.create_connection((host, port), timeout=5)
                self.host = host
                break
            except OSError:
                continue
        if self.sock is None:
            raise LostConnection("no server could be connected")
        if "client-id-on-connect" in habits:
            self.send("SET_CLIENT_ID", "".join(random.choices(string.ascii_lowercase, k=30)).encode())

    def closed_by_server(self) -> bool:
        """True when the server has closed this connection (an end of stream is waiting to be read)."""
        assert self.sock is not None
        timeout = self.sock.gettimeout()
        self.sock.setblocking(False)
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(timeout)

    def send(self, name: str, *args: bytes, magic: bytes = REQ, number: int | None = None, hold: bool = False) -> None:
        body = b"\0".join(args)
        data = magic + struct.pack(">II", T[name] if number is None else number, len(body)) + body
        if hold:
            self.held += data
            return
        data, self.held = self.held + data, b""
        assert self.sock is not None
        try:
            if "split-writes" in self.habits:
                cuts = sorted({0, 5, 12, 12 + len(body) // 2, len(data)})
                for start, stop in itertools.pairwise(cuts):
                    self.sock.sendall(data[start:stop])
                    time.sleep(0.001)
            else:
                self.sock.sendall(data)
        except OSError as exc:
            raise LostConnection(str(exc)) from None

    def read(self, timeout: float) -> tuple[str, list[bytes]]:
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 12:
                _, number, size = struct.unpack(">4sII", self.buffer[:12])
                if len(self.buffer) >= 12 + size:
                    body, self.buffer = self.buffer[12 : 12 + size], self.buffer[12 + size :]
                    name = NAME.get(number, str(number))
                    count = ARGS.get(name, 0)
                    args = body.split(b"\0", count - 1) if count else []
                    if name == "ERROR" and "error-code-case" in self.breaks and args[0] not in GEARMAND_CODES:
                        continue
                    if name == "OPTION_RES" and self.options_owed:
                        self.options_owed -= 1
                        continue
                    if name == "ERROR":
                        raise GearmanError(b": ".join(args).decode("utf-8", "replace"))
                    if name == "WORK_FAIL" and args[0].endswith(b"\0"):  # gearmand 1.1's form (GM-WORK-012)
                        args = [args[0][:-1]]
                    return name, args
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"nothing within {timeout:g} s")
            assert self.sock is not None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise LostConnection(str(exc)) from None
            if not chunk:
                raise LostConnection("the server closed the connection")
            if "one-read-one-packet" in self.breaks:
                size = struct.unpack(">I", chunk[8:12])[0] if len(chunk) >= 12 else 0
                if len(chunk) < 12 + size:
                    raise GearmanError(f"short packet: {len(chunk)} bytes")
                chunk = chunk[: 12 + size]
            self.buffer += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


class Client:
    def __init__(
        self,
        servers: list[tuple[str, int]],
        broken: bool = False,
        breaks: frozenset[str] = frozenset(),
        habits: frozenset[str] = frozenset(),
    ) -> None:
        self.servers = servers
        self.broken = broken
        self.breaks = breaks
        self.habits = habits
        self.conn = self._connect()

    def _connect(self) -> Connection:
        conn = Connection(self.servers, self.breaks, self.habits)
        if "option-at-connect" in self.habits:
            conn.send("OPTION_REQ", b"exceptions")
            conn.read(5)
        return conn

    def set_option(self, name: str, timeout: float) -> None:
        if "lazy-option" in self.habits:
            self.conn.send("OPTION_REQ", name.encode(), hold=True)
            self.conn.options_owed += 1
            return
        self.conn.send("OPTION_REQ", name.encode())
        self.conn.read(timeout)

    def submit(self, function: bytes, payload: bytes, unique: bytes | None, background: bool, priority: str,
               epoch: int | None, timeout: float) -> dict:  # fmt: skip
        if unique is None and "long-unique" in self.breaks:
            unique = b"toy-" + b"u" * 60
        if unique is None and "nul-unique" in self.breaks:
            unique = b"toy\0" + str(id(self)).encode()
        if unique is None and "generated-unique" in self.habits:
            unique = str(uuid.uuid4()).encode()
        unique = unique or b""
        if "low-as-normal" in self.breaks and priority == "low":
            priority = "normal"
        if self.conn.closed_by_server():
            self.conn.close()
            self.conn = self._connect()
        if epoch is not None:
            self.conn.send("SUBMIT_JOB_EPOCH", function, unique, str(epoch).encode(), payload)
        elif "no-unique-arg" in self.breaks:
            self.conn.send(SUBMIT[(background, priority)], function, payload)
        else:
            self.conn.send(SUBMIT[(background, priority)], function, unique, payload)
        try:
            name, args = self.conn.read(timeout)
        except LostConnection:
            if background and "closed-as-submitted" in self.breaks:
                return {"handle": b""}
            raise
        if name != "JOB_CREATED":
            raise GearmanError(f"expected JOB_CREATED, got {name}")
        handle = args[0].lower() if "lowercase-handle" in self.breaks else args[0]
        if background:
            return {"handle": handle}
        events: list[tuple[str, object]] = []
        while True:
            name, args = self.conn.read(timeout)
            if args[:1] != [handle]:
                continue
            if name in ("WORK_DATA", "WORK_WARNING"):
                events.append((name[5:].lower(), args[1]))
            elif name == "WORK_STATUS":
                events.append(("status", (int(args[1]), int(args[2]))))
            elif name == "WORK_COMPLETE":
                return {"handle": handle, "outcome": "complete", "data": args[1], "events": events}
            elif name == "WORK_FAIL" and "fail-as-success" in self.breaks:
                return {"handle": handle, "outcome": "complete", "data": b"", "events": events}
            elif name == "WORK_FAIL":
                return {"handle": handle, "outcome": "fail", "data": b"", "events": events}
            elif name == "WORK_EXCEPTION":
                return {"handle": handle, "outcome": "exception", "data": args[1], "events": events}

    def status(self, handle: bytes, timeout: float) -> list[bytes]:
        if "rebuilds-handle" in self.breaks and handle.count(b":") == 2:
            handle = b"H:" + self.conn.host.encode() + b":" + handle.rpartition(b":")[2]
        self.conn.send("GET_STATUS", handle)
        return self._answer("STATUS_RES", timeout)

    def status_unique(self, unique: bytes, timeout: float) -> list[bytes]:
        if self.broken:  # the defect: the reply's type, framed as a request
            self.conn.send("STATUS_RES_UNIQUE", unique)
        else:
            self.conn.send("GET_STATUS_UNIQUE", unique)
        return self._answer("STATUS_RES_UNIQUE", timeout)

    def _answer(self, want: str, timeout: float) -> list[bytes]:
        while True:
            name, args = self.conn.read(timeout)
            if name == want and "status-swapped" in self.breaks:
                return [*args[:3], args[4], args[3], *args[5:]]
            if name == want:
                return args


class Job:
    def __init__(self, worker: Worker, handle: bytes, function: bytes, unique: bytes | None, payload: bytes) -> None:
        self.worker, self.handle, self.function, self.unique, self.payload = worker, handle, function, unique, payload

    def status(self, numerator: int, denominator: int) -> None:
        if self.worker.broken:  # the defect: progress as a percentage
            self.worker.conn.send("WORK_STATUS", self.handle, repr(numerator / denominator * 100).encode(), b"100")
        else:
            self.worker.conn.send("WORK_STATUS", self.handle, str(numerator).encode(), str(denominator).encode())

    def send(self, name: str, data: bytes | None = None) -> None:
        breaks = self.worker.breaks
        handle = self.handle + b"-other" if name == "WORK_COMPLETE" and "wrong-handle" in breaks else self.handle
        self.worker.conn.send(name, handle, *(() if data is None else (data,)))
        if name in ("WORK_COMPLETE", "WORK_FAIL", "WORK_EXCEPTION") and "report-after-end" in breaks:
            self.worker.conn.send("WORK_DATA", self.handle, b"late")


class Worker:
    def __init__(
        self,
        servers: list[tuple[str, int]],
        broken: bool = False,
        breaks: frozenset[str] = frozenset(),
        habits: frozenset[str] = frozenset(),
    ) -> None:
        self.conn = Connection(servers, breaks, habits)
        self.broken = broken
        self.breaks = breaks
        self.habits = habits
        self.hold = "lazy-register" in habits
        #: registered functions and their time limits (habit reset-abilities sends them all again)
        self.functions: dict[bytes, int | None] = {}

    def _can_do(self, function: bytes, timeout_ms: int | None) -> None:
        if timeout_ms:
            self.conn.send("CAN_DO_TIMEOUT", function, str(timeout_ms).encode(), hold=self.hold)
        else:
            self.conn.send("CAN_DO", function, hold=self.hold)

    def _reregister(self) -> None:
        self.conn.send("RESET_ABILITIES", hold=self.hold)
        for function, timeout_ms in self.functions.items():
            self._can_do(function, timeout_ms)

    def register(self, function: bytes, timeout_ms: int | None) -> None:
        self.functions[function] = timeout_ms
        if "reset-abilities" in self.habits:
            self._reregister()
        else:
            self._can_do(function, timeout_ms)

    def unregister(self, function: bytes) -> None:
        self.functions.pop(function, None)
        if "no-cant-do" in self.breaks:
            return
        if "reset-abilities" in self.habits:
            self._reregister()
        else:
            self.conn.send("CANT_DO", function, hold=self.hold)

    def set_client_id(self, client_id: bytes) -> None:
        self.conn.send("SET_CLIENT_ID", client_id, hold=self.hold)

    def grab(self, timeout: float) -> Job:
        deadline = time.monotonic() + timeout
        grab, assign = "GRAB_JOB_UNIQ", ("JOB_ASSIGN_UNIQ",)
        if "grab-job" in self.habits:
            grab, assign = "GRAB_JOB", ("JOB_ASSIGN",)
        elif "grab-job-all" in self.habits:
            grab, assign = "GRAB_JOB_ALL", ("JOB_ASSIGN_UNIQ", "JOB_ASSIGN_ALL")
        woken = False
        if "sleep-first" in self.habits:
            self._sleep(deadline)
        while True:
            self.conn.send(grab)
            name, args = self._next(deadline, ("NO_JOB", *assign))
            if name != "NO_JOB":
                # handle, function, unique (none in JOB_ASSIGN; JOB_ASSIGN_ALL adds a reducer) and workload
                handle, function, unique, payload = args[0], args[1], None if len(args) == 3 else args[2], args[-1]
                if "strip-payload" in self.breaks:
                    payload = payload.rstrip()
                return Job(self, handle, function, unique, payload)
            if woken and "noop-gives-up" in self.breaks:
                raise GearmanError("woken for no job: giving up")
            woken = True
            self._sleep(deadline)

    def _sleep(self, deadline: float) -> None:
        """PRE_SLEEP, then wait for NOOP (habit regrab-timer: for 100 ms at most)."""
        self.conn.send("PRE_SLEEP")
        if "regrab-timer" not in self.habits:
            self._next(deadline, ("NOOP",))
            return
        try:
            self._next(min(deadline, time.monotonic() + 0.1), ("NOOP",))
        except Timeout:
            if time.monotonic() >= deadline:
                raise

    def _next(self, deadline: float, wanted: tuple[str, ...]) -> tuple[str, list[bytes]]:
        while True:
            name, args = self.conn.read(max(0.0, deadline - time.monotonic()))
            if name in wanted:
                return name, args
