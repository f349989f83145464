"""Implementation profiles: the behaviour switches of the reference server model.

PURE. This module owns the ``Profile`` value and the profile table. Each field
of a Profile is one behaviour on which real Gearman servers are known to differ
(spec/profiles.yaml says which facts-file entry each value comes from); the
model reads switches, never a profile's name.

The table is typed twice on purpose: as the Python literal ``PROFILE_TABLE``
below (the core must not read files at import) and as spec/profiles.yaml (the
language-neutral copy). tests/unit/test_model_profiles.py fails when they differ.

Only what the evidence shows (spec/evidence.md) is a switch. Where a peer's behaviour is unknown the
profile takes the gearmand value and says so in its ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

__all__ = ["DEFAULT_PROFILE", "PROFILES", "PROFILE_TABLE", "SPEC_PROFILE", "Defect", "Profile", "get_profile"]

BadMagic = Literal["close", "stall", "ignore"]
ResMagic = Literal["error", "stall", "ignore"]
UnknownType = Literal["close", "error", "ignore"]
ShortBody = Literal["stall-then-close", "close", "per-command", "last-optional"]
SubmitHeader = Literal["nul-split", "perl-regex"]
DashEmptyPayload = Literal["never-coalesces", "coalesces-key-never-freed"]
StatusNulHandle = Literal["cut", "no-reply"]
Unimplemented = Literal["error-command-not-expected", "error-perl-cmd", "ignore"]
ErrorVocabulary = Literal["gearmand", "perl"]
DashUnique = Literal["payload-key-store-dash", "replace-with-payload", "none"]
StatusNumbers = Literal["uint32-atoi", "raw"]
OptionMatch = Literal["case-insensitive", "exact"]
WorkException = Literal[
    "terminal-fail-with-nul-to-others",
    "terminal-fail-to-others",
    "forward-only-with-option-nonterminal",
    "forward-always-terminal",
]
NonOwnerWork = Literal["error", "ignore", "error-not-worker"]
Priorities = Literal["per-function", "global", "global-fifo"]
WorkerDisconnect = Literal["requeue", "fail"]
ClientDisconnect = Literal["drop-when-reached", "remove-now"]
CanDoTimeout = Literal["requeue-ms-min-1000", "fail-seconds", "ignore"]
CantDoUnknown = Literal["noop", "close"]
CantDoHeld = Literal["as-disconnect", "keep"]
MaxQueue = Literal["reject", "evict", "unsupported"]
JobRetriesZero = Literal["unlimited", "none"]
HandleHost = Literal["node", "peer"]
AdminMatch = Literal["case-insensitive", "prefix", "word-run"]
AdminShutdown = Literal["unknown", "exit"]
AdminOrder = Literal["insertion", "name", "gearmand-hash"]
AdminStatusRows = Literal["all-known", "active-only"]
AdminCancel = Literal["flag-and-fail", "remove-queued", "end"]
TimeoutTimer = Literal["per-job", "first-job-of-connection", "last-job-of-connection"]
TimeoutOverflow = Literal["close", "crash", "limit"]
ReduceUniqueCheck = Literal["unique", "reducer"]
ResubmitAbandoned = Literal["stays-abandoned", "revives"]
DropFunctionQueued = Literal["drops-keeps-jobs", "refuses"]


@dataclass(frozen=True, slots=True)
class Defect:
    """A known bug of the real server a profile describes, with the bytes that show it.

    A defect is behaviour the profile's switches reproduce (the model copies the
    real server's bytes) but that breaks a rule of the spec: vectors citing
    those rules fail on that implementation and the baseline records it.
    """

    #: a slug, unique within the profile (the fuzzer counts hits by this id)
    id: str
    #: one line: what goes wrong
    summary: str
    #: the requirement ids it breaks (spec/requirements.yaml)
    rules: tuple[str, ...]
    #: minimal bytes or steps that show it
    repro: str
    #: how it was found: probe, capture, source reading, fuzz seed, vector
    found: str

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Defect:
        """Raises KeyError for a missing key, ValueError for an unknown one."""
        names = {f.name for f in fields(cls)}
        extra = set(data) - names
        if extra:
            raise ValueError(f"defect {data.get('id')!r}: unknown keys {sorted(extra)}")
        values = {n: data[n] for n in names}
        values["rules"] = tuple(values["rules"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Profile:
    """Behaviour switches of one server implementation (see spec/profiles.yaml)."""

    name: str
    summary: str
    notes: str
    #: what admin 'version' reports, unless ServerOptions.version overrides it
    version: str
    # --- framing (B-P) ---
    #: magic neither \0REQ nor \0RES (B-P2)
    bad_magic: BadMagic
    #: a request framed with \0RES (B-P4)
    res_magic_request: ResMagic
    #: type 0 or >= 43 (B-P3)
    unknown_type: UnknownType
    #: a body with fewer NULs than the command needs (B-P6): gearmand stalls; "close"
    #: closes; "per-command" (Perl) reads the whole declared body and lets each command
    #: parse it (missing numbers read as empty, a WORK_COMPLETE or WORK_EXCEPTION with
    #: no NUL after the handle names no job, SUBMITs go by ``submit_header``);
    #: "last-optional" (gear) reads a missing last argument as empty and closes when an
    #: earlier one is missing (a Python IndexError), except that WORK_* read only the
    #: handle until the job is known
    short_body: ShortBody
    #: how SUBMIT_JOB* find function and unique: split at NULs, or Perl's
    #: ``^(.+?)\0(.*?)\0`` ('.' is not a newline: a non-empty function), which refuses
    #: other bodies with ERROR invalid_args "No func/uniq header [<body>]." and keeps
    #: the connection
    submit_header: SubmitHeader
    #: request types the server acts on; names from spec/packets.yaml
    implemented: frozenset[str]
    #: what a request outside ``implemented`` gets (B-P5)
    unimplemented: Unimplemented
    #: which ERROR codes and texts the server speaks (B-P10; (d) "ERROR packet")
    error_vocabulary: ErrorVocabulary
    #: handles, uniques and options go through gearmand's 64-byte buffers: 64 bytes or
    #: more closes (GET_STATUS*, B-P9) or gets ERROR (WORK_FAIL, OPTION_REQ, B-P10), and
    #: a CAN_DO_TIMEOUT field over 20 characters closes (B-P9)
    fixed_buffers: bool
    # --- submission (B-U) ---
    coalesce_uniques: bool
    dash_unique: DashUnique
    #: unique '-' with an empty payload: never coalesces (gearmand), or (Perl) keys on
    #: the empty payload, coalesces, and that key is never freed: after the job ends,
    #: the next such submit gets the ended job's handle and no job is created
    dash_empty_payload: DashEmptyPayload
    #: a unique longer than this is refused with ARGUMENT_TOO_LARGE (B-U7)
    unique_max: int | None
    #: a unique is stored cut to this many bytes (B-U7: 64 -> 63)
    unique_stored_max: int | None
    #: handle prefix host part: the server's node name or the submitter's address
    handle_host: HandleHost
    #: which argument of SUBMIT_REDUCE_JOB* is held to ``unique_max``: the unique, or
    #: (gearmand, server.cc:157) the reducer, so a long reduce unique is stored cut short
    reduce_unique_check: ReduceUniqueCheck
    #: a foreground SUBMIT coalesced onto a job whose last listener left: the job stays
    #: marked abandoned and is dropped when reached (gearmand), or is wanted again
    resubmit_abandoned: ResubmitAbandoned
    #: each foreground submission makes its connection a listener once more, so a
    #: connection that submitted one unique twice receives every WORK_* packet twice
    #: (gearmand and Perl, B-U4: the defect listener-attached-twice); False: once
    listener_per_submission: bool
    # --- status (B-S) ---
    #: unknown handle / no WORK_STATUS yet: empty numerator and denominator
    status_empty_numbers: bool
    status_numbers: StatusNumbers
    #: GET_STATUS whose body holds a NUL: the handle is cut at the NUL, or (Perl) no reply
    status_nul_handle: StatusNulHandle
    # --- forwarding (B-W) ---
    #: OPTION_REQ: the first field compared case-insensitively (gearmand), or the whole
    #: body compared byte for byte (Perl: "exceptions\0x" is unknown)
    option_match: OptionMatch
    #: WORK_EXCEPTION: terminal with WORK_FAIL to listeners without the option ("...-with-nul":
    #: gearmand's handle + NUL body, B-W5; "terminal-fail-to-others": the bare handle),
    #: forwarded only with the option and not terminal (Perl), or forwarded to all (gear)
    work_exception: WorkException
    non_owner_work: NonOwnerWork
    # --- workers, queues (B-K) ---
    priorities: Priorities
    round_robin: bool
    #: HIGH jobs are pushed to the front of their queue (Perl)
    high_lifo: bool
    #: a function's queue entry outlives its last job until a GRAB_* finds the queue
    #: empty (Perl's job_queue key, PERL-6): PRE_SLEEP answers NOOP while it lasts,
    #: and 'shutdown graceful' exits only when no function has one
    stale_queue_entry: bool
    #: NOOP to sleeping workers when an epoch job becomes due (2.0, B-U13)
    epoch_wakeup_noop: bool
    #: GRAB_* looks only at a function's first non-empty priority list, so future epoch
    #: jobs there hide runnable jobs of lower priority (gearmand 1.1, B-K5), while
    #: PRE_SLEEP looks at every priority and answers NOOP
    epoch_blocks_lower: bool
    job_retries_zero: JobRetriesZero
    worker_disconnect: WorkerDisconnect
    #: magic of the WORK_FAIL sent when a worker disconnects ("REQ" is gear's bug)
    disconnect_fail_magic: Literal["RES", "REQ"]
    client_disconnect: ClientDisconnect
    #: a background submission coalesced onto the job keeps it alive (B-U12: gearmand no)
    background_keeps_abandoned: bool
    can_do_timeout: CanDoTimeout
    #: "per-job": each job a worker takes gets its own time limit; "first-job-of-connection"
    #: (gearmand): one timer per connection, bound to the job it was created for and
    #: re-armed by every later assignment until PRE_SLEEP deletes it, so later jobs never
    #: time out and an ended first job is requeued as a ghost (connection.cc:699-723); "last-job-of-connection"
    #: (2.0.0): the event is re-bound to each job assigned, still not deleted when it ends
    can_do_timeout_timer: TimeoutTimer
    #: a CAN_DO_TIMEOUT value outside a C long: the connection is closed, (gearmand, for
    #: 2^64 or more) the server crashes in its error logging (log.cc:400), or (Perl) the
    #: value is taken as a limit as long as it can be
    can_do_timeout_overflow: TimeoutOverflow
    duplicate_can_do_counts: bool
    cantdo_unknown: CantDoUnknown
    #: CANT_DO or RESET_ABILITIES dropping a function whose job the connection holds
    #: (GM-WORKER-006): "as-disconnect" treats the job as ``worker_disconnect`` says
    #: (gearmand requeues it, B-K2); "keep" (Perl) leaves it with the worker, which
    #: can still report on it and complete it (no other worker gets it)
    cantdo_held: CantDoHeld
    maxqueue: MaxQueue
    #: admin maxqueue for a function the server does not know yet keeps the limit
    #: (Perl); gearmand answers OK and keeps nothing
    maxqueue_remembers_unknown: bool
    # --- admin text protocol (c) ---
    #: admin command words answered; the others get ``admin_unknown_reply``
    admin_commands: frozenset[str]
    #: how a line's first word names a command: "case-insensitive" compares it whole
    #: (strcasecmp), "prefix" (gear) takes a command the word starts with, and
    #: "word-run" (Perl) lower-cases the leading run of word characters
    #: ([A-Za-z0-9_]) and ignores the rest, so 'version\r' and 'status-x' name
    #: version and status while 'statusXYZ' is unknown
    admin_match: AdminMatch
    #: template with ``{word}``, or None for no reply
    admin_unknown_reply: str | None
    #: template with ``{version}``
    admin_version_reply: str
    admin_ok: str
    #: row order of status, prioritystatus, show jobs and show unique jobs: "insertion",
    #: "name" (Perl sorts), or "gearmand-hash": gearmand's 991-bucket hash tables walked
    #: in bucket order, newest first within a bucket (function.cc:54-71, text.cc:155-227)
    admin_order: AdminOrder
    admin_status_rows: AdminStatusRows
    #: "fd ip id :" with a trailing space when the connection has no functions
    admin_workers_trailing_space: bool
    #: a line of more words than this closes the connection (None: no limit)
    admin_max_words: int | None
    #: "flag-and-fail" (gearmand): WORK_FAIL to the listeners, the job stays (queued and
    #: reached later, or running to its end); "remove-queued" (gear): a queued job is
    #: removed, nobody told; "end": a queued job ends with WORK_FAIL, a running one sends
    #: its listeners WORK_FAIL and loses them (GM-ADMIN-018, GM-WORK-007)
    admin_cancel: AdminCancel
    admin_cancel_eol: str
    #: admin 'drop function' of a function with queued jobs: OK and the jobs outlive the
    #: function (gearmand), or refused with ERR like a function with workers
    admin_drop_queued: DropFunctionQueued
    #: admin 'create function NAME' takes the name's length minus two, the "\r\n" it
    #: assumes, so a line ended by a bare "\n" creates NAME without its last byte
    #: (gearmand text.cc:238, B-A4: the defect create-function-cuts-name)
    admin_create_cuts_name: bool
    #: the admin 'shutdown' command: "unknown" (not modelled: answered as an unknown
    #: command); "exit" (Perl): a bare 'shutdown' answers ``admin_ok`` and the server
    #: exits: every connection is closed, nothing more is sent, later connections
    #: are closed at once; 'shutdown graceful' answers ``admin_ok``, refuses new
    #: connections and exits as the bare one does when no function has a queue
    #: entry: at once, or when a job a worker held ends (PERL-6); other arguments
    #: get ERR unknown_args
    admin_shutdown: AdminShutdown
    # --- known bugs ---
    #: bugs of the real server that the switches above reproduce, with their bytes
    defects: tuple[Defect, ...]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Profile:
        """Build a Profile from one entry of the table.

        Raises:
            KeyError: a field is missing.
            ValueError: the entry has a key that is not a Profile field.
        """
        names = {f.name for f in fields(cls)}
        extra = set(data) - names
        if extra:
            raise ValueError(f"profile {data.get('name')!r}: unknown keys {sorted(extra)}")
        values = {n: data[n] for n in names}
        for key in ("implemented", "admin_commands"):
            values[key] = frozenset(values[key])
        values["defects"] = tuple(Defect.from_mapping(d) for d in values["defects"])
        ids = [d.id for d in values["defects"]]
        if len(set(ids)) != len(ids):
            raise ValueError(f"profile {data.get('name')!r}: duplicate defect ids")
        return cls(**values)

    def defect(self, defect_id: str) -> Defect | None:
        """The profile's defect of that id, or None."""
        return next((d for d in self.defects if d.id == defect_id), None)

    @property
    def neutral(self) -> bool:
        """True for the ``spec`` profile, which judges by the spec's rules and no implementation's habits."""
        return self.name == SPEC_PROFILE


#: the neutral profile: judged by the spec's rules alone (see Profile.neutral)
SPEC_PROFILE: Final[str] = "spec"

_ALL_REQUESTS: Final[list[str]] = [
    "CAN_DO", "CANT_DO", "RESET_ABILITIES", "PRE_SLEEP", "SUBMIT_JOB", "GRAB_JOB",
    "WORK_STATUS", "WORK_COMPLETE", "WORK_FAIL", "GET_STATUS", "ECHO_REQ", "SUBMIT_JOB_BG",
    "SUBMIT_JOB_HIGH", "SET_CLIENT_ID", "CAN_DO_TIMEOUT", "WORK_EXCEPTION", "OPTION_REQ",
    "WORK_DATA", "WORK_WARNING", "GRAB_JOB_UNIQ", "SUBMIT_JOB_HIGH_BG", "SUBMIT_JOB_LOW",
    "SUBMIT_JOB_LOW_BG", "SUBMIT_JOB_EPOCH", "SUBMIT_REDUCE_JOB", "SUBMIT_REDUCE_JOB_BACKGROUND",
    "GRAB_JOB_ALL", "GET_STATUS_UNIQUE",
]  # fmt: skip

_GEARMAND_ADMIN: Final[list[str]] = [
    "workers", "status", "prioritystatus", "maxqueue", "version", "getpid", "verbose",
    "show", "cancel", "create", "drop",
]  # fmt: skip

#: known bugs of gearmand 1.1.20 (and, from the same code, 2.0)
_GEARMAND_DEFECTS: Final[list[dict[str, Any]]] = [
    {
        "id": "reads-past-body",
        "summary": (
            "a body with too few NULs is not refused: gearmand reads the following stream bytes as the "
            "missing arguments, then closes without a reply"
        ),
        "rules": ["GM-FRAME-007", "GM-FRAME-015"],
        "repro": (
            "SUBMIT_JOB with body 'fnonly' (00524551 00000007 00000006 666e6f6e6c79): no reply; the next "
            "packet is swallowed, the log says realloc(char, count: 18446744073709551611) and the connection "
            "closes. The same for SUBMIT_JOB 'fn\\0u9', an empty SUBMIT_JOB_BG, WORK_COMPLETE with a bare "
            "handle and SUBMIT_REDUCE_JOB in the PROTOCOL document's 3-argument form"
        ),
        "found": (
            "spec/evidence.md B-P6; spec/observed/gearmand-1.1.20-codec.yaml cases submit-job-no-nul, "
            "submit-job-two-args"
        ),
    },
    {
        "id": "exception-fail-trailing-nul",
        "summary": (
            "the WORK_FAIL sent in place of WORK_EXCEPTION to a listener without the exceptions option "
            "carries the handle followed by a NUL"
        ),
        "rules": ["GM-WORK-011", "GM-FRAME-004"],
        "repro": (
            "client SUBMIT_JOB f '' x; worker CAN_DO f, GRAB_JOB, WORK_EXCEPTION 'H:vm:1\\0e': the client "
            "gets WORK_FAIL with the 7-byte body 'H:vm:1\\0' (00524553 0000000e 00000007 483a766d3a3100)"
        ),
        "found": "spec/evidence.md B-W5; vectors/server/exceptions.yaml::no-option-gets-fail",
    },
    {
        "id": "background-lost-with-foreground",
        "summary": (
            "a background submission coalesced with a foreground one is lost when the foreground client "
            "disconnects, in either order (B-U12)"
        ),
        "rules": ["GM-DISC-008"],
        "repro": (
            "c1 SUBMIT_JOB_BG f u x -> H:vm:1; c2 SUBMIT_JOB f u x -> H:vm:1; c2 disconnects; worker "
            "CAN_DO f, GRAB_JOB gets NO_JOB"
        ),
        "found": (
            "spec/evidence.md B-U12; vectors/server/disconnect.yaml::background-then-foreground-abandoned, "
            "foreground-then-background-abandoned"
        ),
    },
    {
        "id": "unique-64-truncated",
        "summary": (
            "a unique of exactly 64 bytes is accepted but stored cut to 63, so it never coalesces, and "
            "JOB_ASSIGN_UNIQ carries the 63 bytes followed by two NULs: one argument too many (B-U7)"
        ),
        "rules": ["GM-LIMIT-002", "GM-FRAME-004", "GM-COAL-004"],
        "repro": (
            "two SUBMIT_JOB_BG f <64-byte unique> x get two handles (63 bytes: one handle; 65 bytes: ERROR "
            "ARGUMENT_TOO_LARGE 'Unique value too large'); GRAB_JOB_UNIQ then gets JOB_ASSIGN_UNIQ "
            "handle\\0f\\0<63 bytes>\\0\\0x"
        ),
        "found": (
            "spec/evidence.md B-U7; server.cc:621-628 sends unique_length + 1 bytes of the 64-byte "
            "unique field; vectors/server/coalesce.yaml::unique-64-bytes-never-coalesces"
        ),
    },
    {
        "id": "reduce-unique-unchecked",
        "summary": (
            "SUBMIT_REDUCE_JOB* hold the reducer, not the unique, to 64 bytes: a longer reduce unique is "
            "stored cut to 63 bytes (never coalescing), and JOB_ASSIGN_ALL carries the 63 bytes, a NUL and "
            "the first bytes of the reducer in the unique field"
        ),
        "rules": ["GM-LIMIT-002", "GM-FRAME-004", "GM-SUBMIT-005"],
        "repro": (
            "SUBMIT_REDUCE_JOB_BACKGROUND rf <70 x 'u'> reducer '' work twice -> two handles (a 65-byte "
            "reducer gets ERROR ARGUMENT_TOO_LARGE 'Unique value too large'); GRAB_JOB_ALL -> JOB_ASSIGN_ALL "
            "handle\\0rf\\0<63 x 'u'>\\0reducerreducer\\0work"
        ),
        "found": (
            "server.cc:157 checks arg_size[2]; probe spec/observed/gearmand-1.1.20-spec.yaml "
            "reduce-unique-length; vectors/server/reduce.yaml::long-reduce-unique"
        ),
    },
    {
        "id": "cancel-refails",
        "summary": (
            "'cancel job H' on a queued job sends WORK_FAIL to its listeners but only flags the job: every "
            "later 'cancel job H' answers OK and sends WORK_FAIL again, and a worker that then completes it "
            "sends a terminal packet too"
        ),
        "rules": ["GM-WORK-007"],
        "repro": (
            "c1 SUBMIT_JOB f '' '' -> H:vm:1; admin 'cancel job H:vm:1' -> OK\\r\\n and c1 gets WORK_FAIL "
            "H:vm:1; admin 'cancel job H:vm:1' again -> OK\\r\\n and c1 gets a second WORK_FAIL H:vm:1"
        ),
        "found": "gearsim fuzz seed 100 (vectors/regressions/fuzz-60d7ec1e56.yaml)",
    },
    {
        "id": "listener-attached-twice",
        "summary": (
            "a connection that submits the same foreground unique twice is put on the job's listener list "
            "twice, so it receives every WORK_* packet of the job twice, WORK_COMPLETE included"
        ),
        "rules": ["GM-WORK-007"],
        "repro": (
            "c1 SUBMIT_JOB f u one -> H:vm:1; c1 SUBMIT_JOB f u two -> H:vm:1; worker CAN_DO f, GRAB_JOB, "
            "WORK_COMPLETE H:vm:1 r: c1 gets WORK_COMPLETE H:vm:1 r twice"
        ),
        "found": (
            "spec/evidence.md B-U4 (server.cc:245 adds a client entry per foreground submission, job.cc:289 "
            "lists it on the job, server.cc:1027-1030 forwards to every entry); "
            "vectors/server/coalesce.yaml::same-connection-twice"
        ),
    },
    {
        "id": "resubmit-onto-abandoned",
        "summary": (
            "a foreground job whose last client left is flagged 'ignore' (B-U11); a new foreground SUBMIT "
            "with the same (function, unique) coalesces onto it without clearing the flag, so the job is "
            "dropped when a worker reaches it and the new client never gets an answer"
        ),
        "rules": ["GM-COAL-007"],
        "repro": (
            "c1 SUBMIT_JOB f u '' -> H:vm:1; c1 disconnects; c2 SUBMIT_JOB f u '' -> H:vm:1 (coalesced); "
            "worker CAN_DO f, GRAB_JOB_UNIQ gets NO_JOB; c2 waits for ever"
        ),
        "found": "gearsim fuzz seed 100 (vectors/regressions/fuzz-232847927a.yaml)",
    },
    {
        "id": "timeout-overflow-crash",
        "summary": (
            "a CAN_DO_TIMEOUT value beyond a C long makes gearmand log the error with a format whose argument "
            "it does not pass: SIGSEGV, and the server process exits"
        ),
        "rules": ["GM-SERVER-005"],
        "repro": (
            "CAN_DO_TIMEOUT f 99999999999999999999 (00524551 00000017 00000016 6600 + 20 x '9'): the "
            "connection closes and the process exits with status 1 after printing a stack trace (5 of 5 runs); "
            "so does every value of 2^64 or more (2^64, 2^65: 3 of 3), while overflowing values below 2^64 "
            "are refused without a crash, the connection closed or kept by the race of refusal-race (2^64 - 1, 2^63)"
        ),
        "found": (
            "audit of server.cc:547-551 and log.cc:400; probe spec/observed/gearmand-1.1.20-spec.yaml "
            "timeout-overflow-crash; vectors/worker/timeout.yaml::overflowing-timeout"
        ),
    },
    {
        "id": "refusal-race",
        "summary": (
            "a CAN_DO_TIMEOUT whose value is over 20 characters or overflows, a SUBMIT_JOB_EPOCH whose "
            "time overflows, and a GET_STATUS or GET_STATUS_UNIQUE whose handle or unique is 64 bytes or more "
            "are refused with no reply; whether the connection is then closed depends on a race between "
            "gearmand's threads, and when it stays open the request was dropped silently"
        ),
        "rules": ["GM-ERROR-006", "GM-SUBMIT-002"],
        "repro": (
            "CAN_DO_TIMEOUT f 100000000000000000000: no reply, nothing registered, the connection closed in "
            "19 of 20 runs and open in 1 (18 and 2 in an earlier session); CAN_DO_TIMEOUT f 9223372036854775808: "
            "closed in 15 of 20 (both sessions); SUBMIT_JOB_EPOCH f '' 99999999999999999999 x: no reply, no job, "
            "closed in 16 of 20 (20 of 20 earlier); GET_STATUS or GET_STATUS_UNIQUE with 64 bytes: no reply, "
            "closed in 14 of 30"
        ),
        "found": (
            "server.cc:537-540, 547-551, 264-269, 336-340, 416-420 return errors without a reply; "
            "gearmand_con.cc:491 and "
            "thread.cc:203-207 act on con->ret only if no later packet overwrote it; probes "
            "timeout-21-characters, timeout-overflow-19, epoch-overflow (20 runs each, twice)"
        ),
    },
    {
        "id": "create-function-cuts-name",
        "summary": (
            "admin 'create function NAME' takes the name's length minus two, the CR LF it assumes: a line "
            "ended by a bare LF creates the function without the name's last byte"
        ),
        "rules": ["GM-ADMIN-001"],
        "repro": "admin 'create function lsA\\n' -> OK\\r\\n; status lists 'ls\\t0\\t0\\t0' (with CR LF: 'lsA')",
        "found": "spec/evidence.md B-A4 (text.cc:238); vectors/admin/listings.yaml::create-function-newline-bug",
    },
    {
        "id": "drop-function-keeps-queued-jobs",
        "summary": (
            "admin 'drop function' answers OK for a function that still has queued jobs; the jobs outlive it: "
            "no worker can ever be given them, yet 'cancel job' still finds them"
        ),
        "rules": ["GM-WORKER-007"],
        "repro": (
            "c1 SUBMIT_JOB f '' '' -> H:vm:1; admin 'drop function f' -> OK\\r\\n; admin 'cancel job H:vm:1' "
            "-> OK\\r\\n and c1 gets WORK_FAIL H:vm:1; a worker of a re-created f gets NO_JOB"
        ),
        "found": (
            "gearsim fuzz seed 5 (vectors/regressions/fuzz-0ea280ef75.yaml); text.cc:256-295 checks workers and "
            "running jobs only (B-A4); vectors/admin/commands.yaml::drop-function-with-queued-job"
        ),
    },
]

#: known bugs of gearmand 1.1 that 2.0.0 fixed
_GEARMAND_11_ONLY_DEFECTS: Final[list[dict[str, Any]]] = [
    {
        "id": "timeout-bound-to-first-job",
        "summary": (
            "CAN_DO_TIMEOUT's timer is one per connection, bound to the first job it was armed for and "
            "re-armed by every later assignment until PRE_SLEEP: a later job never times out, and when the "
            "timer fires after the first job ended, that job is queued again with an empty workload"
        ),
        "rules": ["GM-TIMEOUT-004", "GM-WORKER-012", "GM-SUBMIT-005"],
        "repro": (
            "w CAN_DO_TIMEOUT f 1000; c SUBMIT_JOB_BG f u1 w1 -> H:vm:1, SUBMIT_JOB_BG f u2 w2 -> H:vm:2; "
            "w GRAB_JOB -> H:vm:1, WORK_COMPLETE H:vm:1, GRAB_JOB -> H:vm:2; 2.5 s later GET_STATUS H:vm:2 "
            "-> 1 1 0 0 (still held) and another worker's GRAB_JOB_UNIQ -> JOB_ASSIGN_UNIQ H:vm:1 f u1 '' "
            "(the completed job); admin status shows 4294967295 running while nothing runs"
        ),
        "found": (
            "audit of connection.cc:699-723; probe spec/observed/gearmand-1.1.20-spec.yaml timeout-second-job "
            "and timeout-ghost (3 of 3 runs each); vectors/worker/timeout.yaml::timer-bound-to-first-job"
        ),
    },
    {
        "id": "epoch-blocks-lower-priority",
        "summary": (
            "a future epoch job hides the runnable jobs of lower priority of its function from GRAB_*, while "
            "PRE_SLEEP sees them and answers NOOP: the worker gets NO_JOB and NOOP in turn until the time comes"
        ),
        "rules": ["GM-WORKER-007"],
        "repro": (
            "w CAN_DO f; c SUBMIT_JOB_EPOCH f '' <an hour ahead> later, SUBMIT_JOB_LOW_BG f '' low; w GRAB_JOB "
            "-> NO_JOB, PRE_SLEEP -> NOOP, GRAB_JOB -> NO_JOB, ... (3 of 3 runs)"
        ),
        "found": (
            "gearmand_con.cc:381-400 (take) against 312-358 (peek); probe epoch-livelock; "
            "vectors/server/epoch.yaml::future-normal-hides-low"
        ),
    },
]

#: the CAN_DO_TIMEOUT timer as 2.0.0 left it
_GEARMAND_20_TIMER_DEFECT: Final[dict[str, Any]] = {
    "id": "timeout-outlives-job",
    "summary": (
        "CAN_DO_TIMEOUT's timer is re-bound to each job assigned but not deleted when the job ends: when it "
        "fires after the worker completed the job, the ended job is queued again with an empty workload"
    ),
    "rules": ["GM-WORKER-012", "GM-SUBMIT-005"],
    "repro": (
        "w CAN_DO_TIMEOUT f 1000; c SUBMIT_JOB_BG f u1 w1 -> H:vm:1; w GRAB_JOB, WORK_COMPLETE H:vm:1; 1.5 s "
        "later another worker's GRAB_JOB_UNIQ -> JOB_ASSIGN_UNIQ H:vm:1 f u1 ''"
    ),
    "found": (
        "source reading of tag 2.0.0 (connection.cc:700-723 rebinds the event, nothing deletes it on "
        "WORK_COMPLETE; server.cc:584 only on PRE_SLEEP); vectors/worker/timeout.yaml::timer-outlives-job"
    ),
}

_GEARMAND_11: Final[dict[str, Any]] = {
    "name": "gearmand-1.1",
    "summary": "gearmand 1.1.20 (Debian 1.1.20+ds), default options: the reference",
    "notes": "Every switch is backed by source lines and a probe in spec/evidence.md (B-P1 to B-K13).",
    "version": "1.1.20+ds",
    "bad_magic": "close",
    "res_magic_request": "error",
    "unknown_type": "close",
    "short_body": "stall-then-close",
    "submit_header": "nul-split",
    "implemented": _ALL_REQUESTS,
    "unimplemented": "error-command-not-expected",
    "error_vocabulary": "gearmand",
    "fixed_buffers": True,
    "coalesce_uniques": True,
    "dash_unique": "payload-key-store-dash",
    "dash_empty_payload": "never-coalesces",
    "unique_max": 64,
    "unique_stored_max": 63,
    "handle_host": "node",
    "reduce_unique_check": "reducer",
    "resubmit_abandoned": "stays-abandoned",
    "listener_per_submission": True,
    "status_empty_numbers": False,
    "status_numbers": "uint32-atoi",
    "status_nul_handle": "cut",
    "option_match": "case-insensitive",
    "work_exception": "terminal-fail-with-nul-to-others",
    "non_owner_work": "error",
    "priorities": "per-function",
    "round_robin": False,
    "high_lifo": False,
    "stale_queue_entry": False,
    "epoch_wakeup_noop": False,
    "epoch_blocks_lower": True,
    "job_retries_zero": "unlimited",
    "worker_disconnect": "requeue",
    "disconnect_fail_magic": "RES",
    "client_disconnect": "drop-when-reached",
    "background_keeps_abandoned": False,
    "can_do_timeout": "requeue-ms-min-1000",
    "can_do_timeout_timer": "first-job-of-connection",
    "can_do_timeout_overflow": "crash",
    "duplicate_can_do_counts": True,
    "cantdo_unknown": "noop",
    "cantdo_held": "as-disconnect",
    "maxqueue": "reject",
    "maxqueue_remembers_unknown": False,
    "admin_commands": _GEARMAND_ADMIN,
    "admin_match": "case-insensitive",
    "admin_unknown_reply": "ERR UNKNOWN_COMMAND Unknown+server+command{word}\r\n",
    "admin_version_reply": "OK {version}\n",
    "admin_ok": "OK\r\n",
    "admin_order": "gearmand-hash",
    "admin_status_rows": "all-known",
    "admin_workers_trailing_space": False,
    "admin_max_words": 5,
    "admin_cancel": "flag-and-fail",
    "admin_cancel_eol": "\r\n",
    "admin_drop_queued": "drops-keeps-jobs",
    "admin_create_cuts_name": True,
    "admin_shutdown": "unknown",
    "defects": [*_GEARMAND_DEFECTS, *_GEARMAND_11_ONLY_DEFECTS],
}

#: known bugs of Perl Gearman::Server 1.130.1
_PERL_DEFECTS: Final[list[dict[str, Any]]] = [
    {
        "id": "listener-attached-twice",
        "summary": (
            "a connection that submits the same foreground unique twice is added to the job's listeners "
            "twice, so it receives every WORK_* packet of the job twice, WORK_COMPLETE included"
        ),
        "rules": ["GM-WORK-007"],
        "repro": (
            "c1 SUBMIT_JOB f u one -> H:vm:1; c1 SUBMIT_JOB f u two -> H:vm:1; worker CAN_DO f, GRAB_JOB, "
            "WORK_COMPLETE H:vm:1 r: c1 gets WORK_COMPLETE H:vm:1 r twice"
        ),
        "found": (
            "spec/evidence.md PERL-7 (Server/Job.pm:55-60 add_listener pushes without looking, 63-69 relays "
            "to each entry); vectors/server/coalesce.yaml::same-connection-twice"
        ),
    },
    {
        "id": "timeout-in-seconds",
        "summary": "CAN_DO_TIMEOUT is read in seconds: every limit a libgearman worker sets is a thousand times longer",
        "rules": ["GM-TIMEOUT-001"],
        "repro": (
            "w CAN_DO_TIMEOUT f 1000, c SUBMIT_JOB_BG f u x, w GRAB_JOB; 1.6 s later GET_STATUS -> 1 1 '' '' "
            "(the job is still held; its limit is 1000 s)"
        ),
        "found": "spec/evidence.md PERL-3; vectors/worker/timeout.yaml::timer-bound-to-first-job",
    },
    {
        "id": "core-requests-missing",
        "summary": (
            "SUBMIT_JOB_HIGH_BG, SUBMIT_JOB_LOW, SUBMIT_JOB_LOW_BG, GRAB_JOB_UNIQ, WORK_DATA and WORK_WARNING are "
            "answered with ERROR server_error: clients and workers built on libgearman cannot use the server"
        ),
        "rules": ["GM-SERVER-001"],
        "repro": (
            "GRAB_JOB_UNIQ (00524551 0000001e 00000000): ERROR server_error 'Can't locate object method "
            '"CMD_grab_job_uniq" ...\''
        ),
        "found": (
            "spec/evidence.md PERL-2 (a libgearman worker fails); vectors/worker/grab.yaml::nothing-runnable, "
            "vectors/server/submit.yaml::background-variants"
        ),
    },
    {
        "id": "bad-magic-wedges",
        "summary": (
            "a binary message with a bad magic is neither answered nor closed: the connection stays open and "
            "nothing later on it is read"
        ),
        "rules": ["GM-FRAME-008", "GM-FRAME-016"],
        "repro": (
            "'\\0XYZ' + ECHO_REQ header (0058595a 00000010 00000000): no reply, no close; a following valid "
            "GET_STATUS is never answered"
        ),
        "found": ("spec/evidence.md PERL-1; spec/observed/perl-gearman-server-1.130-codec.yaml case bad-magic"),
    },
    {
        "id": "res-magic-wedges",
        "summary": (
            "a request framed with \\0RES is neither answered nor closed: the connection stays open and "
            "nothing later on it is read"
        ),
        "rules": ["GM-FRAME-011", "GM-FRAME-016"],
        "repro": (
            "ECHO_REQ 'hi' framed with \\0RES (00524553 00000010 00000002 6869): no reply, no close; later "
            "packets are never answered"
        ),
        "found": (
            "spec/evidence.md PERL-1; spec/observed/perl-gearman-server-1.130-codec.yaml case res-magic-on-echo-req"
        ),
    },
    {
        "id": "dash-empty-key-never-freed",
        "summary": (
            "unique '-' with an empty payload is keyed on the empty payload and that key is never freed: "
            "after the job ends, every later such submission gets the ended job's handle and no job"
        ),
        "rules": ["GM-COAL-005"],
        "repro": (
            "SUBMIT_JOB_BG f '-' '' twice -> H:vm:1 both; worker CAN_DO f, GRAB_JOB, WORK_COMPLETE 'H:vm:1\\0'; "
            "SUBMIT_JOB_BG f '-' '' -> JOB_CREATED H:vm:1 again, GET_STATUS H:vm:1 -> known 0, GRAB_JOB -> NO_JOB"
        ),
        "found": (
            "raw-socket probe of /usr/bin/gearmand 1.130.1 while modelling the '-' coalescing; Job.pm new() "
            "replaces '-' by the payload after its length check, Server.pm frees a unique only when non-empty"
        ),
    },
]

#: known bugs of geard (PyPI gear 0.16.0)
_GEAR_DEFECTS: Final[list[dict[str, Any]]] = [
    {
        "id": "unimplemented-ignored",
        "summary": (
            "requests gear does not implement (GRAB_JOB, ECHO_REQ, OPTION_REQ, GET_STATUS_UNIQUE, GRAB_JOB_ALL, "
            "SUBMIT_JOB_EPOCH, the reduce submits) get no reply at all, so the peer waits for ever"
        ),
        "rules": ["GM-SERVER-001", "GM-SERVER-004"],
        "repro": "ECHO_REQ 'x' (00524551 00000010 00000001 78): no reply, the connection stays open",
        "found": (
            "spec/evidence.md GEAR-1 (a libgearman client hangs on its OPTION_REQ); vectors/worker/grab.yaml::"
            "nothing-runnable, vectors/client/session.yaml::echo"
        ),
    },
    {
        "id": "exception-to-everyone",
        "summary": "WORK_EXCEPTION goes to every listener, also to those that never asked for it with OPTION_REQ",
        "rules": ["GM-WORK-008"],
        "repro": (
            "c1 OPTION_REQ exceptions, c1 and c2 SUBMIT_JOB f u x (one job); worker WORK_EXCEPTION H 'e': "
            "both c1 and c2 get WORK_EXCEPTION H 'e'"
        ),
        "found": "spec/evidence.md GEAR-2; vectors/server/exceptions.yaml::option-and-no-option-listeners",
    },
    {
        "id": "disconnect-fail-req-magic",
        "summary": "the WORK_FAIL sent to the submitter when a worker disconnects mid-job carries the \\0REQ magic",
        "rules": ["GM-FRAME-002"],
        "repro": (
            "client SUBMIT_JOB f '' x; worker CAN_DO f, GRAB_JOB_UNIQ, then closes: the client gets "
            "00524551 0000000e 0000000d 'H:127.0.0.1:1' (REQ WORK_FAIL)"
        ),
        "found": ("spec/evidence.md GEAR-3; vectors/server/disconnect.yaml::worker-disconnect-requeues"),
    },
    {
        "id": "cantdo-unknown-drops-connection",
        "summary": (
            "CANT_DO of a function the connection never registered raises KeyError and the connection is dropped"
        ),
        "rules": ["GM-WORKER-004"],
        "repro": "CANT_DO 'f' (00524551 00000002 00000001 66) on a fresh connection: closed, no reply",
        "found": ("spec/evidence.md GEAR-4; vectors/worker/abilities.yaml::cant-do-unknown"),
    },
    {
        "id": "signed-body-length",
        "summary": (
            "the body length is read as a signed 32-bit number: a length of 0xFFFFFFFF is -1 and the stream "
            "is misparsed"
        ),
        "rules": ["GM-FRAME-001"],
        "repro": (
            "ECHO_REQ header with size ffffffff (00524551 00000010 ffffffff) + bytes: an empty packet, the "
            "rest parsed as new packets; SUBMIT_JOB so framed raises IndexError and closes"
        ),
        "found": "spec/evidence.md GEAR-5; spec/observed/gear-0.16-codec.yaml case length-ffffffff; not modelled",
    },
]

#: the profile table; spec/profiles.yaml holds the same data
PROFILE_TABLE: Final[dict[str, dict[str, Any]]] = {
    "gearmand-1.1": _GEARMAND_11,
    "gearmand-2.0": {
        **_GEARMAND_11,
        "name": "gearmand-2.0",
        "summary": "gearmand 2.0.0 and later: global priority, round-robin, epoch NOOP timer",
        "notes": (
            "From source reading of tag 2.0.0 only [C] (B-K6, B-U13, the timer re-bound to each job, "
            "epoch jobs no longer hiding lower priorities); everything else, the reported version and the "
            "other defects as 1.1 (the same code; not probed on 2.0). --job-retries 0 still "
            "means no limit at the tag: the change to 'no retries' (#197, commit fbe35327) is in no "
            "release."
        ),
        "priorities": "global",
        "round_robin": True,
        "epoch_wakeup_noop": True,
        "epoch_blocks_lower": False,
        "can_do_timeout_timer": "last-job-of-connection",
        "defects": [*_GEARMAND_DEFECTS, _GEARMAND_20_TIMER_DEFECT],
    },
    "perl-1.130": {
        **_GEARMAND_11,
        "name": "perl-1.130",
        "summary": "Perl Gearman::Server 1.130.1 (Debian gearman-server)",
        "notes": (
            "Evidence: spec/evidence.md PERL-1 to PERL-8 and the probes of 1.130.1. Not modelled: "
            "the order in which a worker's functions are scanned (modelled as gearmand's), the admin "
            "jobs, clients and gladiator commands, admin lines "
            "that do not start with a word character, and the maxqueue crash on limit 0."
        ),
        "version": "1.130.1",
        # grab_job runs a job while any listener is connected (Server.pm:467-471, PERL-8)
        "resubmit_abandoned": "revives",
        "bad_magic": "stall",
        "res_magic_request": "stall",
        "unknown_type": "error",
        "short_body": "per-command",
        "submit_header": "perl-regex",
        "implemented": [
            "CAN_DO",
            "CANT_DO",
            "RESET_ABILITIES",
            "PRE_SLEEP",
            "SUBMIT_JOB",
            "GRAB_JOB",
            "WORK_STATUS",
            "WORK_COMPLETE",
            "WORK_FAIL",
            "GET_STATUS",
            "ECHO_REQ",
            "SUBMIT_JOB_BG",
            "SUBMIT_JOB_HIGH",
            "SET_CLIENT_ID",
            "CAN_DO_TIMEOUT",
            "WORK_EXCEPTION",
            "OPTION_REQ",
        ],
        "unimplemented": "error-perl-cmd",
        "error_vocabulary": "perl",
        "fixed_buffers": False,
        "dash_unique": "replace-with-payload",
        "dash_empty_payload": "coalesces-key-never-freed",
        "unique_max": None,
        "unique_stored_max": None,
        "status_empty_numbers": True,
        "status_numbers": "raw",
        "status_nul_handle": "no-reply",
        "option_match": "exact",
        "work_exception": "forward-only-with-option-nonterminal",
        "non_owner_work": "error-not-worker",
        "high_lifo": True,
        "stale_queue_entry": True,
        "worker_disconnect": "fail",
        "background_keeps_abandoned": True,
        "can_do_timeout": "fail-seconds",
        "can_do_timeout_timer": "per-job",
        "can_do_timeout_overflow": "limit",
        "duplicate_can_do_counts": False,
        "maxqueue": "evict",
        "maxqueue_remembers_unknown": True,
        "cantdo_held": "keep",
        "admin_commands": ["workers", "status", "maxqueue", "version"],
        "admin_match": "word-run",
        "admin_unknown_reply": "ERR unknown_command \r\n",
        "admin_version_reply": "v{version}\n",
        "admin_ok": "OK\n",
        "admin_order": "name",
        "admin_status_rows": "active-only",
        "admin_workers_trailing_space": True,
        "admin_max_words": None,
        "admin_shutdown": "exit",
        "defects": _PERL_DEFECTS,
    },
    "gear-0.16": {
        **_GEARMAND_11,
        "name": "gear-0.16",
        "summary": "geard from PyPI gear 0.16.0",
        "notes": (
            "Evidence: spec/evidence.md GEAR-1 to GEAR-6 and the probes of 0.16.0. Not modelled: "
            "its signed body length and the acl admin commands. gear has no version or "
            "unknown-command reply."
        ),
        "version": "0.16.0",
        "bad_magic": "ignore",
        "res_magic_request": "ignore",
        "unknown_type": "ignore",
        "short_body": "last-optional",
        "implemented": [
            "CAN_DO",
            "CANT_DO",
            "RESET_ABILITIES",
            "PRE_SLEEP",
            "SUBMIT_JOB",
            "WORK_STATUS",
            "WORK_COMPLETE",
            "WORK_FAIL",
            "GET_STATUS",
            "SUBMIT_JOB_BG",
            "SUBMIT_JOB_HIGH",
            "SET_CLIENT_ID",
            "CAN_DO_TIMEOUT",
            "WORK_EXCEPTION",
            "WORK_DATA",
            "WORK_WARNING",
            "GRAB_JOB_UNIQ",
            "SUBMIT_JOB_HIGH_BG",
            "SUBMIT_JOB_LOW",
            "SUBMIT_JOB_LOW_BG",
        ],
        "unimplemented": "ignore",
        "fixed_buffers": False,
        "coalesce_uniques": False,
        "dash_unique": "none",
        "unique_max": None,
        "unique_stored_max": None,
        "handle_host": "peer",
        "status_empty_numbers": True,
        "status_numbers": "raw",
        "work_exception": "forward-always-terminal",
        "non_owner_work": "ignore",
        "priorities": "global-fifo",
        "worker_disconnect": "fail",
        "disconnect_fail_magic": "REQ",
        "client_disconnect": "remove-now",
        "can_do_timeout": "ignore",
        "can_do_timeout_timer": "per-job",
        "can_do_timeout_overflow": "limit",
        "duplicate_can_do_counts": False,
        "cantdo_unknown": "close",
        "maxqueue": "unsupported",
        "admin_commands": ["workers", "status", "cancel"],
        "admin_match": "prefix",
        "admin_unknown_reply": None,
        "admin_ok": "OK\n",
        "admin_order": "insertion",
        "admin_workers_trailing_space": True,
        "admin_max_words": None,
        "admin_cancel": "remove-queued",
        "admin_cancel_eol": "\n",
        "defects": _GEAR_DEFECTS,
    },
    SPEC_PROFILE: {
        **_GEARMAND_11,
        "name": SPEC_PROFILE,
        "summary": (
            "the spec alone: judges by the rules, accepts every behaviour a rule allows, and "
            "runs the model as a server without known defects"
        ),
        "notes": (
            "A neutral profile. Judging: an alternative outcome a vector lists is accepted "
            "whatever profiles it names unless it breaks a rule (breaks: SHOULD fails the run at "
            "--level should, a defect always fails); ERROR code words and texts are labels "
            "(GM-ERROR-003); cases written only for named profiles are n/a. Model: the gearmand "
            "1.1 switches with every known defect turned off, taking gearmand's choice where "
            "the spec allows several."
        ),
        "version": "gearsim-spec",
        "short_body": "close",
        "reduce_unique_check": "unique",
        "resubmit_abandoned": "revives",
        "listener_per_submission": False,
        "unique_max": 63,
        "unique_stored_max": None,
        "work_exception": "terminal-fail-to-others",
        "epoch_blocks_lower": False,
        "background_keeps_abandoned": True,
        "can_do_timeout_timer": "per-job",
        "can_do_timeout_overflow": "close",
        "maxqueue_remembers_unknown": True,
        "admin_order": "insertion",
        "admin_cancel": "end",
        "admin_drop_queued": "refuses",
        "admin_create_cuts_name": False,
        "defects": [],
    },
}

PROFILES: Final[Mapping[str, Profile]] = {name: Profile.from_mapping(data) for name, data in PROFILE_TABLE.items()}
DEFAULT_PROFILE: Final[str] = "gearmand-1.1"


def get_profile(profile: Profile | str) -> Profile:
    """The Profile itself, or the table's profile of that name.

    Raises:
        KeyError: no profile has that name.
    """
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise KeyError(f"unknown profile {profile!r}; known: {sorted(PROFILES)}") from None
