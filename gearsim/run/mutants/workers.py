"""Mutants of workers and queues: grabbing, sleep, priority, timeouts, disconnects and queue limits.

PURE. This module owns the mutants that break how the server hands jobs to
workers, wakes them, orders and bounds its queues and cleans up after a
connection goes (GM-WORKER-*, GM-SLEEP-*, GM-PRIORITY-*, GM-TIMEOUT-*,
GM-DISCONNECT-*, GM-QUEUE-* among them) and their registry table
``WORKER_MUTATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

from gearsim.model import Server, ServerOptions
from gearsim.model.jobs import Outbox
from gearsim.model.profiles import Profile
from gearsim.model.state import Conn, Function, Job, Priority, Registration, Sleep
from gearsim.protocol.node import ConnId, Output, ServerNode
from gearsim.protocol.packets import Packet, PacketType
from gearsim.run.mutants.building import (
    Handler,
    InputChanging,
    drop,
    ignore,
    on_packet,
    patch,
    replies_without,
    set_handler,
    store_patch,
    switch,
    wrap_handler,
)
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.mutants.mutation import entry as _m

T = PacketType


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


def _noop_to_every_sleeper(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    def wake(function: Function, out: Outbox) -> None:
        original(function, out)
        for other in server.store.functions.values():
            for reg in other.workers:
                if other is not function and reg.conn.sleep is Sleep.ASLEEP:
                    out.append((reg.conn, Packet.res(T.NOOP)))
                    reg.conn.sleep = Sleep.WOKEN

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


def _lost_worker_fails(server: Server) -> None:
    """A worker's jobs fail when its connection goes; a dropped function's held job is requeued as before.

    The model's ``worker_disconnect`` switch also rules CANT_DO and
    RESET_ABILITIES of a held job's function (``cantdo_held`` "as-disconnect"),
    which is GM-WORKER-006's matter, not GM-DISC-002's: failing the job there
    is no behaviour that rule lets a server choose. Only the connection's end
    (``_drop``) fails its jobs.
    """
    original = server._drop
    workers = server.workers
    failing = replace(workers.profile, worker_disconnect="fail")

    def drop_failing(c: Conn, out: Outbox) -> None:
        requeueing = workers.profile
        workers.profile = failing
        try:
            original(c, out)
        finally:
            workers.profile = requeueing

    server._drop = drop_failing  # type: ignore[method-assign]


def _retyped(new_type: PacketType) -> Callable[[Server, Handler], Handler]:
    def wrap(server: Server, original: Handler) -> Handler:
        def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
            return original(c, Packet(p.magic, new_type, p.args), out)

        return handler

    return wrap


def _high_is_normal(server: Server) -> None:
    for high, normal in ((T.SUBMIT_JOB_HIGH, T.SUBMIT_JOB), (T.SUBMIT_JOB_HIGH_BG, T.SUBMIT_JOB_BG)):
        set_handler(server, high, _retyped(normal)(server, server._handlers[high]))


def _timeout_zero_is_a_second(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        if len(p.args) > 1 and p.args[1] == b"0":
            p = Packet(p.magic, p.type, (p.args[0], b"1000"))
        return original(c, p, out)

    return handler


def _cant_do_first_only(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        first = next((r for r in c.registrations if r.function.name == p.args[0]), None)
        if first is not None:
            server.workers.unregister(c, first, out)
        return None

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

    return InputChanging(server, watch)


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


WORKER_MUTATIONS: Final[tuple[Mutation, ...]] = (
    # ---- workers
    _m("GM-WORKER-001", "can-do-ignored", "CAN_DO registers nothing", ignore(T.CAN_DO), fast=True),
    _m(
        "GM-WORKER-003",
        "cant-do-one",
        "CANT_DO removes one registration of a function registered twice",
        wrap_handler(T.CANT_DO, _cant_do_first_only),
    ),
    _m(
        "GM-WORKER-004",
        "cant-do-unknown-closes",
        "CANT_DO of an unregistered function closes (gear)",
        switch(cantdo_unknown="close"),
    ),
    _m("GM-WORKER-005", "reset-ignored", "RESET_ABILITIES removes nothing", ignore(T.RESET_ABILITIES)),
    _m("GM-WORKER-007", "no-job-silent", "a GRAB with nothing runnable gets no NO_JOB", drop(T.NO_JOB)),
    _m(
        "GM-WORKER-008",
        "grab-job-gets-uniq",
        "GRAB_JOB is answered with JOB_ASSIGN_UNIQ",
        on_packet(
            T.JOB_ASSIGN, lambda p: (Packet(p.magic, T.JOB_ASSIGN_UNIQ, (p.args[0], p.args[1], b"", *p.args[2:])),)
        ),
    ),
    _m(
        "GM-WORKER-009",
        "grab-uniq-gets-plain",
        "GRAB_JOB_UNIQ is answered with JOB_ASSIGN",
        on_packet(T.JOB_ASSIGN_UNIQ, lambda p: (Packet(p.magic, T.JOB_ASSIGN, (p.args[0], p.args[1], *p.args[3:])),)),
    ),
    _m(
        "GM-WORKER-010",
        "grab-all-loses-reducer",
        "GRAB_JOB_ALL for a reduce job gets JOB_ASSIGN_UNIQ",
        on_packet(T.JOB_ASSIGN_ALL, lambda p: (Packet(p.magic, T.JOB_ASSIGN_UNIQ, (*p.args[:3], *p.args[4:])),)),
    ),
    _m(
        "GM-WORKER-011",
        "held-job-given-again",
        "a job a worker holds is given to a second worker",
        store_patch("take", _grab_held_jobs),
    ),
    _m(
        "GM-WORKER-012",
        "foreign-jobs",
        "a worker gets jobs of functions it never registered",
        store_patch("_choose", _grab_other_functions),
    ),
    _m("GM-WORKER-013", "client-id-ignored", "SET_CLIENT_ID is ignored", ignore(T.SET_CLIENT_ID), fast=True),
    # ---- sleep
    _m(
        "GM-SLEEP-001",
        "no-noop-at-once",
        "PRE_SLEEP with work pending gets no NOOP",
        wrap_handler(T.PRE_SLEEP, replies_without(T.NOOP)),
    ),
    _m("GM-SLEEP-002", "sleepers-never-woken", "sleeping workers get no NOOP", store_patch("wake", _noop)),
    _m(
        "GM-SLEEP-003",
        "noop-per-job",
        "a sleeping worker gets a NOOP for every job",
        store_patch("wake", _never_asleep_twice),
    ),
    _m(
        "GM-SLEEP-004",
        "noop-to-the-awake",
        "workers that never slept get NOOP too",
        store_patch("wake", _noop_to_the_awake),
    ),
    _m(
        "GM-SLEEP-009",
        "noop-to-every-sleeper",
        "a new job wakes the sleepers of every function",
        store_patch("wake", _noop_to_every_sleeper),
    ),
    # ---- priority
    _m(
        "GM-PRIO-001",
        "high-is-normal",
        "SUBMIT_JOB_HIGH and SUBMIT_JOB_HIGH_BG make NORMAL jobs",
        patch(_high_is_normal),
    ),
    _m(
        "GM-PRIO-002",
        "low-first",
        "LOW jobs are given before NORMAL and HIGH ones",
        store_patch("_choose", _low_first),
    ),
    _m("GM-PRIO-003", "high-lifo", "HIGH jobs are given newest first (Perl)", switch(high_lifo=True)),
    # ---- timeouts
    _m(
        "GM-TIMEOUT-001",
        "timeout-in-seconds",
        "CAN_DO_TIMEOUT is read in seconds (Perl)",
        switch(can_do_timeout="fail-seconds"),
    ),
    _m(
        "GM-TIMEOUT-002",
        "timeout-zero-is-a-second",
        "a CAN_DO_TIMEOUT of 0 sets a limit of one second",
        wrap_handler(T.CAN_DO_TIMEOUT, _timeout_zero_is_a_second),
    ),
    _m(
        "GM-TIMEOUT-004",
        "timer-never-fires",
        "no time limit is ever enforced",
        patch(lambda server: setattr(server.deadlines, "arm", lambda c, deadline, job: None)),
    ),
    _m(
        "GM-TIMEOUT-005",
        "late-result-accepted",
        "a WORK_* from the worker a limit took the job from is acted on",
        switch(non_owner_work="ignore"),
    ),
    # ---- disconnects
    _m(
        "GM-DISC-001",
        "dead-worker-keeps-jobs",
        "the jobs of a worker that disconnected stay held",
        patch(_dead_worker_keeps_jobs),
    ),
    _m(
        "GM-DISC-002",
        "lost-worker-fails",
        "the jobs of a lost worker fail instead of requeueing (Perl, gear)",
        patch(_lost_worker_fails),
    ),
    _m(
        "GM-DISC-003",
        "requeue-loses-listeners",
        "a requeued job loses its listeners",
        store_patch("queue", _requeue_loses_listeners),
    ),
    _m(
        "GM-DISC-004",
        "retries-unbounded",
        "the retry limit is never reached",
        store_patch("_retries_exhausted", _never_exhausted),
    ),
    _m(
        "GM-DISC-005",
        "gone-client-still-listens",
        "a client that disconnected stays a listener",
        store_patch("release_client", _listener_kept),
    ),
    _m(
        "GM-DISC-006",
        "abandoned-jobs-run",
        "a queued job nobody waits for is still run",
        store_patch("release_client", _abandoned_run),
    ),
    _m(
        "GM-DISC-008",
        "background-lost",
        "a job with a background submission is dropped with its last listener (gearmand)",
        switch(background_keeps_abandoned=False),
    ),
    # ---- queue limits
    _m(
        "GM-QUEUE-001",
        "full-queue-silent",
        "a submission refused for a full queue gets no ERROR",
        drop(T.ERROR, lambda p: p.args[:1] == (b"QUEUE_ERROR",)),
    ),
    _m("GM-QUEUE-002", "evict", "a full queue evicts its newest job (Perl)", switch(maxqueue="evict")),
    _m("GM-QUEUE-003", "evict-silently", "a full queue evicts a job and tells its listeners nothing", _evict_silently),
    _m(
        "GM-QUEUE-004",
        "limit-counts-queued",
        "a queue limit counts queued jobs only",
        store_patch("_room_for", _queued_only_limit),
    ),
    _m("GM-QUEUE-005", "zero-is-full", "a queue limit set to 0 takes no job", _zero_is_full),
)
