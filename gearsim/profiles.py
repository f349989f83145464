"""Implementation profiles: the behaviour switches of the reference server model.

PURE. This module owns the ``Profile`` value and the profile table. Each field
of a Profile is one behaviour on which real Gearman servers are known to differ
(spec/profiles.yaml says which facts-file entry each value comes from); the
model reads switches, never a profile's name.

The table is typed twice on purpose: as the Python literal ``PROFILE_TABLE``
below (the core must not read files at import) and as spec/profiles.yaml (the
language-neutral copy). tests/unit/test_model_profiles.py fails when they differ.

Only what the facts show is a switch. Where a peer's behaviour is unknown the
profile takes the gearmand value and says so in its ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

__all__ = ["DEFAULT_PROFILE", "PROFILES", "PROFILE_TABLE", "Profile", "get_profile"]

BadMagic = Literal["close", "stall", "ignore"]
ResMagic = Literal["error", "stall", "ignore"]
UnknownType = Literal["close", "error", "ignore"]
ShortBody = Literal["stall-then-close", "close"]
Unimplemented = Literal["error-command-not-expected", "error-perl-cmd", "ignore"]
ErrorVocabulary = Literal["gearmand", "perl"]
DashUnique = Literal["payload-key-store-dash", "replace-with-payload", "none"]
StatusNumbers = Literal["uint32-atoi", "raw"]
OptionMatch = Literal["case-insensitive", "exact"]
WorkException = Literal[
    "terminal-fail-with-nul-to-others",
    "forward-only-with-option-nonterminal",
    "forward-always-terminal",
]
NonOwnerWork = Literal["error", "ignore", "error-not-worker"]
Priorities = Literal["per-function", "global", "global-fifo"]
WorkerDisconnect = Literal["requeue", "fail"]
ClientDisconnect = Literal["drop-when-reached", "remove-now"]
CanDoTimeout = Literal["requeue-ms-min-1000", "fail-seconds", "ignore"]
CantDoUnknown = Literal["noop", "close"]
MaxQueue = Literal["reject", "evict", "unsupported"]
JobRetriesZero = Literal["unlimited", "none"]
HandleHost = Literal["node", "peer"]
AdminMatch = Literal["case-insensitive", "prefix"]
AdminOrder = Literal["insertion", "name"]
AdminStatusRows = Literal["all-known", "active-only"]
AdminCancel = Literal["flag-and-fail", "remove-queued"]


@dataclass(frozen=True, slots=True)
class Profile:
    """Behaviour switches of one server implementation (see spec/profiles.yaml)."""

    name: str
    summary: str
    notes: str
    # --- framing (B-P) ---
    #: magic neither \0REQ nor \0RES (B-P2)
    bad_magic: BadMagic
    #: a request framed with \0RES (B-P4)
    res_magic_request: ResMagic
    #: type 0 or >= 43 (B-P3)
    unknown_type: UnknownType
    #: a body with fewer NULs than the command needs (B-P6)
    short_body: ShortBody
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
    #: a unique longer than this is refused with ARGUMENT_TOO_LARGE (B-U7)
    unique_max: int | None
    #: a unique is stored cut to this many bytes (B-U7: 64 -> 63)
    unique_stored_max: int | None
    #: handle prefix host part: the server's node name or the submitter's address
    handle_host: HandleHost
    # --- status (B-S) ---
    #: unknown handle / no WORK_STATUS yet: empty numerator and denominator
    status_empty_numbers: bool
    status_numbers: StatusNumbers
    # --- forwarding (B-W) ---
    option_match: OptionMatch
    work_exception: WorkException
    non_owner_work: NonOwnerWork
    # --- workers, queues (B-K) ---
    priorities: Priorities
    round_robin: bool
    #: HIGH jobs are pushed to the front of their queue (Perl)
    high_lifo: bool
    #: NOOP to sleeping workers when an epoch job becomes due (2.0, B-U13)
    epoch_wakeup_noop: bool
    job_retries_zero: JobRetriesZero
    worker_disconnect: WorkerDisconnect
    #: magic of the WORK_FAIL sent when a worker disconnects ("REQ" is gear's bug)
    disconnect_fail_magic: Literal["RES", "REQ"]
    client_disconnect: ClientDisconnect
    #: a background submission coalesced onto the job keeps it alive (B-U12: gearmand no)
    background_keeps_abandoned: bool
    can_do_timeout: CanDoTimeout
    duplicate_can_do_counts: bool
    cantdo_unknown: CantDoUnknown
    maxqueue: MaxQueue
    #: admin maxqueue for a function the server does not know yet keeps the limit
    #: (Perl); gearmand answers OK and keeps nothing
    maxqueue_remembers_unknown: bool
    # --- admin text protocol (c) ---
    #: admin command words answered; the others get ``admin_unknown_reply``
    admin_commands: frozenset[str]
    admin_match: AdminMatch
    #: template with ``{word}``, or None for no reply
    admin_unknown_reply: str | None
    #: template with ``{version}``
    admin_version_reply: str
    admin_ok: str
    admin_order: AdminOrder
    admin_status_rows: AdminStatusRows
    #: "fd ip id :" with a trailing space when the connection has no functions
    admin_workers_trailing_space: bool
    #: a line of more words than this closes the connection (None: no limit)
    admin_max_words: int | None
    admin_cancel: AdminCancel
    admin_cancel_eol: str

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
        return cls(**values)


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

_GEARMAND_11: Final[dict[str, Any]] = {
    "name": "gearmand-1.1",
    "summary": "gearmand 1.1.20 (Debian 1.1.20+ds), default options: the reference",
    "notes": "Every switch verified [V] or read in code [C] in protocol-facts.md (b) and (c).",
    "bad_magic": "close",
    "res_magic_request": "error",
    "unknown_type": "close",
    "short_body": "stall-then-close",
    "implemented": _ALL_REQUESTS,
    "unimplemented": "error-command-not-expected",
    "error_vocabulary": "gearmand",
    "fixed_buffers": True,
    "coalesce_uniques": True,
    "dash_unique": "payload-key-store-dash",
    "unique_max": 64,
    "unique_stored_max": 63,
    "handle_host": "node",
    "status_empty_numbers": False,
    "status_numbers": "uint32-atoi",
    "option_match": "case-insensitive",
    "work_exception": "terminal-fail-with-nul-to-others",
    "non_owner_work": "error",
    "priorities": "per-function",
    "round_robin": False,
    "high_lifo": False,
    "epoch_wakeup_noop": False,
    "job_retries_zero": "unlimited",
    "worker_disconnect": "requeue",
    "disconnect_fail_magic": "RES",
    "client_disconnect": "drop-when-reached",
    "background_keeps_abandoned": False,
    "can_do_timeout": "requeue-ms-min-1000",
    "duplicate_can_do_counts": True,
    "cantdo_unknown": "noop",
    "maxqueue": "reject",
    "maxqueue_remembers_unknown": False,
    "admin_commands": _GEARMAND_ADMIN,
    "admin_match": "case-insensitive",
    "admin_unknown_reply": "ERR UNKNOWN_COMMAND Unknown+server+command{word}\r\n",
    "admin_version_reply": "OK {version}\n",
    "admin_ok": "OK\r\n",
    "admin_order": "insertion",
    "admin_status_rows": "all-known",
    "admin_workers_trailing_space": False,
    "admin_max_words": 5,
    "admin_cancel": "flag-and-fail",
    "admin_cancel_eol": "\r\n",
}

#: the profile table; spec/profiles.yaml holds the same data
PROFILE_TABLE: Final[dict[str, dict[str, Any]]] = {
    "gearmand-1.1": _GEARMAND_11,
    "gearmand-2.0": {
        **_GEARMAND_11,
        "name": "gearmand-2.0",
        "summary": "gearmand 2.0.0 and later: global priority, round-robin, epoch NOOP timer",
        "notes": "From source reading only [C] (B-K6, B-K7, B-U13); everything else as 1.1.",
        "priorities": "global",
        "round_robin": True,
        "epoch_wakeup_noop": True,
        "job_retries_zero": "none",
    },
    "perl-1.130": {
        **_GEARMAND_11,
        "name": "perl-1.130",
        "summary": "Perl Gearman::Server 1.130.1 (Debian gearman-server)",
        "notes": (
            "From protocol-facts.md (d) and peer-lab-findings 4-8. Not modelled: Perl's "
            "invalid_args reply to short SUBMIT bodies (modelled as a close), the order in which "
            "a worker's functions are scanned (modelled as gearmand's), the admin jobs, clients "
            "and gladiator commands, and the maxqueue crash on limit 0."
        ),
        "bad_magic": "stall",
        "res_magic_request": "stall",
        "unknown_type": "error",
        "short_body": "close",
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
        "unique_max": None,
        "unique_stored_max": None,
        "status_empty_numbers": True,
        "status_numbers": "raw",
        "option_match": "exact",
        "work_exception": "forward-only-with-option-nonterminal",
        "non_owner_work": "error-not-worker",
        "high_lifo": True,
        "worker_disconnect": "fail",
        "background_keeps_abandoned": True,
        "can_do_timeout": "fail-seconds",
        "duplicate_can_do_counts": False,
        "maxqueue": "evict",
        "maxqueue_remembers_unknown": True,
        "admin_commands": ["workers", "status", "maxqueue", "version"],
        "admin_match": "case-insensitive",
        "admin_unknown_reply": "ERR unknown_command \r\n",
        "admin_version_reply": "v{version}\n",
        "admin_ok": "OK\n",
        "admin_order": "name",
        "admin_status_rows": "active-only",
        "admin_workers_trailing_space": True,
        "admin_max_words": None,
    },
    "gear-0.16": {
        **_GEARMAND_11,
        "name": "gear-0.16",
        "summary": "geard from PyPI gear 0.16.0",
        "notes": (
            "From protocol-facts.md (d) and peer-lab-findings 4-8. Not modelled: gear's "
            "acceptance of a 2-argument SUBMIT_JOB (modelled as a close), its signed body length, "
            "and the acl admin commands. gear has no version or unknown-command reply."
        ),
        "bad_magic": "ignore",
        "res_magic_request": "ignore",
        "unknown_type": "ignore",
        "short_body": "close",
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
