"""What gearmand does: the gearmand 1.1 and 2.0 profiles and their known defects.

PURE. This module owns the profile data of gearmand (``GEARMAND_11``,
``GEARMAND_20``): every switch backed by source lines and a probe in
spec/evidence.md (B-P1 to B-K13), and the defects the model reproduces. Perl's,
gear's and the spec profile start from ``GEARMAND_11`` and change what differs.
"""

from __future__ import annotations

from typing import Any, Final

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

GEARMAND_11: Final[dict[str, Any]] = {
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

#: gearmand 2.0.0 and later: 1.1 with the switches its source changes
GEARMAND_20: Final[dict[str, Any]] = {
    **GEARMAND_11,
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
}
