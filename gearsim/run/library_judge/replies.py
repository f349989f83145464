"""A driver's JSON reply: decoded to values, and matched against a step's ``reply`` expectation.

PURE. This module owns ``decode_reply`` (a driver's reply body as judge
values, raising on a malformed one) and ``match_reply`` (the reply against a
step's expectation, binding captures).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from gearsim.run.library_judge.findings import show
from gearsim.vectors.cases import AnyValue, Capture, Ref, ReplyExpectation


def _b64(body: Mapping[str, Any], key: str) -> bytes:
    value = body.get(key)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{key} is not valid base64") from None


def _text(body: Mapping[str, Any], key: str, required: bool = True) -> bytes | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValueError(f"no {key}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value.encode("utf-8", "surrogateescape")


def _int(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not an integer")
    return value


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} is not true or false")
    return value


def decode_reply(op: str, body: Mapping[str, Any], background: bool = False) -> dict[str, Any]:
    """A successful reply's fields as values (bytes for text and base64 fields).

    Raises:
        ValueError: a field the operation must return is missing or malformed
            (the driver broke the protocol).
    """
    out: dict[str, Any] = {}
    if op == "submit":
        out["handle"] = _text(body, "handle", required=background)
        if not background:
            outcome = body.get("outcome")
            if outcome not in ("complete", "fail", "exception"):
                raise ValueError("outcome is not complete, fail or exception")
            out["outcome"] = outcome
            out["result"] = _b64(body, "data_b64")
            events: list[tuple[str, Any]] = []
            for event in body.get("events", []):
                if not isinstance(event, dict):
                    raise ValueError("an event is not an object")
                kind = event.get("event")
                if kind in ("data", "warning"):
                    events.append((kind, _b64(event, "data_b64")))
                elif kind == "status":
                    events.append((kind, (_int(event, "numerator"), _int(event, "denominator"))))
                else:
                    raise ValueError(f"unknown event {kind!r}")
            out["events"] = tuple(events)
    elif op in ("status", "status_unique"):
        out["known"] = _bool(body, "known")
        out["running"] = _bool(body, "running")
        out["numerator"] = _int(body, "numerator")
        out["denominator"] = _int(body, "denominator")
        if "clients" in body:
            out["clients"] = _int(body, "clients")
    elif op == "work":
        job = body.get("job")
        if not isinstance(job, dict):
            raise ValueError("no job")
        out["job"] = {
            "handle": _text(job, "handle"),
            "function": _text(job, "function"),
            "unique": _text(job, "unique", required=False),
            "payload": _b64(job, "payload_b64"),
        }
    return out


def _match_value(key: str, want: Any, have: Any, captures: Mapping[str, bytes], bind: dict[str, bytes]) -> str:
    if isinstance(want, AnyValue):
        return ""
    if isinstance(want, Capture):
        if not isinstance(have, bytes):
            return f"{key} is {have!r}, expected a value to capture"
        bind[want.name] = have
        return ""
    if isinstance(want, Ref):
        want = captures.get(want.name)
    if key == "outcome":
        return "" if have in want else f"outcome is {have!r}, expected {' or '.join(want)}"
    if have != want:
        return f"{key} is {show(have)}, expected {show(want)}"
    return ""


def match_reply(
    expect: ReplyExpectation,
    ok: bool,
    error_kind: str,
    values: Mapping[str, Any],
    captures: Mapping[str, bytes],
    bind: dict[str, bytes],
    capabilities: frozenset[str] = frozenset(),
    error_message: str = "",
) -> str:
    """'' when a reply meets ``expect``; else why not. Captures go to ``bind``.

    Events the driver does not offer (capability ``events_data``,
    ``events_warning``, ``events_status``) are left out of the expected events.
    """
    if not expect.ok:
        if ok:
            return "the call succeeded, expected an error" + (f" ({', '.join(expect.errors)})" if expect.errors else "")
        if expect.errors and error_kind not in expect.errors:
            return f"error of kind {error_kind}, expected {' or '.join(expect.errors)}"
        return ""
    if not ok:
        return f"the call failed ({error_kind}{': ' + error_message[:200] if error_message else ''})"
    for key, want in expect.fields.items():
        if key not in values:
            return f"the reply has no {key}"
        have = values[key]
        if key == "events":
            want = tuple(e for e in want if f"events_{e[0]}" in capabilities)
        if key == "job":
            for sub, sub_want in want.items():
                problem = _match_value(f"job {sub}", sub_want, have.get(sub), captures, bind)
                if problem:
                    return problem
            continue
        problem = _match_value(key, want, have, captures, bind)
        if problem:
            return problem
    return ""
