"""Mutants of the reference model: one rule broken at a time, to show the vectors notice.

PURE. This module owns the registry ``MUTATIONS``: each ``Mutation`` names the
rule it breaks, says how, and builds the mutant server for a case. Nothing in
the model knows about mutations: a mutant is built around an ordinary
``Server`` in one of three ways, and only for the case being run:

* a *switch*: the profile with some switches changed (``dataclasses.replace``
  on the frozen ``Profile``), e.g. the spec model given Perl's eviction;
* a *patch*: the ``Server`` instance with one of its handlers, or a method of
  its job store, replaced on that instance;
* a *rewrite*: a ``ServerNode`` wrapped around the server that changes what it
  sends (a byte, an argument, a dropped or doubled packet).

So the model's hot path carries no hook, and the model stays as pure as it
is. :func:`gearsim.report.coverage.mutation_coverage` runs the vectors against
each mutant (gearsim.cli.spec: ``gearsim spec mutate``) and calls a mutation
*killed* when some case's verdict turns to FAIL or INCONCLUSIVE.

``CLIENT_RULES`` lists the MUST and SHOULD rules that bind clients, workers or
readers of replies rather than a server: a server model cannot break them, so
they have no mutation; library and program cases judge them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from gearsim.model import Server, ServerOptions
from gearsim.model.jobs import Outbox
from gearsim.model.profiles import SPEC_PROFILE, Profile, get_profile
from gearsim.model.state import Conn, Function, Job, Priority, Registration, Sleep
from gearsim.protocol.codec import Decoder, wire
from gearsim.protocol.node import Close, ConnId, Output, Send, ServerNode
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.run.model_peer import SimPeer
from gearsim.run.result import Verdict
from gearsim.run.runner import run_case
from gearsim.sim.simulator import Simulator
from gearsim.vectors.parse import Case, VectorFile

__all__ = [
    "CLIENT_RULES",
    "MUTATIONS",
    "UNTESTABLE",
    "MutantFactory",
    "Mutation",
    "MutationOutcome",
    "mutation",
    "run_mutation",
    "unmutated_verdicts",
]

T = PacketType

#: builds the mutant server for one case, from the profile and the case's options
Build = Callable[[Profile, ServerOptions], ServerNode]


@dataclass(frozen=True, slots=True)
class Mutation:
    """One deliberate break of one rule in the reference model."""

    #: a slug, unique in the registry
    id: str
    #: the requirement id the mutant breaks
    rule: str
    #: one line: what the mutant does wrong
    what: str
    build: Build
    #: the profile the mutant is built from and judged under
    profile: str = SPEC_PROFILE
    #: in the fast set CI runs
    fast: bool = False

    def server(self, options: ServerOptions) -> ServerNode:
        """The mutant for one case."""
        return self.build(get_profile(self.profile), options)


#: rules that bind clients, workers or readers of admin replies, not a server
CLIENT_RULES: Final[Mapping[str, str]] = {
    "GM-FIELD-006": "binds clients (handles are opaque to them)",
    "GM-ADMIN-014": "binds readers of admin replies",
    "GM-ERROR-003": "binds clients (ERROR code words are labels to them)",
    "GM-WORK-012": "binds clients (reading gearmand's WORK_FAIL with a NUL)",
    "GM-WORK-014": "binds workers (one terminal packet per job)",
    "GM-SUBMIT-007": "binds clients and workers (no empty function name)",
    "GM-WORKER-014": "binds peers sending SET_CLIENT_ID",
    "GM-SLEEP-007": "binds workers (polling for epoch jobs)",
    "GM-SLEEP-008": "binds workers (NOOP answered with GRAB_*)",
}

#: server rules no mutation of a single model can show, with the reason
UNTESTABLE: Final[Mapping[str, str]] = {
    "GM-FRAME-009": (
        "the model takes bodies of any size, as gearmand does (it allocates what the header announces): "
        "the bound the rule asks for is below no size a vector can send without naming one"
    ),
    "GM-LIMIT-006": "distinct handles across servers: a vector plays against one server",
}


# --------------------------------------------------------------------------- building


def _switch(**changes: object) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return Server(replace(profile, **changes), options)  # type: ignore[arg-type]

    return build


Handler = Callable[[Conn, Packet, Outbox], "str | None"]


def _set_handler(server: Server, type_: PacketType, handler: Handler) -> None:
    """Replace one packet handler of this server instance (both of its dispatch tables)."""
    server._handlers[type_] = handler
    if type_ in server._ready:
        server._ready[type_] = (handler, server._ready[type_][1])


def _patch(fn: Callable[[Server], None]) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        server = Server(profile, options)
        fn(server)
        return server

    return build


def _handler(type_: PacketType, wrap: Callable[[Server, Handler], Handler]) -> Build:
    """A patch replacing the handler of ``type_`` by ``wrap(server, original)``."""

    def fn(server: Server) -> None:
        _set_handler(server, type_, wrap(server, server._handlers.get(type_, _unhandled(server, type_))))

    return _patch(fn)


def _unhandled(server: Server, type_: PacketType) -> Handler:
    """The "original" of a type the server has no handler for: a wrapper that calls it does nothing."""

    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return None

    return handler


def _ignore(type_: PacketType) -> Build:
    return _handler(type_, lambda server, original: lambda c, p, out: None)


#: rewrites one message sent to one connection: the messages to send instead
Rewrite = Callable[[ConnId, Message], Sequence[Message]]


class _Rewriting:
    """A ``ServerNode`` that passes everything to a server and rewrites what it sends."""

    def __init__(self, server: Server, rewrite: Rewrite, *, closes: Callable[[ConnId, Message], bool] | None = None):
        self.server = server
        self.rewrite = rewrite
        self.closes = closes

    def _out(self, outputs: list[Output]) -> list[Output]:
        result: list[Output] = []
        for o in outputs:
            if not isinstance(o, Send):
                result.append(o)
                continue
            messages = list(o.messages) or Decoder().feed(o.data)
            new = [m for message in messages for m in self.rewrite(o.conn, message)]
            if new:
                result.append(Send(o.conn, b"".join(wire(m) for m in new), tuple(new)))
            if self.closes is not None and any(self.closes(o.conn, m) for m in new):
                result.append(Close(o.conn, "mutant: closed after its reply"))
        return result

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        return self._out(self.server.connect(conn, now, peer))

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        return self._out(self.server.receive(conn, data, now))

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        return self._out(self.server.disconnect(conn, now))

    def next_deadline(self) -> int | None:
        return self.server.next_deadline()

    def advance(self, now: int) -> list[Output]:
        return self._out(self.server.advance(now))


def _rewrite(make: Callable[[], Rewrite], closes: Callable[[ConnId, Message], bool] | None = None) -> Build:
    """A rewrite; ``make`` builds a fresh rewriting function (with fresh state) for each case."""

    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return _Rewriting(Server(profile, options), make(), closes=closes)

    return build


def _on(type_: PacketType, change: Callable[[Packet], Sequence[Message]]) -> Build:
    """A rewrite of every packet of ``type_`` the server sends."""

    def make() -> Rewrite:
        def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
            return change(m) if isinstance(m, Packet) and m.type == type_ else (m,)

        return rewrite

    return _rewrite(make)


def _args(type_: PacketType, change: Callable[[tuple[bytes, ...]], tuple[bytes, ...]]) -> Build:
    return _on(type_, lambda p: (Packet(p.magic, p.type, change(p.args)),))


def _drop(type_: PacketType, when: Callable[[Packet], bool] = lambda p: True) -> Build:
    return _on(type_, lambda p: () if when(p) else (p,))


def _on_admin(change: Callable[[AdminLine], Sequence[Message]]) -> Build:
    def make() -> Rewrite:
        def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
            return change(m) if isinstance(m, AdminLine) else (m,)

        return rewrite

    return _rewrite(make)


class _Input:
    """A ``ServerNode`` that changes the bytes a connection sends before the server sees them."""

    def __init__(self, server: Server, change: Callable[[ConnId, bytes], bytes | None]):
        self.server = server
        self.change = change

    def connect(self, conn: ConnId, now: int, peer: str = "127.0.0.1") -> list[Output]:
        return self.server.connect(conn, now, peer)

    def receive(self, conn: ConnId, data: bytes, now: int) -> list[Output]:
        changed = self.change(conn, data)
        if changed is None:
            return [Close(conn, "mutant: refused the bytes")]
        return self.server.receive(conn, changed, now)

    def disconnect(self, conn: ConnId, now: int) -> list[Output]:
        return self.server.disconnect(conn, now)

    def next_deadline(self) -> int | None:
        return self.server.next_deadline()

    def advance(self, now: int) -> list[Output]:
        return self.server.advance(now)


def _input(make: Callable[[], Callable[[ConnId, bytes], bytes | None]]) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return _Input(Server(profile, options), make())

    return build


# --------------------------------------------------------------------------- the less simple mutants


def _long_length_echo() -> Build:
    """ECHO_RES whose header announces one byte more than its body (the bytes themselves)."""

    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        server = Server(profile, options)

        class Lying(_Rewriting):
            def _out(self, outputs: list[Output]) -> list[Output]:
                result: list[Output] = []
                for o in outputs:
                    if isinstance(o, Send) and o.data[4:8] == int(T.ECHO_RES).to_bytes(4, "big"):
                        size = int.from_bytes(o.data[8:12], "big") + 1
                        o = Send(o.conn, o.data[:8] + size.to_bytes(4, "big") + o.data[12:])
                    result.append(o)
                return result

        return Lying(server, lambda c, m: (m,))

    return build


def _admin_after_binary_dropped() -> Callable[[ConnId, bytes], bytes | None]:
    binary: set[ConnId] = set()

    def change(conn: ConnId, data: bytes) -> bytes | None:
        if data[:1] == b"\0":
            binary.add(conn)
            return data
        return b"" if conn in binary else data

    return change


def _swap_admin_and_binary() -> Rewrite:
    """Replies of one call in the wrong order: admin lines held back behind the packets."""
    held: dict[ConnId, list[Message]] = {}

    def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
        if isinstance(m, AdminLine):
            held.setdefault(conn, []).append(m)
            return ()
        return (m, *held.pop(conn, ()))

    return rewrite


def _hold_back(type_: PacketType) -> Rewrite:
    """Packets of ``type_`` delayed until the next packet to the same connection."""
    held: dict[ConnId, list[Message]] = {}

    def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
        if isinstance(m, Packet) and m.type == type_:
            held.setdefault(conn, []).append(m)
            return ()
        return (m, *held.pop(conn, ()))

    return rewrite


def _ended_still_known() -> Rewrite:
    ended: set[bytes] = set()

    def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
        if isinstance(m, Packet) and m.type in (T.WORK_COMPLETE, T.WORK_FAIL) and m.args:
            ended.add(m.args[0])
        if isinstance(m, Packet) and m.type == T.STATUS_RES and m.args[0] in ended:
            return (Packet(m.magic, m.type, (m.args[0], b"1", *m.args[2:])),)
        return (m,)

    return rewrite


def _status_flags(known: bytes, running: bytes, new_running: bytes, new_known: bytes | None = None) -> Build:
    def change(args: tuple[bytes, ...]) -> tuple[bytes, ...]:
        if len(args) == 5 and args[1] == known and args[2] == running:
            return (args[0], new_known if new_known is not None else known, new_running, *args[3:])
        return args

    return _args(T.STATUS_RES, change)


def _store_patch(name: str, make: Callable[[Server, Callable[..., Any]], Callable[..., Any]]) -> Build:
    """A patch replacing ``server.store.<name>`` on this instance by ``make(server, original)``."""

    def fn(server: Server) -> None:
        setattr(server.store, name, make(server, getattr(server.store, name)))

    return _patch(fn)


def _coalesce_across_functions(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def find(function: Function, unique: bytes, data: bytes, *, dashed: bool = False) -> Job | None:
        found: Job | None = original(function, unique, data, dashed=dashed)
        if found is None and unique:
            found = next((j for j in server.store.jobs.values() if j.unique == unique), None)
        return found

    return find


def _coalesce_empty(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def find(function: Function, unique: bytes, data: bytes, *, dashed: bool = False) -> Job | None:
        if not unique:
            return next((j for j in server.store.jobs.values() if j.function is function and not j.unique), None)
        found: Job | None = original(function, unique, data, dashed=dashed)
        return found

    return find


def _no_coalesce_running(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def find(function: Function, unique: bytes, data: bytes, *, dashed: bool = False) -> Job | None:
        found = original(function, unique, data, dashed=dashed)
        return None if isinstance(found, Job) and found.worker is not None else found

    return find


def _unique_never_freed(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    ended: dict[tuple[bytes, bytes], Job] = {}
    free = server.store.free

    def free_and_remember(job: Job) -> None:
        if job.unique:
            ended[(job.function.name, job.unique)] = job
        free(job)

    server.store.free = free_and_remember  # type: ignore[method-assign]

    def find(function: Function, unique: bytes, data: bytes, *, dashed: bool = False) -> Job | None:
        found = original(function, unique, data, dashed=dashed)
        return found if found is not None else ended.get((function.name, unique))

    return find


def _coalesced_overwrites(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def add(**kwargs: object) -> tuple[Job | None, bool]:
        job, created = original(**kwargs)
        if job is not None and not created:
            job.data = kwargs["data"]
            job.priority = kwargs["priority"]
        return job, created

    return add


def _coalesced_not_listening(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def add(**kwargs: object) -> tuple[Job | None, bool]:
        job, created = original(**kwargs)
        listener = kwargs["listener"]
        if job is not None and not created and isinstance(listener, Conn) and listener in job.listeners:
            job.listeners.remove(listener)
            listener.client_jobs.remove(job)
        return job, created

    return add


def _foreground_never_joins_background(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    store = server.store
    find = store.find_coalesce

    def add(**kwargs: object) -> tuple[Job | None, bool]:
        if kwargs["listener"] is not None:

            def no_background(function: Function, unique: bytes, data: bytes, *, dashed: bool = False) -> Job | None:
                job = find(function, unique, data, dashed=dashed)
                return None if job is not None and job.background else job

            store.find_coalesce = no_background  # type: ignore[method-assign]
        try:
            result: tuple[Job | None, bool] = original(**kwargs)
            return result
        finally:
            store.find_coalesce = find  # type: ignore[method-assign]

    return add


def _coalesce_refused_when_full(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    store = server.store

    def add(**kwargs: object) -> tuple[Job | None, bool]:
        function = kwargs["function"]
        priority = kwargs["priority"]
        assert isinstance(function, Function) and isinstance(priority, Priority)
        limit = function.max_queue[priority]
        if limit > 0 and store.total(function) >= limit:
            return None, False
        result: tuple[Job | None, bool] = original(**kwargs)
        return result

    return add


def _handles_reused(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    store = server.store

    def free(job: Job) -> None:
        original(job)
        if store.handle_count > 1:
            store.handle_count -= 1

    return free


def _grab_other_functions(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    store = server.store

    def choose(conn: Conn) -> tuple[Registration, Job] | None:
        found: tuple[Registration, Job] | None = original(conn)
        if found is not None or not conn.registrations:
            return found
        for function in store.functions.values():
            for queue in function.queues:
                job = queue.first_due(store.now_seconds)
                if job is not None:
                    # held under a registration made up for it: the worker never sent CAN_DO for it
                    made_up = store.registration(conn, function, 0)
                    conn.registrations.append(made_up)
                    return made_up, job
        return None

    return choose


def _grab_held_jobs(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def take(conn: Conn) -> Job | None:
        job: Job | None = original(conn)
        if job is not None:
            return job
        for reg in conn.registrations:
            for other in reg.function.workers:
                if other.conn is not conn and other.jobs:
                    return other.jobs[0]  # the same job given again, to a second worker
        return None

    return take


def _low_first(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    store = server.store

    def choose(conn: Conn) -> tuple[Registration, Job] | None:
        for reg in conn.registrations:
            for queue in reversed(reg.function.queues):
                job = queue.first_due(store.now_seconds)
                if job is not None:
                    return reg, job
        return None

    return choose


def _never_asleep_twice(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def wake(function: Function, out: Outbox) -> None:
        original(function, out)
        for reg in function.workers:
            if reg.conn.sleep is Sleep.WOKEN:  # NOOP sent; this mutant sends another next time
                reg.conn.sleep = Sleep.ASLEEP
                function.sleepers[reg] = None

    return wake


def _noop_to_the_awake(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def wake(function: Function, out: Outbox) -> None:
        original(function, out)
        for reg in function.workers:
            if reg.conn.sleep is Sleep.AWAKE:
                out.append((reg.conn, Packet.res(T.NOOP)))

    return wake


def _requeue_loses_listeners(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def queue(job: Job, out: Outbox) -> None:
        if job.worker is not None:
            for conn in job.listeners:
                if job in conn.client_jobs:
                    conn.client_jobs.remove(job)
            job.listeners.clear()
        original(job, out)

    return queue


def _queued_only_limit(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def room(function: Function, priority: Priority, out: Outbox) -> bool:
        limit = function.max_queue[priority]
        return limit <= 0 or function.queued_count < limit

    return room


def _dead_worker_keeps_jobs(server: Server) -> None:
    original = server.disconnect

    def disconnect(conn: ConnId, now: int) -> list[Output]:
        c = server.conns.get(conn)
        if c is not None:
            for reg in c.registrations:
                reg.jobs.clear()  # the jobs keep their worker: held by a dead connection
        return original(conn, now)

    server.disconnect = disconnect  # type: ignore[method-assign]


def _work_exception_fails_nobody(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        mine: Outbox = []
        reason = original(c, p, mine)
        out.extend((conn, m) for conn, m in mine if not (isinstance(m, Packet) and m.type == T.WORK_FAIL))
        return reason

    return handler


def _exceptions_option_lost(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        reason = original(c, p, out)
        c.exceptions = False
        return reason

    return handler


def _unknown_option_accepted(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        out.append((c, Packet.res(T.OPTION_RES, p.args[0])))
        return None

    return handler


def _worker_options_ignored(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return None if c.registrations else original(c, p, out)

    return handler


def _busy_worker_echo_ignored(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return None if any(r.jobs for r in c.registrations) else original(c, p, out)

    return handler


def _retyped(new_type: PacketType) -> Callable[[Server, Handler], Handler]:
    def wrap(server: Server, original: Handler) -> Handler:
        def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
            return original(c, Packet(p.magic, new_type, p.args), out)

        return handler

    return wrap


def _high_is_normal(server: Server) -> None:
    for high, normal in ((T.SUBMIT_JOB_HIGH, T.SUBMIT_JOB), (T.SUBMIT_JOB_HIGH_BG, T.SUBMIT_JOB_BG)):
        _set_handler(server, high, _retyped(normal)(server, server._handlers[high]))


def _sched_creates_a_job(server: Server, original: Handler) -> Handler:
    submit = server._handlers[T.SUBMIT_JOB_BG]

    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return submit(c, Packet(p.magic, T.SUBMIT_JOB_BG, (p.args[0], p.args[1], p.args[-1])), out)

    return handler


def _epoch_now(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return original(c, Packet(p.magic, T.SUBMIT_JOB_BG, (p.args[0], p.args[1], p.args[-1])), out)

    return handler


def _past_epoch_never(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        when = p.args[2] if len(p.args) > 2 else b""
        if when.isdigit() and int(when) <= server.store.now_seconds:
            p = Packet(p.magic, p.type, (p.args[0], p.args[1], b"4000000000", *p.args[3:]))
        return original(c, p, out)

    return handler


def _reduce_aggregator_as_workload(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        if len(p.args) == 5:
            p = Packet(p.magic, p.type, (*p.args[:4], p.args[3]))
        return original(c, p, out)

    return handler


def _foreground_not_listening(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        reason = original(c, p, out)
        while c.client_jobs:
            server.store.release_client(c, c.client_jobs[0])
        return reason

    return handler


def _background_listening(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        mine: Outbox = []
        reason = original(c, p, mine)
        out.extend(mine)
        for _, m in mine:
            if isinstance(m, Packet) and m.type == T.JOB_CREATED:
                job = server.store.by_handle(m.args[0])
                if job is not None and c not in job.listeners:
                    job.listeners.insert(0, c)
                    c.client_jobs.insert(0, job)
        return reason

    return handler


def _long_function_refused(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        if len(p.args[0]) > 255:
            out.append((c, Packet.res(T.ERROR, b"ARGUMENT_TOO_LARGE", b"function name too long")))
            return None
        return original(c, p, out)

    return handler


def _folded_function(server: Server) -> None:
    function = server.store.function

    def folded(name: bytes) -> Function:
        return function(name.lower())

    server.store.function = folded  # type: ignore[method-assign]


def _timeout_zero_is_a_second(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        if len(p.args) > 1 and p.args[1] == b"0":
            p = Packet(p.magic, p.type, (p.args[0], b"1000"))
        return original(c, p, out)

    return handler


def _timeout_dropped_silently(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        reason = original(c, p, out)
        return None if reason is not None and "CAN_DO_TIMEOUT" in reason else reason

    return handler


def _cant_do_first_only(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        first = next((r for r in c.registrations if r.function.name == p.args[0]), None)
        if first is not None:
            server.workers.unregister(c, first, out)
        return None

    return handler


def _never_noop_at_once(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        mine: Outbox = []
        reason = original(c, p, mine)
        out.extend((conn, m) for conn, m in mine if not (isinstance(m, Packet) and m.type == T.NOOP))
        return reason

    return handler


def _abandoned_run(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def release(conn: Conn, job: Job) -> None:
        if job in conn.client_jobs:
            conn.client_jobs.remove(job)
        if conn in job.listeners:
            job.listeners.remove(conn)

    return release


def _listener_kept(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def release(conn: Conn, job: Job) -> None:
        if job in conn.client_jobs:  # the connection forgets the job; the job keeps the connection
            conn.client_jobs.remove(job)

    return release


def _noop(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def nothing(*args: object, **kwargs: object) -> None:
        return None

    return nothing


def _never_exhausted(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    return lambda retries: False


def _cr_kept() -> Callable[[ConnId, bytes], bytes | None]:
    return lambda conn, data: data.replace(b"\r\n", b"\x01\n") if data[:1] != b"\0" else data


def _line_end_early() -> Callable[[ConnId, bytes], bytes | None]:
    return lambda conn, data: data + b"\n" if data[:1] not in (b"\0", b"") and not data.endswith(b"\n") else data


def _upper_case_unknown() -> Callable[[ConnId, bytes], bytes | None]:
    def change(conn: ConnId, data: bytes) -> bytes | None:
        return b"?" + data if data[:1].isupper() else data

    return change


def _big_bodies_refused() -> Callable[[ConnId, bytes], bytes | None]:
    def change(conn: ConnId, data: bytes) -> bytes | None:
        big = data[:1] == b"\0" and len(data) >= 12 and int.from_bytes(data[8:12], "big") > 65536
        return None if big else data

    return change


# --------------------------------------------------------------------------- the registry


def _m(rule: str, id_: str, what: str, build: Build, profile: str = SPEC_PROFILE, *, fast: bool = False) -> Mutation:
    return Mutation(id_, rule, what, build, profile, fast)


def _without(*names: str) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        return Server(replace(profile, implemented=frozenset(profile.implemented - set(names))), options)

    return build


def _without_ignored(*names: str) -> Build:
    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        changed = replace(profile, implemented=frozenset(profile.implemented - set(names)), unimplemented="ignore")
        return Server(changed, options)

    return build


def _sched_runs(profile: Profile, options: ServerOptions) -> ServerNode:
    server = Server(replace(profile, implemented=frozenset(profile.implemented | {"SUBMIT_JOB_SCHED"})), options)
    _set_handler(server, T.SUBMIT_JOB_SCHED, _sched_creates_a_job(server, _unhandled(server, T.SUBMIT_JOB_SCHED)))
    return server


def _zero_is_full(profile: Profile, options: ServerOptions) -> ServerNode:
    """A function whose limits maxqueue set to 0 takes no job (the default 0 stays unlimited)."""
    server = Server(profile, options)
    zeroed: set[bytes] = set()
    room = server.store._room_for

    def room_unless_zeroed(function: Function, priority: Priority, out: Outbox) -> bool:
        return function.name not in zeroed and bool(room(function, priority, out))

    server.store._room_for = room_unless_zeroed  # type: ignore[method-assign]

    def watch(conn: ConnId, data: bytes) -> bytes:
        for line in data.splitlines() if data[:1] != b"\0" else ():
            words = line.split()
            if len(words) >= 3 and words[0].lower() == b"maxqueue" and all(w == b"0" for w in words[2:]):
                zeroed.add(words[1])
        return data

    return _Input(server, watch)


def _long_handles(profile: Profile, options: ServerOptions) -> ServerNode:
    return Server(profile, replace(options, node="n" * 70))


def _evict_silently(profile: Profile, options: ServerOptions) -> ServerNode:
    server = Server(replace(profile, maxqueue="evict"), options)
    send_fail = server.store._send_fail
    room = server.store._room_for

    def room_without_fail(function: Function, priority: Priority, out: Outbox) -> bool:
        server.store._send_fail = lambda job, magic, out: None  # type: ignore[method-assign]
        try:
            return room(function, priority, out)
        finally:
            server.store._send_fail = send_fail  # type: ignore[method-assign]

    server.store._room_for = room_without_fail  # type: ignore[method-assign]
    return server


MUTATIONS: Final[tuple[Mutation, ...]] = (
    # ---- framing
    _m(
        "GM-FRAME-001",
        "echo-length-one-long",
        "ECHO_RES announces one body byte more than it carries",
        _long_length_echo(),
        fast=True,
    ),
    _m(
        "GM-FRAME-002",
        "created-with-req-magic",
        "JOB_CREATED is framed with \\0REQ",
        _on(T.JOB_CREATED, lambda p: (Packet(Magic.REQ, p.type, p.args),)),
        fast=True,
    ),
    _m(
        "GM-FRAME-003",
        "no-job-as-all-yours",
        "NO_JOB is sent as type 24 (ALL_YOURS, a worker's request)",
        _on(T.NO_JOB, lambda p: (Packet(Magic.RES, T.ALL_YOURS, ()),)),
    ),
    _m(
        "GM-FRAME-004",
        "status-extra-argument",
        "STATUS_RES carries one argument too many",
        _args(T.STATUS_RES, lambda a: (*a, b"")),
    ),
    _m(
        "GM-FRAME-005", "handle-with-nul", "handles have a NUL inside", _args(T.JOB_CREATED, lambda a: (a[0] + b"\0x",))
    ),
    _m(
        "GM-FRAME-006",
        "empty-result-without-nul",
        "a WORK_COMPLETE with an empty result is sent as the bare handle",
        _args(T.WORK_COMPLETE, lambda a: a[:1] if a[1:] == (b"",) else a),
    ),
    _m(
        "GM-FRAME-007",
        "reads-past-body",
        "a body with too few NULs is completed from the next bytes (gearmand)",
        _switch(short_body="stall-then-close"),
        fast=True,
    ),
    _m("GM-FRAME-008", "bad-magic-read", "a bad magic is read as a request (gear)", _switch(bad_magic="ignore")),
    _m(
        "GM-FRAME-010",
        "admin-after-binary-ignored",
        "admin lines after a binary packet on a connection are ignored",
        _input(_admin_after_binary_dropped),
    ),
    _m(
        "GM-FRAME-011",
        "res-magic-ignored",
        "a request framed with \\0RES is read as any other (gear)",
        _switch(res_magic_request="ignore"),
    ),
    _m(
        "GM-FRAME-012",
        "invalid-command-silent",
        "server-to-client types sent as requests get no ERROR",
        _drop(T.ERROR, lambda p: p.args[:1] == (b"INVALID_COMMAND",)),
    ),
    _m(
        "GM-FRAME-015",
        "missing-workload-empty",
        "a SUBMIT without its workload is taken with an empty one (gear)",
        _switch(short_body="last-optional"),
    ),
    _m(
        "GM-FRAME-016",
        "bad-magic-wedges",
        "a bad magic wedges the connection: open and unread (Perl)",
        _switch(bad_magic="stall"),
    ),
    # ---- fields
    _m("GM-FIELD-001", "handles-too-long", "handles of more than 63 bytes", _long_handles),
    _m(
        "GM-FIELD-002",
        "assigned-unique-with-nul",
        "JOB_ASSIGN_UNIQ's unique carries a NUL after its first byte",
        _args(
            T.JOB_ASSIGN_UNIQ, lambda a: (a[0], a[1], a[2][:1] + b"\0" + a[2][1:], a[3]) if len(a) == 4 and a[2] else a
        ),
    ),
    _m(
        "GM-FIELD-003",
        "status-numbers-signed",
        "STATUS_RES numbers written with a plus sign",
        _args(T.STATUS_RES, lambda a: (*a[:3], b"+" + a[3], b"+" + a[4]) if len(a) == 5 else a),
    ),
    _m(
        "GM-FIELD-004",
        "known-is-two",
        "STATUS_RES says known 2 for a known job",
        _args(T.STATUS_RES, lambda a: (a[0], b"2", *a[2:]) if len(a) == 5 and a[1] == b"1" else a),
    ),
    _m(
        "GM-FIELD-005",
        "status-numbers-empty",
        "no progress yet is reported as empty numbers (Perl, gear)",
        _switch(status_empty_numbers=True),
    ),
    # ---- admin
    _m("GM-ADMIN-001", "cr-kept", "a CR before the LF is read as part of the command", _input(_cr_kept)),
    _m(
        "GM-ADMIN-002",
        "line-acted-on-early",
        "an admin line is acted on before its LF arrives",
        _input(_line_end_early),
    ),
    _m("GM-ADMIN-003", "upper-case-unknown", "an upper-case command word is unknown", _input(_upper_case_unknown)),
    _m(
        "GM-ADMIN-004",
        "listing-without-stop",
        "listings end without the line holding a full stop",
        _on_admin(lambda line: () if line.text == b"." else (line,)),
    ),
    _m(
        "GM-ADMIN-005",
        "status-spaces",
        "status rows separated by spaces, not tabs",
        _on_admin(lambda line: (AdminLine(line.text.replace(b"\t", b" "), line.eol),)),
    ),
    _m(
        "GM-ADMIN-006",
        "unknown-command-silent",
        "an unknown admin command gets no reply (gear)",
        _switch(admin_unknown_reply=None),
    ),
    _m(
        "GM-ADMIN-008",
        "workers-without-colon",
        "workers rows without the colon",
        _on_admin(lambda line: (AdminLine(line.text.replace(b" :", b"", 1), line.eol),)),
    ),
    _m(
        "GM-ADMIN-009",
        "no-version",
        "'version' is an unknown command",
        _switch(
            admin_commands=frozenset(
                {
                    "workers",
                    "status",
                    "prioritystatus",
                    "maxqueue",
                    "getpid",
                    "verbose",
                    "show",
                    "cancel",
                    "create",
                    "drop",
                }
            )
        ),
    ),
    _m("GM-ADMIN-010", "no-maxqueue", "maxqueue is not supported (gear)", _switch(maxqueue="unsupported")),
    _m(
        "GM-ADMIN-011",
        "admin-replies-late",
        "admin replies overtaken by binary replies of later requests",
        _rewrite(_swap_admin_and_binary),
    ),
    _m(
        "GM-ADMIN-012",
        "no-status-workers",
        "'status' and 'workers' are unknown commands",
        _switch(
            admin_commands=frozenset(
                {"prioritystatus", "maxqueue", "version", "getpid", "verbose", "show", "cancel", "create", "drop"}
            )
        ),
    ),
    _m("GM-ADMIN-015", "ok-spelled-done", "one-line replies say DONE, not OK", _switch(admin_ok="DONE\r\n")),
    _m(
        "GM-ADMIN-018",
        "cancel-silent",
        "cancel job removes a queued job and tells nobody (gear)",
        _switch(admin_cancel="remove-queued"),
    ),
    _m(
        "GM-ADMIN-020",
        "prefix-commands",
        "a word that starts with a command name runs it (gear)",
        _switch(admin_match="prefix"),
    ),
    # ---- echo, options, errors
    _m(
        "GM-ECHO-001",
        "echo-loses-last-byte",
        "ECHO_RES drops the last byte of the body",
        _args(T.ECHO_RES, lambda a: (a[0][:-1],) if a and a[0] else a),
        fast=True,
    ),
    _m(
        "GM-ECHO-002",
        "busy-worker-no-echo",
        "a worker holding a job gets no ECHO_RES",
        _handler(T.ECHO_REQ, _busy_worker_echo_ignored),
    ),
    _m(
        "GM-OPTION-001",
        "option-lower-cased",
        "OPTION_RES echoes the option in lower case",
        _args(T.OPTION_RES, lambda a: (a[0].lower(),)),
    ),
    _m(
        "GM-OPTION-002",
        "unknown-option-accepted",
        "an unknown option is answered with OPTION_RES",
        _handler(T.OPTION_REQ, _unknown_option_accepted),
    ),
    _m(
        "GM-OPTION-003",
        "option-case-exact",
        "the option name is matched case-sensitively (Perl)",
        _switch(option_match="exact"),
    ),
    _m(
        "GM-OPTION-004",
        "option-forgotten",
        "the option is answered but never takes effect",
        _handler(T.OPTION_REQ, _exceptions_option_lost),
    ),
    _m(
        "GM-OPTION-005",
        "worker-option-ignored",
        "OPTION_REQ from a worker gets no reply",
        _handler(T.OPTION_REQ, _worker_options_ignored),
    ),
    _m(
        "GM-ERROR-001",
        "error-text-nul",
        "ERROR's text ends with a NUL",
        _args(T.ERROR, lambda a: (a[0], a[1] + b"\0") if len(a) == 2 else a),
    ),
    _m(
        "GM-ERROR-002",
        "error-words-numbered",
        "ERROR code words replaced by numbers (gear's style)",
        _args(T.ERROR, lambda a: (b"1", *a[1:])),
        profile="gearmand-1.1",
    ),
    _m(
        "GM-ERROR-004",
        "error-then-close",
        "the connection is closed after every ERROR",
        _rewrite(lambda: lambda conn, m: (m,), closes=lambda conn, m: isinstance(m, Packet) and m.type == T.ERROR),
    ),
    _m("GM-ERROR-005", "error-twice", "every ERROR is sent twice", _on(T.ERROR, lambda p: (p, p))),
    _m(
        "GM-ERROR-006",
        "timeout-dropped",
        "an unusable CAN_DO_TIMEOUT is dropped silently, the connection kept",
        _handler(T.CAN_DO_TIMEOUT, _timeout_dropped_silently),
    ),
    # ---- limits, server
    _m("GM-LIMIT-001", "unique-cut-to-62", "uniques are stored cut to 62 bytes", _switch(unique_stored_max=62)),
    _m(
        "GM-LIMIT-002",
        "unique-64-accepted",
        "a 64-byte unique is accepted and stored cut (gearmand)",
        _switch(unique_max=64, unique_stored_max=63),
    ),
    _m(
        "GM-LIMIT-003",
        "function-255",
        "function names over 255 bytes are refused",
        _handler(T.SUBMIT_JOB_BG, _long_function_refused),
    ),
    _m(
        "GM-LIMIT-004",
        "bodies-64k",
        "packets with bodies over 64 KiB close the connection",
        _input(_big_bodies_refused),
    ),
    _m(
        "GM-LIMIT-005",
        "handles-reused",
        "the handle counter steps back when a job ends",
        _store_patch("free", _handles_reused),
    ),
    _m("GM-SERVER-001", "no-grab-job-uniq", "GRAB_JOB_UNIQ is not implemented (Perl)", _without("GRAB_JOB_UNIQ")),
    _m("GM-SERVER-002", "no-get-status-unique", "GET_STATUS_UNIQUE is not implemented", _without("GET_STATUS_UNIQUE")),
    _m(
        "GM-SERVER-004",
        "unimplemented-ignored",
        "an unimplemented request (GRAB_JOB_ALL) gets no reply (gear)",
        _without_ignored("GRAB_JOB_ALL"),
    ),
    _m(
        "GM-SERVER-005",
        "timeout-crash",
        "a timeout of 2^64 or more crashes the server (gearmand)",
        _switch(can_do_timeout_overflow="crash"),
        fast=True,
    ),
    # ---- submission
    _m("GM-SUBMIT-001", "created-twice", "JOB_CREATED is sent twice", _on(T.JOB_CREATED, lambda p: (p, p)), fast=True),
    _m(
        "GM-SUBMIT-002",
        "refused-and-created",
        "a refused submission also gets JOB_CREATED",
        _on(T.ERROR, lambda p: (Packet.res(T.JOB_CREATED, b"H:x:0"), p) if p.args[:1] == (b"QUEUE_ERROR",) else (p,)),
    ),
    _m(
        "GM-SUBMIT-003",
        "foreground-deaf",
        "a foreground submitter is not made a listener",
        _handler(T.SUBMIT_JOB, _foreground_not_listening),
    ),
    _m(
        "GM-SUBMIT-004",
        "background-listens",
        "a background submitter is made a listener",
        _handler(T.SUBMIT_JOB_BG, _background_listening),
    ),
    _m(
        "GM-SUBMIT-005",
        "workload-cut",
        "JOB_ASSIGN drops the workload's last byte",
        _args(T.JOB_ASSIGN, lambda a: (a[0], a[1], a[2][:-1]) if len(a) == 3 else a),
        fast=True,
    ),
    _m(
        "GM-SUBMIT-006",
        "function-case-folded",
        "function names are compared without letter case",
        _patch(_folded_function),
    ),
    _m(
        "GM-SUBMIT-009",
        "epoch-ignored",
        "SUBMIT_JOB_EPOCH runs at once, whatever its time",
        _handler(T.SUBMIT_JOB_EPOCH, _epoch_now),
    ),
    _m(
        "GM-SUBMIT-010",
        "past-epoch-never",
        "an epoch time already past is read as 2096",
        _handler(T.SUBMIT_JOB_EPOCH, _past_epoch_never),
    ),
    _m(
        "GM-SUBMIT-012",
        "reduce-aggregator-as-workload",
        "a reduce job's workload is taken from its aggregator",
        _handler(T.SUBMIT_REDUCE_JOB_BACKGROUND, _reduce_aggregator_as_workload),
    ),
    _m(
        "GM-SUBMIT-013",
        "reducer-not-returned",
        "JOB_ASSIGN_ALL carries an empty reducer",
        _args(T.JOB_ASSIGN_ALL, lambda a: (*a[:3], b"", *a[4:]) if len(a) == 5 else a),
    ),
    _m("GM-SUBMIT-014", "sched-runs", "SUBMIT_JOB_SCHED creates a background job", _sched_runs),
    # ---- coalescing
    _m("GM-COAL-001", "no-coalescing", "submissions never coalesce (gear)", _switch(coalesce_uniques=False)),
    _m(
        "GM-COAL-002",
        "coalesce-across-functions",
        "the same unique of another function coalesces",
        _store_patch("find_coalesce", _coalesce_across_functions),
    ),
    _m(
        "GM-COAL-003",
        "empty-unique-coalesces",
        "submissions with an empty unique coalesce",
        _store_patch("find_coalesce", _coalesce_empty),
    ),
    _m(
        "GM-COAL-004",
        "no-coalescing-while-running",
        "a running job takes no more submissions",
        _store_patch("find_coalesce", _no_coalesce_running),
    ),
    _m(
        "GM-COAL-005",
        "unique-never-freed",
        "an ended job's unique still names it",
        _store_patch("find_coalesce", _unique_never_freed),
    ),
    _m(
        "GM-COAL-006",
        "coalesced-overwrites",
        "a coalesced submission replaces the job's workload and priority",
        _store_patch("add", _coalesced_overwrites),
    ),
    _m(
        "GM-COAL-007",
        "coalesced-deaf",
        "a coalesced foreground submitter is not made a listener",
        _store_patch("add", _coalesced_not_listening),
    ),
    _m(
        "GM-COAL-008",
        "foreground-apart",
        "a foreground submission never joins a job a background one made",
        _store_patch("add", _foreground_never_joins_background),
    ),
    _m(
        "GM-COAL-009",
        "coalesce-refused-when-full",
        "a coalesced submission is refused when the queue is full",
        _store_patch("add", _coalesce_refused_when_full),
    ),
    _m("GM-COAL-010", "dash-literal", "the unique '-' is an ordinary unique (gear)", _switch(dash_unique="none")),
    # ---- status
    _m(
        "GM-STATUS-001",
        "status-handle-changed",
        "STATUS_RES's handle is not the one asked for",
        _args(T.STATUS_RES, lambda a: (a[0] + b"x", *a[1:]) if a else a),
        fast=True,
    ),
    _m(
        "GM-STATUS-002",
        "unknown-is-known",
        "an unknown handle reads known 1",
        _status_flags(b"0", b"0", b"0", new_known=b"1"),
    ),
    _m("GM-STATUS-003", "queued-is-running", "a queued job reads running 1", _status_flags(b"1", b"0", b"1")),
    _m("GM-STATUS-004", "running-is-queued", "a running job reads running 0", _status_flags(b"1", b"1", b"0")),
    _m("GM-STATUS-005", "ended-still-known", "an ended job still reads known 1", _rewrite(_ended_still_known)),
    _m(
        "GM-STATUS-006",
        "progress-never-stored",
        "STATUS_RES never reports WORK_STATUS numbers",
        _args(T.STATUS_RES, lambda a: (*a[:3], b"0", b"0") if len(a) == 5 else a),
    ),
    _m(
        "GM-STATUS-007",
        "progress-off-by-one",
        "STATUS_RES reports the numerator plus one",
        _args(
            T.STATUS_RES,
            lambda a: (*a[:3], b"%d" % (int(a[3]) + 1), a[4]) if len(a) == 5 and a[3].isdigit() and a[3] != b"0" else a,
        ),
    ),
    _m(
        "GM-STATUS-009",
        "status-unique-changed",
        "STATUS_RES_UNIQUE's first field is not the unique asked for",
        _args(T.STATUS_RES_UNIQUE, lambda a: (a[0] + b"x", *a[1:]) if a else a),
    ),
    _m(
        "GM-STATUS-010",
        "listeners-not-counted",
        "STATUS_RES_UNIQUE counts no listeners",
        _args(T.STATUS_RES_UNIQUE, lambda a: (*a[:5], b"0") if len(a) == 6 else a),
    ),
    _m(
        "GM-STATUS-011",
        "unknown-unique-known",
        "an unknown unique reads known 1",
        _args(T.STATUS_RES_UNIQUE, lambda a: (a[0], b"1", *a[2:]) if len(a) == 6 and a[1] == b"0" else a),
    ),
    _m(
        "GM-STATUS-013",
        "empty-unique-found",
        "GET_STATUS_UNIQUE of '' finds a job with no unique",
        _store_patch(
            "by_unique",
            lambda server, original: (
                lambda unique: (
                    next((j for j in server.store.jobs.values() if not j.unique), None)
                    if not unique
                    else original(unique)
                )
            ),
        ),
    ),
    # ---- work
    _m(
        "GM-WORK-001",
        "anyone-reports",
        "WORK_* from any connection are acted on (gear)",
        _switch(non_owner_work="ignore"),
    ),
    _m(
        "GM-WORK-002",
        "not-found-silent",
        "WORK_* for a job the connection does not hold get no ERROR",
        _drop(T.ERROR, lambda p: p.args[:1] == (b"JOB_NOT_FOUND",)),
    ),
    _m("GM-WORK-003", "data-not-forwarded", "WORK_DATA is not sent on", _drop(T.WORK_DATA)),
    _m(
        "GM-WORK-004",
        "result-changed",
        "WORK_COMPLETE's result gets a byte more",
        _args(T.WORK_COMPLETE, lambda a: (a[0], a[1] + b"!") if len(a) == 2 else a),
        fast=True,
    ),
    _m(
        "GM-WORK-005",
        "fail-not-bare",
        "WORK_FAIL is forwarded with a NUL and more after the handle",
        _args(T.WORK_FAIL, lambda a: (a[0] + b"\0x",)),
    ),
    _m(
        "GM-WORK-006",
        "data-late",
        "WORK_DATA is held back behind the next packet",
        _rewrite(lambda: _hold_back(T.WORK_DATA)),
    ),
    _m("GM-WORK-007", "complete-twice", "WORK_COMPLETE is sent twice", _on(T.WORK_COMPLETE, lambda p: (p, p))),
    _m(
        "GM-WORK-008",
        "exception-to-all",
        "WORK_EXCEPTION goes to every listener (gear)",
        _switch(work_exception="forward-always-terminal"),
    ),
    _m(
        "GM-WORK-009",
        "exception-not-terminal",
        "WORK_EXCEPTION does not end the job (Perl)",
        _switch(work_exception="forward-only-with-option-nonterminal"),
    ),
    _m(
        "GM-WORK-010",
        "exception-fails-nobody",
        "listeners without the option learn nothing of the exception",
        _handler(T.WORK_EXCEPTION, _work_exception_fails_nobody),
    ),
    _m(
        "GM-WORK-011",
        "exception-fail-nul",
        "the WORK_FAIL for an exception carries a NUL after the handle (gearmand)",
        _switch(work_exception="terminal-fail-with-nul-to-others"),
    ),
    _m(
        "GM-WORK-011",
        "exception-fail-garbage",
        "under gearmand-1.1, the WORK_FAIL for an exception carries garbage where gearmand has its trailing NUL",
        _args(T.WORK_FAIL, lambda a: (a[0] + b"garbage",) if len(a) == 1 and a[0].endswith(b"\0") else a),
        profile="gearmand-1.1",
    ),
    # ---- workers
    _m("GM-WORKER-001", "can-do-ignored", "CAN_DO registers nothing", _ignore(T.CAN_DO), fast=True),
    _m(
        "GM-WORKER-003",
        "cant-do-one",
        "CANT_DO removes one registration of a function registered twice",
        _handler(T.CANT_DO, _cant_do_first_only),
    ),
    _m(
        "GM-WORKER-004",
        "cant-do-unknown-closes",
        "CANT_DO of an unregistered function closes (gear)",
        _switch(cantdo_unknown="close"),
    ),
    _m("GM-WORKER-005", "reset-ignored", "RESET_ABILITIES removes nothing", _ignore(T.RESET_ABILITIES)),
    _m("GM-WORKER-007", "no-job-silent", "a GRAB with nothing runnable gets no NO_JOB", _drop(T.NO_JOB)),
    _m(
        "GM-WORKER-008",
        "grab-job-gets-uniq",
        "GRAB_JOB is answered with JOB_ASSIGN_UNIQ",
        _on(T.JOB_ASSIGN, lambda p: (Packet(p.magic, T.JOB_ASSIGN_UNIQ, (p.args[0], p.args[1], b"", *p.args[2:])),)),
    ),
    _m(
        "GM-WORKER-009",
        "grab-uniq-gets-plain",
        "GRAB_JOB_UNIQ is answered with JOB_ASSIGN",
        _on(T.JOB_ASSIGN_UNIQ, lambda p: (Packet(p.magic, T.JOB_ASSIGN, (p.args[0], p.args[1], *p.args[3:])),)),
    ),
    _m(
        "GM-WORKER-010",
        "grab-all-loses-reducer",
        "GRAB_JOB_ALL for a reduce job gets JOB_ASSIGN_UNIQ",
        _on(T.JOB_ASSIGN_ALL, lambda p: (Packet(p.magic, T.JOB_ASSIGN_UNIQ, (*p.args[:3], *p.args[4:])),)),
    ),
    _m(
        "GM-WORKER-011",
        "held-job-given-again",
        "a job a worker holds is given to a second worker",
        _store_patch("take", _grab_held_jobs),
    ),
    _m(
        "GM-WORKER-012",
        "foreign-jobs",
        "a worker gets jobs of functions it never registered",
        _store_patch("_choose", _grab_other_functions),
    ),
    _m("GM-WORKER-013", "client-id-ignored", "SET_CLIENT_ID is ignored", _ignore(T.SET_CLIENT_ID), fast=True),
    # ---- sleep
    _m(
        "GM-SLEEP-001",
        "no-noop-at-once",
        "PRE_SLEEP with work pending gets no NOOP",
        _handler(T.PRE_SLEEP, _never_noop_at_once),
    ),
    _m("GM-SLEEP-002", "sleepers-never-woken", "sleeping workers get no NOOP", _store_patch("wake", _noop)),
    _m(
        "GM-SLEEP-003",
        "noop-per-job",
        "a sleeping worker gets a NOOP for every job",
        _store_patch("wake", _never_asleep_twice),
    ),
    _m(
        "GM-SLEEP-004",
        "noop-to-the-awake",
        "workers that never slept get NOOP too",
        _store_patch("wake", _noop_to_the_awake),
    ),
    # ---- priority
    _m(
        "GM-PRIO-001",
        "high-is-normal",
        "SUBMIT_JOB_HIGH and SUBMIT_JOB_HIGH_BG make NORMAL jobs",
        _patch(_high_is_normal),
    ),
    _m(
        "GM-PRIO-002",
        "low-first",
        "LOW jobs are given before NORMAL and HIGH ones",
        _store_patch("_choose", _low_first),
    ),
    _m("GM-PRIO-003", "high-lifo", "HIGH jobs are given newest first (Perl)", _switch(high_lifo=True)),
    # ---- timeouts
    _m(
        "GM-TIMEOUT-001",
        "timeout-in-seconds",
        "CAN_DO_TIMEOUT is read in seconds (Perl)",
        _switch(can_do_timeout="fail-seconds"),
    ),
    _m(
        "GM-TIMEOUT-002",
        "timeout-zero-is-a-second",
        "a CAN_DO_TIMEOUT of 0 sets a limit of one second",
        _handler(T.CAN_DO_TIMEOUT, _timeout_zero_is_a_second),
    ),
    _m(
        "GM-TIMEOUT-004",
        "timer-never-fires",
        "no time limit is ever enforced",
        _patch(lambda server: setattr(server.deadlines, "arm", lambda c, deadline, job: None)),
    ),
    _m(
        "GM-TIMEOUT-005",
        "late-result-accepted",
        "a WORK_* from the worker a limit took the job from is acted on",
        _switch(non_owner_work="ignore"),
    ),
    # ---- disconnects
    _m(
        "GM-DISC-001",
        "dead-worker-keeps-jobs",
        "the jobs of a worker that disconnected stay held",
        _patch(_dead_worker_keeps_jobs),
    ),
    _m(
        "GM-DISC-002",
        "lost-worker-fails",
        "the jobs of a lost worker fail instead of requeueing (Perl, gear)",
        _switch(worker_disconnect="fail"),
    ),
    _m(
        "GM-DISC-003",
        "requeue-loses-listeners",
        "a requeued job loses its listeners",
        _store_patch("queue", _requeue_loses_listeners),
    ),
    _m(
        "GM-DISC-004",
        "retries-unbounded",
        "the retry limit is never reached",
        _store_patch("_retries_exhausted", _never_exhausted),
    ),
    _m(
        "GM-DISC-005",
        "gone-client-still-listens",
        "a client that disconnected stays a listener",
        _store_patch("release_client", _listener_kept),
    ),
    _m(
        "GM-DISC-006",
        "abandoned-jobs-run",
        "a queued job nobody waits for is still run",
        _store_patch("release_client", _abandoned_run),
    ),
    _m(
        "GM-DISC-008",
        "background-lost",
        "a job with a background submission is dropped with its last listener (gearmand)",
        _switch(background_keeps_abandoned=False),
    ),
    # ---- queue limits
    _m(
        "GM-QUEUE-001",
        "full-queue-silent",
        "a submission refused for a full queue gets no ERROR",
        _drop(T.ERROR, lambda p: p.args[:1] == (b"QUEUE_ERROR",)),
    ),
    _m("GM-QUEUE-002", "evict", "a full queue evicts its newest job (Perl)", _switch(maxqueue="evict")),
    _m("GM-QUEUE-003", "evict-silently", "a full queue evicts a job and tells its listeners nothing", _evict_silently),
    _m(
        "GM-QUEUE-004",
        "limit-counts-queued",
        "a queue limit counts queued jobs only",
        _store_patch("_room_for", _queued_only_limit),
    ),
    _m("GM-QUEUE-005", "zero-is-full", "a queue limit set to 0 takes no job", _zero_is_full),
)


def mutation(mutation_id: str) -> Mutation:
    """The registry's mutation of that id.

    Raises:
        KeyError: no mutation has that id (the message lists them).
    """
    for m in MUTATIONS:
        if m.id == mutation_id:
            return m
    raise KeyError(f"unknown mutation {mutation_id!r}; known: {', '.join(m.id for m in MUTATIONS)}")


# --------------------------------------------------------------------------- running


class MutantFactory:
    """A ``PeerFactory`` for the runner: each case gets a fresh simulator around a fresh mutant.

    Unlike ``ModelPeerFactory`` it keeps no trace: a mutation run plays every
    vector again for every mutant, and only verdicts count.
    """

    def __init__(self, mutant: Mutation | None, profile: str, seed: int = 0) -> None:
        self.mutant = mutant
        self.profile = profile
        self.seed = seed

    def __call__(self, case: Case) -> SimPeer:
        options = ServerOptions(**dict(case.options))  # type: ignore[arg-type]
        node = Server(self.profile, options) if self.mutant is None else self.mutant.server(options)
        sim = Simulator(self.seed)
        sim.add_server("gearmand", node)
        return SimPeer(sim)


#: verdicts that say the vectors noticed
_KILLING: Final[frozenset[Verdict]] = frozenset({Verdict.FAIL, Verdict.INCONCLUSIVE})


@dataclass(frozen=True, slots=True)
class MutationOutcome:
    """What the vectors made of one mutant."""

    mutation: Mutation
    #: the cases (``FILE::CASE``) that failed against the mutant and pass against the model
    killed_by: tuple[str, ...] = ()
    #: the mutant itself raised (a bug in the mutation, not a verdict): the exception, one line
    error: str = ""
    #: how many cases were played
    played: int = 0
    #: the first case that killed it cites the mutant's rule (a case about the rule noticed)
    by_citing_case: bool = False

    @property
    def killed(self) -> bool:
        return bool(self.killed_by)


def _cases(files: Sequence[VectorFile]) -> list[tuple[VectorFile, Case]]:
    return [(vf, case) for vf in files for case in vf.cases if not (case.is_program or case.is_library)]


def unmutated_verdicts(files: Sequence[VectorFile], profile: str, seed: int = 0) -> dict[str, Verdict]:
    """The model's own verdict on every case under ``profile``, by ``FILE::CASE``: what a mutant is held against."""
    factory = MutantFactory(None, profile, seed)
    return {f"{vf.name}::{case.id}": run_case(vf, case, factory, profile).verdict for vf, case in _cases(files)}


def run_mutation(
    m: Mutation,
    files: Sequence[VectorFile],
    unmutated: Mapping[str, Verdict],
    *,
    seed: int = 0,
    exhaustive: bool = False,
) -> MutationOutcome:
    """Play the vectors against the mutant until one case fails that the model passes.

    The cases citing the mutant's rule go first, so a killed mutant usually
    costs a handful of cases; ``exhaustive`` plays them all and lists every
    case that kills it. ``unmutated`` is ``unmutated_verdicts`` for the
    mutation's profile.
    """
    factory = MutantFactory(m, m.profile, seed)
    order = sorted(_cases(files), key=lambda fc: m.rule not in _cited(fc[1]))
    killed: list[str] = []
    citing = False
    played = 0
    for vf, case in order:
        ref = f"{vf.name}::{case.id}"
        if unmutated.get(ref) in _KILLING or unmutated.get(ref) is Verdict.NOT_APPLICABLE:
            continue
        played += 1
        try:
            verdict = run_case(vf, case, factory, m.profile).verdict
        except Exception as exc:  # a mutant that raises is a broken mutation, reported as such
            return MutationOutcome(m, tuple(killed), f"{ref}: {type(exc).__name__}: {exc}", played, citing)
        if verdict in _KILLING:
            citing = citing or (not killed and m.rule in _cited(case))
            killed.append(ref)
            if not exhaustive:
                break
    return MutationOutcome(m, tuple(killed), "", played, citing)


def _cited(case: Case) -> set[str]:
    ids = set(case.requirements) | set(case.violations or ())
    for step in case.steps:
        ids.update(step.requirements)
    return ids
