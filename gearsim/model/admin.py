"""Admin text commands of the reference server and their exact reply bytes.

PURE. Owns the line splitting and every admin command of gearmand 1.1.20
(libgearman-server/text.cc; spec/evidence.md B-A1 to B-A5, which
spec/gearman.md's admin section states), with the reply
dialects of other implementations chosen by the profile. It works on a
``ServerState`` (context.py), never on the ``Server`` itself.

Listings whose order is gearmand's hash order (status, prioritystatus, show
jobs, show unique jobs, and workers, which follows gearmand's I/O threads)
come out in a deterministic order here: creation order, or by name where the
profile says so. A runner must compare those listings as unordered sets of
lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from gearsim.model.cnumbers import gearmand_hash, strtol
from gearsim.model.context import Lifecycle, ServerState
from gearsim.model.jobs import Outbox
from gearsim.model.profiles import Profile
from gearsim.model.state import Conn, Function, Job
from gearsim.protocol.packets import AdminLine, Packet, PacketType

__all__ = ["AdminResult", "run", "words"]

_ERR_ARGS: Final = b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+%s\r\n"
_PERL_ERR_ARGS: Final = b"ERR incomplete_args An+incomplete+set+of+arguments+was+sent+to+this+command\r\n"
_ERR_INTERNAL: Final = b"ERR UNKNOWN_ERROR\r\n"
_ERR_SHOW: Final = b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"
_ERR_UNKNOWN_JOB: Final = b"ERR UNKNOWN_JOB"
_ERR_BUSY: Final = b"ERR there are still connected workers or executing clients\r\n"
_ERR_NO_FUNCTION: Final = b"ERR function not found\r\n"
#: GEARMAND_DEFAULT_HASH_SIZE and the default --hashtable-buckets (constants.h:72)
_BUCKETS: Final = 991
_U32: Final = 0xFFFFFFFF
_T = TypeVar("_T")
_PERL_ERR_UNKNOWN_ARGS: Final = b"ERR unknown_args Unknown+arguments+to+server+command\r\n"
#: Perl's \w on a byte string, and the \s its process_line skips after the command
_WORD: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_PERL_SPACE: Final = b" \t\n\r\f\v"


@dataclass(frozen=True, slots=True)
class AdminResult:
    """What one admin line produces: reply bytes (None: no reply) or a close reason."""

    reply: bytes | None = None
    close: str | None = None
    #: admin 'shutdown' (profile ``admin_shutdown`` "exit"): EXITING or DRAINING
    shutdown: Lifecycle | None = None


def words(text: bytes) -> list[bytes]:
    """Split a line as gearmand does: at single spaces, skipping the runs after them.

    A leading space yields an empty first word, a trailing one an empty last
    word; an empty line is one empty word. Tabs are not separators.
    """
    out: list[bytes] = []
    pos = 0
    while True:
        space = text.find(b" ", pos)
        if space < 0:
            out.append(text[pos:])
            return out
        out.append(text[pos:space])
        pos = space + 1
        while text[pos : pos + 1] == b" ":
            pos += 1


def _is(word: bytes, name: bytes) -> bool:
    return word.lower() == name  # strcasecmp


def _atoi(text: bytes) -> int:
    value, _ = strtol(text)
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value  # (int) cut, as atoi


def run(state: ServerState, c: Conn, line: AdminLine, out: Outbox) -> AdminResult:
    """Run one admin line from ``c``; WORK_FAIL packets of 'cancel job' go to ``out``."""
    profile = state.profile
    args = words(line.text)
    if profile.admin_max_words is not None and len(args) > profile.admin_max_words:
        # B-A1: the parser's argument limit; gearmand closes without a reply
        return AdminResult(close="admin line of 6 or more words (B-A1)")
    word = args[0]
    if profile.admin_match == "word-run":
        # Perl: /^(\w+)\s*(.*)/ then lc: only the leading word characters count
        word = line.text[: _word_run(line.text)]
    command = _command(profile, word)
    if command is None:
        return AdminResult(reply=_unknown(state, args))
    if command == "shutdown":
        return _shutdown(state, line, args)
    return AdminResult(reply=_COMMANDS[command](state, c, args, line, out))


def _word_run(text: bytes) -> int:
    """Length of the leading run of Perl word characters of ``text``."""
    end = 0
    while end < len(text) and text[end] in _WORD:
        end += 1
    return end


def unanswered_line(profile: Profile, text: bytes) -> bytes | None:
    """The command word of admin line ``text`` when ``profile`` answers it with nothing at all, else None.

    That is a line naming no command the profile has, on a server that does
    not answer unknown commands (gear: breaks the SHOULD GM-ADMIN-006).
    """
    if profile.admin_unknown_reply is not None:
        return None
    args = words(text)
    if profile.admin_max_words is not None and len(args) > profile.admin_max_words:
        return None  # closed, not left unanswered
    word = args[0] if args else b""
    if profile.admin_match == "word-run":
        word = text[: _word_run(text)]
    return word if _command(profile, word) is None else None


def _command(profile: Profile, word: bytes) -> str | None:
    names = sorted(profile.admin_commands | ({"shutdown"} if profile.admin_shutdown == "exit" else set()))
    for name in names:
        encoded = name.encode()
        if profile.admin_match == "prefix":
            if word.startswith(encoded):
                return name
        elif _is(word, encoded):
            return name
    return None


def _shutdown(state: ServerState, line: AdminLine, args: list[bytes]) -> AdminResult:
    """Perl's TXTCMD_shutdown: bare exits at once; 'graceful' stops accepting connections.

    After 'graceful' Perl exits at once when no function has a queue entry
    (Gearmand::shutdown_if_calm), and otherwise when a running job ends and
    none has (PERL-6; the server checks that after each job end).
    """
    if state.profile.admin_match == "word-run":
        rest = line.text[_word_run(line.text) :].lstrip(_PERL_SPACE)
    else:
        rest = b" ".join(args[1:])
    ok = state.profile.admin_ok.encode()
    if rest == b"":
        return AdminResult(reply=ok, shutdown=Lifecycle.EXITING)
    if rest == b"graceful":
        calm = not state.store.queue_entries()
        return AdminResult(reply=ok, shutdown=Lifecycle.EXITING if calm else Lifecycle.DRAINING)
    return AdminResult(reply=_PERL_ERR_UNKNOWN_ARGS)


def _functions(state: ServerState) -> list[Function]:
    functions = list(state.store.functions.values())
    if state.profile.admin_order == "name":
        functions.sort(key=lambda f: f.name)
    elif state.profile.admin_order == "gearmand-hash":
        functions = _hash_order(functions, lambda f: gearmand_hash(f.name))
    return functions


def _hash_order(items: list[_T], key: Callable[[_T], int]) -> list[_T]:
    """``items`` (oldest first) as gearmand walks its 991-bucket hash table: by bucket, newest first in one.

    A new entry goes to the head of its bucket (common.h, GEARMAND_HASH_ADD);
    status walks the buckets in order (text.cc:155-171).
    """
    indexed = list(enumerate(items))
    indexed.sort(key=lambda pair: (key(pair[1]) % _BUCKETS, -pair[0]))
    return [item for _, item in indexed]


def _jobs(state: ServerState, by_unique: bool) -> list[Job]:
    """The jobs 'show jobs' (handle table) or 'show unique jobs' (unique table) lists, in its order."""
    jobs = list(state.store.jobs.values())
    if state.profile.admin_order != "gearmand-hash":
        return jobs
    if by_unique:
        # an empty unique (and '-' with no payload) has key 0; '-' hashes its payload (job.cc:150-170)
        return _hash_order(jobs, lambda j: 0 if j.key_source is None else gearmand_hash(j.key_source))
    return _hash_order(jobs, lambda j: gearmand_hash(j.handle))


def _workers(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    rows = []
    for conn in state.conns.values():
        # every connection is listed: plain clients and this admin connection too
        names = [r.function.name for r in conn.registrations]
        head = b"%d %s %s :" % (conn.fd, conn.peer.encode(), conn.client_id)
        if state.profile.admin_workers_trailing_space:
            rows.append(head + b" " + b" ".join(names) + b"\n")
        else:
            rows.append(head + b"".join(b" " + n for n in names) + b"\n")
    return b"".join(rows) + b".\n"


def _status(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    store = state.store
    rows = []
    for f in _functions(state):
        total, running = store.total(f), store.running(f)
        if state.profile.admin_status_rows == "active-only" and not total and not f.workers:
            continue
        # printed with %u: a count gearmand let go below zero shows as 2^32 - n
        rows.append(b"%s\t%d\t%d\t%d\n" % (f.name, total & _U32, running & _U32, len(f.workers)))
    return b"".join(rows) + b".\n"


def _prioritystatus(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    rows = [
        b"%s\t%d\t%d\t%d\t%d\n" % (f.name, len(f.queues[0]), len(f.queues[1]), len(f.queues[2]), len(f.workers))
        for f in _functions(state)
    ]
    return b"".join(rows) + b".\n"


def _maxqueue(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    profile = state.profile
    if len(args) == 1:
        return _PERL_ERR_ARGS if profile.error_vocabulary == "perl" else _ERR_ARGS % args[0]
    sizes = [max(_atoi(a), 0) for a in args[2:5]]  # a negative size means 0, unlimited
    # one size applies to every priority; with two, low keeps the default (0)
    limits = [sizes[0] if sizes else 0] * 3 if len(args) <= 3 else [*sizes, 0, 0][:3]
    function = state.store.functions.get(args[1])  # exact name; unknown still gets OK
    if function is None and profile.maxqueue_remembers_unknown:
        function = state.store.function(args[1])
    if function is not None:
        function.max_queue[:] = limits
    return profile.admin_ok.encode()


def _version(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    version = state.options.version if state.options.version is not None else state.profile.version
    return state.profile.admin_version_reply.format(version=version).encode()


def _getpid(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    return b"OK %d\n" % state.options.pid


def _verbose(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    return b"OK %s\n" % state.options.verbose.encode()


def _show(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes | None:
    if len(args) < 2:
        return _unknown(state, args)
    if len(args) == 3 and _is(args[1], b"unique") and _is(args[2], b"jobs"):
        return b"".join(j.unique + b"\n" for j in _jobs(state, by_unique=True)) + b".\n"
    if len(args) == 2 and _is(args[1], b"jobs"):
        rows = [b"%s\t%d\t%d\t%d\n" % (j.handle, j.retries, j.ignore, j.job_queued) for j in _jobs(state, False)]
        return b"".join(rows) + b".\n"
    return _ERR_SHOW


def _cancel(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes | None:
    profile = state.profile
    if len(args) < 3:
        return _unknown(state, args)
    eol = profile.admin_cancel_eol.encode()
    if len(args) != 3 or not _is(args[1], b"job"):
        return _ERR_INTERNAL  # text.cc leaves the reply empty, then sends UNKNOWN_ERROR
    job = state.store.by_handle(args[2])
    if profile.admin_cancel == "remove-queued":
        # gear: only queued jobs, removed at once, clients not told
        if job is None or job.worker is not None:
            return _ERR_UNKNOWN_JOB + eol
        state.store.free(job)
        return profile.admin_ok.encode()
    if job is None:
        return _ERR_UNKNOWN_JOB + eol
    if profile.admin_cancel == "end":
        # the job ends for its listeners once: WORK_FAIL, then they are detached; a
        # queued job is gone, a running one runs on and its results go nowhere
        for listener in list(job.listeners):
            out.append((listener, Packet.res(PacketType.WORK_FAIL, job.handle)))
            state.store.release_client(listener, job)
        if job.worker is None:
            state.store.free(job)
        return profile.admin_ok.encode()
    # B-W8: WORK_FAIL to every listener, nobody detached; dropped when dequeued
    for listener in job.listeners:
        out.append((listener, Packet.res(PacketType.WORK_FAIL, job.handle)))
    job.ignore = True
    job.job_queued = False
    return profile.admin_ok.encode()


def _create(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    if len(args) == 3 and _is(args[1], b"function"):
        # text.cc takes arg_size - 2 bytes, which assumes "\r\n": with a bare
        # "\n" the name loses its last character (B-A4, create function)
        cut = state.profile.admin_create_cuts_name and line.eol != b"\r\n"
        name = args[2][:-1] if cut else args[2]
        state.store.function(name)
        return state.profile.admin_ok.encode()
    return _ERR_ARGS % args[0]


def _drop(state: ServerState, c: Conn, args: list[bytes], line: AdminLine, out: Outbox) -> bytes:
    if len(args) == 3 and _is(args[1], b"function"):
        store = state.store
        for function in _functions(state):
            if function.name.lower() == args[2].lower():  # strcasecmp (B-A4)
                if function.workers or store.running(function):
                    return _ERR_BUSY
                if state.profile.admin_drop_queued == "refuses" and store.total(function):
                    return _ERR_BUSY
                # gearmand does not check queued jobs: they outlive their function
                # (found by gearsim fuzz: a later "cancel job" still finds one and
                # sends WORK_FAIL), but no worker can reach them any more, since a
                # function re-created by name is a new one with empty queues
                del store.functions[function.name]
                return state.profile.admin_ok.encode()
        return _ERR_NO_FUNCTION
    return _ERR_ARGS % args[0]


def _unknown(state: ServerState, args: list[bytes]) -> bytes | None:
    template = state.profile.admin_unknown_reply
    return None if template is None else template.encode().replace(b"{word}", args[0])


_COMMANDS: Final = {
    "workers": _workers,
    "status": _status,
    "prioritystatus": _prioritystatus,
    "maxqueue": _maxqueue,
    "version": _version,
    "getpid": _getpid,
    "verbose": _verbose,
    "show": _show,
    "cancel": _cancel,
    "create": _create,
    "drop": _drop,
}
