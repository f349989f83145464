"""What Perl Gearman::Server does: the perl-1.130 profile and its known defects.

PURE. This module owns the profile data of Perl Gearman::Server 1.130.1
(``PERL_1130``): gearmand 1.1's switches with what the evidence (spec/evidence.md
PERL-1 to PERL-9) shows Perl does differently, and the defects the model
reproduces.
"""

from __future__ import annotations

from typing import Any, Final

from gearsim.model.profiles.gearmand import GEARMAND_11

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
        "id": "timeout-zero-fails-at-once",
        "summary": "CAN_DO_TIMEOUT with 0 sets a timer of 0 seconds: each job the worker grabs fails at once",
        "rules": ["GM-TIMEOUT-002"],
        "repro": (
            "w CAN_DO_TIMEOUT f 0, c SUBMIT_JOB_BG f '' x, w GRAB_JOB -> JOB_ASSIGN; 1.5 s later "
            "GET_STATUS -> 0 0 '' '' (the job has ended)"
        ),
        "found": (
            "Gearman/Server/Client.pm:418-423 stores any text after the NUL ('0' included) and 381-396 arms "
            "a timer with it; worker/timeout.yaml::timeout-zero-none under --peer perl-gearman-server"
        ),
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
        "refused": [
            "SUBMIT_JOB_HIGH_BG",
            "SUBMIT_JOB_LOW",
            "SUBMIT_JOB_LOW_BG",
            "GRAB_JOB_UNIQ",
            "WORK_DATA",
            "WORK_WARNING",
        ],
    },
    {
        "id": "grab-all-and-status-unique-missing",
        "summary": (
            "GRAB_JOB_ALL and GET_STATUS_UNIQUE are answered with ERROR server_error: a libgearman worker, "
            "which grabs with GRAB_JOB_ALL by default, must be told to use another grab"
        ),
        "rules": ["GM-SERVER-002"],
        "repro": (
            "GRAB_JOB_ALL (00524551 00000027 00000000): ERROR server_error 'Can't locate object method \"CMD_\" ...'"
        ),
        "found": (
            "Gearman/Server/Client.pm has no CMD_ for types 39 and 41 (spec/evidence.md PERL-2); "
            "codec/packets.yaml::grab-job-all-req-worker, ::get-status-unique-req-client "
            "under --peer perl-gearman-server"
        ),
        "refused": ["GRAB_JOB_ALL", "GET_STATUS_UNIQUE"],
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
        "requests": ["bad-magic"],
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
        "requests": ["RES-magic"],
    },
    {
        "id": "admin-non-word-line-wedges",
        "summary": (
            "an admin line whose first byte is not a word character (' version') is never taken from the read "
            "buffer: it gets no reply, and nothing later on the connection is read"
        ),
        "rules": ["GM-FRAME-016", "GM-ADMIN-006"],
        "repro": (
            "admin line ' version\\n' (20 76657273 696f6e0a): no reply; a following 'version\\n' or ECHO_REQ "
            "on the same connection is never answered"
        ),
        "found": (
            "Gearman/Server/Client.pm:190-214 event_read takes a text line only when it matches ^(\\w.+?)?\\r?\\n, "
            "else leaves the buffer as it is; raw-socket probe of 1.130.1; admin/commands.yaml::unknown-commands"
        ),
    },
    {
        "id": "status-nul-handle-dropped",
        "summary": "a GET_STATUS whose handle holds a NUL gets no reply at all, and the connection goes on",
        "rules": ["GM-ERROR-006", "GM-STATUS-001"],
        "repro": "GET_STATUS 'H:a\\0b' (00524551 0000000f 00000005 483a6100 62): no reply, no close",
        "found": (
            "Gearman/Server/Client.pm:468-469 returns without a reply when the handle holds a NUL; "
            "codec/framing.yaml::get-status-nul-in-handle under --peer perl-gearman-server"
        ),
    },
    {
        "id": "error-text-echoes-body",
        "summary": (
            "the ERROR invalid_args for a submission without two NULs repeats the body in its text, NULs included, "
            "so the ERROR has more than two arguments"
        ),
        "rules": ["GM-FRAME-005"],
        "repro": (
            "SUBMIT_JOB 'fn\\0u9' (00524551 00000007 00000005 666e0075 39): ERROR 'invalid_args\\0No func/uniq "
            "header [fn\\0u9].'"
        ),
        "found": (
            "Gearman/Server/Client.pm:512 puts the raw body in the text; codec/framing.yaml::submit-job-one-nul, "
            "worker/grab.yaml::empty-function-name under --peer perl-gearman-server"
        ),
    },
    {
        "id": "maxqueue-zero-refuses-all",
        "summary": (
            "after 'maxqueue f 0' every submission for f is answered ERROR server_error: the limit 0 is taken as "
            "a queue of no room, and evicting from the empty queue dies inside the request"
        ),
        "rules": ["GM-QUEUE-005"],
        "repro": (
            "admin 'maxqueue f 0' -> OK; SUBMIT_JOB_BG f '' a -> ERROR server_error 'Can't call method \"handle\" "
            "on an undefined value ...'"
        ),
        "found": (
            "Server.pm:277-301 evicts while the queue holds at least the limit (spec/evidence.md PERL-4); "
            "server/maxqueue.yaml::limit-zero-unlimited under --peer perl-gearman-server"
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

#: Perl Gearman::Server 1.130.1
PERL_1130: Final[dict[str, Any]] = {
    **GEARMAND_11,
    "name": "perl-1.130",
    "summary": "Perl Gearman::Server 1.130.1 (Debian gearman-server)",
    "notes": (
        "Evidence: spec/evidence.md PERL-1 to PERL-9 and the probes of 1.130.1. Not modelled: "
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
}
