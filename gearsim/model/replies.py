"""ERROR packets the model sends, taken from the packet table, never retyped.

PURE. gearmand's ERROR codes and texts live once, in spec/packets.yaml
(``gearsim.protocol.packets.ERRORS``); this module picks them out by code and trigger
at import, so a missing or renamed entry fails loudly. It also builds the
ERROR packets of the Perl vocabulary (spec/evidence.md PERL-2).
"""

from __future__ import annotations

from typing import Final

from gearsim.protocol.packets import ERRORS, Packet, PacketType

__all__ = [
    "ARGUMENT_TOO_LARGE_HANDLE",
    "ARGUMENT_TOO_LARGE_UNIQUE",
    "INVALID_COMMAND",
    "INVALID_MAGIC",
    "JOB_NOT_FOUND_BY_TYPE",
    "JOB_NOT_FOUND_DATA",
    "JOB_NOT_FOUND_EXCEPTION",
    "JOB_NOT_FOUND_RESULT",
    "PERL_NOT_WORKER",
    "PERL_UNKNOWN_OPTION",
    "QUEUE_FULL",
    "UNKNOWN_OPTION",
    "error_packet",
    "perl_invalid_args",
    "perl_server_error",
]


def error_packet(code: bytes, text: bytes) -> Packet:
    """ERROR with body ``code \\0 text`` and no final NUL (B-P10)."""
    return Packet.res(PacketType.ERROR, code, text)


def _pick(code: str, trigger_word: str = "") -> Packet:
    """The ERROR of the table with that code whose trigger mentions ``trigger_word``.

    Raises:
        LookupError: the table has no such entry (spec/packets.yaml changed).
    """
    for entry in ERRORS:
        if entry.code == code and trigger_word in entry.trigger:
            return error_packet(entry.code.encode(), entry.text.encode())
    raise LookupError(f"spec/packets.yaml has no ERROR {code} for {trigger_word!r}")


INVALID_MAGIC: Final = _pick("INVALID_MAGIC")
INVALID_COMMAND: Final = _pick("INVALID_COMMAND", "ALL_YOURS")
ARGUMENT_TOO_LARGE_UNIQUE: Final = _pick("ARGUMENT_TOO_LARGE", "unique")
ARGUMENT_TOO_LARGE_HANDLE: Final = _pick("ARGUMENT_TOO_LARGE", "WORK_FAIL")
QUEUE_FULL: Final = _pick("QUEUE_ERROR", "maxqueue")
UNKNOWN_OPTION: Final = _pick("UNKNOWN_OPTION")
#: WORK_STATUS, WORK_COMPLETE, WORK_FAIL from a connection that does not hold the job
JOB_NOT_FOUND_RESULT: Final = _pick("JOB_NOT_FOUND", "WORK_COMPLETE")
#: WORK_DATA, WORK_WARNING, same condition
JOB_NOT_FOUND_DATA: Final = _pick("JOB_NOT_FOUND", "WORK_DATA")
JOB_NOT_FOUND_EXCEPTION: Final = _pick("JOB_NOT_FOUND", "WORK_EXCEPTION")
#: the JOB_NOT_FOUND each WORK_* gets from a connection that does not hold the job (B-W1)
JOB_NOT_FOUND_BY_TYPE: Final[dict[PacketType, Packet]] = {
    PacketType.WORK_STATUS: JOB_NOT_FOUND_RESULT,
    PacketType.WORK_COMPLETE: JOB_NOT_FOUND_RESULT,
    PacketType.WORK_FAIL: JOB_NOT_FOUND_RESULT,
    PacketType.WORK_DATA: JOB_NOT_FOUND_DATA,
    PacketType.WORK_WARNING: JOB_NOT_FOUND_DATA,
    PacketType.WORK_EXCEPTION: JOB_NOT_FOUND_EXCEPTION,
}

# Perl Gearman::Server: lower-case codes, empty texts ((d) "WORK_* from a non-owner", "OPTION_REQ")
PERL_NOT_WORKER: Final = error_packet(b"not_worker", b"")
PERL_UNKNOWN_OPTION: Final = error_packet(b"unknown_option", b"")


def perl_invalid_args(text: bytes) -> Packet:
    """Perl's refusal of a SUBMIT body without its header (spec/evidence.md PERL-2)."""
    return error_packet(b"invalid_args", text)


# Packet numbers Perl's command table (perl-Gearman lib/Gearman/Util.pm) names;
# it has no entries for 30, 31 or 35-42 ((d) "Perl command table").
_PERL_NAMED: Final[frozenset[int]] = frozenset(range(1, 30)) - {5} | {32, 33, 34}


def perl_server_error(type_: int) -> Packet:
    """Perl's reply to a command it has no CMD_ method for (spec/evidence.md PERL-2).

    The method name is the lower-case packet name when Perl's table knows the
    number, else empty (``CMD_``), as observed for type 999.
    """
    name = PacketType(type_).name.lower() if type_ in _PERL_NAMED else ""
    text = (
        f'Can\'t locate object method "CMD_{name}" via package "Gearman::Server::Client" '
        "at /usr/share/perl5/Gearman/Server/Client.pm line 552.\n"
    )
    return error_packet(b"server_error", text.encode())
