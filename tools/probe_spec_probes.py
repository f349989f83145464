"""The spec probes: short scenarios that show how a real server behaves where the spec audit asked.

This module owns ``Probe`` (an id, the finding it checks, the gearmand source
lines that explain the outcome, how many runs, and the scenario) and
``PROBES``, the list tools/probe_spec.py plays; each scenario drives a
``Lab`` from tools/probe_spec_lab.py.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probe_codec_cases import pkt
from probe_spec_lab import Conn, Lab, req


@dataclass(frozen=True)
class Probe:
    id: str
    #: which finding it checks (issue 15 item, spec gap)
    finding: str
    about: str
    #: gearmand source lines (tag 1.1.20) that explain the outcome
    source: tuple[str, ...]
    runs: int
    play: Callable[[Lab], None]
    peers: tuple[str, ...] = ("gearmand-c",)
    #: extra server command-line words; ``{rundir}`` is the run's directory
    extra_args: tuple[str, ...] = ()


def _timeout_second_job(lab: Lab) -> None:
    w, c, w2 = lab.conn("w1"), lab.conn("c1"), lab.conn("w2")
    w.send(req("CAN_DO_TIMEOUT", "f", "1000"))
    c.send(req("SUBMIT_JOB_BG", "f", "u1", "w1"))
    c.read()
    c.send(req("SUBMIT_JOB_BG", "f", "u2", "w2"))
    c.read()
    w.send(req("GRAB_JOB"))
    h1 = _first_arg(w, lab)
    w.send(req("WORK_COMPLETE", h1, "done"))
    w.read(0.2)
    w.send(req("GRAB_JOB"))
    h2 = _first_arg(w, lab)
    lab.pause(2.5)
    c.send(req("GET_STATUS", h2))
    c.read()
    c.send(req("GET_STATUS", h1))
    c.read()
    w2.send(req("CAN_DO", "f"))
    w2.send(req("GRAB_JOB_UNIQ"))
    w2.read()
    a = lab.conn("admin")
    lab.admin(a, "status")


def _first_arg(conn: Conn, lab: Lab) -> bytes:
    """Read a reply and return the first argument of its first packet (the handle)."""
    data = conn.read()
    if len(data) < 12:
        return b""
    size = struct.unpack(">I", data[8:12])[0]
    return data[12 : 12 + size].split(b"\0")[0]


def _timeout_ghost(lab: Lab, *, pre_sleep: bool) -> None:
    w, c, a = lab.conn("w1"), lab.conn("c1"), lab.conn("admin")
    w.send(req("CAN_DO_TIMEOUT", "f", "1000"))
    c.send(req("SUBMIT_JOB_BG", "f", "u1", "w1"))
    c.read()
    w.send(req("GRAB_JOB"))
    h1 = _first_arg(w, lab)
    w.send(req("WORK_COMPLETE", h1, "done"))
    w.read(0.2)
    if pre_sleep:
        w.send(req("PRE_SLEEP"))
        w.read(0.2)
    lab.pause(1.5)
    lab.admin(a, "status")
    lab.admin(a, "show jobs")
    w.send(req("GRAB_JOB_UNIQ"))
    w.read()
    w.send(req("WORK_COMPLETE", h1, "again"))
    w.read()
    lab.admin(a, "status")


def _can_do_timeout_value(value: str) -> Callable[[Lab], None]:
    def play(lab: Lab) -> None:
        w = lab.conn("w1")
        w.send(req("CAN_DO_TIMEOUT", "f", value))
        w.read(0.6)
        if not w.closed:
            w.send(req("ECHO_REQ", "still here"))
            w.read()
        lab.pause(0.3)

    return play


def _epoch_value(value: str) -> Callable[[Lab], None]:
    def play(lab: Lab) -> None:
        c = lab.conn("c1")
        c.send(req("SUBMIT_JOB_EPOCH", "f", "", value, "x"))
        c.read(0.6)
        if not c.closed:
            c.send(req("ECHO_REQ", "still here"))
            c.read()
        a = lab.conn("admin")
        lab.admin(a, "status")

    return play


def _epoch_livelock(lab: Lab) -> None:
    w, c = lab.conn("w1"), lab.conn("c1")
    w.send(req("CAN_DO", "f"))
    # an hour ahead: the transcript shows the offset, not the clock
    c.send(
        req("SUBMIT_JOB_EPOCH", "f", "", str(int(time.time()) + 3600), "later"),
        label="SUBMIT_JOB_EPOCH ['f', '', now+3600, 'later']",
    )
    c.read()
    c.send(req("SUBMIT_JOB_LOW_BG", "f", "", "low"))
    c.read()
    for _ in range(3):
        w.send(req("GRAB_JOB"))
        w.read()
        w.send(req("PRE_SLEEP"))
        w.read()
    a = lab.conn("admin")
    lab.admin(a, "prioritystatus")


#: function names whose buckets in gearmand's 991-bucket table differ from both their
#: creation order and their alphabetical order
LISTING_NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "f", "g")


def _listing_order(lab: Lab) -> None:
    w, c, a = lab.conn("w1"), lab.conn("c1"), lab.conn("admin")
    for name in LISTING_NAMES:
        w.send(req("CAN_DO", name))
    for unique in ("u1", "u2", "u3", "u4", "zz", ""):
        c.send(req("SUBMIT_JOB_BG", "alpha", unique, "x"))
        c.read(0.2)
    lab.admin(a, "status")
    lab.admin(a, "prioritystatus")
    lab.admin(a, "show unique jobs")
    lab.admin(a, "show jobs")


def _reduce_unique(lab: Lab) -> None:
    c, w = lab.conn("c1"), lab.conn("w1")
    u70 = "u" * 70
    for _ in range(2):
        c.send(req("SUBMIT_REDUCE_JOB_BACKGROUND", "rf", u70, "reducer", "", "work"))
        c.read()
    c.send(req("SUBMIT_REDUCE_JOB_BACKGROUND", "rf", "v", "r" * 65, "", "work"))
    c.read()
    c.send(req("SUBMIT_REDUCE_JOB_BACKGROUND", "rf", "v", "r" * 64, "", "work"))
    c.read()
    c.send(req("SUBMIT_JOB_BG", "rf", u70, "work"))
    c.read()
    w.send(req("CAN_DO", "rf"))
    for _ in range(3):
        w.send(req("GRAB_JOB_ALL"))
        w.read()


def _huge_length(lab: Lab) -> None:
    c = lab.conn("c1")
    before = lab.memory()
    c.send(
        b"\0REQ" + struct.pack(">II", 16, 0xFFFFFFFF) + b"abcd",
        label="ECHO_REQ header with body length ffffffff, then 'abcd'",
    )
    c.read()
    lab.pause(0.3)
    after = lab.memory()
    grew = {k: after.get(k, 0) - before.get(k, 0) for k in ("VmSize", "VmRSS")}
    # whole MiB only: the exact kB move with the allocator
    lab.say(f"server VmSize grew by {grew['VmSize'] // 1024} MiB, VmRSS by {grew['VmRSS'] // 1024} MiB")
    c.send(req("ECHO_REQ", "next"))
    c.read()


def _echo_sizes(lab: Lab) -> None:
    c = lab.conn("c1")
    for size in (8179, 8180, 8181, 8192, 8193, 16384, 1 << 20):
        body = bytes(i % 251 for i in range(size))
        c.send(req("ECHO_REQ", body), label=f"ECHO_REQ [{size} bytes]")
        got = c.read(2.0, show=lambda d: f"{len(d)} bytes")
        ok = got == pkt(17, body).replace(b"\0REQ", b"\0RES", 1)
        lab.say(f"c1 echo of {size} bytes {'intact' if ok else 'DIFFERS'}")


def _every_byte(lab: Lab) -> None:
    c, w = lab.conn("c1"), lab.conn("w1")
    every = bytes(range(256))
    c.send(req("ECHO_REQ", every), label="ECHO_REQ [bytes 00..ff]")
    got = c.read(show=lambda d: f"{len(d)} bytes")
    lab.say(f"c1 echo {'intact' if got[12:] == every else 'DIFFERS'}")
    w.send(req("CAN_DO", "bytes"))
    c.send(req("SUBMIT_JOB", "bytes", "", every), label="SUBMIT_JOB ['bytes', '', bytes 00..ff]")
    handle = _first_arg(c, lab)
    w.send(req("GRAB_JOB"))
    got = w.read(show=lambda d: f"{len(d)} bytes")
    intact = got.endswith(b"bytes\0" + every)
    lab.say(f"w1 workload {'intact' if intact else 'DIFFERS'}")
    w.send(req("WORK_COMPLETE", handle, every), label="WORK_COMPLETE [handle, bytes 00..ff]")
    got = c.read(show=lambda d: f"{len(d)} bytes")
    lab.say(f"c1 result {'intact' if got.endswith(every) else 'DIFFERS'}")


def _large_job(lab: Lab) -> None:
    c, w = lab.conn("c1"), lab.conn("w1")
    w.send(req("CAN_DO", "big"))
    for size in (8192, 1 << 20):
        work = bytes((i * 7) % 256 for i in range(size))
        c.send(req("SUBMIT_JOB", "big", "", work), label=f"SUBMIT_JOB ['big', '', {size} bytes]")
        handle = _first_arg(c, lab)
        w.send(req("GRAB_JOB"))
        got = w.read(2.0, show=lambda d: f"{len(d)} bytes")
        intact = got.endswith(b"big\0" + work)
        lab.say(f"w1 workload of {size} bytes {'intact' if intact else 'DIFFERS'}")
        w.send(req("WORK_COMPLETE", handle, work), label=f"WORK_COMPLETE [handle, {size} bytes]")
        got = c.read(2.0, show=lambda d: f"{len(d)} bytes")
        lab.say(f"c1 result of {size} bytes {'intact' if got.endswith(work) else 'DIFFERS'}")


def _long_function(length: int) -> Callable[[Lab], None]:
    def play(lab: Lab) -> None:
        c, w, a = lab.conn("c1"), lab.conn("w1"), lab.conn("admin")
        name = ("f" * length).encode()
        w.send(req("CAN_DO", name))
        c.send(req("SUBMIT_JOB_BG", name, "", "x"))
        c.read()
        w.send(req("GRAB_JOB"))
        got = w.read()
        whole = b"\0" + name + b"\0x" in got
        lab.say(f"w1 JOB_ASSIGN function {'is the whole name' if whole else 'DIFFERS'}")
        lab.admin(a, "status")

    return play


def _long_argument(lab: Lab) -> None:
    # a NUL-terminated argument (the function) that does not fit gearmand's 8 KiB receive buffer
    c = lab.conn("c1")
    c.send(req("SUBMIT_JOB_BG", "f" * 9000, "", "x"), label="SUBMIT_JOB_BG [9000-byte function, '', 'x']")
    c.read(1.0)
    if not c.closed:
        c.send(req("ECHO_REQ", "next"))
        c.read(1.0)


def _eviction(submissions: Sequence[tuple[str, str]]) -> Callable[[Lab], None]:
    """A queue limited to 2 jobs, three submissions of (type, payload), then a worker grabbing three times."""

    def play(lab: Lab) -> None:
        a = lab.conn("admin")
        clients = [lab.conn(f"c{i}") for i in range(1, len(submissions) + 1)]
        lab.admin(a, "maxqueue f 2")
        for i, (c, (type_name, payload)) in enumerate(zip(clients, submissions, strict=True)):
            c.send(req(type_name, "f", "", payload))
            if i < len(submissions) - 1:
                c.read()
        for c in clients:
            c.read()
        w = lab.conn("w1")
        w.send(req("CAN_DO", "f"))
        for _ in range(3):
            w.send(req("GRAB_JOB"))
            w.read()

    return play


_perl_eviction = _eviction((("SUBMIT_JOB_HIGH", "h1"), ("SUBMIT_JOB_HIGH", "h2"), ("SUBMIT_JOB_HIGH", "h3")))
_perl_eviction_mixed = _eviction((("SUBMIT_JOB", "n1"), ("SUBMIT_JOB_HIGH", "h1"), ("SUBMIT_JOB_HIGH", "h2")))


_CON = "libgearman-server/connection.cc"


_SRV = "libgearman-server/server.cc"


_GCON = "libgearman-server/gearmand_con.cc"


_JOB = "libgearman-server/job.cc"


_LOG = "libgearman-server/log.cc"


_TEXT = "libgearman-server/text.cc"


_FUNC = "libgearman-server/function.cc"


_THREAD = "libgearman-server/thread.cc"


_PROTO = "libgearman-server/plugins/protocol/gear/protocol.cc"


_IO = "libgearman-server/io.cc"


PROBES: tuple[Probe, ...] = (
    Probe(
        "timeout-second-job",
        "issue 15 item 1",
        "CAN_DO_TIMEOUT f 1000; two background jobs; the worker completes the first and grabs the "
        "second without PRE_SLEEP, then holds it 2.5 s; a second worker grabs",
        (
            f"{_CON}:699-713 the timer event is created, bound to the job being assigned, only while the "
            "connection has none",
            f"{_CON}:719-723 later assignments re-arm that event; its argument stays the first job",
            f"{_CON}:648-666 on expiry the bound job is requeued with gearman_server_job_queue",
            f"{_SRV}:693-697 every GRAB_* that assigns a job calls gearman_server_con_add_job_timeout",
            f"{_SRV}:579-584 only PRE_SLEEP (and freeing the connection) deletes the timer; WORK_COMPLETE does not",
            f"{_JOB}:295-338 gearman_server_job_free keeps job->worker set and parks the struct on a free list",
            f"{_JOB}:340-390 requeueing a struct with worker set decrements the function's running count",
        ),
        3,
        _timeout_second_job,
    ),
    Probe(
        "timeout-ghost",
        "issue 15 item 1",
        "CAN_DO_TIMEOUT f 1000; one background job, completed at once; no PRE_SLEEP; 1.5 s later",
        (
            f"{_CON}:699-723 the timer stays armed after WORK_COMPLETE",
            f"{_CON}:648-666 it requeues the freed job: its handle, function and unique survive, its data is NULL",
            f"{_JOB}:342-390 running count decremented below zero (status prints %u)",
            f"{_GCON}:230-250 the requeued struct is not in the handle hash, so WORK_COMPLETE gets JOB_NOT_FOUND",
        ),
        3,
        lambda lab: _timeout_ghost(lab, pre_sleep=False),
    ),
    Probe(
        "timeout-ghost-pre-sleep",
        "issue 15 item 1 (control)",
        "as timeout-ghost, but the worker sends PRE_SLEEP after WORK_COMPLETE",
        (f"{_SRV}:578-584 PRE_SLEEP with nothing runnable deletes the timer",),
        3,
        lambda lab: _timeout_ghost(lab, pre_sleep=True),
    ),
    Probe(
        "timeout-overflow-crash",
        "issue 15 item 2",
        "CAN_DO_TIMEOUT f 99999999999999999999 (20 digits, above LONG_MAX)",
        (
            f"{_SRV}:537-540 a field of at most 20 characters passes the length check",
            f"{_SRV}:547-551 strtol gives LONG_MAX with ERANGE; the handler calls gearmand_log_perror with a %s format",
            f"{_LOG}:391-403 gearmand_log_perror sizes its message with snprintf(0, 0, format) without the "
            "arguments: %s reads a pointer that was never passed (SIGSEGV in __snprintf_chk; gearmand's "
            "handler prints a stack trace and the process exits with status 1)",
        ),
        5,
        _can_do_timeout_value("99999999999999999999"),
    ),
    Probe(
        "timeout-overflow-crash-2",
        "issue 15 item 2",
        "CAN_DO_TIMEOUT f 18446744073709551616 (20 digits, 2^64)",
        (f"{_SRV}:547-551 and {_LOG}:391-403, as timeout-overflow-crash",),
        3,
        _can_do_timeout_value("18446744073709551616"),
    ),
    Probe(
        "timeout-overflow-2^64-minus-1",
        "issue 15 item 2",
        "CAN_DO_TIMEOUT f 18446744073709551615 (2^64 - 1): the largest value that does not crash",
        (f"{_SRV}:547-551 the error path of timeout-overflow-crash; below 2^64 the stray argument is readable",),
        3,
        _can_do_timeout_value("18446744073709551615"),
    ),
    Probe(
        "timeout-overflow-2^65",
        "issue 15 item 2",
        "CAN_DO_TIMEOUT f 36893488147419103232 (2^65): the crash holds above 2^64 too",
        (f"{_SRV}:547-551 and {_LOG}:391-403, as timeout-overflow-crash",),
        3,
        _can_do_timeout_value("36893488147419103232"),
    ),
    Probe(
        "timeout-overflow-19",
        "issue 15 items 2 and 3",
        "CAN_DO_TIMEOUT f 9223372036854775808 (19 digits, LONG_MAX + 1)",
        (
            f"{_SRV}:547-551 the same error path as timeout-overflow-crash; with these bytes the stray %s "
            "argument happens to be readable, so only the error return remains",
            f"{_GCON}:491 the proc thread stores the handler's error in con->ret",
            f"{_THREAD}:203-207 the I/O thread closes a connection whose con->ret is an error, if it looks "
            "before a later packet's SUCCESS overwrites it: a race",
        ),
        20,
        _can_do_timeout_value("9223372036854775808"),
    ),
    Probe(
        "timeout-21-characters",
        "issue 15 item 3",
        "CAN_DO_TIMEOUT f 100000000000000000000 (21 characters)",
        (
            f"{_SRV}:537-540 more than GEARMAN_MAXIMUM_INTEGER_DISPLAY_LENGTH (20) characters: the handler "
            "returns GEARMAND_INVALID_PACKET without a reply",
            f"{_GCON}:491 and {_THREAD}:203-207 the same race on con->ret as timeout-overflow-19",
        ),
        20,
        _can_do_timeout_value("100000000000000000000"),
    ),
    Probe(
        "epoch-overflow",
        "issue 15 item 3",
        "SUBMIT_JOB_EPOCH f '' 99999999999999999999 x (the time overflows strtoll)",
        (
            f"{_SRV}:264-269 strtoll sets errno and the handler returns an error without a reply and "
            "without creating the job",
            f"{_GCON}:491 and {_THREAD}:203-207 the same race on con->ret",
        ),
        20,
        _epoch_value("99999999999999999999"),
    ),
    Probe(
        "epoch-livelock",
        "issue 15 item 4",
        "a NORMAL epoch job due in an hour and a runnable LOW job of the same function; the worker "
        "grabs and sleeps three times",
        (
            f"{_GCON}:381-391 take looks only at the first non-empty priority list (HIGH, then NORMAL)",
            f"{_GCON}:396-400 and skips its future epoch jobs; when all are future it goes to the next "
            "function, never to LOW",
            f"{_GCON}:318-351 peek (PRE_SLEEP) looks at every priority and finds the LOW job",
            f"{_SRV}:576-599 so PRE_SLEEP answers NOOP at once, and GRAB_JOB answers NO_JOB",
        ),
        3,
        _epoch_livelock,
    ),
    Probe(
        "listing-order",
        "issue 15 item 5",
        f"CAN_DO {', '.join(LISTING_NAMES)} in that order, six background jobs of alpha; the admin listings",
        (
            f"{_FUNC}:54-71 the function hash (one-at-a-time over signed chars, 0 read as 1)",
            f"{_FUNC}:112,123 functions live in GEARMAND_DEFAULT_HASH_SIZE (991) buckets, a new one first "
            "in its bucket",
            f"{_TEXT}:122-153 prioritystatus and 155-171 status walk the buckets in order",
            f"{_GCON}:156-172 the same hash for handles and uniques; {_JOB}:165-168,230-238 uniques and "
            "handles go to hashtable_buckets (991 by default) buckets",
            f"{_TEXT}:195-227 show unique jobs and show jobs walk those buckets in order",
        ),
        1,
        _listing_order,
    ),
    Probe(
        "reduce-unique-length",
        "issue 15 item 6",
        "SUBMIT_REDUCE_JOB_BACKGROUND with a 70-byte unique (twice), with a 65- and a 64-byte reducer, "
        "SUBMIT_JOB_BG with the 70-byte unique; a worker grabs with GRAB_JOB_ALL",
        (
            f"{_SRV}:157-162 the reduce branch compares arg_size[2] (the reducer) with GEARMAN_UNIQUE_SIZE, "
            "and its error text says 'Unique value too large'",
            f"{_SRV}:278-283 the plain submit branch checks arg_size[1] (the unique)",
            f"{_JOB}:207-214 the unique is stored cut to GEARMAN_MAX_UNIQUE_SIZE - 1 = 63 bytes but "
            "unique_length keeps 70",
            f"{_SRV}:630-649 JOB_ASSIGN_ALL sends unique_length + 1 bytes from the 64-byte unique field: the "
            "63 bytes, a NUL and the first 7 bytes of the reducer field that follows it in the struct",
        ),
        1,
        _reduce_unique,
    ),
    Probe(
        "huge-length",
        "issue 15 item 7",
        "an ECHO_REQ header announcing 0xFFFFFFFF body bytes, then 4 bytes",
        (
            f"{_IO}:830 the body buffer is realloc'ed at its declared size as soon as the header is read; "
            "the pages are never touched, so the address space grows by 4 GiB and the resident size does not",
        ),
        1,
        _huge_length,
    ),
    Probe(
        "echo-sizes",
        "issue 15 deliver 4",
        "ECHO_REQ of 8179, 8180, 8181, 8192, 8193, 16384 and 1048576 bytes on one connection",
        (
            f"{_PROTO}:214-229 a blob argument is copied from the receive buffer when it is all there",
            f"{_IO}:822-855 otherwise the body is read into a buffer of its declared size",
        ),
        1,
        _echo_sizes,
    ),
    Probe(
        "every-byte",
        "issue 15 deliver 4",
        "bytes 00..ff as an ECHO_REQ body, a SUBMIT_JOB workload and a WORK_COMPLETE result",
        (f"{_PROTO}:214-229 the blob is copied as is, NULs included",),
        1,
        _every_byte,
    ),
    Probe(
        "large-job",
        "issue 15 deliver 4",
        "a foreground job with an 8 KiB and then a 1 MiB workload and result",
        (f"{_IO}:822-855 the body is read into a buffer of its declared size",),
        1,
        _large_job,
    ),
    Probe(
        "function-511",
        "issue 15 deliver 4 (GM-LIMIT-003)",
        "CAN_DO, SUBMIT_JOB_BG and GRAB_JOB with a 511-byte function name; admin status",
        (
            f"{_FUNC}:96-106 the function name is copied to a buffer of its own length",
            "libgearman-1.0/limits.h:47 GEARMAN_FUNCTION_MAX_SIZE 512 (libgearman's buffer, NUL included)",
        ),
        1,
        _long_function(511),
    ),
    Probe(
        "function-2000",
        "issue 15 deliver 4 (GM-LIMIT-003)",
        "the same with a 2000-byte function name",
        (f"{_FUNC}:96-106 the server itself has no function name limit",),
        1,
        _long_function(2000),
    ),
    Probe(
        "argument-over-8k",
        "issue 15 deliver 4 (GM-FRAME-009, GM-LIMIT-004)",
        "SUBMIT_JOB_BG whose function name is 9000 bytes: a NUL-terminated argument larger than gearmand's "
        "8 KiB receive buffer",
        (
            "libgearman-server/constants.h:82 GEARMAND_RECV_BUFFER_SIZE 8192",
            f"{_PROTO}:190-203 NUL-terminated arguments are searched for in the receive buffer only; "
            "without a NUL there it waits for more bytes",
        ),
        1,
        _long_argument,
    ),
    Probe(
        "perl-eviction-high",
        "issue 15 item 7",
        "maxqueue f 2; three foreground SUBMIT_JOB_HIGH from three clients; a worker grabs",
        (
            "Gearman/Server.pm (1.130.1) enqueue_job: one list per function, HIGH unshifted to the front, "
            "eviction pops the end of the list",
        ),
        1,
        _perl_eviction,
        ("perl-gearman-server",),
    ),
    Probe(
        "perl-eviction-mixed",
        "issue 15 item 7",
        "maxqueue f 2; SUBMIT_JOB n1, SUBMIT_JOB_HIGH h1, SUBMIT_JOB_HIGH h2 from three clients; a worker grabs",
        ("Gearman/Server.pm (1.130.1) enqueue_job: the NORMAL job at the end of the list is evicted",),
        1,
        _perl_eviction_mixed,
        ("perl-gearman-server",),
    ),
)
