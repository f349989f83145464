"""The case table of tools/probe_codec.py: what is sent to a real Gearman server, case by case.

Owns ``build_cases`` (every probe case, in the order run: valid, odd and
malformed binary input, admin lines), the ``Case`` record, the raw packet
builder ``pkt`` (framed by hand, so a lying length can be sent), the GET_STATUS
follow-up sent after each case, and ``escape``, the readable byte notation
used in case titles and in the probe's YAML. Only the standard library.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: packet type names, as in the protocol document (0 is gearmand's internal TEXT)
TYPE_NAMES = {
    0: "TEXT",
    1: "CAN_DO",
    2: "CANT_DO",
    3: "RESET_ABILITIES",
    4: "PRE_SLEEP",
    5: "UNUSED",
    6: "NOOP",
    7: "SUBMIT_JOB",
    8: "JOB_CREATED",
    9: "GRAB_JOB",
    10: "NO_JOB",
    11: "JOB_ASSIGN",
    12: "WORK_STATUS",
    13: "WORK_COMPLETE",
    14: "WORK_FAIL",
    15: "GET_STATUS",
    16: "ECHO_REQ",
    17: "ECHO_RES",
    18: "SUBMIT_JOB_BG",
    19: "ERROR",
    20: "STATUS_RES",
    21: "SUBMIT_JOB_HIGH",
    22: "SET_CLIENT_ID",
    23: "CAN_DO_TIMEOUT",
    24: "ALL_YOURS",
    25: "WORK_EXCEPTION",
    26: "OPTION_REQ",
    27: "OPTION_RES",
    28: "WORK_DATA",
    29: "WORK_WARNING",
    30: "GRAB_JOB_UNIQ",
    31: "JOB_ASSIGN_UNIQ",
    32: "SUBMIT_JOB_HIGH_BG",
    33: "SUBMIT_JOB_LOW",
    34: "SUBMIT_JOB_LOW_BG",
    35: "SUBMIT_JOB_SCHED",
    36: "SUBMIT_JOB_EPOCH",
    37: "SUBMIT_REDUCE_JOB",
    38: "SUBMIT_REDUCE_JOB_BACKGROUND",
    39: "GRAB_JOB_ALL",
    40: "JOB_ASSIGN_ALL",
    41: "GET_STATUS_UNIQUE",
    42: "STATUS_RES_UNIQUE",
}

_ESCAPES = {0: "\\0", 9: "\\t", 10: "\\n", 13: "\\r", 92: "\\\\"}


def escape(data: bytes) -> str:
    """Readable text for bytes: printable ASCII as is; \\0 \\t \\n \\r \\\\; else \\xNN."""
    out = []
    for byte in data:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


REQ = b"\0REQ"
RES = b"\0RES"


def pkt(ptype: int, body: bytes = b"", *, magic: bytes = REQ, size: int | None = None) -> bytes:
    """A binary packet; ``size`` overrides the header's body length (to lie about it)."""
    return magic + struct.pack(">II", ptype, len(body) if size is None else size) + body


FOLLOWUP_HANDLE = b"H:followup:1"
FOLLOWUP = pkt(15, FOLLOWUP_HANDLE)


@dataclass(frozen=True)
class Case:
    """One probe: bytes to send on a fresh connection, one reply window per element of ``sends``."""

    id: str
    title: str
    sends: tuple[bytes, ...]
    group: str
    note: str = ""
    followup: bool = True


def _c(id_: str, title: str, *sends: bytes, group: str, note: str = "") -> Case:
    return Case(id=id_, title=title, sends=sends, group=group, note=note)


def build_cases() -> list[Case]:
    """Every case, in the order run (state left by one case is visible to later ones)."""
    m = "malformed"
    cases = [
        # --- malformed binary input -------------------------------------------------
        _c("bad-magic", "magic \\0XYZ on an ECHO_REQ header + body 'hi'", pkt(16, b"hi", magic=b"\0XYZ"), group=m),
        _c("res-magic-on-echo-req", "\\0RES magic on ECHO_REQ 'hi'", pkt(16, b"hi", magic=RES), group=m),
        _c("unknown-type-43", "type 43 (one past the last defined type), empty body", pkt(43), group=m),
        _c("unknown-type-999", "type 999, empty body", pkt(999), group=m),
        _c("type-0", "type 0 (TEXT, internal to gearmand), empty body", pkt(0), group=m),
        _c("type-5", "type 5 (unused), empty body", pkt(5), group=m),
        _c(
            "short-header-6-bytes",
            "only the first 6 bytes of an ECHO_REQ header, then wait",
            pkt(16)[:6],
            group=m,
            note="the follow-up's first 6 bytes complete this header",
        ),
        _c(
            "truncated-body",
            "ECHO_REQ whose header says 8 body bytes; only 4 are sent",
            pkt(16, b"abcd", size=8),
            group=m,
            note="the follow-up's first 4 bytes complete this body",
        ),
        _c("submit-job-no-nul", "SUBMIT_JOB body 'fnonly' (no NUL: 1 of 3 arguments)", pkt(7, b"fnonly"), group=m),
        _c("submit-job-two-args", "SUBMIT_JOB body 'fn\\0u9' (2 of 3 arguments)", pkt(7, b"fn\0u9"), group=m),
        _c("can-do-extra-arg", "CAN_DO body 'a\\0b' (a NUL inside the only argument)", pkt(1, b"a\0b"), group=m),
        _c("grab-job-with-body", "GRAB_JOB (no arguments) with body 'xyz'", pkt(9, b"xyz"), group=m),
        _c("get-status-nul-in-handle", "GET_STATUS body 'H:a\\0b'", pkt(15, b"H:a\0b"), group=m),
        _c("option-req-nul", "OPTION_REQ body 'exceptions\\0x'", pkt(26, b"exceptions\0x"), group=m),
        _c(
            "work-complete-no-nul",
            "WORK_COMPLETE body 'H:nope:1' (empty result, separating NUL missing)",
            pkt(13, b"H:nope:1"),
            group=m,
        ),
        _c(
            "work-complete-empty-result",
            "WORK_COMPLETE body 'H:nope:1\\0' (empty result, with the NUL), unknown handle",
            pkt(13, b"H:nope:1\0"),
            group=m,
        ),
        _c(
            "length-ffffffff",
            "ECHO_REQ header with body length 0xFFFFFFFF, then 4 bytes 'abcd'",
            pkt(16, b"abcd", size=0xFFFFFFFF),
            group=m,
        ),
        # --- admin line framing --------------------------------------------------------
        _c("admin-no-newline", "admin 'status' without a line ending, then wait", b"status", group="admin-framing"),
        _c("admin-6-words", "admin line of 6 words", b"a b c d e f\n", group="admin-framing"),
        _c("admin-5-words", "admin line of 5 words", b"a b c d e\n", group="admin-framing"),
        _c("version-crlf", "admin 'version\\r\\n'", b"version\r\n", group="admin-framing"),
        _c("version-lf", "admin 'version\\n'", b"version\n", group="admin-framing"),
        _c("version-cr", "admin 'version\\r' (no \\n)", b"version\r", group="admin-framing"),
        _c("version-cr-cr-lf", "admin 'version\\r\\r\\n'", b"version\r\r\n", group="admin-framing"),
        _c("empty-line-crlf", "admin empty line '\\r\\n'", b"\r\n", group="admin-framing"),
        _c("empty-line-lf", "admin empty line '\\n'", b"\n", group="admin-framing"),
    ]
    b = "baseline"
    cases += [
        # --- valid baselines ---------------------------------------------------------------
        _c("echo-hi", "ECHO_REQ 'hi'", pkt(16, b"hi"), group=b),
        _c("echo-empty", "ECHO_REQ with an empty body", pkt(16), group=b),
        _c("echo-embedded-nul", "ECHO_REQ 'a\\0b'", pkt(16, b"a\0b"), group=b),
        _c("option-exceptions", "OPTION_REQ 'exceptions'", pkt(26, b"exceptions"), group=b),
        _c("get-status-unknown", "GET_STATUS 'H:nope:1' (unknown handle)", pkt(15, b"H:nope:1"), group=b),
        _c("get-status-unique-unknown", "GET_STATUS_UNIQUE 'u1' (before any job uses u1)", pkt(41, b"u1"), group=b),
        _c("grab-job-no-functions", "GRAB_JOB with no CAN_DO", pkt(9), group=b),
        _c("grab-job-uniq-no-functions", "GRAB_JOB_UNIQ with no CAN_DO", pkt(30), group=b),
        _c("grab-job-all-no-functions", "GRAB_JOB_ALL with no CAN_DO", pkt(39), group=b),
        _c("pre-sleep-no-functions", "PRE_SLEEP with no CAN_DO", pkt(4), group=b),
        _c("reset-abilities-no-functions", "RESET_ABILITIES with no CAN_DO", pkt(3), group=b),
        _c(
            "can-do-then-grab-job",
            "CAN_DO 'cd_idle' (nothing queued for it), then GRAB_JOB",
            pkt(1, b"cd_idle"),
            pkt(9),
            group=b,
        ),
        _c("set-client-id", "SET_CLIENT_ID 'x'", pkt(22, b"x"), group=b),
        _c("can-do-timeout", "CAN_DO_TIMEOUT 'f\\01000'", pkt(23, b"f\x001000"), group=b),
        _c("cant-do", "CANT_DO 'f' (never registered on this connection)", pkt(2, b"f"), group=b),
        _c("all-yours", "ALL_YOURS", pkt(24), group=b),
        _c(
            "submit-job-bg",
            "SUBMIT_JOB_BG 'reverse\\0u1\\0test' (stays queued: no worker)",
            pkt(18, b"reverse\0u1\0test"),
            group=b,
        ),
        _c("get-status-unique-queued", "GET_STATUS_UNIQUE 'u1' (the queued reverse job)", pkt(41, b"u1"), group=b),
        _c(
            "submit-job-sched",
            "SUBMIT_JOB_SCHED 'f', unique 'us', minute 30, hour 12, day 1, month 1, weekday 0, data 'data'",
            pkt(35, b"f\0us\x0030\x0012\x001\x001\x000\0data"),
            group=b,
        ),
        _c(
            "submit-job-epoch",
            "SUBMIT_JOB_EPOCH 'f', empty unique, epoch 1 (long past), data 'data'",
            pkt(36, b"f\0\0" + b"1\0" + b"data"),
            group=b,
        ),
        _c(
            "submit-reduce-job-4nul",
            "SUBMIT_REDUCE_JOB 'f\\0ur4\\0reducer\\0\\0data' (libgearman form: empty aggregator)",
            pkt(37, b"f\0ur4\0reducer\0\0data"),
            group=b,
            note="foreground: the job is dropped when this connection closes",
        ),
        _c(
            "submit-reduce-job-3nul",
            "SUBMIT_REDUCE_JOB 'f\\0ur3\\0reducer\\0data' (PROTOCOL document form)",
            pkt(37, b"f\0ur3\0reducer\0data"),
            group=b,
        ),
    ]
    s2c = "server-to-client-as-request"
    for ptype, body in (
        (6, b""),
        (8, b"H:x:1"),
        (10, b""),
        (11, b"H:x:1\0f\0data"),
        (17, b"hi"),
        (19, b"CODE\0text"),
        (20, b"H:x:1\x000\x000\x000\x000"),
        (27, b"exceptions"),
        (31, b"H:x:1\0f\0u\0data"),
        (40, b"H:x:1\0f\0u\0r\0data"),
        (42, b"u\x000\x000\x000\x000\x000"),
    ):
        name = TYPE_NAMES[ptype]
        cases.append(
            _c(
                f"s2c-{name.lower().replace('_', '-')}-as-request",
                f"{name} ({ptype}) sent with \\0REQ, body '{escape(body)}' (well formed for its arguments)",
                pkt(ptype, body),
                group=s2c,
            )
        )
    a = "admin"
    for id_, line, note in (
        ("workers", b"workers\n", "fd numbers and the probe's own connections vary"),
        ("status", b"status\n", "functions listed depend on the cases run before"),
        ("prioritystatus", b"prioritystatus\n", ""),
        ("version", b"version\n", ""),
        ("getpid", b"getpid\n", "the reply holds the server's PID, which varies"),
        ("verbose", b"verbose\n", ""),
        ("maxqueue", b"maxqueue\n", ""),
        ("maxqueue-f", b"maxqueue f\n", ""),
        ("maxqueue-f-10", b"maxqueue f 10\n", ""),
        ("show-jobs", b"show jobs\n", "handles hold the machine's node name"),
        ("show-unique-jobs", b"show unique jobs\n", ""),
        ("show-x", b"show x\n", ""),
        ("cancel-job-unknown", b"cancel job H:x:1\n", ""),
        ("create-function-crlf", b"create function cf\r\n", ""),
        ("drop-function", b"drop function cf\n", ""),
        ("no-such-command", b"no_such_command\n", ""),
        ("status-upper-case", b"STATUS\n", ""),
        ("shutdown", b"shutdown\n", "run last: a server that implements it exits"),
    ):
        cases.append(_c(f"admin-{id_}", f"admin '{escape(line)}'", line, group=a, note=note))
    return cases
