"""Spec checks on single packets: ``check(packet, role) -> list[Violation]``.

PURE, and total: whatever it is given (unknown types, wrong magic, missing
arguments), ``check`` returns findings and never raises. Each finding names the
requirement it breaks (ids from spec/requirements.yaml). Everything it knows
about a type comes from the packet table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gearsim.protocol.packets import FIELDS, SPECS, Magic, Packet, PacketType, Role

__all__ = ["Violation", "check"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the requirement id, a one-line reason, and the argument at fault."""

    requirement: str
    reason: str
    argument: str = ""

    def __str__(self) -> str:
        where = f" [{self.argument}]" if self.argument else ""
        return f"{self.requirement}{where}: {self.reason}"


_LIMIT_RULES: Final[dict[str, str]] = {"handle": "GM-FIELD-001", "unique": "GM-FIELD-002"}
_DECIMAL_KINDS: Final[frozenset[str]] = frozenset({"decimal"})
_STATUSES: Final[frozenset[str]] = frozenset({"STATUS_RES", "STATUS_RES_UNIQUE"})


def check(packet: Packet, role: Role | None = None) -> list[Violation]:
    """Every rule ``packet`` breaks when sent by ``role``.

    Args:
        packet: the packet as decoded or built; nothing about it is assumed.
        role: who sent it (``Role.SERVER`` for replies), or None when unknown
            (then only the rules that hold for any sender are checked).

    Returns:
        The violations, in a stable order; an empty list for a conforming packet.
    """
    found: list[Violation] = []
    number = int(packet.type)
    row = _ROWS.get(number)
    magic = packet.magic
    if magic != _REQ and magic != _RES:
        found.append(Violation("GM-FRAME-002", f"magic {bytes(magic)!r} is neither \\0REQ nor \\0RES"))
    if row is None:
        found.append(Violation("GM-FRAME-003", f"type {number} is not a packet type that may be sent"))
        return found
    name, req, res, plan, bare, status = row
    if role is _SERVER:
        if magic == _REQ:
            found.append(Violation("GM-FRAME-002", f"the server sent {name} with magic \\0REQ"))
        if not res:
            found.append(Violation("GM-FRAME-003", f"{name} is never sent by a server"))
    elif role is not None:
        if magic == _RES:
            found.append(Violation("GM-FRAME-002", f"{name} sent to the server with magic \\0RES"))
        if role not in req:
            # a server-only type read "STATUS_RES_UNIQUE is sent by nobody (server only)": the server does send it
            senders = " or ".join(sorted(r.value for r in req)) or "the server only"
            found.append(Violation("GM-FRAME-003", f"{name} is sent by {senders}, not by a {role.value}"))
    elif (magic == _REQ and not req) or (magic == _RES and not res):
        found.append(Violation("GM-FRAME-003", f"{name} never travels with magic {bytes(magic)!r}"))
    args = packet.args
    if bare:
        if any(args):
            found.append(Violation("GM-FRAME-004", f"{name} takes no arguments but carries a body"))
        return found
    if len(args) != len(plan):
        found.append(
            Violation(
                "GM-FRAME-004",
                f"{name} needs {len(plan)} arguments ({len(plan) - 1} NULs), got {len(args)}",
            )
        )
    for (arg, may_hold_nul, rule, limit, decimal, flag), value in zip(plan, args, strict=False):
        if number == _ERROR and arg == "text" and value.endswith(b"\0"):
            # the sentence about ERROR's own shape says this exactly ("no NUL after the text"); the NUL
            # inside the argument (GM-FRAME-005) follows
            found.append(Violation("GM-ERROR-001", "a NUL after ERROR's text", arg))
        if not may_hold_nul and b"\0" in value:
            found.append(Violation("GM-FRAME-005", f"NUL inside argument {arg!r}", arg))
        if rule is not None and len(value) > limit:
            found.append(Violation(rule, f"{arg} is {len(value)} bytes, limit {limit}", arg))
        if decimal:
            if not value and status:
                # Perl Gearman::Server and gear send empty progress for a job with none
                # yet; a SHOULD (GM-FIELD-005) rather than a malformed number.
                found.append(Violation("GM-FIELD-005", f"{arg} is empty, not 0", arg))
            elif not value.isdigit():
                found.append(Violation("GM-FIELD-003", f"{arg} {value!r} is not unsigned decimal", arg))
        if flag and value not in (b"0", b"1"):
            found.append(Violation("GM-FIELD-004", f"{arg} {value!r} is not 0 or 1", arg))
    return found


#: per argument of a layout: (name, may hold NUL, limit rule or None, limit, unsigned decimal, 0/1 flag)
_Plan = tuple[tuple[str, bool, str | None, int, bool, bool], ...]


def _plan(names: tuple[str, ...], blob: bool) -> _Plan:
    last = len(names) - 1
    out = []
    for index, name in enumerate(names):
        field = FIELDS[name]
        rule = _LIMIT_RULES.get(name) if field.max is not None else None
        limit = field.max if field.max is not None else 0
        out.append((name, index == last and blob, rule, limit, field.kind in _DECIMAL_KINDS, field.kind == "flag"))
    return tuple(out)


_ERROR: Final = int(PacketType.ERROR)
_REQ: Final = Magic.REQ
_RES: Final = Magic.RES
_SERVER: Final = Role.SERVER
#: type number -> (name, roles that send it, sent by the server, its arguments' plan, takes no arguments,
#: a status reply), for each type that may be sent: worked out once from the table, as every packet is checked
_ROWS: Final[dict[int, tuple[str, frozenset[Role], bool, _Plan, bool, bool]]] = {
    number: (spec.name, spec.req, bool(spec.res), _plan(spec.args, spec.blob), not spec.args, spec.name in _STATUSES)
    for number, spec in SPECS.items()
    if spec.on_wire
}
