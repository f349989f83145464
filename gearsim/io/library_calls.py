"""How a library case's calls reach a driver: the capabilities they need and the requests they become.

This module owns ``needs_of`` (what a case's calls need a driver to offer,
named and implied), ``driver_request`` (a call step as the JSON request of
spec/driver.md and the arguments the judge compares the wire with), and the
texts a call shows in traces and failures (``call_note``, ``expected_text``).
gearsim.io.library_cases plays the calls; this module only translates them.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any, Final

from gearsim.errors import HarnessError
from gearsim.vectors.cases import LibraryCall
from gearsim.vectors.parse import Case, Ref, Step

__all__ = ["call_note", "driver_request", "expected_text", "needs_of"]

_BEHAVIOUR_NEEDS: Final[dict[str, str]] = {
    "status": "work_status",
    "data": "work_data",
    "warning": "work_warning",
    "fail": "work_fail",
    "exception": "work_exception",
    "abandon": "work_abandon",
}
_OP_NEEDS: Final[dict[str, str]] = {
    "status": "status",
    "status_unique": "status_unique",
    "option": "option",
    "set_client_id": "client_id",
    "register": "register",
    "unregister": "unregister",
    "work": "work",
}


def needs_of(case: Case, actor: str | None = None) -> frozenset[str]:
    """The capabilities a library case needs (of ``actor``'s driver, or of all): named, and implied by its calls."""
    assert case.library is not None  # only library cases are asked
    needs = set(case.library.needs)
    if len(case.library.servers) > 1:
        needs.add("servers")
    for step in case.steps:
        if actor is not None and step.actor != actor:
            continue
        call = step.call
        if call is not None:
            needs |= _call_needs(call)
        if step.reply is not None and step.reply.fields.get("outcome") == ("exception",):
            needs.add("events_exception")
    return frozenset(needs)


def _call_needs(call: LibraryCall) -> set[str]:
    a = call.args
    if call.op == "submit":
        out = {"submit_background" if a.get("background") else "submit"}
        if a.get("priority", "normal") != "normal":
            out.add("priority")
        if "unique" in a:
            out.add("unique")
        if "epoch_in" in a:
            out.add("epoch")
        return out
    out = {_OP_NEEDS[call.op]}
    if call.op == "register" and "function_timeout_ms" in a:
        out.add("register_timeout")
    for action, _ in a.get("behaviour", ()):
        if action in _BEHAVIOUR_NEEDS:
            out.add(_BEHAVIOUR_NEEDS[action])
    return out


def driver_request(step: Step, captures: Mapping[str, bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A call step as the driver request's fields (JSON) and the call's arguments for the judge (bytes).

    ``captures`` give the values of the step's references; ``epoch_in`` becomes
    an epoch from now (the wall clock: the job waits for a real time).

    Raises:
        HarnessError: a bytes argument that is not UTF-8 (the protocol passes it as text).
    """
    call = step.call
    assert call is not None  # a call step
    judge: dict[str, Any] = {}
    for key, value in call.args.items():
        judge[key] = captures[value.name] if isinstance(value, Ref) else value
    request: dict[str, Any] = {"timeout_ms": call.timeout}
    for key, value in list(judge.items()):
        if key == "payload":
            request["payload_b64"] = base64.b64encode(value).decode("ascii")
        elif key == "behaviour":
            request["behaviour"] = [_behaviour_json(a, v) for a, v in value]
        elif key == "epoch_in":
            judge["epoch"] = int(time.time()) + int(value)
            request["epoch"] = judge["epoch"]
        elif isinstance(value, bytes):
            request[key] = _text(value, key)
        else:
            request[key] = value
    if call.op == "submit":
        judge.setdefault("payload", b"")
        judge.setdefault("background", False)
        judge.setdefault("priority", "normal")
        request.setdefault("payload_b64", "")
        request.setdefault("background", False)
        request.setdefault("priority", "normal")
        request.setdefault("unique", None)
    return request, judge


def _behaviour_json(action: str, value: Any) -> dict[str, Any]:
    """One action of a ``work`` call's behaviour, as spec/driver.md writes it."""
    if action == "status":
        return {"do": "status", "numerator": value[0], "denominator": value[1]}
    if action == "sleep":
        return {"do": "sleep", "ms": value}
    if isinstance(value, bytes):
        return {"do": action, "data_b64": base64.b64encode(value).decode("ascii")}
    return {"do": action}


def call_note(op: str, request: Mapping[str, Any]) -> str:
    """The trace note of a driver request: its fields, workloads over 32 bytes as their size."""
    shown = []
    for key, value in request.items():
        if key == "timeout_ms" or value is None:
            continue
        if key in ("payload_b64", "data_b64"):
            size = len(base64.b64decode(value))
            shown.append(f"payload {size} bytes" if size > 32 else f"payload {base64.b64decode(value)!r}")
        elif key == "behaviour":
            shown.append("behaviour " + ", ".join(str(b.get("do")) for b in value))
        else:
            shown.append(f"{key} {value!r}")
    return f"{op} " + ", ".join(shown)


def expected_text(step: Step) -> str:
    """What a step's reply expectation asks for, as a failure shows it ("" when the step expects no reply)."""
    expect = step.reply
    if expect is None:
        return ""
    if not expect.ok:
        return "an error" + (f" ({' or '.join(expect.errors)})" if expect.errors else "")
    return ", ".join(f"{k} {v!r}" for k, v in expect.fields.items()) or "success"


def _text(value: bytes, what: str) -> str:
    """A bytes argument as the JSON text the driver protocol passes.

    Raises:
        HarnessError: ``value`` is not UTF-8.
    """
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise HarnessError(f"the {what} {value!r} is not UTF-8, and the driver protocol passes it as text") from None
