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


def _shown(value: Any) -> str:
    """A malformed value for a reason: its repr, cut short (a driver's reply may be megabytes)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _b64(body: Mapping[str, Any], key: str, where: str = "") -> bytes:
    value = body.get(key)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ValueError(f"{where}{key} is not a base64 string: {_shown(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where}{key} is not valid base64: {_shown(value)}") from None


def _text(body: Mapping[str, Any], key: str, required: bool = True, where: str = "") -> bytes | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValueError(f"no {where}{key}")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}{key} is not a string: {_shown(value)}")
    try:
        # surrogateescape: a library's non-UTF-8 bytes, as a driver in Python passes them
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise ValueError(f"{where}{key} is not UTF-8 text: {_shown(value)}") from None


def _int(body: Mapping[str, Any], key: str, where: str = "") -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{where}{key} is not an integer: {_shown(value)}")
    return value


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} is not true or false: {_shown(value)}")
    return value


def _events(body: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A foreground submission's events (absent: none)."""
    given = body.get("events", [])
    if not isinstance(given, list):
        raise ValueError(f"events is not a list: {_shown(given)}")
    events: list[tuple[str, Any]] = []
    for i, event in enumerate(given):
        where = f"events[{i}]."
        if not isinstance(event, dict):
            raise ValueError(f"events[{i}] is not an object: {_shown(event)}")
        kind = event.get("event")
        if kind in ("data", "warning"):
            events.append((kind, _b64(event, "data_b64", where)))
        elif kind == "status":
            events.append((kind, (_int(event, "numerator", where), _int(event, "denominator", where))))
        else:
            raise ValueError(f"{where}event is {_shown(kind)}, not data, warning or status")
    return tuple(events)


def decode_reply(op: str, body: Mapping[str, Any], background: bool = False) -> dict[str, Any]:
    """A successful reply's fields as values (bytes for text and base64 fields).

    ``body`` is any JSON object a driver wrote: every field is checked for its
    type before it is used, so that nothing a driver writes raises anything
    but the ValueError that names the field (``events[1].numerator``,
    ``job.handle``) and quotes its value.

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
                raise ValueError(f"outcome is not complete, fail or exception: {_shown(outcome)}")
            out["outcome"] = outcome
            out["result"] = _b64(body, "data_b64")
            out["events"] = _events(body)
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
            raise ValueError("no job" if job is None else f"job is not an object: {_shown(job)}")
        out["job"] = {
            "handle": _text(job, "handle", where="job."),
            "function": _text(job, "function", where="job."),
            "unique": _text(job, "unique", required=False, where="job."),
            "payload": _b64(job, "payload_b64", "job."),
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
