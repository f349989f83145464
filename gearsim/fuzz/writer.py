"""A shrunk fuzz failure as a regression vector (format v1, lint-clean).

PURE: history in, vector data and canonical text out; the caller writes the
file under vectors/regressions/. The vector replays with ``gearsim run``:

* every step of the conversation becomes vector steps: ``connect`` (plus the
  SET_CLIENT_ID the machine sends on every connect), ``send`` of the packet or
  admin line, ``disconnect``, and one ``expect`` per message the **server**
  sent (the real side's answers are the expectations: the profile's reference
  server is the ground truth until the lead rules the finding a server bug);
* handles are captured from JOB_CREATED (``{capture: H0}``) and referenced
  later (``{ref: H0}``); the example's namespace is replaced by a name made
  from the case id, so files never clash with other vectors' functions;
* read-only admin listings (status, workers, show jobs, ...) are left out
  unless they are the failing step: their rows depend on the rest of a shared
  server, which the machine filtered away but a vector cannot;
* the failing step's comment holds the model's answer and the problem; the
  file's ``source`` holds the seed and the server's identity.

An admin line that names a live handle ('cancel job H') is written as
``{parts: ["cancel job ", {ref: H0}]}``, so the case replays on any server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from gearsim.fuzz.actions import ADMIN_READ_ONLY, SUBMITS, Action, Fn, Hd, Kind, Names, Uq, actor_role
from gearsim.fuzz.driver import InvariantBroken, Step
from gearsim.fuzz.normalise import CAdmin, CPacket, View
from gearsim.protocol.packets import PacketType
from gearsim.vectors.parse import format_bytes

__all__ = ["REQUIREMENTS", "case_id", "content_hash", "regression_vector"]

#: the requirement a failing step cites, by the acting packet type (admin and connects below)
REQUIREMENTS: Mapping[int, str] = {
    **{int(t): "GM-SUBMIT-001" for t in SUBMITS},
    PacketType.GET_STATUS: "GM-STATUS-001",
    PacketType.GET_STATUS_UNIQUE: "GM-STATUS-001",
    PacketType.OPTION_REQ: "GM-OPTION-001",
    PacketType.CAN_DO: "GM-WORKER-001",
    PacketType.CAN_DO_TIMEOUT: "GM-WORKER-001",
    PacketType.CANT_DO: "GM-WORKER-003",
    PacketType.RESET_ABILITIES: "GM-WORKER-005",
    PacketType.PRE_SLEEP: "GM-SLEEP-001",
    PacketType.GRAB_JOB: "GM-WORKER-007",
    PacketType.GRAB_JOB_UNIQ: "GM-WORKER-007",
    PacketType.GRAB_JOB_ALL: "GM-WORKER-007",
    PacketType.WORK_STATUS: "GM-WORK-003",
    PacketType.WORK_DATA: "GM-WORK-003",
    PacketType.WORK_WARNING: "GM-WORK-003",
    PacketType.WORK_COMPLETE: "GM-WORK-004",
    PacketType.WORK_FAIL: "GM-WORK-005",
    PacketType.WORK_EXCEPTION: "GM-WORK-009",
}
_ADMIN_REQUIREMENT = "GM-ADMIN-005"
_DISCONNECT_REQUIREMENT = "GM-DISC-001"
#: invariant wording -> the rule it enforces
_INVARIANT_REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("terminal packet", "GM-WORK-007"),
    ("NOOP", "GM-SLEEP-002"),
    ("never handed out", "GM-DISC-002"),
    ("handed out", "GM-WORKER-007"),
    ("handle", "GM-SUBMIT-001"),
)


def _token_text(action: Action) -> str:
    parts = []
    for t in action.args:
        if isinstance(t, Fn):
            parts.append(f"F:{t.name}")
        elif isinstance(t, Uq):
            parts.append(f"U:{t.name}")
        elif isinstance(t, Hd):
            parts.append(f"H:{t.index}")
        else:
            parts.append(t.hex())
    return f"{action.kind.value}|{action.actor}|{action.type.name if action.type else ''}|{','.join(parts)}"


def content_hash(history: Sequence[Step]) -> str:
    """A stable hash of the conversation (actions only): the same finding, the same hash."""
    text = "\n".join(_token_text(s.action) for s in history)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def case_id(history: Sequence[Step]) -> str:
    """'fuzz-' and the first 10 hex digits of the content hash."""
    return f"fuzz-{content_hash(history)[:10]}"


class _Writer:
    def __init__(self, namespace: bytes, prefix: bytes) -> None:
        self.namespace = namespace
        self.prefix = prefix
        self.names = Names(prefix)
        self.captured: set[int] = set()
        self.model_handles: list[bytes] = []

    def rename(self, data: bytes) -> bytes:
        return data.replace(self.namespace, self.prefix)

    def arg(self, value: bytes | Hd, *, expect: bool) -> Any:
        if isinstance(value, Hd):
            if value.index in self.captured:
                return {"ref": f"H{value.index}"}
            if expect:
                self.captured.add(value.index)
                return {"capture": f"H{value.index}"}
            return format_bytes(Names.unknown_handle(value.index))
        return format_bytes(self.rename(value))

    def send_arg(self, token: Any) -> Any:
        if isinstance(token, Hd):
            return self.arg(token, expect=False)
        if isinstance(token, Fn):
            return format_bytes(self.names.function(token.name))
        if isinstance(token, Uq):
            return format_bytes(self.names.unique(token.name))
        return format_bytes(self.rename(token))

    def admin_line(self, action: Action) -> Any:
        """The admin line to send: text, or parts with a ref where it names a live handle."""
        parts: list[Any] = []
        text = b""
        for i, t in enumerate(action.args):
            sep = b" " if i else b""
            if isinstance(t, Hd) and t.index in self.captured:
                parts += [format_bytes(text + sep), {"ref": f"H{t.index}"}]
                text = b""
                continue
            if isinstance(t, Hd):
                word = Names.unknown_handle(t.index)
            elif isinstance(t, Fn):
                word = self.names.function(t.name)
            elif isinstance(t, Uq):
                word = self.names.unique(t.name)
            else:
                word = t
            text += sep + word
        if not parts:
            return format_bytes(text)
        if text:
            parts.append(format_bytes(text))
        return {"parts": parts}

    def expects(self, actor: str, view: View) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in view.messages:
            if isinstance(m, CPacket):
                packet: dict[str, Any] = {"type": _type_name(m.type)}
                if m.magic != b"\0RES":
                    packet["magic"] = {"hex": m.magic.hex()}
                if m.args:
                    packet["args"] = [self.arg(a, expect=True) for a in m.args]
                out.append({"expect": actor, "packet": packet})
            else:
                out.extend(self._admin_expects(actor, m))
        if view.closed:
            out.append({"expect_close": actor})
        return out

    def _admin_expects(self, actor: str, reply: CAdmin) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        group: list[bytes] = []
        eol = reply.eols[0] if reply.eols else b"\n"
        for line, this_eol in zip(reply.lines, reply.eols, strict=True):
            if this_eol != eol and group:
                out.append(_admin_expect(actor, group, eol, reply.listing))
                group = []
            eol = this_eol
            group.append(self.rename(line))
        if group:
            out.append(_admin_expect(actor, group, eol, reply.listing))
        return out


def _admin_expect(actor: str, lines: list[bytes], eol: bytes, listing: bool) -> dict[str, Any]:
    admin: dict[str, Any] = {"lines": [format_bytes(x) for x in lines]}
    if eol != b"\n":
        admin["eol"] = eol.decode("ascii")
    if listing:
        admin["unordered"] = True
    return {"expect": actor, "admin": admin}


def _type_name(number: int) -> str | int:
    return PacketType(number).name if number in PacketType._value2member_map_ else number


def _requirement(step: Step, invariant: bool) -> str:
    for words, rid in _INVARIANT_REQUIREMENTS:
        if invariant and words in step.problem:
            return rid
    action = step.action
    if action.kind is Kind.ADMIN:
        return "GM-ADMIN-018" if action.command == "cancel" else _ADMIN_REQUIREMENT
    if action.kind is Kind.DISCONNECT:
        return _DISCONNECT_REQUIREMENT
    if action.type is not None:
        return REQUIREMENTS.get(int(action.type), "GM-SERVER-001")
    return "GM-SERVER-001"


def regression_vector(
    history: Sequence[Step],
    failure: BaseException,
    *,
    namespace: bytes,
    seed: int,
    server: str,
    profile: str,
    command: str,
) -> dict[str, Any]:
    """The vector file data (schema v1) for a failing conversation.

    Args:
        history: the steps, the failing one last (``Recorder.history``).
        failure: the Divergence or InvariantBroken it raised.
        namespace: the example's wire prefix, replaced in every byte string.
        seed: the fuzz seed; server: the server's identity and version.
        command: the command line that found it (for the header).
    """
    cid = case_id(history)
    writer = _Writer(namespace, f"{cid}-".encode("ascii"))
    actors: dict[str, str] = {}
    steps: list[dict[str, Any]] = []
    last = len(history) - 1
    for i, step in enumerate(history):
        action = step.action
        failing = i == last
        if action.kind is Kind.ADMIN and action.command in ADMIN_READ_ONLY and not failing:
            continue
        actors.setdefault(action.actor, actor_role(action.actor))
        if action.kind is Kind.CONNECT:
            steps.append({"connect": action.actor})
            client_id = writer.names.client_id(action.actor)
            steps.append({"send": action.actor, "packet": {"type": "SET_CLIENT_ID", "args": [format_bytes(client_id)]}})
        elif action.kind is Kind.DISCONNECT:
            steps.append({"disconnect": action.actor})
        elif action.kind is Kind.ADMIN:
            steps.append({"send": action.actor, "admin": writer.admin_line(action)})
        elif action.type is not None:
            packet: dict[str, Any] = {"type": action.type.name}
            if action.args:
                packet["args"] = [writer.send_arg(t) for t in action.args]
            steps.append({"send": action.actor, "packet": packet})
        first_expect = len(steps)
        for actor in sorted(step.real):
            actors.setdefault(actor, actor_role(actor))
            view = step.real[actor]
            if action.kind is Kind.DISCONNECT and actor == action.actor:
                view = View(view.messages, False, view.stalled)  # the close is our own
            steps.extend(writer.expects(actor, view))
        if failing:
            note = _failing_note(step, failure)
            if len(steps) > first_expect:
                steps[first_expect]["comment"] = note
            else:
                steps[-1]["comment"] = note
    kind = "server-invariant" if isinstance(failure, InvariantBroken) else "divergence"
    flags = ["FuzzFinding"]
    notes: dict[str, Any] = {
        "FuzzFinding": {
            "description": "written by gearsim fuzz from a shrunk counter-example; the expectations are what "
            "the server under test sent",
            "effect": "fails on whichever side is wrong until the model is fixed or the profile records a server bug",
        }
    }
    case: dict[str, Any] = {
        "id": cid,
        "comment": f"{kind} found by gearsim fuzz (seed {seed}, profile {profile}): {_one_line(failure)}",
        "requirements": [_requirement(history[-1], isinstance(failure, InvariantBroken))],
        "flags": flags,
        "result": "valid",
        "profiles": [profile],
        "actors": dict(sorted(actors.items())),
        "steps": steps,
    }
    return {
        "schema": "gearsim-vectors/1",
        "area": "regressions",
        "title": f"fuzz regression {cid}",
        "header": [
            "Written by gearsim fuzz from a shrunk counter-example; do not edit by hand.",
            f"Found by: {command}",
            f"Content hash of the conversation: {content_hash(history)}",
        ],
        "notes": notes,
        "source": {
            "author": "gearsim fuzz",
            "checked": f"against {server} and the reference model ({profile})",
            "seed": seed,
            "server": server,
        },
        "cases": [case],
    }


def _one_line(failure: BaseException) -> str:
    text = " ".join(str(failure).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _failing_note(step: Step, failure: BaseException) -> str:
    model = "; ".join(f"{a}: {v.describe()}" for a, v in sorted(step.model.items()))
    if isinstance(failure, InvariantBroken):
        return f"invariant broken here ({failure.side}): {step.problem} (model saw: {model})"
    return f"the model differs here: {model}"
