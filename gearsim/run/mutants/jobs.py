"""Mutants of jobs: submission, coalescing on the unique id, status and work results.

PURE. This module owns the mutants that break what the server does with a
submitted job and what it tells the job's client (GM-SUBMIT-*, GM-UNIQUE-*,
GM-STATUS-*, GM-WORK-* among them) and their registry table ``JOB_MUTATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Final

from gearsim.model import Server, ServerOptions
from gearsim.model.jobs import Outbox
from gearsim.model.profiles import Profile
from gearsim.model.state import Conn, Function, Job, Priority
from gearsim.protocol.node import ConnId, ServerNode
from gearsim.protocol.packets import Message, Packet, PacketType
from gearsim.run.mutants.building import (
    Handler,
    Rewrite,
    drop,
    on_args,
    on_packet,
    patch,
    replies_without,
    rewrite_with,
    set_handler,
    store_patch,
    switch,
    unhandled,
    wrap_handler,
)
from gearsim.run.mutants.mutation import Build, Mutation
from gearsim.run.mutants.mutation import entry as _m

T = PacketType


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

    return on_args(T.STATUS_RES, change)


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

    def free_and_remember(job: Job, *, keep_queued: bool = False) -> None:
        if job.unique:
            ended[(job.function.name, job.unique)] = job
        free(job, keep_queued=keep_queued)

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
            priority = kwargs["priority"]
            assert isinstance(priority, Priority)
            if job.slot is not None and priority != job.priority:
                # a queued job moves to its new priority's queue: the store finds it by its priority
                job.function.queues[job.priority].remove(job)
                job.function.queues[priority].append(job)
            job.priority = priority
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


def _folded_function(server: Server) -> None:
    function = server.store.function

    def folded(name: bytes) -> Function:
        return function(name.lower())

    server.store.function = folded  # type: ignore[method-assign]


def _sched_runs(profile: Profile, options: ServerOptions) -> ServerNode:
    server = Server(replace(profile, implemented=frozenset(profile.implemented | {"SUBMIT_JOB_SCHED"})), options)
    set_handler(server, T.SUBMIT_JOB_SCHED, _sched_creates_a_job(server, unhandled(server, T.SUBMIT_JOB_SCHED)))
    return server


JOB_MUTATIONS: Final[tuple[Mutation, ...]] = (
    # ---- submission
    _m(
        "GM-SUBMIT-001",
        "created-twice",
        "JOB_CREATED is sent twice",
        on_packet(T.JOB_CREATED, lambda p: (p, p)),
        fast=True,
    ),
    _m(
        "GM-SUBMIT-002",
        "refused-and-created",
        "a refused submission also gets JOB_CREATED",
        on_packet(
            T.ERROR, lambda p: (Packet.res(T.JOB_CREATED, b"H:x:0"), p) if p.args[:1] == (b"QUEUE_ERROR",) else (p,)
        ),
    ),
    _m(
        "GM-SUBMIT-003",
        "foreground-deaf",
        "a foreground submitter is not made a listener",
        wrap_handler(T.SUBMIT_JOB, _foreground_not_listening),
    ),
    _m(
        "GM-SUBMIT-004",
        "background-listens",
        "a background submitter is made a listener",
        wrap_handler(T.SUBMIT_JOB_BG, _background_listening),
    ),
    _m(
        "GM-SUBMIT-005",
        "workload-cut",
        "JOB_ASSIGN drops the workload's last byte",
        on_args(T.JOB_ASSIGN, lambda a: (a[0], a[1], a[2][:-1]) if len(a) == 3 else a),
        fast=True,
    ),
    _m(
        "GM-SUBMIT-006",
        "function-case-folded",
        "function names are compared without letter case",
        patch(_folded_function),
    ),
    _m(
        "GM-SUBMIT-009",
        "epoch-ignored",
        "SUBMIT_JOB_EPOCH runs at once, whatever its time",
        wrap_handler(T.SUBMIT_JOB_EPOCH, _epoch_now),
    ),
    _m(
        "GM-SUBMIT-010",
        "past-epoch-never",
        "an epoch time already past is read as 2096",
        wrap_handler(T.SUBMIT_JOB_EPOCH, _past_epoch_never),
    ),
    _m(
        "GM-SUBMIT-012",
        "reduce-aggregator-as-workload",
        "a reduce job's workload is taken from its aggregator",
        wrap_handler(T.SUBMIT_REDUCE_JOB_BACKGROUND, _reduce_aggregator_as_workload),
    ),
    _m(
        "GM-SUBMIT-013",
        "reducer-not-returned",
        "JOB_ASSIGN_ALL carries an empty reducer",
        on_args(T.JOB_ASSIGN_ALL, lambda a: (*a[:3], b"", *a[4:]) if len(a) == 5 else a),
    ),
    _m("GM-SUBMIT-014", "sched-runs", "SUBMIT_JOB_SCHED creates a background job", _sched_runs),
    # ---- coalescing
    _m("GM-COAL-001", "no-coalescing", "submissions never coalesce (gear)", switch(coalesce_uniques=False)),
    _m(
        "GM-COAL-002",
        "coalesce-across-functions",
        "the same unique of another function coalesces",
        store_patch("find_coalesce", _coalesce_across_functions),
    ),
    _m(
        "GM-COAL-003",
        "empty-unique-coalesces",
        "submissions with an empty unique coalesce",
        store_patch("find_coalesce", _coalesce_empty),
    ),
    _m(
        "GM-COAL-004",
        "no-coalescing-while-running",
        "a running job takes no more submissions",
        store_patch("find_coalesce", _no_coalesce_running),
    ),
    _m(
        "GM-COAL-005",
        "unique-never-freed",
        "an ended job's unique still names it",
        store_patch("find_coalesce", _unique_never_freed),
    ),
    _m(
        "GM-COAL-006",
        "coalesced-overwrites",
        "a coalesced submission replaces the job's workload and priority",
        store_patch("add", _coalesced_overwrites),
    ),
    _m(
        "GM-COAL-007",
        "coalesced-deaf",
        "a coalesced foreground submitter is not made a listener",
        store_patch("add", _coalesced_not_listening),
    ),
    _m(
        "GM-COAL-008",
        "foreground-apart",
        "a foreground submission never joins a job a background one made",
        store_patch("add", _foreground_never_joins_background),
    ),
    _m(
        "GM-COAL-009",
        "coalesce-refused-when-full",
        "a coalesced submission is refused when the queue is full",
        store_patch("add", _coalesce_refused_when_full),
    ),
    _m("GM-COAL-010", "dash-literal", "the unique '-' is an ordinary unique (gear)", switch(dash_unique="none")),
    # ---- status
    _m(
        "GM-STATUS-001",
        "status-handle-changed",
        "STATUS_RES's handle is not the one asked for",
        on_args(T.STATUS_RES, lambda a: (a[0] + b"x", *a[1:]) if a else a),
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
    _m("GM-STATUS-005", "ended-still-known", "an ended job still reads known 1", rewrite_with(_ended_still_known)),
    _m(
        "GM-STATUS-006",
        "progress-never-stored",
        "STATUS_RES never reports WORK_STATUS numbers",
        on_args(T.STATUS_RES, lambda a: (*a[:3], b"0", b"0") if len(a) == 5 else a),
    ),
    _m(
        "GM-STATUS-007",
        "progress-off-by-one",
        "STATUS_RES reports the numerator plus one",
        on_args(
            T.STATUS_RES,
            lambda a: (*a[:3], b"%d" % (int(a[3]) + 1), a[4]) if len(a) == 5 and a[3].isdigit() and a[3] != b"0" else a,
        ),
    ),
    _m(
        "GM-STATUS-009",
        "status-unique-changed",
        "STATUS_RES_UNIQUE's first field is not the unique asked for",
        on_args(T.STATUS_RES_UNIQUE, lambda a: (a[0] + b"x", *a[1:]) if a else a),
    ),
    _m(
        "GM-STATUS-010",
        "listeners-not-counted",
        "STATUS_RES_UNIQUE counts no listeners",
        on_args(T.STATUS_RES_UNIQUE, lambda a: (*a[:5], b"0") if len(a) == 6 else a),
    ),
    _m(
        "GM-STATUS-011",
        "unknown-unique-known",
        "an unknown unique reads known 1",
        on_args(T.STATUS_RES_UNIQUE, lambda a: (a[0], b"1", *a[2:]) if len(a) == 6 and a[1] == b"0" else a),
    ),
    _m(
        "GM-STATUS-013",
        "empty-unique-found",
        "GET_STATUS_UNIQUE of '' finds a job with no unique",
        store_patch(
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
        switch(non_owner_work="ignore"),
    ),
    _m(
        "GM-WORK-002",
        "not-found-silent",
        "WORK_* for a job the connection does not hold get no ERROR",
        drop(T.ERROR, lambda p: p.args[:1] == (b"JOB_NOT_FOUND",)),
    ),
    _m("GM-WORK-003", "data-not-forwarded", "WORK_DATA is not sent on", drop(T.WORK_DATA)),
    _m(
        "GM-WORK-004",
        "result-changed",
        "WORK_COMPLETE's result gets a byte more",
        on_args(T.WORK_COMPLETE, lambda a: (a[0], a[1] + b"!") if len(a) == 2 else a),
        fast=True,
    ),
    _m(
        "GM-WORK-005",
        "fail-not-bare",
        "WORK_FAIL is forwarded with a NUL and more after the handle",
        on_args(T.WORK_FAIL, lambda a: (a[0] + b"\0x",)),
    ),
    _m(
        "GM-WORK-006",
        "data-late",
        "WORK_DATA is held back behind the next packet",
        rewrite_with(lambda: _hold_back(T.WORK_DATA)),
    ),
    _m("GM-WORK-007", "complete-twice", "WORK_COMPLETE is sent twice", on_packet(T.WORK_COMPLETE, lambda p: (p, p))),
    _m(
        "GM-WORK-008",
        "exception-to-all",
        "WORK_EXCEPTION goes to every listener (gear)",
        switch(work_exception="forward-always-terminal"),
    ),
    _m(
        "GM-WORK-009",
        "exception-not-terminal",
        "WORK_EXCEPTION does not end the job (Perl)",
        switch(work_exception="forward-only-with-option-nonterminal"),
    ),
    _m(
        "GM-WORK-010",
        "exception-fails-nobody",
        "listeners without the option learn nothing of the exception",
        wrap_handler(T.WORK_EXCEPTION, replies_without(T.WORK_FAIL)),
    ),
    _m(
        "GM-WORK-011",
        "exception-fail-nul",
        "the WORK_FAIL for an exception carries a NUL after the handle (gearmand)",
        switch(work_exception="terminal-fail-with-nul-to-others"),
    ),
    _m(
        "GM-WORK-011",
        "exception-fail-garbage",
        "under gearmand-1.1, the WORK_FAIL for an exception carries garbage where gearmand has its trailing NUL",
        on_args(T.WORK_FAIL, lambda a: (a[0] + b"garbage",) if len(a) == 1 and a[0].endswith(b"\0") else a),
        profile="gearmand-1.1",
    ),
)
