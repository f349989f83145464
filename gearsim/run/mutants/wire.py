"""Mutants of the wire: framing, fields, the admin protocol, ECHO, options, errors and server limits.

PURE. This module owns the mutants that break how the server frames, words
and bounds what it says (the rules GM-FRAME-*, GM-FIELD-*, GM-ADMIN-*,
GM-ECHO-*, GM-OPTION-*, GM-ERROR-*, GM-LIMIT-* and GM-SERVER-*) and their
registry table ``WIRE_MUTATIONS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Final

from gearsim.model import Server, ServerOptions
from gearsim.model.jobs import Outbox
from gearsim.model.profiles import Profile
from gearsim.model.state import Conn, Job
from gearsim.protocol.node import ConnId, Output, Send, ServerNode
from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType
from gearsim.run.mutants.building import (
    Handler,
    Rewrite,
    Rewriting,
    drop,
    on_admin,
    on_args,
    on_input,
    on_packet,
    rewrite_with,
    store_patch,
    switch,
    without,
    without_ignored,
    wrap_handler,
)
from gearsim.run.mutants.mutation import Build, Mutation
from gearsim.run.mutants.mutation import entry as _m

T = PacketType


def _long_length_echo() -> Build:
    """ECHO_RES whose header announces one byte more than its body (the bytes themselves)."""

    def build(profile: Profile, options: ServerOptions) -> ServerNode:
        server = Server(profile, options)

        class Lying(Rewriting):
            def _out(self, outputs: list[Output]) -> list[Output]:
                result: list[Output] = []
                for o in outputs:
                    if isinstance(o, Send) and o.data[4:8] == int(T.ECHO_RES).to_bytes(4, "big"):
                        size = int.from_bytes(o.data[8:12], "big") + 1
                        o = Send(o.conn, o.data[:8] + size.to_bytes(4, "big") + o.data[12:])
                    result.append(o)
                return result

        return Lying(server, lambda c, m: (m,))

    return build


def _admin_after_binary_dropped() -> Callable[[ConnId, bytes], bytes | None]:
    binary: set[ConnId] = set()

    def change(conn: ConnId, data: bytes) -> bytes | None:
        if data[:1] == b"\0":
            binary.add(conn)
            return data
        return b"" if conn in binary else data

    return change


def _swap_admin_and_binary() -> Rewrite:
    """Replies of one call in the wrong order: admin lines held back behind the packets."""
    held: dict[ConnId, list[Message]] = {}

    def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
        if isinstance(m, AdminLine):
            held.setdefault(conn, []).append(m)
            return ()
        return (m, *held.pop(conn, ()))

    return rewrite


def _handles_reused(server: Server, original: Callable[..., Any]) -> Callable[..., Any]:
    store = server.store

    def free(job: Job) -> None:
        original(job)
        if store.handle_count > 1:
            store.handle_count -= 1

    return free


def _exceptions_option_lost(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        reason = original(c, p, out)
        c.exceptions = False
        return reason

    return handler


def _unknown_option_accepted(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        out.append((c, Packet.res(T.OPTION_RES, p.args[0])))
        return None

    return handler


def _worker_options_ignored(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return None if c.registrations else original(c, p, out)

    return handler


def _busy_worker_echo_ignored(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        return None if any(r.jobs for r in c.registrations) else original(c, p, out)

    return handler


def _long_function_refused(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        if len(p.args[0]) > 255:
            out.append((c, Packet.res(T.ERROR, b"ARGUMENT_TOO_LARGE", b"function name too long")))
            return None
        return original(c, p, out)

    return handler


def _timeout_dropped_silently(server: Server, original: Handler) -> Handler:
    def handler(c: Conn, p: Packet, out: Outbox) -> str | None:
        reason = original(c, p, out)
        return None if reason is not None and "CAN_DO_TIMEOUT" in reason else reason

    return handler


def _cr_kept() -> Callable[[ConnId, bytes], bytes | None]:
    return lambda conn, data: data.replace(b"\r\n", b"\x01\n") if data[:1] != b"\0" else data


#: a run of CRs before an LF
_CR_RUN_LF: Final = re.compile(rb"\r+\n")


def _every_cr_dropped() -> Callable[[ConnId, bytes], bytes | None]:
    # a server that strips all trailing \r (rstrip) where GM-ADMIN-001 gives the line end only one
    return lambda conn, data: _CR_RUN_LF.sub(b"\r\n", data) if data[:1] != b"\0" else data


def _line_end_early() -> Callable[[ConnId, bytes], bytes | None]:
    return lambda conn, data: data + b"\n" if data[:1] not in (b"\0", b"") and not data.endswith(b"\n") else data


def _upper_case_unknown() -> Callable[[ConnId, bytes], bytes | None]:
    def change(conn: ConnId, data: bytes) -> bytes | None:
        return b"?" + data if data[:1].isupper() else data

    return change


def _prefix_commands(profile: Profile, options: ServerOptions) -> ServerNode:
    """gear's prefix match of command words, without gear's case-sensitive match (that is GM-ADMIN-003's).

    The model's prefix match compares bytes as gear does; a command word that
    starts with a command name in any case reaches it in lower case, so
    STATUS still runs status and the mutant breaks GM-ADMIN-020 alone. The
    line is changed after framing, so however its bytes are chunked; other
    words keep their case, and an unknown word is echoed as sent.
    """
    server = Server(replace(profile, admin_match="prefix"), options)
    names = tuple(name.encode() for name in profile.admin_commands)
    original = server._dispatch

    def dispatch(c: Conn, message: Message, out: Outbox) -> str | None:
        if isinstance(message, AdminLine):
            word, space, rest = message.text.partition(b" ")
            if word.lower().startswith(names):
                message = message._replace(text=word.lower() + space + rest)
        return original(c, message, out)

    server._dispatch = dispatch  # type: ignore[method-assign]
    return server


#: a workers row (GM-ADMIN-008): fd, address, client id and colon; then its functions, if it has any
_WORKERS_ROW: Final = re.compile(rb"(\d+ \S+ \S+ :) ?(.*)")


def _first_function_only(line: AdminLine) -> tuple[AdminLine]:
    row = _WORKERS_ROW.fullmatch(line.text)
    if row is None or b" " not in row[2]:
        return (line,)
    return (line._replace(text=b"%s %s" % (row[1], row[2].split(b" ")[0])),)


def _functions_rotated() -> Rewrite:
    """Each workers row with functions given those of the next such row (the last the first's): rows held to the '.'."""
    held: dict[ConnId, list[AdminLine]] = {}

    def rewrite(conn: ConnId, m: Message) -> Sequence[Message]:
        if not isinstance(m, AdminLine):
            return (m,)
        if _WORKERS_ROW.fullmatch(m.text):
            held.setdefault(conn, []).append(m)
            return ()
        rows = held.pop(conn, [])
        if m.text == b".":
            split = [(i, _WORKERS_ROW.fullmatch(r.text)) for i, r in enumerate(rows)]
            full = [(i, row[1], row[2]) for i, row in split if row is not None and row[2]]
            for (i, head, _), (_, _, functions) in zip(full, full[1:] + full[:1], strict=True):
                rows[i] = rows[i]._replace(text=b"%s %s" % (head, functions))
        return (*rows, m)

    return rewrite


def _big_bodies_refused() -> Callable[[ConnId, bytes], bytes | None]:
    def change(conn: ConnId, data: bytes) -> bytes | None:
        big = data[:1] == b"\0" and len(data) >= 12 and int.from_bytes(data[8:12], "big") > 65536
        return None if big else data

    return change


def _long_handles(profile: Profile, options: ServerOptions) -> ServerNode:
    return Server(profile, replace(options, node="n" * 70))


WIRE_MUTATIONS: Final[tuple[Mutation, ...]] = (
    # ---- framing
    _m(
        "GM-FRAME-001",
        "echo-length-one-long",
        "ECHO_RES announces one body byte more than it carries",
        _long_length_echo(),
        fast=True,
    ),
    _m(
        "GM-FRAME-002",
        "created-with-req-magic",
        "JOB_CREATED is framed with \\0REQ",
        on_packet(T.JOB_CREATED, lambda p: (Packet(Magic.REQ, p.type, p.args),)),
        fast=True,
    ),
    _m(
        "GM-FRAME-003",
        "no-job-as-all-yours",
        "NO_JOB is sent as type 24 (ALL_YOURS, a worker's request)",
        on_packet(T.NO_JOB, lambda p: (Packet(Magic.RES, T.ALL_YOURS, ()),)),
    ),
    _m(
        "GM-FRAME-004",
        "status-extra-argument",
        "STATUS_RES carries one argument too many",
        on_args(T.STATUS_RES, lambda a: (*a, b"")),
    ),
    _m(
        "GM-FRAME-005",
        "handle-with-nul",
        "handles have a NUL inside",
        on_args(T.JOB_CREATED, lambda a: (a[0] + b"\0x",)),
    ),
    _m(
        "GM-FRAME-006",
        "empty-result-without-nul",
        "a WORK_COMPLETE with an empty result is sent as the bare handle",
        on_args(T.WORK_COMPLETE, lambda a: a[:1] if a[1:] == (b"",) else a),
    ),
    _m(
        "GM-FRAME-007",
        "reads-past-body",
        "a body with too few NULs is completed from the next bytes (gearmand)",
        switch(short_body="stall-then-close"),
        fast=True,
    ),
    _m("GM-FRAME-008", "bad-magic-read", "a bad magic is read as a request (gear)", switch(bad_magic="ignore")),
    _m(
        "GM-FRAME-010",
        "admin-after-binary-ignored",
        "admin lines after a binary packet on a connection are ignored",
        on_input(_admin_after_binary_dropped),
    ),
    _m(
        "GM-FRAME-011",
        "res-magic-ignored",
        "a request framed with \\0RES is read as any other (gear)",
        switch(res_magic_request="ignore"),
    ),
    _m(
        "GM-FRAME-012",
        "invalid-command-silent",
        "server-to-client types sent as requests get no ERROR",
        drop(T.ERROR, lambda p: p.args[:1] == (b"INVALID_COMMAND",)),
    ),
    _m(
        "GM-FRAME-015",
        "missing-workload-empty",
        "a SUBMIT without its workload is taken with an empty one (gear)",
        switch(short_body="last-optional"),
    ),
    _m(
        "GM-FRAME-016",
        "bad-magic-wedges",
        "a bad magic wedges the connection: open and unread (Perl)",
        switch(bad_magic="stall"),
    ),
    # ---- fields
    _m("GM-FIELD-001", "handles-too-long", "handles of more than 63 bytes", _long_handles),
    _m(
        "GM-FIELD-002",
        "assigned-unique-with-nul",
        "JOB_ASSIGN_UNIQ's unique carries a NUL after its first byte",
        on_args(
            T.JOB_ASSIGN_UNIQ, lambda a: (a[0], a[1], a[2][:1] + b"\0" + a[2][1:], a[3]) if len(a) == 4 and a[2] else a
        ),
    ),
    _m(
        "GM-FIELD-003",
        "status-numbers-signed",
        "STATUS_RES numbers written with a plus sign",
        on_args(T.STATUS_RES, lambda a: (*a[:3], b"+" + a[3], b"+" + a[4]) if len(a) == 5 else a),
    ),
    _m(
        "GM-FIELD-004",
        "known-is-two",
        "STATUS_RES says known 2 for a known job",
        on_args(T.STATUS_RES, lambda a: (a[0], b"2", *a[2:]) if len(a) == 5 and a[1] == b"1" else a),
    ),
    _m(
        "GM-FIELD-005",
        "status-numbers-empty",
        "no progress yet is reported as empty numbers (Perl, gear)",
        switch(status_empty_numbers=True),
    ),
    # ---- admin
    _m("GM-ADMIN-001", "cr-kept", "a CR before the LF is read as part of the command", on_input(_cr_kept)),
    _m(
        "GM-ADMIN-001",
        "every-cr-dropped",
        "every CR before the LF is read as the line end, not only the last",
        on_input(_every_cr_dropped),
    ),
    _m(
        "GM-ADMIN-002",
        "line-acted-on-early",
        "an admin line is acted on before its LF arrives",
        on_input(_line_end_early),
    ),
    _m("GM-ADMIN-003", "upper-case-unknown", "an upper-case command word is unknown", on_input(_upper_case_unknown)),
    _m(
        "GM-ADMIN-004",
        "listing-without-stop",
        "listings end without the line holding a full stop",
        on_admin(lambda line: () if line.text == b"." else (line,)),
    ),
    _m(
        "GM-ADMIN-005",
        "status-spaces",
        "status rows separated by spaces, not tabs",
        on_admin(lambda line: (AdminLine(line.text.replace(b"\t", b" "), line.eol),)),
    ),
    _m(
        "GM-ADMIN-006",
        "unknown-command-silent",
        "an unknown admin command gets no reply (gear)",
        switch(admin_unknown_reply=None),
    ),
    _m(
        "GM-ADMIN-008",
        "workers-without-colon",
        "workers rows without the colon",
        on_admin(lambda line: (AdminLine(line.text.replace(b" :", b"", 1), line.eol),)),
    ),
    _m(
        "GM-ADMIN-008",
        "workers-first-function-only",
        "a workers row lists only the first of its functions",
        on_admin(_first_function_only),
    ),
    _m(
        "GM-ADMIN-008",
        "workers-functions-rotated",
        "each workers row lists the functions of another connection",
        rewrite_with(_functions_rotated),
    ),
    _m(
        "GM-ADMIN-009",
        "no-version",
        "'version' is an unknown command",
        switch(
            admin_commands=frozenset(
                {
                    "workers",
                    "status",
                    "prioritystatus",
                    "maxqueue",
                    "getpid",
                    "verbose",
                    "show",
                    "cancel",
                    "create",
                    "drop",
                }
            )
        ),
    ),
    _m("GM-ADMIN-010", "no-maxqueue", "maxqueue is not supported (gear)", switch(maxqueue="unsupported")),
    _m(
        "GM-ADMIN-011",
        "admin-replies-late",
        "admin replies overtaken by binary replies of later requests",
        rewrite_with(_swap_admin_and_binary),
    ),
    _m(
        "GM-ADMIN-012",
        "no-status-workers",
        "'status' and 'workers' are unknown commands",
        switch(
            admin_commands=frozenset(
                {"prioritystatus", "maxqueue", "version", "getpid", "verbose", "show", "cancel", "create", "drop"}
            )
        ),
    ),
    _m("GM-ADMIN-015", "ok-spelled-done", "one-line replies say DONE, not OK", switch(admin_ok="DONE\r\n")),
    _m(
        "GM-ADMIN-018",
        "cancel-silent",
        "cancel job removes a queued job and tells nobody (gear)",
        switch(admin_cancel="remove-queued"),
    ),
    _m(
        "GM-ADMIN-020",
        "prefix-commands",
        "a word that starts with a command name runs it (gear's match, case aside)",
        _prefix_commands,
    ),
    # ---- echo, options, errors
    _m(
        "GM-ECHO-001",
        "echo-loses-last-byte",
        "ECHO_RES drops the last byte of the body",
        on_args(T.ECHO_RES, lambda a: (a[0][:-1],) if a and a[0] else a),
        fast=True,
    ),
    _m(
        "GM-ECHO-002",
        "busy-worker-no-echo",
        "a worker holding a job gets no ECHO_RES",
        wrap_handler(T.ECHO_REQ, _busy_worker_echo_ignored),
    ),
    _m(
        "GM-OPTION-001",
        "option-lower-cased",
        "OPTION_RES echoes the option in lower case",
        on_args(T.OPTION_RES, lambda a: (a[0].lower(),)),
    ),
    _m(
        "GM-OPTION-002",
        "unknown-option-accepted",
        "an unknown option is answered with OPTION_RES",
        wrap_handler(T.OPTION_REQ, _unknown_option_accepted),
    ),
    _m(
        "GM-OPTION-003",
        "option-case-exact",
        "the option name is matched case-sensitively (Perl)",
        switch(option_match="exact"),
    ),
    _m(
        "GM-OPTION-004",
        "option-forgotten",
        "the option is answered but never takes effect",
        wrap_handler(T.OPTION_REQ, _exceptions_option_lost),
    ),
    _m(
        "GM-OPTION-005",
        "worker-option-ignored",
        "OPTION_REQ from a worker gets no reply",
        wrap_handler(T.OPTION_REQ, _worker_options_ignored),
    ),
    _m(
        "GM-ERROR-001",
        "error-text-nul",
        "ERROR's text ends with a NUL",
        on_args(T.ERROR, lambda a: (a[0], a[1] + b"\0") if len(a) == 2 else a),
    ),
    _m(
        "GM-ERROR-002",
        "error-words-numbered",
        "ERROR code words replaced by numbers (gear's style)",
        on_args(T.ERROR, lambda a: (b"1", *a[1:])),
        profile="gearmand-1.1",
    ),
    _m(
        "GM-ERROR-004",
        "error-then-close",
        "the connection is closed after every ERROR",
        rewrite_with(lambda: lambda conn, m: (m,), closes=lambda conn, m: isinstance(m, Packet) and m.type == T.ERROR),
    ),
    _m("GM-ERROR-005", "error-twice", "every ERROR is sent twice", on_packet(T.ERROR, lambda p: (p, p))),
    _m(
        "GM-ERROR-006",
        "timeout-dropped",
        "an unusable CAN_DO_TIMEOUT is dropped silently, the connection kept",
        wrap_handler(T.CAN_DO_TIMEOUT, _timeout_dropped_silently),
    ),
    # ---- limits, server
    _m("GM-LIMIT-001", "unique-cut-to-62", "uniques are stored cut to 62 bytes", switch(unique_stored_max=62)),
    _m(
        "GM-LIMIT-002",
        "unique-64-accepted",
        # kept whole, as Perl and gear keep it: gearmand's cut to 63 bytes also sends a malformed
        # JOB_ASSIGN_UNIQ (GM-FRAME-004), a MUST this mutant of a SHOULD must not break
        "a 64-byte unique is accepted and kept whole",
        switch(unique_max=64),
    ),
    _m(
        "GM-LIMIT-003",
        "function-255",
        "function names over 255 bytes are refused",
        wrap_handler(T.SUBMIT_JOB_BG, _long_function_refused),
    ),
    _m(
        "GM-LIMIT-004",
        "bodies-64k",
        "packets with bodies over 64 KiB close the connection",
        on_input(_big_bodies_refused),
    ),
    _m(
        "GM-LIMIT-005",
        "handles-reused",
        "the handle counter steps back when a job ends",
        store_patch("free", _handles_reused),
    ),
    _m("GM-SERVER-001", "no-grab-job-uniq", "GRAB_JOB_UNIQ is not implemented (Perl)", without("GRAB_JOB_UNIQ")),
    _m("GM-SERVER-002", "no-get-status-unique", "GET_STATUS_UNIQUE is not implemented", without("GET_STATUS_UNIQUE")),
    _m(
        "GM-SERVER-004",
        "unimplemented-ignored",
        "an unimplemented request (GRAB_JOB_ALL) gets no reply (gear)",
        without_ignored("GRAB_JOB_ALL"),
    ),
    _m(
        "GM-SERVER-005",
        "timeout-crash",
        "a timeout of 2^64 or more crashes the server (gearmand)",
        switch(can_do_timeout_overflow="crash"),
        fast=True,
    ),
)
