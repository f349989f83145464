"""What geard (PyPI gear) does: the gear-0.16 profile and its known defects.

PURE. This module owns the profile data of geard from gear 0.16.0
(``GEAR_016``): gearmand 1.1's switches with what the evidence (spec/evidence.md
GEAR-1 to GEAR-6) shows gear does differently, and the defects the model
reproduces.
"""

from __future__ import annotations

from typing import Any, Final

from gearsim.model.profiles.gearmand import GEARMAND_11

#: known bugs of geard (PyPI gear 0.16.0)
_GEAR_DEFECTS: Final[list[dict[str, Any]]] = [
    {
        "id": "unimplemented-ignored",
        "summary": (
            "requests gear does not implement (GRAB_JOB, ECHO_REQ, OPTION_REQ, CAN_DO_TIMEOUT, GET_STATUS_UNIQUE, "
            "GRAB_JOB_ALL, SUBMIT_JOB_EPOCH, the reduce submits) get no reply at all, so the peer waits for ever "
            "(CAN_DO_TIMEOUT registers nothing)"
        ),
        "rules": ["GM-SERVER-001", "GM-SERVER-004"],
        "repro": "ECHO_REQ 'x' (00524551 00000010 00000001 78): no reply, the connection stays open",
        "requests": [
            "GRAB_JOB",
            "ECHO_REQ",
            "OPTION_REQ",
            "CAN_DO_TIMEOUT",
            "GET_STATUS_UNIQUE",
            "GRAB_JOB_ALL",
            "SUBMIT_JOB_EPOCH",
            "SUBMIT_REDUCE_JOB",
            "SUBMIT_REDUCE_JOB_BACKGROUND",
        ],
        "found": (
            "spec/evidence.md GEAR-1 (a libgearman client hangs on its OPTION_REQ); vectors/worker/grab.yaml::"
            "nothing-runnable, vectors/client/session.yaml::echo"
        ),
    },
    {
        "id": "refused-types-ignored",
        "summary": (
            "a type clients may not send (type 5, the server-to-client types, ALL_YOURS, SUBMIT_JOB_SCHED) "
            "gets no reply and no ERROR; the connection stays open"
        ),
        "rules": ["GM-FRAME-012"],
        "repro": "ECHO_RES 'hello' as a request (00524551 00000011 00000005 68656c6c6f): no reply, no close",
        "requests": [
            "UNUSED",
            "NOOP",
            "JOB_CREATED",
            "NO_JOB",
            "JOB_ASSIGN",
            "ECHO_RES",
            "ERROR",
            "STATUS_RES",
            "ALL_YOURS",
            "OPTION_RES",
            "JOB_ASSIGN_UNIQ",
            "SUBMIT_JOB_SCHED",
            "JOB_ASSIGN_ALL",
            "STATUS_RES_UNIQUE",
        ],
        "found": (
            "spec/evidence.md GEAR-1 (the base class's handlers log only); codec/packets.yaml::echo-res-as-request, "
            "server/errors.yaml::not-from-clients under --peer gear"
        ),
    },
    {
        "id": "magic-unchecked",
        "summary": (
            "the magic is never checked: a packet framed with \\0RES or any other 4 bytes is read as a request, "
            "so a bad magic does not close the connection and a \\0RES request gets no ERROR INVALID_MAGIC"
        ),
        "rules": ["GM-FRAME-008", "GM-FRAME-011"],
        "repro": "ECHO_REQ header with magic \\0XYZ (0058595a 00000010 00000002 6869): no reply, no close",
        "requests": ["bad-magic", "RES-magic"],
        "found": "gear/__init__.py:387 unpacks the magic and never compares it; codec/framing.yaml::bad-magic, "
        "::res-magic-on-request under --peer gear",
    },
    {
        "id": "short-body-accepted",
        "summary": (
            "a body with one NUL too few is taken as complete, its last argument empty: SUBMIT_JOB 'fn\\0u9' "
            "creates a job, WORK_COMPLETE with the bare handle is acted on (or ignored when the handle is not held)"
        ),
        "rules": ["GM-FRAME-015"],
        "repro": "SUBMIT_JOB 'fn\\0u9' (00524551 00000007 00000005 666e0075 39): JOB_CREATED H:127.0.0.1:1",
        "found": "gear/__init__.py Packet.getArgument(index, last) reads a missing last argument as empty; "
        "codec/framing.yaml::submit-job-one-nul, ::work-complete-no-separator under --peer gear",
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

#: geard from PyPI gear 0.16.0
GEAR_016: Final[dict[str, Any]] = {
    **GEARMAND_11,
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
}
