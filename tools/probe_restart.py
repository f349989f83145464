"""The server-restart probes of tools/probe_spec.py (issue 15, deliver 4): what survives a restart.

Each probe stops the server by its PID (SIGTERM, as an operator's service
manager would) and starts the same command again on the same port, then looks
at what a client, a worker and an admin connection see: a handle issued before
the restart, a worker's registration, a queued background job, a unique
submitted again. ``restart-persistent-*`` does the same on gearmand with its
SQLite persistent queue (``--queue-type=libsqlite3``).

Played and written by ``python tools/probe_spec.py --only restart-`` (add
``--peer perl-gearman-server`` or ``--peer gear``); this module only holds the
scenarios, as tools/probe_spec_probes.py does for the others.
"""

from __future__ import annotations

from probe_spec_lab import Lab, req
from probe_spec_probes import Probe, _first_arg

__all__ = ["RESTART_PROBES"]

_ALL = ("gearmand-c", "perl-gearman-server", "gear")
_SQLITE = ("--queue-type=libsqlite3", "--libsqlite3-db={rundir}/queue.sqlite")
_GEARMAND = "libgearman-server/gearmand.cc"
_SERVER = "libgearman-server/server.cc"
_SQLITE_SRC = "libgearman-server/plugins/queue/sqlite/instance.cc"


def _old_handle(lab: Lab) -> None:
    """A background job's handle polled after a restart, then a new job submitted and the old handle polled again."""
    c1 = lab.conn("c1")
    c1.send(req("SUBMIT_JOB_BG", "rs-f", "rs-u1", "before"))
    handle = _first_arg(c1, lab)
    lab.restart()
    c1.read()
    c2 = lab.conn("c2")
    c2.send(req("GET_STATUS", handle))
    c2.read()
    c2.send(req("SUBMIT_JOB_BG", "rs-f", "rs-u2", "after"))
    c2.read()
    c2.send(req("GET_STATUS", handle))
    c2.read()
    w1 = lab.conn("w1")
    w1.send(req("CAN_DO", "rs-f"))
    w1.send(req("GRAB_JOB_UNIQ"))
    w1.read()
    w1.send(req("GRAB_JOB_UNIQ"))
    w1.read()


def _worker(lab: Lab) -> None:
    """A registered, sleeping worker across a restart: is it still registered, is it woken?"""
    w1, a = lab.conn("w1"), lab.conn("admin")
    w1.send(req("CAN_DO", "rs-w"))
    w1.send(req("PRE_SLEEP"))
    w1.read(0.2)
    lab.admin(a, "workers")
    lab.restart()
    w1.read()
    a.read(0.1)
    c1, a2 = lab.conn("c1"), lab.conn("admin2")
    c1.send(req("SUBMIT_JOB_BG", "rs-w", "", "x"))
    c1.read()
    lab.admin(a2, "status")
    lab.admin(a2, "workers")
    w2 = lab.conn("w1-again")
    w2.send(req("CAN_DO", "rs-w"))
    w2.send(req("GRAB_JOB"))
    w2.read()


def _queued(lab: Lab) -> None:
    """Queued background and foreground jobs across a restart: does a worker get them afterwards?"""
    c1, c2 = lab.conn("c1"), lab.conn("c2")
    c1.send(req("SUBMIT_JOB_BG", "rs-q", "rs-bg", "bg-data"))
    c1.read()
    c2.send(req("SUBMIT_JOB", "rs-q", "rs-fg", "fg-data"))
    c2.read()
    lab.restart()
    c1.read()
    c2.read()
    a = lab.conn("admin")
    lab.admin(a, "status")
    w1 = lab.conn("w1")
    w1.send(req("CAN_DO", "rs-q"))
    w1.send(req("GRAB_JOB_UNIQ"))
    w1.read()
    w1.send(req("GRAB_JOB_UNIQ"))
    w1.read()


def _unique(lab: Lab) -> None:
    """A unique submitted, the server restarted, the same unique submitted again: a new job?"""
    c1 = lab.conn("c1")
    c1.send(req("SUBMIT_JOB_BG", "rs-u", "rs-same", "first"))
    c1.read()
    lab.restart()
    c2 = lab.conn("c2")
    c2.send(req("GET_STATUS_UNIQUE", "rs-same"))
    c2.read()
    c2.send(req("SUBMIT_JOB_BG", "rs-u", "rs-same", "second"))
    c2.read()
    a = lab.conn("admin")
    lab.admin(a, "status")
    w1 = lab.conn("w1")
    w1.send(req("CAN_DO", "rs-u"))
    w1.send(req("GRAB_JOB_UNIQ"))
    w1.read()
    w1.send(req("GRAB_JOB_UNIQ"))
    w1.read()


def _running(lab: Lab) -> None:
    """A foreground job held by a worker when the server stops: what do its client and worker see?"""
    c1, w1 = lab.conn("c1"), lab.conn("w1")
    w1.send(req("CAN_DO", "rs-r"))
    c1.send(req("SUBMIT_JOB", "rs-r", "rs-run", "x"))
    handle = _first_arg(c1, lab)
    w1.send(req("GRAB_JOB"))
    w1.read()
    lab.restart()
    c1.read()
    w1.read()
    c2 = lab.conn("c2")
    c2.send(req("GET_STATUS", handle))
    c2.read()


RESTART_PROBES: tuple[Probe, ...] = (
    Probe(
        "restart-old-handle",
        "issue 15 deliver 4 (server restart)",
        "SUBMIT_JOB_BG; restart; GET_STATUS of the old handle; a new SUBMIT_JOB_BG; GET_STATUS of the old "
        "handle again; a worker grabs twice",
        (f"{_SERVER}: job handles come from a counter in the server structure, which a new process starts again",),
        3,
        _old_handle,
        _ALL,
    ),
    Probe(
        "restart-worker",
        "issue 15 deliver 4 (server restart)",
        "CAN_DO and PRE_SLEEP; admin workers; restart; a background job; admin status and workers; the worker "
        "connects again, CAN_DO, GRAB_JOB",
        (f"{_SERVER}: worker registrations live on the connection, which the stopped process closed",),
        3,
        _worker,
        _ALL,
    ),
    Probe(
        "restart-queued",
        "issue 15 deliver 4 (server restart)",
        "a queued background job and a queued foreground job; restart; admin status; a worker grabs twice",
        (f"{_GEARMAND}: with --queue-type=builtin the queue lives in the process only",),
        3,
        _queued,
        _ALL,
    ),
    Probe(
        "restart-unique",
        "issue 15 deliver 4 (server restart)",
        "SUBMIT_JOB_BG with a unique; restart; GET_STATUS_UNIQUE; the same unique submitted again; a worker grabs",
        (f"{_SERVER}: the unique table lives in the process only",),
        3,
        _unique,
        _ALL,
    ),
    Probe(
        "restart-running",
        "issue 15 deliver 4 (server restart)",
        "a foreground job held by a worker; restart; what client and worker read; GET_STATUS of its handle",
        (f"{_SERVER}: a running job lives in the process only",),
        3,
        _running,
        _ALL,
    ),
    Probe(
        "restart-persistent-queued",
        "issue 15 deliver 4 (server restart, persistent queue)",
        "as restart-queued, gearmand started with --queue-type=libsqlite3 and a database in the run directory",
        (f"{_SQLITE_SRC}: background jobs are written to the database when added and replayed at start-up",),
        3,
        _queued,
        ("gearmand-c",),
        _SQLITE,
    ),
    Probe(
        "restart-persistent-old-handle",
        "issue 15 deliver 4 (server restart, persistent queue)",
        "as restart-old-handle, with the SQLite queue",
        (f"{_SQLITE_SRC}: the database holds unique, function, priority, data and epoch, not the handle",),
        3,
        _old_handle,
        ("gearmand-c",),
        _SQLITE,
    ),
    Probe(
        "restart-persistent-unique",
        "issue 15 deliver 4 (server restart, persistent queue)",
        "as restart-unique, with the SQLite queue",
        (f"{_SQLITE_SRC}: a replayed job is added with its unique again",),
        3,
        _unique,
        ("gearmand-c",),
        _SQLITE,
    ),
)
