"""Other servers' reactions to codec cases: the alternatives of the gear-0.16 and perl-1.130 profiles.

The codec cases expect the spec's reaction (gearmand's, where it conforms);
gear 0.16 and Perl Gearman::Server 1.130.1 react differently to a few kinds of
input, measured with ``gearsim run --peer gear`` and ``--peer
perl-gearman-server``. Each kind is one rule here, so every case of that kind
carries the same alternative: what the server does, and the rule it breaks
(none where the spec allows it). An alternative both give is written once,
naming both.
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


PERL: Final[list[str]] = ["perl-1.130"]
_ANY_ERROR: Final = [{"packet": {"type": "ERROR", "args": [{"any": True}, {"any": True}]}}]
_PERL_VERSION: Final = [{"admin": {"text": {"match": r"v\S+"}}}]
#: Perl's exact answer to a line of six words: it has no word limit (GM-ADMIN-007 only permits a close)
_PERL_SIX_WORDS: Final[dict[str, dict[str, Any]]] = {
    "six-words": {"admin": {"text": "OK"}},
    "admin-six-words": {"admin": {"text": {"match": "ERR .*"}, "eol": "\r\n"}},
}


def _perl(case: dict[str, Any]) -> dict[str, Any] | None:
    server = case.get("server") or {}
    replies = server.get("replies", [])
    flags = case.get("flags", [])
    if case["id"] in _PERL_SIX_WORDS:
        return {
            "replies": [_PERL_SIX_WORDS[case["id"]]],
            "then": "open",
            "note": "Perl reads an admin line of any length (GM-ADMIN-007 permits a close, not requires one)",
        }
    if case["id"] == "shutdown":
        return {"replies": [{"admin": {"text": "OK"}}], "then": "close", "note": "Perl has shutdown: OK, then it exits"}
    if "UndefinedType" in flags and server.get("then") == "close":
        return {
            "replies": _ANY_ERROR,
            "then": "open",
            "note": "Perl answers ERROR server_error for a type it has no handler for (GM-FRAME-013 permits a close)",
        }
    if case["id"] == "submit-job-one-nul":
        return {
            "defect": "error-text-echoes-body",
            "breaks": ["GM-FRAME-005"],
            "replies": _ANY_ERROR,
            "then": "open",
            "note": "Perl answers ERROR, as GM-FRAME-015 allows, but its text repeats the body, NUL included",
        }
    if "ReadsPastBody" in flags and server.get("then") == "close" and not replies:
        return {
            "replies": _ANY_ERROR,
            "then": "open",
            "note": "Perl answers ERROR for a body with too few arguments, as GM-FRAME-015 allows",
        }
    if case["id"] == "get-status-nul-in-handle":
        return {
            "defect": "status-nul-handle-dropped",
            "breaks": ["GM-ERROR-006", "GM-STATUS-001"],
            "then": "open",
            "note": "Perl drops a GET_STATUS whose handle holds a NUL and goes on reading",
        }
    if case["id"] == "option-req-nul-in-option":
        return {
            "replies": _ANY_ERROR,
            "then": "open",
            "note": "Perl takes the whole body as the option name, unknown to it: ERROR, as GM-OPTION-002 asks",
        }
    texts = [r["admin"].get("text") if isinstance(r.get("admin"), dict) else None for r in replies]
    if "OK 1.1.20+ds" in texts or (case["id"] == "version-cr-cr-lf" and replies):
        at = texts.index("OK 1.1.20+ds") if "OK 1.1.20+ds" in texts else 0
        breaks = ["GM-ADMIN-015"] if case["id"] != "version-cr-cr-lf" else ["GM-ADMIN-020", "GM-ADMIN-015"]
        return {
            "breaks": breaks,
            "replies": [*replies[:at], *_PERL_VERSION, *replies[at + 1 :]],
            "then": server.get("then", "open"),
            "note": "Perl's version line is v and its version, without the OK"
            + ("; it takes 'version\\r' as version" if len(breaks) > 1 else ""),
        }
    for i, reply in enumerate(replies):
        packet = reply.get("packet")
        if packet and packet["type"] == "STATUS_RES" and packet["args"][3:] == ["0", "0"]:
            empty = {"packet": {**packet, "args": [*packet["args"][:3], "", ""]}}
            return {
                "breaks": ["GM-FIELD-005"],
                "replies": [*replies[:i], empty, *replies[i + 1 :]],
                "then": server.get("then", "open"),
                "note": "Perl reports no progress as empty numbers",
            }
    return None


def with_peer_alternatives(case: dict[str, Any]) -> dict[str, Any]:
    """``case`` (a codec case as YAML data) with gear's and Perl's alternative reactions added where they have one."""
    found = [(profiles, alt) for profiles, alt in ((GEAR, _gear(case)), (PERL, _perl(case))) if alt is not None]
    if not found:
        return case
    server = dict(case["server"])
    accept = list(server.get("accept", []))
    for profiles, alternative in found:
        same = next(
            (
                a
                for a in accept
                if {k: v for k, v in a.items() if k not in ("profiles", "note")}
                == {k: v for k, v in alternative.items() if k != "note"}
            ),
            None,
        )
        if same is not None:
            same["profiles"] = [*same["profiles"], *profiles]
            if alternative.get("note") and alternative["note"] != same.get("note"):
                same["note"] = f"{same['note']}; {alternative['note']}" if same.get("note") else alternative["note"]
            continue
        accept.append({"profiles": profiles, **alternative})
    server["accept"] = accept
    return {**case, "server": server}
