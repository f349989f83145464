"""Spec checks on single packets: ``check(packet, role) -> list[Violation]``.

PURE, and total: whatever it is given (unknown types, wrong magic, missing
arguments), ``check`` returns findings and never raises. Each finding names the
requirement it breaks (ids from spec/requirements.yaml). Everything it knows
about a type comes from the packet table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gearsim.protocol.packets import FIELDS, SPECS, Magic, Packet, Role

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
_STATUS_REPLIES: Final[frozenset[str]] = frozenset({"STATUS_RES", "STATUS_RES_UNIQUE"})


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
    spec = SPECS.get(number)
    magic = packet.magic
    if magic != Magic.REQ and magic != Magic.RES:
        found.append(Violation("GM-FRAME-002", f"magic {bytes(magic)!r} is neither \\0REQ nor \\0RES"))
    if spec is None or not spec.on_wire:
        found.append(Violation("GM-FRAME-003", f"type {number} is not a packet type that may be sent"))
        return found
    if role is Role.SERVER:
        if magic == Magic.REQ:
            found.append(Violation("GM-FRAME-002", f"the server sent {spec.name} with magic \\0REQ"))
        if not spec.res:
            found.append(Violation("GM-FRAME-003", f"{spec.name} is never sent by a server"))
    elif role is not None:
        if magic == Magic.RES:
            found.append(Violation("GM-FRAME-002", f"{spec.name} sent to the server with magic \\0RES"))
        if role not in spec.req:
            senders = " or ".join(sorted(r.value for r in spec.req)) or "nobody (server only)"
            found.append(Violation("GM-FRAME-003", f"{spec.name} is sent by {senders}, not by a {role.value}"))
    elif (magic == Magic.REQ and not spec.req) or (magic == Magic.RES and not spec.res):
        found.append(Violation("GM-FRAME-003", f"{spec.name} never travels with magic {bytes(magic)!r}"))
    found.extend(_check_args(packet, spec.args, spec.blob, spec.name))
    return found


def _check_args(packet: Packet, names: tuple[str, ...], blob: bool, type_name: str) -> list[Violation]:
    found: list[Violation] = []
    args = packet.args
    if not names:
        if any(args):
            found.append(Violation("GM-FRAME-004", f"{type_name} takes no arguments but carries a body"))
        return found
    if len(args) != len(names):
        found.append(
            Violation(
                "GM-FRAME-004",
                f"{type_name} needs {len(names)} arguments ({len(names) - 1} NULs), got {len(args)}",
            )
        )
    plan = _PLANS.get((names, blob))
    if plan is None:
        plan = _PLANS[(names, blob)] = _plan(names, blob)
    status = type_name in _STATUS_REPLIES
    for (name, may_hold_nul, rule, limit, decimal, flag), value in zip(plan, args, strict=False):
        if not may_hold_nul and b"\0" in value:
            found.append(Violation("GM-FRAME-005", f"NUL inside argument {name!r}", name))
        if rule is not None and len(value) > limit:
            found.append(Violation(rule, f"{name} is {len(value)} bytes, limit {limit}", name))
        if decimal:
            if not value and status:
                # Perl Gearman::Server and gear send empty progress for a job with none
                # yet; a SHOULD (GM-FIELD-005) rather than a malformed number.
                found.append(Violation("GM-FIELD-005", f"{name} is empty, not 0", name))
            elif not value.isdigit():
                found.append(Violation("GM-FIELD-003", f"{name} {value!r} is not unsigned decimal", name))
        if flag and value not in (b"0", b"1"):
            found.append(Violation("GM-FIELD-004", f"{name} {value!r} is not 0 or 1", name))
    return found


#: per argument of a layout: (name, may hold NUL, limit rule or None, limit, unsigned decimal, 0/1 flag)
_Plan = tuple[tuple[str, bool, str | None, int, bool, bool], ...]
#: (argument names, blob) -> its plan, worked out once per layout: every packet is checked, most of them alike
_PLANS: dict[tuple[tuple[str, ...], bool], _Plan] = {}


def _plan(names: tuple[str, ...], blob: bool) -> _Plan:
    last = len(names) - 1
    out = []
    for index, name in enumerate(names):
        field = FIELDS[name]
        rule = _LIMIT_RULES.get(name) if field.max is not None else None
        limit = field.max if field.max is not None else 0
        out.append((name, index == last and blob, rule, limit, field.kind in _DECIMAL_KINDS, field.kind == "flag"))
    return tuple(out)
