"""Requests a server ignores or refuses, admin lines it leaves without any reply, and what that breaks.

PURE. The runner tracks what each actor sent since its last expect step; when
an expectation fails, these say whether a profile's recorded defect explains
the silence (a request type the server ignores) or the ERROR (a request type
it refuses because it does not implement it), whether the refusal is one the
spec allows (a request a server MAY implement), and which rules an admin line
left unanswered breaks, whatever reply the vector wrote out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from gearsim.model.profiles import PROFILES, SPEC_PROFILE, Defect
from gearsim.protocol.packets import ERRORS, SPECS, Magic

#: requests that always get a reply, whatever the server implements (a reply of their type, or ERROR)
ANSWERED: Final = frozenset(
    {
        "SUBMIT_JOB",
        "SUBMIT_JOB_BG",
        "SUBMIT_JOB_HIGH",
        "SUBMIT_JOB_HIGH_BG",
        "SUBMIT_JOB_LOW",
        "SUBMIT_JOB_LOW_BG",
        "SUBMIT_JOB_EPOCH",
        "SUBMIT_REDUCE_JOB",
        "SUBMIT_REDUCE_JOB_BACKGROUND",
        "GRAB_JOB",
        "GRAB_JOB_UNIQ",
        "GRAB_JOB_ALL",
        "ECHO_REQ",
        "OPTION_REQ",
        "GET_STATUS",
        "GET_STATUS_UNIQUE",
    }
)


def request_name(magic: bytes, type_: int) -> str:
    """How a defect's ``requests`` names a request: its type's name, or how its magic is wrong."""
    if magic == Magic.RES:
        return "RES-magic"
    if magic != Magic.REQ:
        return "bad-magic"
    return SPECS[type_].name if type_ in SPECS else str(type_)


def request_names(data: bytes) -> list[str]:
    """The binary packets ``data`` holds as :func:`request_name` names them, header by header (text ends the walk)."""
    names: list[str] = []
    at = 0
    while at + 12 <= len(data) and data[at] == 0:
        names.append(request_name(data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "big")))
        at += 12 + int.from_bytes(data[at + 8 : at + 12], "big")
    return names


def unanswered_defect(profile: str, names: Iterable[str]) -> tuple[Defect, str] | None:
    """The defect of ``profile`` that leaves one of these requests without a reply, and that request's name.

    Never under ``spec``: the neutral profile knows no implementation's defects.
    """
    return _listing_defect(profile, names, refused=False)


#: requests a server MAY implement (GM-SERVER-003): refusing them with ERROR breaks no rule
OPTIONAL: Final = frozenset(s.name for s in SPECS.values() if s.implement == "GM-SERVER-003")


def refused_defect(profile: str, names: Iterable[str]) -> tuple[Defect, str] | None:
    """The defect of ``profile`` that answers one of these requests with ERROR only, and that request's name.

    Never under ``spec``: the neutral profile knows no implementation's defects.
    """
    return _listing_defect(profile, names, refused=True)


def _listing_defect(profile: str, names: Iterable[str], *, refused: bool) -> tuple[Defect, str] | None:
    """The first defect of ``profile`` whose ``refused`` (else ``requests``) lists one of ``names``, and that name."""
    if profile == SPEC_PROFILE or profile not in PROFILES:
        return None
    sent = list(names)
    for defect in PROFILES[profile].defects:
        listed = defect.refused if refused else defect.requests
        hit = next((n for n in sent if n in listed), None)
        if hit is not None:
            return defect, hit
    return None


def refused_optional(profile: str, names: Iterable[str]) -> str | None:
    """The first of these requests a server MAY leave out that an ERROR answer means ``profile`` lacks, or None.

    Such a refusal is the spec's allowance (GM-SERVER-003, GM-SERVER-004): the
    case tests what that server does not have. Under ``spec`` any such
    request (an ERROR is how a server says it lacks one); under a named
    profile only one its server does not implement and answers with ERROR,
    so a server that implements it is still held to it.
    """
    if profile not in PROFILES:
        return None
    if profile != SPEC_PROFILE:
        known = PROFILES[profile]
        if not known.unimplemented.startswith("error"):
            return None
        return next((n for n in names if n in OPTIONAL and n not in known.implemented), None)
    return next((n for n in names if n in OPTIONAL), None)


#: requests every server implements (GM-SERVER-001, a MUST) or should (GM-SERVER-002): the packet table's ``implement``
CORE: Final = {s.name: s.implement for s in SPECS.values() if s.implement in ("GM-SERVER-001", "GM-SERVER-002")}


#: code words of the error table that name a condition met by a request the server acted on: a full queue
#: (GM-QUEUE-001), an argument too long, a job the connection does not hold, an option it does not know. Not
#: those the table marks not ``understood`` (INVALID_COMMAND, INVALID_MAGIC): the request was not acted on
REASONED: Final = frozenset(e.code for e in ERRORS if e.understood)


def refused_for_reason(code: bytes) -> bool:
    """Whether an ERROR with this code word refused a request the server implements, for the condition it names.

    The code is matched regardless of letter case (GM-ERROR-003: servers
    differ in case); a code the table lacks says nothing of why.
    """
    return code.decode("latin-1").upper() in REASONED


def core_refused(profile: str, names: Iterable[str], *, last: bool = True, code: bytes = b"") -> tuple[str, str] | None:
    """The rule a server breaks by refusing one of these requests with ERROR where another reply was due.

    (rule, request): GM-SERVER-001 for a request every server must act on,
    GM-SERVER-002 for one it should, the last such request sent (the one the
    ERROR answers: CAN_DO before a GRAB_JOB_UNIQ gets no reply). Under a named
    profile only a request its server does not implement: one it implements
    was refused for a reason the step's own rules judge. Likewise under any
    profile when the ERROR's ``code`` is one of the error table's reasons
    (:func:`refused_for_reason`): QUEUE_ERROR to a SUBMIT_JOB is a server that
    submits and found the queue full, not one that lacks SUBMIT_JOB. OPTION_REQ
    is never one: its refusal is judged by the option rules. With ``last``
    false (an ERROR nothing awaited, which any of them may have got) every
    such request, named together, and the stronger rule. None when no request
    fits.
    """
    if refused_for_reason(code):
        return None
    known = PROFILES[profile].implemented if profile in PROFILES and profile != SPEC_PROFILE else frozenset()
    hits = list(dict.fromkeys(n for n in names if n in CORE and n != "OPTION_REQ" and n not in known))
    if not hits:
        return None
    if last:
        return CORE[hits[-1]], hits[-1]
    rule = min(CORE[n] for n in hits)  # GM-SERVER-001 (a MUST) before GM-SERVER-002
    return rule, " or ".join(hits)


#: the rule an admin command's own reply rests on, when a server leaves it unanswered
_ADMIN_RULES: Final = {
    "status": "GM-ADMIN-012",
    "workers": "GM-ADMIN-012",
    "version": "GM-ADMIN-009",
    "maxqueue": "GM-ADMIN-010",
    "cancel": "GM-ADMIN-018",
}


#: admin commands a server need not have, with the rule that asks for each and its level
#: (status and workers are required: GM-ADMIN-012)
OPTIONAL_ADMIN: Final = {
    **dict.fromkeys(("prioritystatus", "getpid", "verbose", "show", "create", "drop"), ("GM-ADMIN-013", "MAY")),
    "cancel": ("GM-ADMIN-018", "SHOULD"),
    "version": ("GM-ADMIN-009", "SHOULD"),
    "maxqueue": ("GM-ADMIN-010", "SHOULD"),
}


def absent_admin(profile: str, text: bytes) -> tuple[str, str, str] | None:
    """(command, rule, level) when admin line ``text`` names an optional command ``profile``'s server lacks.

    A server answering such a line with an ERR line tells that it has no such
    command, which breaks no MUST: the case tests what it does not have (a
    SHOULD command's absence breaks that SHOULD). Under ``spec`` any optional
    command; under a named profile only one its server does not have, so a
    server that has it is still held to it. A command word in capitals is
    left to GM-ADMIN-003 (matching regardless of case).
    """
    if profile not in PROFILES:
        return None
    word = (text.split() or [b""])[0].decode("latin-1")
    if word not in OPTIONAL_ADMIN:
        return None
    if profile != SPEC_PROFILE and word in PROFILES[profile].admin_commands:
        return None
    rule, level = OPTIONAL_ADMIN[word]
    return word, rule, level


def silent_admin_rules(text: bytes) -> tuple[str, ...]:
    """The rules an admin line left without any reply breaks.

    A server answers status and workers (GM-ADMIN-012); any other line, known
    to it or not, gets at least an ERR line (GM-ADMIN-006), beside the
    command's own rule; a command word in capitals is matched regardless of
    case (GM-ADMIN-003). The vector's wording of the reply is not what broke.
    """
    word = (text.split() or [b""])[0].decode("latin-1")
    own = _ADMIN_RULES.get(word.lower())
    rules = [own] if own is not None else []
    if own != "GM-ADMIN-012":
        rules.append("GM-ADMIN-006")
    if word != word.lower() and word.lower() in _ADMIN_RULES:
        # the command exists in lower case: what broke is matching it regardless of case
        return ("GM-ADMIN-003", "GM-ADMIN-006")
    return tuple(rules)


def admin_lines(data: bytes) -> list[bytes]:
    """The admin lines of ``data`` when it is admin text (its first byte is not NUL), without their line ends."""
    if not data or data[0] == 0:
        return []
    return [line.rstrip(b"\r") for line in data.split(b"\n")[:-1]]
