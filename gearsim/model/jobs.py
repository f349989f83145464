"""Jobs, queues, coalescing and handles: the job half of the reference server.

PURE. ``JobStore`` owns the functions and jobs of one server and the rules
that move a job through its life: creation and handle allocation, the unique
index (B-U1..B-U7), queueing with sleeper wake-up (B-K4), which job a worker
gets (B-K5, B-K6), requeue with the retry limit (B-K7), abandonment (B-U11,
B-U12) and freeing. It follows gearmand 1.1.20's job.cc and gearmand_con.cc;
profile switches select the other implementations' rules.

Packets it must send are appended to the ``out`` list given to each call, as
(connection, packet) pairs, in the order gearmand queues them.
"""

from __future__ import annotations

import heapq
from typing import Final, TypeVar

from gearsim.model.profiles import Profile
from gearsim.model.state import Conn, Function, FunctionView, Job, Priority, Registration, Sleep
from gearsim.protocol.node import TICKS_PER_SECOND
from gearsim.protocol.packets import Magic, Message, Packet, PacketType

__all__ = ["JobStore", "Outbox", "assigned_unique"]

#: packets to send, in order
Outbox = list[tuple[Conn, Message]]

_NOOP: Final[Packet] = Packet.res(PacketType.NOOP)
_ASLEEP: Final = Sleep.ASLEEP
_WOKEN: Final = Sleep.WOKEN
_K = TypeVar("_K")
#: GEARMAND_MAX_FREE_SERVER_JOB: freed job structs kept for reuse
_FREE_STRUCTS = 1000


class JobStore:
    """Functions and jobs of one server, with gearmand's queue rules."""

    def __init__(self, profile: Profile, *, job_retries: int | None, worker_wakeup: int, epoch0: int) -> None:
        self.profile = profile
        self.job_retries = job_retries
        self.worker_wakeup = worker_wakeup
        self.epoch0 = epoch0
        #: by name, in creation order (the model's stand-in for gearmand's hash order)
        self.functions: dict[bytes, Function] = {}
        #: by handle, in creation order
        self.jobs: dict[bytes, Job] = {}
        #: next handle number: one counter per server from 1; only new jobs advance it (B-U9)
        self.handle_count = 1
        self._seq = 0
        #: the current tick, set by the server before each call
        self.now = 0
        #: the unique index: jobs by (function, key_source), and by key_source
        #: alone, each list in creation order
        self._by_fkey: dict[tuple[Function, bytes], list[Job]] = {}
        self._by_key: dict[bytes, list[Job]] = {}
        #: dash_empty_payload "coalesces-key-never-freed": per function, the job that
        #: unique '-' with an empty payload names, kept after the job ends
        self._dash_empty: dict[Function, Job] = {}
        #: epoch jobs (when > 0) not yet woken by 2.0's timer: (tick, seq, job)
        self.epoch_heap: list[tuple[int, int, Job]] = []
        self._reg_count = 0
        #: gearmand's job structs: freed ones are reused, the last freed first
        #: (job.cc:328-332); the job that last lived in each, live or freed
        self._free_structs: list[int] = []
        self.struct_jobs: dict[int, Job] = {}
        #: jobs freed while a worker held them (completed, failed, timed out, their
        #: worker gone): what Perl's 'shutdown graceful' waits for
        self.ended = 0
        # profile switches read per grab: worked out once
        self._per_function = profile.priorities == "per-function"
        self._round_robin = profile.round_robin
        self._epoch_blocks_lower = profile.epoch_blocks_lower
        self._timer_per_job = profile.can_do_timeout_timer == "per-job"

    def queue_entries(self) -> bool:
        """Does any function have a queue entry (Perl's job_queue key, or queued jobs)?"""
        if self.profile.stale_queue_entry:
            return any(f.queue_entry for f in self.functions.values())
        return any(f.queued_count for f in self.functions.values())

    # ------------------------------------------------------------------ lookups

    @property
    def now_seconds(self) -> int:
        """Unix time of the current tick, as gearmand's time(NULL)."""
        return self.epoch0 + self.now // TICKS_PER_SECOND

    def function(self, name: bytes) -> Function:
        """The function of that exact name, created on demand (B-U8)."""
        found = self.functions.get(name)
        if found is None:
            found = self.functions[name] = Function(name)
        return found

    def total(self, function: Function) -> int:
        """gearmand's job_total: queued plus running jobs of a function."""
        return function.total

    def running(self, function: Function) -> int:
        """gearmand's job_running."""
        return function.running

    def registration(self, conn: Conn, function: Function, timeout: int) -> Registration:
        """A new registration, numbered in creation order."""
        self._reg_count += 1
        return Registration(conn, function, timeout, self._reg_count)

    def function_views(self) -> tuple[FunctionView, ...]:
        """Snapshots of every function, in creation order."""
        return tuple(
            FunctionView(
                name=f.name,
                total=self.total(f),
                running=self.running(f),
                workers=len(f.workers),
                queued=(len(f.queues[0]), len(f.queues[1]), len(f.queues[2])),
                max_queue=(f.max_queue[0], f.max_queue[1], f.max_queue[2]),
            )
            for f in self.functions.values()
        )

    def by_handle(self, handle: bytes) -> Job | None:
        return self.jobs.get(handle)

    def by_unique(self, unique: bytes) -> Job | None:
        """GET_STATUS_UNIQUE's lookup: by stored unique across functions (B-S4).

        gearmand scans one hash bucket, newest first, comparing the stored
        unique; a "-" job sits in its payload's bucket, so it is found only
        when its payload is the unique asked for.
        """
        for job in reversed(self._by_key.get(unique, ())):
            if job.unique and job.unique == unique:
                return job
        return None

    def find_coalesce(self, function: Function, unique: bytes, data: bytes, *, dashed: bool = False) -> Job | None:
        """The existing job a submit attaches to, or None (job.cc, _server_job_get_unique).

        Raises nothing; an empty unique, or "-" with an empty payload, never matches (B-U2, B-U3).
        """
        profile = self.profile
        if not profile.coalesce_uniques:
            return None
        if not unique:
            if dashed and profile.dash_empty_payload == "coalesces-key-never-freed":
                # Perl keys '-' on the payload after its empty-unique check: an empty
                # payload is a key, and one that outlives its job (see add, free)
                return self._dash_empty.get(function)
            return None
        dash = unique == b"-" and profile.dash_unique == "payload-key-store-dash"
        if dash and not data:
            return None
        # candidates share the function and key_source, oldest first
        for job in self._by_fkey.get((function, data if dash else unique), ()):
            if dash:
                # looked up by payload: the bucket key and the whole payload must match
                if job.data == data:
                    return job
            elif job.unique == unique:
                # strcmp against the stored unique: a 64-byte unique was stored
                # cut to 63, so it never matches again (B-U7)
                return job
        return None

    # --------------------------------------------------------------- submission

    def add(
        self,
        *,
        function: Function,
        unique: bytes,
        data: bytes,
        reducer: bytes,
        priority: Priority,
        when: int,
        handle_host: bytes,
        listener: Conn | None,
        out: Outbox,
    ) -> tuple[Job | None, bool]:
        """Submit a job; return (job, created), or (None, False) when the queue is full.

        ``listener`` is the foreground submitter (None for background). A
        coalesced submit attaches to the existing job and bypasses maxqueue (B-U4, B-U5).
        """
        profile = self.profile
        dashed = unique == b"-" and profile.dash_unique == "replace-with-payload"
        if dashed:
            unique = data
        job = self.find_coalesce(function, unique, data, dashed=dashed)
        if job is not None and self.jobs.get(job.handle) is not job:
            # the ended job a never-freed key still names: its handle, no new job
            return job, False
        if job is not None and job.ignore and profile.resubmit_abandoned == "revives":
            job.ignore = False  # wanted again: it runs (GM-COAL-007)
            job.job_queued = listener is None or job.job_queued
        created = job is None
        if job is None:
            if not self._room_for(function, priority, out):
                return None, False
            stored = unique
            if profile.unique_stored_max is not None:
                stored = unique[: profile.unique_stored_max]
            key_source: bytes | None
            if not unique or (unique == b"-" and profile.dash_unique == "payload-key-store-dash" and not data):
                key_source = None
            elif unique == b"-" and profile.dash_unique == "payload-key-store-dash":
                key_source = data
            else:
                key_source = unique
            handle = b"H:" + handle_host + b":" + str(self.handle_count).encode()
            self.handle_count += 1
            self._seq += 1
            # positional: matching nine keywords by name costs more than the call (once per job)
            job = Job(handle, function, stored, key_source, data, reducer, priority, when, self._seq)
            job.unique_length = len(unique)
            job.struct = self._free_structs.pop() if self._free_structs else len(self.struct_jobs) + 1
            self.struct_jobs[job.struct] = job
            # gearmand sets job_queued for background submissions (the persistence flag)
            job.job_queued = listener is None
            self.jobs[handle] = job
            function.total += 1
            if key_source is not None:
                self._by_fkey.setdefault((function, key_source), []).append(job)
                self._by_key.setdefault(key_source, []).append(job)
            elif dashed and profile.dash_empty_payload == "coalesces-key-never-freed":
                self._dash_empty[function] = job
            if when > 0:
                tick = (when - self.epoch0) * TICKS_PER_SECOND
                heapq.heappush(self.epoch_heap, (tick, job.seq, job))
            self.queue(job, out)
        if listener is None:
            job.background = True
        elif profile.listener_per_submission or listener not in job.listeners:
            job.listeners.insert(0, listener)
            listener.client_jobs.insert(0, job)
        return job, created

    def _room_for(self, function: Function, priority: Priority, out: Outbox) -> bool:
        limit = function.max_queue[priority]
        if self.profile.maxqueue == "unsupported" or limit <= 0:
            return True
        if self.profile.maxqueue == "evict":
            # Perl: one list per function, HIGH jobs unshifted to its front, the others
            # pushed to its end; it pops the list's end until the new job fits, and the
            # popped jobs' listeners get WORK_FAIL (Server.pm enqueue_job; probes
            # perl-eviction-high, perl-eviction-mixed)
            while function.queued_count >= limit:
                last = next(q for q in reversed(function.queues) if q)
                *_, victim = last
                last.remove(victim)
                self._send_fail(victim, Magic.RES, out)
                self.free(victim)
            return True
        # gearmand counts queued plus running jobs of all priorities (B-U16)
        return self.total(function) < limit

    # ------------------------------------------------------------------ queues

    def queue(self, job: Job, out: Outbox) -> None:
        """gearman_server_job_queue: (re)queue a job and wake sleepers (B-K4, B-K7)."""
        if job.worker is not None:
            job.retries += 1
            if self._retries_exhausted(job.retries):
                self._send_fail(job, Magic.RES, out)
                self.free(job)
                return
            self._detach(job)
            job.numerator = job.denominator = 0
            job.raw_status = None
        if self.profile.epoch_wakeup_noop and job.when > self.now_seconds:
            # 2.0 wakes sleepers when the time comes instead (B-U13); see due_epochs()
            pass
        else:
            self.wake(job.function, out)
        job.function.queue_entry = True
        queue = job.function.queues[job.priority]
        if self.profile.high_lifo and job.priority == Priority.HIGH:
            queue.prepend(job)
        else:
            queue.append(job)

    def _retries_exhausted(self, retries: int) -> bool:
        limit = self.job_retries
        if limit is None:  # the server's default: no limit, in every version
            return False
        if self.profile.job_retries_zero == "unlimited":
            # 1.1.x: 0 means no limit, N drops the job at the Nth requeue (B-K7)
            return limit != 0 and limit == retries
        # 2.0: -1 means no limit, 0 means no retries
        return limit >= 0 and retries > limit

    def wake(self, function: Function, out: Outbox) -> None:
        """NOOP every sleeping worker of ``function`` not yet woken, up to worker_wakeup.

        Walks gearmand's circular worker list from its head and leaves the head
        just after the last one visited, so wake-ups rotate (job.cc).
        """
        workers = function.workers
        sleepers = function.sleepers
        if not workers or not sleepers:
            return
        # drop the stale: no longer asleep, or woken already
        for reg in [r for r in sleepers if r.conn.sleep is not _ASLEEP]:
            del sleepers[reg]
        if not sleepers:
            # nobody to wake: the walk would visit every worker, and leave the head where it is
            return
        if self.worker_wakeup == 0:
            # no limit: every worker is visited, so the list never rotates and
            # stays in registration order
            for reg in sorted(sleepers, key=_order) if len(sleepers) > 1 else list(sleepers):
                conn = reg.conn
                if conn.sleep is _ASLEEP:
                    out.append((conn, _NOOP))
                    conn.sleep = _WOKEN
            sleepers.clear()
            return
        sent = 0
        visited = 0
        while True:
            reg = workers[visited]
            visited += 1
            if reg.conn.sleep is _ASLEEP:
                out.append((reg.conn, _NOOP))
                reg.conn.sleep = _WOKEN
                sleepers.pop(reg, None)
                sent += 1
            if visited == len(workers) or (self.worker_wakeup != 0 and sent >= self.worker_wakeup):
                break
        function.workers[:] = workers[visited:] + workers[:visited]

    def held(self, job: Job) -> bool:
        """Is ``job`` still one of this store's jobs (not freed)?"""
        return self.jobs.get(job.handle) is job

    def take(self, conn: Conn) -> Job | None:
        """gearman_server_job_take: dequeue the job ``conn`` gets, and assign it.

        An ignored (abandoned or cancelled) job is freed when it is reached and
        the search starts again (B-U11, B-W8).
        """
        while True:
            found = self._choose(conn)
            if found is None:
                return None
            reg, job = found
            job.function.queues[job.priority].remove(job)
            job.worker = reg
            job.function.running += 1
            reg.jobs.insert(0, job)
            if not job.ignore:
                return job
            self.free(job)

    def _choose(self, conn: Conn) -> tuple[Registration, Job] | None:
        now_seconds = self.epoch0 + self.now // TICKS_PER_SECOND
        if self._per_function:
            rotate = self._round_robin
            # a copy only when the loop reorders the list
            blocks = self._epoch_blocks_lower
            for reg in list(conn.registrations) if rotate else conn.registrations:
                high, normal, low = reg.function.queues
                if not (high.live or normal.live or low.live):
                    reg.function.queue_entry = False  # Perl deletes its key here (PERL-6)
                    continue
                if rotate:
                    self._rotate(conn, reg)
                if blocks:
                    # gearmand 1.1: the first non-empty priority list only; if all its
                    # jobs are future epoch jobs, lower priorities are not looked at
                    # (B-K5, gearmand_con.cc:381-400: the defect epoch-blocks-lower-priority)
                    job = (high if high.live else normal if normal.live else low).first_due(now_seconds)
                else:
                    job = high.first_due(now_seconds) or normal.first_due(now_seconds) or low.first_due(now_seconds)
                if job is not None:
                    return reg, job
            return None
        if self.profile.priorities == "global":
            # gearmand 2.0: every HIGH job of any of the worker's functions first (B-K6)
            for priority in Priority:
                for reg in list(conn.registrations):
                    job = reg.function.queues[priority].first_due(now_seconds)
                    if job is not None:
                        self._rotate(conn, reg)
                        return reg, job
            return None
        # global FIFO (gear): the oldest job of the highest priority over all functions
        best: tuple[Registration, Job] | None = None
        for reg in conn.registrations:
            for priority in Priority:
                job = reg.function.queues[priority].first_due(now_seconds)
                if job is not None:
                    if best is None or (job.priority, job.seq) < (best[1].priority, best[1].seq):
                        best = (reg, job)
                    break
        return best

    def _rotate(self, conn: Conn, reg: Registration) -> None:
        # -R round-robin: the function just served goes to the end of the worker's list
        if self.profile.round_robin:
            conn.registrations.remove(reg)
            conn.registrations.append(reg)

    def peek(self, conn: Conn) -> Job | None:
        """gearman_server_job_peek, used by PRE_SLEEP: is anything runnable? (B-K4).

        Unlike take it looks at every priority. Reaching an ignored job clears
        its flag, then takes and frees whatever take returns (gearmand_con.cc).
        """
        now_seconds = self.epoch0 + self.now // TICKS_PER_SECOND
        for reg in conn.registrations:
            for queue in reg.function.queues:
                if not queue.live:
                    continue
                job = queue.first_due(now_seconds)
                if job is None:
                    continue
                if job.ignore:
                    job.ignore = False
                    taken = self.take(conn)
                    if taken is not None:
                        self.free(taken)
                    return self.peek(conn)
                return job
        return None

    # ----------------------------------------------------------- ending a job

    def free(self, job: Job, *, keep_queued: bool = False) -> None:
        """gearman_server_job_free: forget the job, its listeners and its unique (B-U6).

        ``keep_queued``: a job no worker took stays in its queue, handle and
        listeners forgotten, and the next grab is given it (gear's
        ``_removeJob(dequeue=False)`` for a WORK_* report from any connection).
        """
        worker = job.worker
        if worker is not None:
            self.ended += 1  # Perl's note_finished: a job a worker held is over
        handle = job.handle
        jobs = self.jobs
        if self.struct_jobs.get(job.struct) is job and jobs.get(handle) is job:
            job.stale_worker = worker is not None
            if len(self._free_structs) < _FREE_STRUCTS:
                self._free_structs.append(job.struct)
        if job.listeners:
            for conn in job.listeners:
                if job in conn.client_jobs:
                    conn.client_jobs.remove(job)
            job.listeners.clear()
        function = job.function
        if worker is not None:
            # _detach, inlined (a job a worker held: once per job)
            worker.jobs.remove(job)
            conn = worker.conn
            if conn.timer is not None and conn.timer[1] is job and self._timer_per_job:
                conn.timer = None
            job.worker = None
            function.running -= 1
        if job.slot is not None and not keep_queued:
            function.queues[job.priority].remove(job)
        if jobs.pop(handle, None) is job:
            function.total -= 1
            key = job.key_source
            if key is not None:
                _unindex(self._by_fkey, (function, key), job)
                _unindex(self._by_key, key, job)

    def _detach(self, job: Job) -> None:
        worker = job.worker
        if worker is not None:
            worker.jobs.remove(job)
            conn = worker.conn
            if conn.timer is not None and conn.timer[1] is job and self._timer_per_job:
                conn.timer = None
            job.worker = None
            job.function.running -= 1

    def _send_fail(self, job: Job, magic: Magic, out: Outbox) -> None:
        for conn in job.listeners:
            out.append((conn, Packet(magic, PacketType.WORK_FAIL, (job.handle,))))

    def fail(self, job: Job, magic: Magic, out: Outbox) -> None:
        """WORK_FAIL (bare handle) to every listener, then free the job."""
        self._send_fail(job, magic, out)
        self.free(job)

    def requeue_struct(self, job: Job, out: Outbox) -> None:
        """What gearmand's timer does to the job struct it was bound to (connection.cc:648-666).

        It calls gearman_server_job_queue on whatever that struct now holds: a
        live job is requeued from whichever worker holds it (a queued one is left
        alone: gearmand would queue it twice, which the model does not follow);
        a freed struct is queued again as a ghost: the old handle, function,
        unique and priority, no workload, in no index, so GET_STATUS does not know
        it and its worker's WORK_* get JOB_NOT_FOUND (the defect
        timeout-bound-to-first-job). A struct freed while held keeps its worker
        pointer, so the function's running count drops once more (job.cc:382-386).
        """
        current = self.struct_jobs.get(job.struct, job)
        if self.held(current):
            if current.worker is not None:
                self.queue(current, out)
            return
        if current.slot is not None:
            return  # a ghost already queued
        if current.worker is not None:
            self._detach(current)  # a ghost a worker grabbed: requeued from it
        elif current.stale_worker:
            current.stale_worker = False
            current.function.running -= 1
        current.retries += 1
        current.data = b""
        current.numerator = current.denominator = 0
        self.wake(current.function, out)
        current.function.queues[current.priority].append(current)

    def release_client(self, conn: Conn, job: Job) -> None:
        """gearman_server_client_free for one submit entry of ``conn`` on ``job``.

        When the last foreground listener leaves, the job is marked to be
        dropped when dequeued, even if a background submit was coalesced onto
        it (B-U11, B-U12) unless the profile keeps such jobs.
        """
        if job in conn.client_jobs:
            conn.client_jobs.remove(job)
        if conn in job.listeners:
            job.listeners.remove(conn)
        if job.listeners:
            return
        if self.profile.background_keeps_abandoned and job.background:
            return
        if self.profile.client_disconnect == "remove-now" and job.worker is None:
            self.free(job)
            return
        job.ignore = True
        job.job_queued = False


def _order(reg: Registration) -> int:
    return reg.order


def _unindex(index: dict[_K, list[Job]], key: _K, job: Job) -> None:
    jobs = index[key]
    if len(jobs) == 1:
        del index[key]
    else:
        jobs.remove(job)


def assigned_unique(job: Job) -> bytes:
    """The unique and its NUL as gearmand sends them: ``unique_length + 1`` bytes.

    gearmand reads that many bytes from its 64-byte unique buffer, so a unique
    submitted longer than 63 bytes runs on into the reducer buffer that follows
    it in memory: 64 bytes give ``63 bytes, NUL, NUL`` (seen on 1.1.20, B-U7);
    beyond the 512-byte reducer buffer the model assumes zeros.
    """
    memory = job.unique + b"\0" + job.reducer + b"\0" * (job.unique_length + 1)
    return memory[: job.unique_length + 1]
