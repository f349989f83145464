"""The ``Profile`` value: one switch for each behaviour on which real Gearman servers differ.

PURE. This module owns ``Profile`` (the switches the reference model reads,
never a profile's name), the ``Literal`` types of their values, ``Defect``
(a known bug of the real server a profile describes) and ``SPEC_PROFILE``,
the name of the neutral profile. Which peer has which value is the business
of ``gearmand``, ``perl`` and ``gear`` beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

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
    #: request types the defect leaves without their reply (a server that ignores
    #: what it does not implement): a step awaiting the reply to one of them meets
    #: the defect, and the case can go no further
    requests: tuple[str, ...] = ()
    #: request types the defect answers with nothing but ERROR (a server that refuses
    #: what it does not implement): an ERROR such a request gets is the defect, and a
    #: step awaiting another reply to it meets the defect, and the case can go no further
    refused: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Defect:
        """Raises KeyError for a missing key, ValueError for an unknown one."""
        names = {f.name for f in fields(cls)}
        extra = set(data) - names
        if extra:
            raise ValueError(f"defect {data.get('id')!r}: unknown keys {sorted(extra)}")
        optional = ("requests", "refused")
        values = {n: data[n] for n in names if n in data or n not in optional}
        values["rules"] = tuple(values["rules"])
        for name in optional:
            values[name] = tuple(values.get(name, ()))
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
