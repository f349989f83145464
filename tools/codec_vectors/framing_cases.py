"""framing.yaml cases of the codec vector generator (tools/gen_codec_vectors.py).

Owns ``framing_cases``: malformed, partial and borderline binary and admin
framing (bad and wrong magic, undefined types, short and truncated messages,
lying lengths, pipelining, admin line ends, text mixed with binary).
"""

from __future__ import annotations

import struct

from codec_vectors.values import (
    AM,
    INVALID_COMMAND,
    JOB_NOT_FOUND_RESULT,
    MODEL_HANDLE,
    MODEL_VERSION,
    REQ,
    RES,
    A,
    CodecCase,
    Deviation,
    P,
    R,
    error,
    react,
    unknown_command,
)


def framing_cases() -> list[CodecCase]:
    """framing.yaml: malformed, partial and borderline binary and admin framing."""
    past_body = (
        "gearmand reads past the declared body looking for the missing NULs: no reply; the next bytes sent are "
        "swallowed, then it logs a realloc size underflow and closes the connection"
    )
    hi = (b"hi",)
    c: list[CodecCase] = [
        CodecCase(
            id="bad-magic",
            comment="an ECHO_REQ header with the magic \\0XYZ: the stream cannot be framed",
            requirements=["GM-FRAME-002", "GM-FRAME-008"],
            flags=["BadMagic"],
            result="invalid",
            sender="client",
            messages=[P("ECHO_REQ", hi, magic=b"\0XYZ")],
            decode={"yields": 0, "error": "bad-magic", "offset": 0},
            violations=None,
            server=react(then="close", evidence="probe:bad-magic", note="closed at once, no reply"),
        ),
        CodecCase(
            id="res-magic-on-request",
            comment="ECHO_REQ sent to the server framed with \\0RES",
            requirements=["GM-FRAME-002", "GM-FRAME-011"],
            flags=["WrongMagic"],
            result="invalid",
            sender="client",
            messages=[P("ECHO_REQ", hi, magic=RES)],
            violations=["GM-FRAME-002"],
            server=react(error("INVALID_MAGIC", "Request magic expected"), evidence="probe:res-magic-on-echo-req"),
        ),
    ]
    for number, probe in ((43, "unknown-type-43"), (999, "unknown-type-999"), (0, "type-0")):
        what = "type 0 (TEXT, gearmand's internal marker for admin text)" if number == 0 else f"type {number}"
        c.append(
            CodecCase(
                id=probe,
                comment=f"{what} with an empty body: not a type that may be sent",
                requirements=["GM-FRAME-003", "GM-FRAME-013"],
                flags=["UndefinedType"],
                result="invalid",
                sender="client",
                messages=[P(number)],
                violations=["GM-FRAME-003"],
                server=react(then="close", evidence=f"probe:{probe}", note="closed at once, no reply"),
            )
        )
    c += [
        CodecCase(
            id="type-5",
            comment="type 5 (UNUSED, reserved) with an empty body",
            requirements=["GM-FRAME-003", "GM-FRAME-012"],
            flags=["ReservedType"],
            result="invalid",
            sender="client",
            messages=[P(5)],
            violations=["GM-FRAME-003"],
            server=react(INVALID_COMMAND, evidence="probe:type-5"),
        ),
        CodecCase(
            id="short-header",
            comment=(
                "the first 8 bytes of an ECHO_REQ header (magic and type, no length): the receiver waits for the rest"
            ),
            requirements=["GM-FRAME-001", "GM-FRAME-010"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[R(REQ + struct.pack(">I", 16))],
            decode={"yields": 0, "pending": 8},
            server=react(evidence="probe:short-header-6-bytes", note="waits for the rest of the header"),
        ),
        CodecCase(
            id="truncated-body",
            comment="ECHO_REQ whose header announces 64 body bytes; only 4 follow: the receiver waits for the rest",
            requirements=["GM-FRAME-001", "GM-FRAME-007"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[P("ECHO_REQ", (b"abcd",), length=64)],
            decode={"yields": 0, "pending": 16},
            server=react(evidence="probe:truncated-body", note="waits for the rest of the body"),
        ),
        CodecCase(
            id="submit-job-no-nul",
            comment="SUBMIT_JOB whose body 'fnonly' has no NUL: 1 of 3 arguments",
            requirements=["GM-FRAME-004", "GM-FRAME-007"],
            flags=["TooFewArguments", "ReadsPastBody"],
            result="invalid",
            sender="client",
            messages=[P("SUBMIT_JOB", (b"fnonly",))],
            violations=["GM-FRAME-004"],
            server=react(evidence="probe:submit-job-no-nul", note=past_body),
        ),
        CodecCase(
            id="submit-job-one-nul",
            comment="SUBMIT_JOB whose body 'fn\\0u9' has one NUL: 2 of 3 arguments, no workload",
            requirements=["GM-FRAME-004", "GM-FRAME-007"],
            flags=["TooFewArguments", "ReadsPastBody"],
            result="invalid",
            sender="client",
            messages=[P("SUBMIT_JOB", (b"fn", b"u9"))],
            violations=["GM-FRAME-004"],
            server=react(evidence="probe:submit-job-two-args", note=past_body),
        ),
        CodecCase(
            id="submit-job-bg-empty-body",
            comment="SUBMIT_JOB_BG with body length 0: 1 (empty) of 3 arguments",
            requirements=["GM-FRAME-004", "GM-FRAME-007"],
            flags=["TooFewArguments", "ReadsPastBody"],
            result="invalid",
            sender="client",
            messages=[P("SUBMIT_JOB_BG", (b"",))],
            violations=["GM-FRAME-004"],
            server=react(evidence="evidence:B-P6", note=past_body),
        ),
        CodecCase(
            id="can-do-nul-in-function",
            comment=(
                "CAN_DO body 'a\\0b': one argument too many, or a NUL inside the function name; either way the "
                "last (non-blob) argument holds a NUL"
            ),
            requirements=["GM-FRAME-004", "GM-FRAME-005"],
            flags=["ExtraArgument"],
            result="invalid",
            sender="worker",
            messages=[P("CAN_DO", (b"a\0b",))],
            violations=["GM-FRAME-005"],
            server=react(
                evidence="probe:can-do-extra-arg",
                note="no reply; gearmand registers the function 'a' (admin status lists it) and ignores 'b'",
            ),
        ),
        CodecCase(
            id="grab-job-with-body",
            comment="GRAB_JOB, which takes no arguments, with the body 'xyz'",
            requirements=["GM-FRAME-004", "GM-FRAME-014"],
            flags=["BodyOnArgumentlessType"],
            result="acceptable",
            sender="worker",
            messages=[P("GRAB_JOB", (b"xyz",))],
            violations=["GM-FRAME-004"],
            server=react(P("NO_JOB"), evidence="probe:grab-job-with-body", note="the body is ignored"),
        ),
        CodecCase(
            id="get-status-nul-in-handle",
            comment="GET_STATUS whose handle 'H:a\\0b' holds a NUL (a non-final, non-blob argument)",
            requirements=["GM-FRAME-005", "GM-FIELD-001"],
            flags=["NulInArgument"],
            result="invalid",
            sender="client",
            messages=[P("GET_STATUS", (b"H:a\0b",))],
            violations=["GM-FRAME-005"],
            server=react(
                P("STATUS_RES", (b"H:a", b"0", b"0", b"0", b"0")),
                evidence="probe:get-status-nul-in-handle",
                note="gearmand cuts the handle at the NUL and answers for 'H:a'",
            ),
        ),
        CodecCase(
            id="option-req-nul-in-option",
            comment="OPTION_REQ whose option 'exceptions\\0x' holds a NUL",
            requirements=["GM-FRAME-005", "GM-OPTION-001"],
            flags=["NulInArgument"],
            result="invalid",
            sender="client",
            messages=[P("OPTION_REQ", (b"exceptions\0x",))],
            violations=["GM-FRAME-005"],
            server=react(
                P("OPTION_RES", (b"exceptions\0x",)),
                evidence="probe:option-req-nul",
                note="gearmand matches the name up to the NUL and echoes the whole body back, NUL included",
            ),
        ),
        CodecCase(
            id="work-complete-no-separator",
            comment="WORK_COMPLETE with an empty result and no separating NUL: the body is the bare handle",
            requirements=["GM-FRAME-004", "GM-FRAME-006", "GM-FRAME-007"],
            flags=["MissingSeparator", "ReadsPastBody"],
            result="invalid",
            sender="worker",
            messages=[P("WORK_COMPLETE", (b"H:nope:1",))],
            violations=["GM-FRAME-004"],
            server=react(evidence="probe:work-complete-no-nul", note=past_body),
        ),
        CodecCase(
            id="work-complete-empty-result",
            comment="WORK_COMPLETE with an empty result, written right: the handle, then the separating NUL",
            requirements=["GM-FRAME-004", "GM-FRAME-006"],
            flags=["EmptyFinalArgument"],
            result="valid",
            sender="worker",
            messages=[P("WORK_COMPLETE", (b"H:nope:1", b""))],
            server=react(
                JOB_NOT_FOUND_RESULT,
                evidence="probe:work-complete-empty-result",
                note="this connection holds no job",
            ),
        ),
        CodecCase(
            id="length-ffffffff",
            comment="ECHO_REQ header announcing a body of 0xFFFFFFFF bytes, then 4 body bytes",
            requirements=["GM-FRAME-001", "GM-FRAME-009"],
            flags=["HugeLength"],
            result="acceptable",
            sender="client",
            messages=[P("ECHO_REQ", (b"abcd",), length=0xFFFFFFFF)],
            decode={"yields": 0, "error": "body-too-large", "offset": 0},
            violations=None,
            server=react(
                evidence="probe:length-ffffffff",
                note="gearmand waits for 4 GiB (nothing allocated up front) and swallows whatever follows",
            ),
        ),
        CodecCase(
            id="several-packets-one-buffer",
            comment="three requests in one write: each is answered, in order",
            requirements=["GM-FRAME-001", "GM-FRAME-007", "GM-ECHO-001", "GM-OPTION-001"],
            flags=["Pipelined"],
            result="valid",
            sender="client",
            messages=[
                P("ECHO_REQ", hi),
                P("GET_STATUS", (MODEL_HANDLE,)),
                P("OPTION_REQ", (b"exceptions",)),
            ],
            server=react(
                P("ECHO_RES", hi),
                P("STATUS_RES", (MODEL_HANDLE, b"0", b"0", b"0", b"0")),
                P("OPTION_RES", (b"exceptions",)),
                evidence="probe:echo-hi",
                note="each reply as for the request alone (probe cases echo-hi, get-status-unknown, option-exceptions)",
            ),
        ),
        CodecCase(
            id="admin-no-newline",
            comment="the admin line 'status' without its newline: the receiver waits for it",
            requirements=["GM-ADMIN-001", "GM-ADMIN-002"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[A(b"status", "")],
            decode={"yields": 0, "pending": 6},
            server=react(evidence="probe:admin-no-newline", note="waits for the newline"),
        ),
        CodecCase(
            id="admin-six-words",
            comment="an admin line of 6 words (more than gearmand's parser holds)",
            requirements=["GM-ADMIN-007"],
            flags=["TooManyWords"],
            result="acceptable",
            sender="client",
            messages=[A(b"a b c d e f")],
            server=react(then="close", evidence="probe:admin-6-words", note="closed at once, no reply"),
        ),
        CodecCase(
            id="admin-five-words",
            comment="an admin line of 5 words, the most gearmand parses; 'a' is not a command",
            requirements=["GM-ADMIN-006", "GM-ADMIN-007"],
            result="valid",
            sender="client",
            messages=[A(b"a b c d e")],
            server=react(unknown_command(b"a"), evidence="probe:admin-5-words"),
        ),
        CodecCase(
            id="version-crlf",
            comment="'version' ended by \\r\\n: the \\r belongs to the end of line",
            requirements=["GM-ADMIN-001", "GM-ADMIN-009"],
            flags=["CrLf"],
            result="valid",
            sender="client",
            messages=[A(b"version", "\r\n")],
            server=react(A(b"OK " + MODEL_VERSION), evidence="probe:version-crlf"),
        ),
        CodecCase(
            id="version-lf",
            comment="'version' ended by \\n",
            requirements=["GM-ADMIN-001", "GM-ADMIN-009"],
            result="valid",
            sender="client",
            messages=[A(b"version")],
            server=react(A(b"OK " + MODEL_VERSION), evidence="probe:version-lf"),
        ),
        CodecCase(
            id="version-cr",
            comment="'version\\r' with no \\n: a \\r alone does not end a line, the receiver waits",
            requirements=["GM-ADMIN-001", "GM-ADMIN-002"],
            flags=["PartialMessage"],
            result="valid",
            sender="client",
            messages=[A(b"version\r", "")],
            decode={"yields": 0, "pending": 8},
            server=react(evidence="probe:version-cr", note="waits for the newline"),
        ),
        CodecCase(
            id="version-cr-cr-lf",
            comment="'version\\r\\r\\n': one \\r belongs to the end of line, so the line is 'version\\r'",
            requirements=["GM-ADMIN-001", "GM-ADMIN-006"],
            flags=["StrayCr"],
            result="acceptable",
            sender="client",
            messages=[A(b"version\r", "\r\n")],
            server=react(
                unknown_command(b"version\r"),
                evidence="probe:version-cr-cr-lf",
                note="the command word is 'version\\r', unknown; the reply echoes the \\r before its own \\r\\n",
            ),
            deviations=[
                Deviation(
                    ("GM-ADMIN-020",),
                    (AM(b"OK " + MODEL_VERSION, r"OK \S.*"),),
                    "'version\\r' taken for version, as a prefix match takes it (these bytes cannot tell that from"
                    " a server dropping every \\r before the \\n, which would break the MUST GM-ADMIN-001)",
                )
            ],
        ),
        CodecCase(
            id="empty-line-lf",
            comment="an empty admin line '\\n'",
            requirements=["GM-ADMIN-001", "GM-ADMIN-006"],
            flags=["EmptyLine"],
            result="acceptable",
            sender="client",
            messages=[A(b"")],
            server=react(unknown_command(b""), evidence="probe:empty-line-lf"),
        ),
        CodecCase(
            id="empty-line-crlf",
            comment="an empty admin line '\\r\\n'",
            requirements=["GM-ADMIN-001", "GM-ADMIN-006"],
            flags=["EmptyLine", "CrLf"],
            result="acceptable",
            sender="client",
            messages=[A(b"", "\r\n")],
            server=react(unknown_command(b""), evidence="probe:empty-line-crlf"),
        ),
        CodecCase(
            id="admin-then-binary",
            comment="an admin line, then a binary packet, in one write: text or binary is decided per message",
            requirements=["GM-FRAME-010", "GM-ADMIN-009", "GM-ECHO-001"],
            flags=["MixedProtocols"],
            result="valid",
            sender="client",
            messages=[A(b"version"), P("ECHO_REQ", hi)],
            server=react(
                A(b"OK " + MODEL_VERSION),
                P("ECHO_RES", hi),
                evidence="evidence:B-P1",
                note="each reply as for the message alone (probe cases version-lf, echo-hi)",
            ),
        ),
        CodecCase(
            id="binary-then-admin",
            comment="a binary packet, then an admin line, in one write",
            requirements=["GM-FRAME-010", "GM-ADMIN-009", "GM-ECHO-001"],
            flags=["MixedProtocols"],
            result="valid",
            sender="client",
            messages=[P("ECHO_REQ", hi), A(b"version")],
            server=react(
                P("ECHO_RES", hi),
                A(b"OK " + MODEL_VERSION),
                evidence="evidence:B-P1",
                note="each reply as for the message alone (probe cases echo-hi, version-lf)",
            ),
            deviations=[
                Deviation(
                    ("GM-ADMIN-009",),
                    (P("ECHO_RES", hi), AM(b"ERR UNKNOWN_COMMAND Unknown+server+commandversion", r"ERR.*")),
                    "version is an unknown command; the admin line was still read as text",
                )
            ],
        ),
    ]
    # What a reader of the server's replies must accept, whatever server wrote them.
    c += [
        CodecCase(
            id="admin-reply-crlf-and-lf",
            comment=(
                "an OK line ended by \\r\\n then a version line ended by \\n, as gearmand mixes them: "
                "a reader takes both"
            ),
            requirements=["GM-ADMIN-001", "GM-ADMIN-014"],
            result="valid",
            sender="server",
            messages=[A(b"OK", "\r\n"), A(b"OK 1.1.20+ds")],
        ),
        CodecCase(
            id="error-lower-case-code",
            comment=(
                "Perl Gearman::Server's ERROR: a lower-case code word and an empty text; a client reads it as any ERROR"
            ),
            requirements=["GM-ERROR-001"],
            result="valid",
            sender="server",
            messages=[P("ERROR", (b"not_worker", b""))],
        ),
    ]

    return c
