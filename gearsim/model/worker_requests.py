"""The worker side of the reference server: abilities, sleep, grabbing, timers, WORK_* reports.

PURE. ``WorkerRequests`` owns the handlers of the packets a worker sends
(CAN_DO, CAN_DO_TIMEOUT, CANT_DO, RESET_ABILITIES, PRE_SLEEP, GRAB_JOB*,
WORK_*) and the unregistering a disconnect needs. It works on the
``ServerState`` it is given; ``gearsim.model.server.Server`` holds one and
dispatches to the table ``handlers()`` returns.
"""

from __future__ import annotations

from collections.abc import Callable

from gearsim.model.cnumbers import atoi_uint32, strtol
from gearsim.model.context import Crash, ServerState
from gearsim.model.jobs import Outbox, assigned_unique
from gearsim.model.replies import ARGUMENT_TOO_LARGE_HANDLE, JOB_NOT_FOUND_BY_TYPE, PERL_NOT_WORKER
from gearsim.model.state import Conn, Job, Registration, Sleep
from gearsim.protocol.node import TICKS_PER_SECOND
from gearsim.protocol.packets import SPECS, WORK_TYPES, Magic, Packet, PacketType

__all__ = ["BUFFER", "WORK", "Handler", "WorkerRequests"]

#: gearmand's GEARMAND_JOB_HANDLE_SIZE / GEARMAN_MAX_UNIQUE_SIZE / option buffer, NUL included (B-P9, B-P10)
BUFFER = 64
#: GEARMAN_MAXIMUM_INTEGER_DISPLAY_LENGTH: a longer CAN_DO_TIMEOUT field is ignored (B-P9)
_INT_DISPLAY = 20
#: a CAN_DO_TIMEOUT of this or more crashes gearmand 1.1.20 (probe timeout-overflow-*): its
#: error path logs with a format whose argument it never passes (log.cc:400)
_CRASH_TIMEOUT = 2**64
#: gearmand raises a CAN_DO_TIMEOUT below one second to one second (B-K8)
_GEARMAND_MIN_TIMEOUT = TICKS_PER_SECOND
#: the WORK_* requests a worker reports with: their first field is the handle
WORK: frozenset[int] = frozenset(WORK_TYPES)

#: a packet handler: returns a close reason, or None to keep the connection
Handler = Callable[[Conn, Packet, Outbox], str | None]

# Enum members the per-packet handlers read, as globals: on Python 3.11 reading
# a member off its enum class costs several times a global's lookup.
_AWAKE, _ASLEEP = Sleep.AWAKE, Sleep.ASLEEP
_RES = Magic.RES
_NOOP, _NO_JOB = PacketType.NOOP, PacketType.NO_JOB
_GRAB_JOB, _GRAB_JOB_ALL = PacketType.GRAB_JOB, PacketType.GRAB_JOB_ALL
_JOB_ASSIGN, _JOB_ASSIGN_UNIQ, _JOB_ASSIGN_ALL = (
    PacketType.JOB_ASSIGN,
    PacketType.JOB_ASSIGN_UNIQ,
    PacketType.JOB_ASSIGN_ALL,
)
_WORK_STATUS, _WORK_COMPLETE = PacketType.WORK_STATUS, PacketType.WORK_COMPLETE
_WORK_FAIL, _WORK_EXCEPTION = PacketType.WORK_FAIL, PacketType.WORK_EXCEPTION
# packets without arguments are immutable values: built once
_NOOP_PACKET, _NO_JOB_PACKET = Packet.res(_NOOP), Packet.res(_NO_JOB)
_res = Packet.res
#: type -> how many arguments the table lays out
_ARGS = {number: len(spec.args) for number, spec in SPECS.items()}
#: the most splits of a JOB_ASSIGN* body: one less than the arguments the table lays out
_MAXSPLIT = {type_: len(SPECS[type_].args) - 1 for type_ in (_JOB_ASSIGN, _JOB_ASSIGN_UNIQ, _JOB_ASSIGN_ALL)}


class WorkerRequests:
    """Handlers of the packets workers send, on one server's state."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.profile = state.profile
        self.store = state.store
        self.deadlines = state.deadlines

    def handlers(self) -> dict[int, Handler]:
        """Packet type -> handler, for every worker request."""
        table: dict[int, Handler] = {
            PacketType.CAN_DO: self._can_do,
            PacketType.CAN_DO_TIMEOUT: self._can_do_timeout,
            PacketType.CANT_DO: self._cant_do,
            PacketType.RESET_ABILITIES: self._reset_abilities,
            PacketType.PRE_SLEEP: self._pre_sleep,
            PacketType.GRAB_JOB: self._grab,
            PacketType.GRAB_JOB_UNIQ: self._grab,
            PacketType.GRAB_JOB_ALL: self._grab,
        }
        for type_ in WORK_TYPES:
            table[type_] = self._work
        return table

    def _register(self, c: Conn, name: bytes, timeout: int) -> None:
        function = self.store.function(name)
        if not self.profile.duplicate_can_do_counts:
            for reg in c.registrations:
                if reg.function is function:
                    reg.timeout = timeout
                    return
        reg = self.store.registration(c, function, timeout)
        c.registrations.insert(0, reg)  # most recent first (B-K5)
        function.workers.append(reg)  # gearmand links it just before the list head
        if c.sleep is Sleep.ASLEEP:
            function.sleepers[reg] = None

    def _can_do(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        self._register(c, p.args[0], 0)  # B-K1: duplicates count
        return None

    def _can_do_timeout(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        profile = self.profile
        name = p.args[0]
        text = p.args[1] if len(p.args) > 1 else b""  # Perl: no timeout field, no timeout
        if profile.can_do_timeout == "ignore":
            self._register(c, name, 0)
            return None
        if profile.fixed_buffers and len(text) > _INT_DISPLAY:
            # nothing registered, no reply; gearmand then closes the connection in most
            # runs, and keeps it in the others (a race, the defect refusal-race)
            return "CAN_DO_TIMEOUT field over 20 characters (server.cc:537-540)"
        timeout, overflow = strtol(text)
        if overflow and profile.can_do_timeout_overflow != "limit":
            digits = text.split(b"\0", 1)[0].strip()
            if profile.can_do_timeout_overflow == "crash" and digits.isdigit() and int(digits) >= _CRASH_TIMEOUT:
                raise Crash("CAN_DO_TIMEOUT value of 2^64 or more: SIGSEGV in the error log (log.cc:400)")
            return "CAN_DO_TIMEOUT timeout overflows strtol (server.cc:547-551)"
        if profile.can_do_timeout == "fail-seconds":
            # Perl arms a timer whenever the field is there: 0, negatives and junk
            # fire at once (modelled as 1 ms); no field at all means no timer
            timeout = max(timeout * TICKS_PER_SECOND, 1) if text else 0  # Perl's timeout is in seconds
        self._register(c, name, timeout)
        return None

    def unregister(self, c: Conn, reg: Registration, out: Outbox, *, keep: bool = False) -> None:
        """gearman_server_worker_free: requeue what it runs (B-K2), then unlink it.

        With ``keep`` (CANT_DO or RESET_ABILITIES under ``cantdo_held`` "keep",
        Perl) the jobs it runs stay with the connection until they end.
        """
        if keep and reg.jobs:
            c.held[:] = [r for r in c.held if r.jobs]  # forget those whose jobs ended
            c.held.append(reg)
        self.release_jobs(reg, out, keep=keep)
        c.registrations.remove(reg)
        reg.function.workers.remove(reg)
        reg.function.sleepers.pop(reg, None)

    def release_jobs(self, reg: Registration, out: Outbox, *, keep: bool = False) -> None:
        """Requeue or fail the jobs ``reg`` runs, as ``worker_disconnect`` says, unless kept."""
        while reg.jobs and not keep:
            job = reg.jobs[0]
            if self.profile.worker_disconnect == "fail":
                self.store.fail(job, Magic[self.profile.disconnect_fail_magic], out)
            else:
                self.store.queue(job, out)

    def _cant_do(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        matches = [r for r in c.registrations if r.function.name == p.args[0]]
        if not matches and self.profile.cantdo_unknown == "close":
            return "CANT_DO of a function never registered"
        keep = self.profile.cantdo_held == "keep"
        for reg in matches:
            self.unregister(c, reg, out, keep=keep)  # B-K1: every registration of that name
        return None

    def _reset_abilities(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        keep = self.profile.cantdo_held == "keep"
        while c.registrations:
            self.unregister(c, c.registrations[0], out, keep=keep)
        return None

    def _pre_sleep(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        # Perl: a function's queue entry, even empty, counts as work pending (PERL-6)
        stale = self.profile.stale_queue_entry and any(r.function.queue_entry for r in c.registrations)
        if not stale and self.store.peek(c) is None:
            if c.sleep is _AWAKE:
                c.sleep = _ASLEEP  # a worker already sent its NOOP stays WOKEN
            self.deadlines.unbind(c)  # B-K4: a sleeping worker's job timer is deleted
            if c.sleep is _ASLEEP:
                for reg in c.registrations:
                    reg.function.sleepers[reg] = None
        else:
            out.append((c, _NOOP_PACKET))  # B-K4: work is pending
        return None

    def _grab(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        c.sleep = _AWAKE
        job = self.store.take(c)
        if job is None:
            out.append((c, _NO_JOB_PACKET))
            return None
        grab = p._type  # Packet's own slot (a property read is a call)
        if grab == _GRAB_JOB:
            assign, body = _JOB_ASSIGN, b"%b\0%b\0%b" % (job.handle, job.function.name, job.data)
        else:
            unique = job.unique
            # assigned_unique's common case: the unique was stored whole
            unique = unique + b"\0" if len(unique) == job.unique_length else assigned_unique(job)
            if grab == _GRAB_JOB_ALL and job.reducer:
                assign = _JOB_ASSIGN_ALL
                body = b"%b\0%b\0%b%b\0%b" % (job.handle, job.function.name, unique, job.reducer, job.data)
            else:
                # B-K3: GRAB_JOB_ALL for a job without a reducer gets JOB_ASSIGN_UNIQ
                assign, body = _JOB_ASSIGN_UNIQ, b"%b\0%b\0%b%b" % (job.handle, job.function.name, unique, job.data)
        # built as bytes, then split as a reader would: the unique field can be malformed
        out.append((c, _res(assign, *body.split(b"\0", _MAXSPLIT[assign]))))
        self._arm_timer(c, job)
        return None

    def _arm_timer(self, c: Conn, job: Job) -> None:
        """gearman_server_con_add_job_timeout: the timeout of the most recent registration (B-K8).

        Under ``can_do_timeout_timer`` "per-job" the timer belongs to the job just
        assigned. gearmand ("first-job-of-connection") creates one timer event per
        connection, bound to the job it is first armed for, and every later
        assignment only re-arms it: the bound job stays the first one, even
        after it ended (connection.cc:699-723).
        """
        function = job.function
        for reg in c.registrations:  # a loop, not next(genexpr): this runs per grab
            if reg.function is function:
                break
        else:
            raise AssertionError("a worker was given a job of a function it has not registered")
        if reg.timeout <= 0:
            self.deadlines.unbind(c)  # 0 and -1 mean no timer; an armed one is deleted
            return
        if self.profile.can_do_timeout == "requeue-ms-min-1000":
            reg.timeout = max(reg.timeout, _GEARMAND_MIN_TIMEOUT)  # B-K8
        mode = self.profile.can_do_timeout_timer
        if mode == "first-job-of-connection":
            job = self.deadlines.bound.setdefault(c.id, job)
        elif mode == "last-job-of-connection":
            self.deadlines.bound[c.id] = job
        self.deadlines.arm(c, self.store.now + reg.timeout, job)

    # ----------------------------------------------------------- WORK_* packets

    def _work(self, c: Conn, p: Packet, out: Outbox) -> str | None:
        profile = self.profile
        type_ = p._type  # Packet's own slot (a property read is a call)
        if type(type_) is not PacketType:
            type_ = PacketType(type_)
        try:
            args = p._args  # Packet's own slot, read once: WORK_COMPLETE is on the simulator's hot path
        except AttributeError:  # a decoded packet not split yet
            args = p.args
        handle = args[0].split(b"\0", 1)[0]
        if type_ == _WORK_FAIL and profile.fixed_buffers and len(handle) >= BUFFER:
            out.append((c, ARGUMENT_TOO_LARGE_HANDLE))  # B-P10
            return None
        job = self.store.jobs.get(handle)  # by_handle's body (read per WORK_* report)
        short = len(args) < _ARGS[type_]
        if short and profile.short_body == "per-command" and type_ != _WORK_STATUS:
            job = None  # Perl: no NUL after the handle, so "^(.+?)\0" finds no handle
        owned = job is not None and job.worker is not None and job.worker.conn is c
        if profile.non_owner_work == "ignore":
            owned = job is not None  # gear: any connection may report on any job
        if job is None or not owned:
            if profile.non_owner_work == "error":
                out.append((c, JOB_NOT_FOUND_BY_TYPE[type_]))  # B-W1
            elif profile.non_owner_work == "error-not-worker":
                out.append((c, PERL_NOT_WORKER))
            return None
        listeners = job.listeners
        if type_ == _WORK_COMPLETE:
            # the commonest report first: forwarded as sent to every listener (B-W2, B-W3)
            if listeners:
                for conn in list(listeners):
                    out.append((conn, _res(type_, *args)))
            if job.worker is not None:
                self.store.free(job)  # _end's usual case, without the call (the simulator's hot path)
            else:
                self._end(job)
            return None
        listeners = list(listeners)
        if type_ == _WORK_STATUS:
            if short and profile.short_body == "last-optional":
                return "WORK_STATUS with too few arguments (IndexError)"  # gear reads all three
            # Perl ("per-command"): a missing number reads as empty
            numerator, denominator = (*args[1:3], b"", b"")[:2]
            # B-S5: store the parsed numbers, forward the worker's strings unchanged
            job.numerator = atoi_uint32(numerator)
            job.denominator = atoi_uint32(denominator.split(b"\0", 1)[0][:10])
            job.raw_status = (numerator, denominator)
            for conn in listeners:
                out.append((conn, Packet.res(type_, *args)))
            return None
        if type_ == _WORK_FAIL:
            for conn in listeners:
                out.append((conn, Packet.res(type_, args[0])))  # B-W4
            self._end(job)
            return None
        if type_ == _WORK_EXCEPTION:
            return self._exception(job, p, out)
        for conn in listeners:
            out.append((conn, Packet.res(type_, *args)))  # B-W2, B-W3
        if type_ == _WORK_COMPLETE:
            self._end(job)
        return None

    def _end(self, job: Job) -> None:
        """A terminal report ends ``job``; one no worker took stays queued where any connection may report (gear).

        gear forwards the report and forgets the job's handle but not its queue
        entry (``_removeJob(dequeue=False)``): the next worker of its function is
        woken, and given the job again (probe: CAN_DO f, SUBMIT_JOB f, WORK_COMPLETE
        H from the worker that never grabbed it, PRE_SLEEP -> NOOP, GRAB_JOB_UNIQ ->
        JOB_ASSIGN_UNIQ H; found by gearsim fuzz seed 0 against gear).
        """
        self.store.free(job, keep_queued=job.worker is None and self.profile.non_owner_work == "ignore")

    def _exception(self, job: Job, p: Packet, out: Outbox) -> str | None:
        mode = self.profile.work_exception
        for conn in list(job.listeners):
            if conn.exceptions or mode == "forward-always-terminal":
                out.append((conn, Packet.res(PacketType.WORK_EXCEPTION, *p.args)))
            elif mode == "terminal-fail-with-nul-to-others":
                # B-W5: gearmand sends the handle argument with its NUL
                out.append((conn, Packet.res(PacketType.WORK_FAIL, p.args[0] + b"\0")))
            elif mode == "terminal-fail-to-others":
                out.append((conn, Packet.res(PacketType.WORK_FAIL, p.args[0])))
        if mode != "forward-only-with-option-nonterminal":
            self._end(job)
        return None
