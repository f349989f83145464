"""Other servers' reactions to codec cases: the alternatives of the gear-0.16 profile.

The codec cases expect the spec's reaction (gearmand's, where it conforms);
gear 0.16 reacts differently to a few kinds of input, measured with
``gearsim run --peer gear``. Each kind is one rule here, so every case of that
kind carries the same alternative: what gear does, and the rule it breaks.
"""

from __future__ import annotations

from typing import Any, Final

GEAR: Final[list[str]] = ["gear-0.16"]
_WORK: Final = {"WORK_STATUS", "WORK_DATA", "WORK_WARNING", "WORK_COMPLETE", "WORK_FAIL", "WORK_EXCEPTION"}
#: short bodies gear takes as complete requests (its last argument is optional: spec/evidence.md GEAR-1)
_SHORT_BODY: Final[dict[str, list[dict[str, Any]]]] = {
    "submit-job-one-nul": [{"packet": {"type": "JOB_CREATED", "args": [{"any": True}]}}],
    "work-complete-no-separator": [],
}


def _gear(case: dict[str, Any]) -> dict[str, Any] | None:
    server = case.get("server") or {}
    replies = server.get("replies", [])
    types = [m["packet"]["type"] for m in case.get("messages", []) if "packet" in m]
    if case["id"] in _SHORT_BODY:
        return {
            "defect": "short-body-accepted",
            "breaks": ["GM-FRAME-015"],
            **({"replies": _SHORT_BODY[case["id"]]} if _SHORT_BODY[case["id"]] else {}),
            "then": "open",
            "note": "gear reads the missing last argument as empty and acts on the request",
        }
    if "UndefinedType" in case.get("flags", []) and server.get("then") == "close":
        return {"then": "open", "note": "gear ignores a type outside the table and keeps the connection"}
    first = replies[0]["packet"] if replies and "packet" in replies[0] else None
    if first is None:
        return None
    if case.get("sender") == "worker" and set(types) <= _WORK and first["type"] == "ERROR":
        return {
            "breaks": ["GM-WORK-002"],
            "then": "open",
            "note": "gear ignores a WORK_* packet for a job the connection does not hold",
        }
    if first["type"] == "STATUS_RES" and first["args"][3:] == ["0", "0"]:
        empty = {"packet": {**first, "args": [*first["args"][:3], "", ""]}}
        return {
            "breaks": ["GM-FIELD-005"],
            "replies": [empty],
            "then": "open",
            "note": "gear reports no progress as empty numbers",
        }
    return None


def with_peer_alternatives(case: dict[str, Any]) -> dict[str, Any]:
    """``case`` (a codec case as YAML data) with gear's alternative reaction added where it has one."""
    alternative = _gear(case)
    if alternative is None:
        return case
    server = dict(case["server"])
    server["accept"] = [*server.get("accept", []), {"profiles": GEAR, **alternative}]
    return {**case, "server": server}
