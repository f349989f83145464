"""admin.yaml cases of the codec vector generator (tools/gen_codec_vectors.py).

Owns ``admin_cases``: one case per admin command of spec/packets.yaml and its
odd forms, with gearmand 1.1.20's replies (run-specific values as regexes).
"""

from __future__ import annotations

from collections.abc import Sequence

from codec_vectors.values import (
    AM,
    MODEL_FIRST_FD,
    MODEL_PID,
    MODEL_VERSION,
    A,
    CodecCase,
    Deviation,
    GearmandDefect,
    Reaction,
    listing,
    react,
    unknown_command,
)

from gearsim.protocol.packets import ADMIN_COMMANDS


def _admin_case(
    id_: str,
    comment: str,
    lines: Sequence[A],
    reaction: Reaction,
    requirements: Sequence[str],
    *,
    result: str = "valid",
    flags: Sequence[str] = (),
    defect: GearmandDefect | None = None,
    deviations: Sequence[Deviation] = (),
) -> CodecCase:
    return CodecCase(
        id=id_,
        comment=comment,
        requirements=list(requirements),
        flags=list(flags),
        result=result,
        sender="client",
        messages=list(lines),
        server=reaction,
        defect=defect,
        deviations=list(deviations),
    )


_NOT_OK_NOTE = "success spelled otherwise than OK"


def _not_ok_success(lines: int = 1) -> Deviation:
    """One-line success replies that are not OK (and not ERR): they break GM-ADMIN-015 alone."""
    return Deviation(("GM-ADMIN-015",), (AM(b"DONE", r"(?!ERR)\S.*", "\r\n"),) * lines, _NOT_OK_NOTE)


def admin_cases() -> list[CodecCase]:
    """admin.yaml: one case per admin command of the packet table, plus odd forms."""
    known = {a.name for a in ADMIN_COMMANDS}
    ok_crlf = A(b"OK", "\r\n")
    incomplete = b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+"
    cases = [
        _admin_case(
            "workers",
            "workers on an idle server: one row per connection, here only the admin connection itself. "
            "Run-specific: real gearmand shows its own fd (37 in the probe); the model numbers fds from 3",
            [A(b"workers")],
            react(
                AM(MODEL_FIRST_FD + b" 127.0.0.1 - :", r"[0-9]+ 127\.0\.0\.1 - : ?"),
                A(b"."),
                evidence="probe:admin-workers",
                note=(
                    "the fd is the server's own: gearmand prints its socket fd;"
                    " a space may follow the colon (GM-ADMIN-017)"
                ),
            ),
            ["GM-ADMIN-004", "GM-ADMIN-008"],
            flags=["RunSpecific"],
        ),
        _admin_case(
            "status",
            "status on a freshly started server: no functions, so only the closing line",
            [A(b"status")],
            react(*listing(), evidence="evidence:B-A2", note="the probe's server had functions from earlier cases"),
            ["GM-ADMIN-004", "GM-ADMIN-005"],
        ),
        _admin_case(
            "status-upper-case",
            "STATUS in upper case: command words match case-insensitively",
            [A(b"STATUS")],
            react(*listing(), evidence="probe:admin-status-upper-case", note="answered exactly as status"),
            ["GM-ADMIN-003", "GM-ADMIN-004"],
            deviations=[
                Deviation(
                    ("GM-ADMIN-003",),
                    (AM(b"ERR UNKNOWN_COMMAND Unknown+server+commandSTATUS", r"ERR.*"),),
                    "the upper-case word is taken for an unknown command",
                )
            ],
        ),
        _admin_case(
            "prioritystatus",
            "prioritystatus on a freshly started server: only the closing line",
            [A(b"prioritystatus")],
            react(*listing(), evidence="evidence:B-A2"),
            ["GM-ADMIN-004"],
        ),
        _admin_case(
            "maxqueue-no-function",
            "maxqueue without a function",
            [A(b"maxqueue")],
            react(A(incomplete + b"maxqueue", "\r\n"), evidence="probe:admin-maxqueue"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "maxqueue-function",
            "maxqueue FUNCTION: the default limit (0, unlimited)",
            [A(b"maxqueue reverse")],
            react(ok_crlf, evidence="probe:admin-maxqueue-f"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "maxqueue-function-size",
            "maxqueue FUNCTION SIZE: one limit for every priority",
            [A(b"maxqueue reverse 10")],
            react(ok_crlf, evidence="probe:admin-maxqueue-f-10"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "maxqueue-function-three-sizes",
            "maxqueue FUNCTION HIGH NORMAL LOW: a limit per priority (5 words, the most gearmand parses)",
            [A(b"maxqueue reverse 10 20 30")],
            react(ok_crlf, evidence="evidence:B-A3"),
            ["GM-ADMIN-010"],
        ),
        _admin_case(
            "version",
            "version. Run-specific: the reply names the server's version; the model reports 1.1.20+ds",
            [A(b"version")],
            react(A(b"OK " + MODEL_VERSION), evidence="probe:admin-version"),
            ["GM-ADMIN-009"],
        ),
        _admin_case(
            "getpid",
            "getpid. Run-specific: real gearmand answers its own process id; the model reports 4242",
            [A(b"getpid")],
            react(
                AM(b"OK " + MODEL_PID, r"OK [0-9]+"), evidence="probe:admin-getpid", note="the pid is the server's own"
            ),
            ["GM-ADMIN-001"],
            flags=["RunSpecific"],
        ),
        _admin_case(
            "verbose",
            "verbose reports the log level; a server started with --verbose=ERROR (as the probe's) says ERROR",
            [A(b"verbose")],
            react(A(b"OK ERROR"), evidence="probe:admin-verbose", note="depends on the server's --verbose option"),
            ["GM-ADMIN-001"],
            flags=["RunSpecific"],
        ),
        _admin_case(
            "show-jobs",
            "show jobs on a freshly started server: only the closing line",
            [A(b"show jobs")],
            react(*listing(), evidence="evidence:B-A2"),
            ["GM-ADMIN-004"],
        ),
        _admin_case(
            "show-unique-jobs",
            "show unique jobs on a freshly started server: only the closing line",
            [A(b"show unique jobs")],
            react(*listing(), evidence="evidence:B-A2"),
            ["GM-ADMIN-004"],
        ),
        _admin_case(
            "show-unknown",
            "show with an unknown second word",
            [A(b"show x")],
            react(A(b"ERR UNKNOWN_SHOW_ARGUMENTS", "\r\n"), evidence="probe:admin-show-x"),
            ["GM-ADMIN-006"],
        ),
        _admin_case(
            "cancel-job-unknown",
            "cancel job for a handle the server does not know",
            [A(b"cancel job H:x:1")],
            react(A(b"ERR UNKNOWN_JOB", "\r\n"), evidence="probe:admin-cancel-job-unknown"),
            ["GM-ADMIN-001"],
        ),
        _admin_case(
            "create-function-crlf",
            "create function with a \\r\\n line end (as gearadmin sends it)",
            [A(b"create function cf", "\r\n")],
            react(ok_crlf, evidence="probe:admin-create-function-crlf"),
            ["GM-ADMIN-001"],
            flags=["CrLf"],
            deviations=[_not_ok_success()],
        ),
        _admin_case(
            "create-function-lf-then-status",
            "create function 'cfA' with a plain \\n line end, then status: the function is 'cfA'; gearmand "
            "loses the name's last character and creates 'cf' (the defect create-function-cuts-name)",
            [A(b"create function cfA"), A(b"status")],
            react(ok_crlf, *listing(b"cf\t0\t0\t0"), evidence="evidence:B-A4"),
            ["GM-ADMIN-001", "GM-ADMIN-005"],
            flags=["GearmandBug"],
            defect=GearmandDefect(
                "create-function-cuts-name",
                ("GM-ADMIN-001",),
                react(ok_crlf, *listing(b"cfA\t0\t0\t0"), evidence="evidence:B-A4", note="the name kept whole"),
            ),
            deviations=[
                Deviation(
                    ("GM-ADMIN-015",),
                    (*_not_ok_success().replies, *listing(b"cfA\t0\t0\t0")),
                    _NOT_OK_NOTE,
                )
            ],
        ),
        _admin_case(
            "drop-function-unknown",
            "drop function on a freshly started server, which has no function 'cf'",
            [A(b"drop function cf")],
            react(A(b"ERR function not found", "\r\n"), evidence="evidence:B-A4"),
            ["GM-ADMIN-001"],
        ),
        _admin_case(
            "create-then-drop-function",
            "create function cf, then drop function cf",
            [A(b"create function cf", "\r\n"), A(b"drop function cf")],
            react(ok_crlf, ok_crlf, evidence="probe:admin-drop-function"),
            ["GM-ADMIN-001"],
            flags=["CrLf"],
            deviations=[_not_ok_success(lines=2)],
        ),
        _admin_case(
            "shutdown",
            "shutdown: removed from gearmand in 1.1.15, so 1.1.20 treats it as an unknown command",
            [A(b"shutdown")],
            react(unknown_command(b"shutdown"), evidence="probe:admin-shutdown"),
            ["GM-ADMIN-006"],
            result="acceptable",
        ),
        _admin_case(
            "unknown-command",
            "an unknown command: ERR, with the command appended to the text without a separator",
            [A(b"no_such_command")],
            react(unknown_command(b"no_such_command"), evidence="probe:admin-no-such-command"),
            ["GM-ADMIN-006"],
        ),
        _admin_case(
            "six-words",
            "maxqueue with 6 words: gearmand closes the connection without a reply",
            [A(b"maxqueue reverse 10 20 30 40")],
            react(then="close", evidence="probe:admin-6-words", note="closed at once, no reply"),
            ["GM-ADMIN-007"],
            result="acceptable",
            flags=["TooManyWords"],
        ),
    ]
    covered = {
        "workers": "workers",
        "status": "status",
        "prioritystatus": "prioritystatus",
        "maxqueue": "maxqueue-function",
        "version": "version",
        "getpid": "getpid",
        "verbose": "verbose",
        "show jobs": "show-jobs",
        "show unique jobs": "show-unique-jobs",
        "cancel job": "cancel-job-unknown",
        "create function": "create-function-crlf",
        "drop function": "drop-function-unknown",
        "shutdown": "shutdown",
    }
    missing = known - set(covered)
    if missing:
        raise SystemExit(f"admin commands without a case: {sorted(missing)}")
    return cases
