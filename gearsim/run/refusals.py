"""Requests a server refuses with ERROR and optional admin commands it answers ERR: what a failed step means then.

PURE. When an expect step fails, the runner asks here whether the server's
ERROR answers a request it has no handler for, or its ERR line an optional
admin command it lacks: under a named profile a refusal its recorded defect
lists is that known defect; a request or admin command a server MAY leave out
makes the case n/a; a request every server must (should) act on breaks
GM-SERVER-001 (GM-SERVER-002), named before the step's own rules, unless the
ERROR's code word is a reason of the error table (QUEUE_ERROR: the server acted
on the request and found its queue full), which the step's own rules judge; a
SHOULD admin command missing under spec breaks that SHOULD alone. The lookups
over the profile table are ``gearsim.run.unanswered``.
"""

from __future__ import annotations

from typing import TypeGuard

from gearsim.protocol.packets import AdminLine, Magic, Message, Packet, PacketType, type_name
from gearsim.run.expectations import Play, Unsupported
from gearsim.run.result import StepFailed
from gearsim.run.unanswered import absent_admin, core_refused, refused_defect, refused_optional
from gearsim.vectors.parse import Step

__all__ = ["absent_admin_line", "error_code", "is_err", "is_error", "refusal_met", "refused"]


def is_err(message: Message | bytes | None) -> bool:
    """Whether ``message`` (a failure's first received: ``StepFailed.first``) is an admin ERR line."""
    return isinstance(message, AdminLine) and message.text.partition(b" ")[0] == b"ERR"


def absent_admin_line(play: Play, step: Step, failure: StepFailed, line: bytes) -> None:
    """An ERR line for an optional admin command the server lacks: never a MUST failure.

    Raises:
        Unsupported: the command is one a server MAY have, or one its named profile lacks.
        StepFailed: under spec, the command is one a server SHOULD have: naming that SHOULD alone.
    """
    absent = absent_admin(play.profile, line)
    if absent is None:
        return
    word, rule, level = absent
    if play.neutral and level == "SHOULD":
        reason = f"{failure}; the server has no {word!r} admin command"
        raise StepFailed(step, reason, failure.expected, failure.actual, (rule,), received=failure.received) from None
    raise Unsupported(f"step {step.index}: the server has no {word!r} admin command ({rule} is a {level})")


def is_error(message: Message | bytes | None) -> TypeGuard[Packet]:
    """Whether ``message`` (a failure's first received, or one waiting in an inbox) is an ERROR packet."""
    # a packet with an illegal magic is no ERROR, whatever its type number
    return isinstance(message, Packet) and isinstance(message.magic, Magic) and int(message.type) == PacketType.ERROR


def error_code(message: Message | bytes | None) -> bytes:
    """The code word of ``message`` when it is an ERROR (``is_error``), whole; else b""."""
    return message.args[0] if is_error(message) and message.args else b""


def _error_held(play: Play, actor: str) -> Packet | None:
    """The first ERROR waiting in ``actor``'s inbox, if any."""
    return next((m for m in play.peer.inbox(actor) if is_error(m)), None)


def refusal_met(play: Play, actor: str, where: str) -> bool:
    """Record the profile's defect that refuses a request ``actor`` sent since its last expect step, if one does.

    Returns whether it did: the ERROR ``actor`` got is that defect, whatever
    the step expected of it (the vector's ERROR would have other causes).
    """
    found = refused_defect(play.profile, play.sent.get(actor, ()))
    if found is None:
        return False
    defect, name = found
    note = f"{where}: known defect {defect.id} of {play.profile} (breaks {', '.join(defect.rules)})"
    note = f"{note}: the server refused {actor}'s {name} with ERROR"
    if note not in play.defects:  # each refused request sent is one finding, however many ERRORs it got
        play.defects.append(note)
    return True


def refused(play: Play, step: Step, failure: StepFailed) -> None:
    """A failed step after a request that came back refused with an ERROR where the step expects another reply.

    The step's own actor counts when the ERROR came to it; another actor
    when its requests since its last expect step hold the request, its
    replies hold an ERROR, and the step awaits a packet of that request's
    type: a worker's refused WORK_DATA shows as its client's missing WORK_DATA. A refusal the profile's defect
    records is that known defect; one of a request a server MAY leave out is
    the spec's allowance; one of a request every server must (should) act on
    breaks GM-SERVER-001 (GM-SERVER-002), named before the step's rules,
    unless the ERROR's code is a reason of the error table, which the step's
    own rules judge.

    Raises:
        Unsupported: a recorded defect (the case stops there) or an optional request (n/a).
        StepFailed: naming the core rule the refusal breaks.
    """
    if _expects_error(step):
        return
    where = f"step {step.index}"
    # another actor's refusal explains this step only when the step awaits what that request would have sent on
    awaited = {type_name(p.type) for p in (step.packet, *step.packets) if p is not None}
    for who, names in play.sent.items():
        if who == step.actor:
            if not is_error(failure.first):
                continue
            code = error_code(failure.first)
        else:
            held = _error_held(play, who)
            if held is None or not awaited & set(names):
                continue
            code = held.args[0] if held.args else b""
        if play.stop_unanswered and refusal_met(play, who, where):
            raise Unsupported(f"{where}: the server refused what {who} asked")
        optional = refused_optional(play.profile, names) if play.stop_unanswered else None
        if optional is not None:
            raise Unsupported(
                f"{where}: the server answers {optional} with ERROR: it does not implement it"
                " (GM-SERVER-003: a server MAY)"
            )
        core = core_refused(play.profile, names, code=code)
        if core is not None and core[0] not in failure.rules:
            rule, name = core
            reason = f"{failure}; {who}'s {name} was refused with ERROR ({rule})"
            rules = (rule, *failure.rules)
            raise StepFailed(step, reason, failure.expected, failure.actual, rules, received=failure.received) from None


def _expects_error(step: Step) -> bool:
    patterns = [step.packet, *step.packets]
    return any(p is not None and p.type is PacketType.ERROR for p in patterns)
