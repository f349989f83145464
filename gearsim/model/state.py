"""The mutable state of the reference server: connections, registrations, functions, jobs.

PURE. These are the model's working records, shaped like gearmand's structs
(gearman_server_con_st, _worker_st, _function_st, _job_st) so that the rules
in jobs.py and server.py can follow gearmand's code line by line. They are
mutable on purpose and never leave the model: callers get the frozen
``JobView`` / ``FunctionView`` / ``ConnectionView`` snapshots instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from gearsim.protocol.codec import Decoder
from gearsim.protocol.node import ConnId

__all__ = [
    "Conn",
    "ConnectionView",
    "Framing",
    "Function",
    "FunctionView",
    "Job",
    "JobQueue",
    "JobView",
    "Priority",
    "Registration",
    "Sleep",
]


class Priority(IntEnum):
    """gearmand's gearman_job_priority_t: lower value runs first."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


class Sleep(Enum):
    """A worker connection's sleep (B-K4): PRE_SLEEP puts it to sleep, one NOOP wakes it, a grab ends it."""

    #: not sleeping (never slept, or grabbed since)
    AWAKE = "awake"
    #: PRE_SLEEP found nothing runnable: the next job for it sends a NOOP
    ASLEEP = "asleep"
    #: the NOOP was sent; no other is sent until the worker grabs again
    WOKEN = "woken"


class Framing(Enum):
    """Whether a connection's bytes are still read."""

    #: bytes are framed and run as they come
    READING = "reading"
    #: gearmand read past a short body (B-P6): the next bytes close the connection
    STALLED = "stalled"
    #: a Perl connection that reads nothing more (bad magic or \0RES on a request)
    WEDGED = "wedged"


class Registration:
    """One CAN_DO of one connection (gearman_server_worker_st); it holds the jobs it runs."""

    __slots__ = ("conn", "function", "jobs", "order", "timeout")

    def __init__(self, conn: Conn, function: Function, timeout: int, order: int = 0) -> None:
        self.conn = conn
        self.function = function
        #: creation serial: a function's worker list is in this order while it does not rotate
        self.order = order
        #: milliseconds as sent in CAN_DO_TIMEOUT; 0 or less means none (B-K8)
        self.timeout = timeout
        self.jobs: list[Job] = []


class _Slot:
    """One place in a JobQueue; emptied (job None) when its job leaves the queue."""

    __slots__ = ("job",)

    def __init__(self, job: Job) -> None:
        self.job: Job | None = job


class JobQueue:
    """One priority list of a function: append, prepend, and O(1) removal of any job.

    A removed job leaves an empty slot behind, skipped when iterating and
    dropped from the ends at once (and from the middle when they pile up).
    A job knows its slot (``Job.slot``), so it is in at most one queue.
    """

    __slots__ = ("_dead", "_slots", "live")

    def __init__(self) -> None:
        self._slots: deque[_Slot] = deque()
        #: how many jobs it holds (read directly on hot paths: ``len`` is a Python call here)
        self.live = 0
        self._dead = 0

    def __len__(self) -> int:
        return self.live

    def __bool__(self) -> bool:
        return self.live > 0

    def __iter__(self) -> Iterator[Job]:
        for slot in self._slots:
            job = slot.job
            if job is not None:
                yield job

    def first_due(self, now_seconds: int) -> Job | None:
        """The first job whose epoch time (0: now) has come."""
        for slot in self._slots:
            job = slot.job
            if job is not None and (job.when == 0 or job.when <= now_seconds):
                return job
        return None

    def append(self, job: Job) -> None:
        job.slot = slot = _Slot(job)
        self._slots.append(slot)
        self.live += 1

    def prepend(self, job: Job) -> None:
        job.slot = slot = _Slot(job)
        self._slots.appendleft(slot)
        self.live += 1

    def remove(self, job: Job) -> None:
        """Take ``job`` out; it must be in this queue."""
        slot = job.slot
        assert slot is not None and slot.job is job
        slot.job = None
        job.slot = None
        self.live -= 1
        slots = self._slots
        if slots[0] is slot:
            slots.popleft()
            while slots and slots[0].job is None:
                slots.popleft()
                self._dead -= 1
        elif slots[-1] is slot:
            slots.pop()
            while slots and slots[-1].job is None:
                slots.pop()
                self._dead -= 1
        else:
            self._dead += 1
            if self._dead > 32 and self._dead > self.live:
                self._slots = deque(s for s in slots if s.job is not None)
                self._dead = 0


class Function:
    """A function name the server knows (gearman_server_function_st)."""

    __slots__ = ("max_queue", "name", "queue_entry", "queues", "running", "sleepers", "total", "workers")

    def __init__(self, name: bytes) -> None:
        self.name = name
        #: queued jobs per Priority, head first
        self.queues: tuple[JobQueue, JobQueue, JobQueue] = (JobQueue(), JobQueue(), JobQueue())
        #: registrations in gearmand's circular order; index 0 is the list head,
        #: which rotates as NOOPs are sent (job.cc, gearman_server_job_queue)
        self.workers: list[Registration] = []
        #: maxqueue limit per Priority; 0 is unlimited (B-U16)
        self.max_queue: list[int] = [0, 0, 0]
        #: gearmand's job_total and job_running, kept up to date by JobStore
        self.total = 0
        self.running = 0
        #: registrations that may be asleep and not yet woken: every one that
        #: is is here (stale ones are dropped when wake() passes them)
        self.sleepers: dict[Registration, None] = {}
        #: Perl's job_queue key (profile ``stale_queue_entry``): set when a job is
        #: queued, cleared only when a GRAB_* looks at the function and finds it empty
        self.queue_entry = False

    @property
    def queued_count(self) -> int:
        q = self.queues
        return len(q[0]) + len(q[1]) + len(q[2])


class Job:
    """One job (gearman_server_job_st)."""

    __slots__ = (
        "background",
        "data",
        "denominator",
        "function",
        "handle",
        "ignore",
        "job_queued",
        "key_source",
        "listeners",
        "numerator",
        "priority",
        "raw_status",
        "reducer",
        "retries",
        "seq",
        "slot",
        "stale_worker",
        "struct",
        "unique",
        "unique_length",
        "when",
        "worker",
    )

    def __init__(
        self,
        handle: bytes,
        function: Function,
        unique: bytes,
        key_source: bytes | None,
        data: bytes,
        reducer: bytes,
        priority: Priority,
        when: int,
        seq: int,
    ) -> None:
        self.handle = handle
        self.function = function
        #: the unique as stored (and shown / assigned); may be cut (B-U7) or "-" (B-U3)
        self.unique = unique
        #: the length of the unique as submitted, which gearmand keeps even when
        #: it stored the unique cut (B-U7); JOB_ASSIGN_UNIQ/ALL send that many bytes
        self.unique_length = len(unique)
        #: what gearmand hashed for the unique index (the unique, or the payload
        #: for "-"); None when the job can never be found by unique (B-U2)
        self.key_source = key_source
        self.data = data
        self.reducer = reducer
        self.priority = priority
        #: SUBMIT_JOB_EPOCH time in Unix seconds; 0 means "now" (B-U13)
        self.when = when
        self.seq = seq
        #: its place in a function queue while queued
        self.slot: _Slot | None = None
        #: foreground connections attached, newest first, one entry per submit (B-W7)
        self.listeners: list[Conn] = []
        self.worker: Registration | None = None
        self.numerator = 0
        self.denominator = 0
        #: the last WORK_STATUS strings, for profiles that report them raw
        self.raw_status: tuple[bytes, bytes] | None = None
        self.retries = 0
        #: gearmand's ignore_job: drop when dequeued (B-U11, B-W8)
        self.ignore = False
        #: gearmand's job_queued (persistence) flag, shown by 'show jobs'
        self.job_queued = False
        #: a background submission was made for this job (Perl keeps such jobs)
        self.background = False
        #: gearmand's job struct this job lives in: freed structs are reused, last freed first
        self.struct = 0
        #: freed while a worker held it: gearmand's struct keeps the worker pointer
        self.stale_worker = False


@dataclass(slots=True)
class Conn:
    """One connection (gearman_server_con_st) plus its framing state."""

    id: ConnId
    peer: str
    #: the number shown as "fd" by the admin 'workers' command
    fd: int
    #: frames what the connection sends; it holds any partial message
    decoder: Decoder
    client_id: bytes = b"-"
    exceptions: bool = False
    #: CAN_DO registrations, most recent first (gearmand's con worker_list)
    registrations: list[Registration] = field(default_factory=list)
    #: registrations dropped by CANT_DO or RESET_ABILITIES while they still held
    #: jobs, which stay with the connection (profile ``cantdo_held`` "keep")
    held: list[Registration] = field(default_factory=list)
    #: one entry per foreground submit still attached, newest first
    client_jobs: list[Job] = field(default_factory=list)
    sleep: Sleep = Sleep.AWAKE
    #: the job timer: (deadline tick, job) (B-K8, one per connection)
    timer: tuple[int, Job] | None = None
    framing: Framing = Framing.READING


@dataclass(frozen=True, slots=True)
class JobView:
    """A read-only snapshot of one job."""

    handle: bytes
    function: bytes
    unique: bytes
    data: bytes
    reducer: bytes
    priority: Priority
    when: int
    running: bool
    worker: ConnId | None
    listeners: tuple[ConnId, ...]
    numerator: int
    denominator: int
    retries: int
    ignore: bool

    @classmethod
    def of(cls, job: Job) -> JobView:
        """Snapshot ``job``."""
        return cls(
            handle=job.handle,
            function=job.function.name,
            unique=job.unique,
            data=job.data,
            reducer=job.reducer,
            priority=job.priority,
            when=job.when,
            running=job.worker is not None,
            worker=None if job.worker is None else job.worker.conn.id,
            listeners=tuple(c.id for c in job.listeners),
            numerator=job.numerator,
            denominator=job.denominator,
            retries=job.retries,
            ignore=job.ignore,
        )


@dataclass(frozen=True, slots=True)
class FunctionView:
    """A read-only snapshot of one function: what 'status' and 'prioritystatus' show."""

    name: bytes
    total: int
    running: int
    workers: int
    queued: tuple[int, int, int]
    max_queue: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """A read-only snapshot of one connection."""

    id: ConnId
    peer: str
    fd: int
    client_id: bytes
    functions: tuple[bytes, ...]
    exceptions: bool
    sleeping: bool

    @classmethod
    def of(cls, conn: Conn) -> ConnectionView:
        """Snapshot ``conn``."""
        return cls(
            id=conn.id,
            peer=conn.peer,
            fd=conn.fd,
            client_id=conn.client_id,
            functions=tuple(r.function.name for r in conn.registrations),
            exceptions=conn.exceptions,
            sleeping=conn.sleep is not Sleep.AWAKE,
        )
