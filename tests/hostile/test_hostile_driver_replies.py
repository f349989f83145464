"""A driver that writes hostile JSON gets a verdict naming what it wrote, never a gearsim bug.

An unexpected exception inside gearsim while it plays a library case is a
gearsim bug (errors.py, issue #11), so run_library_case no longer turns every
exception into an INCONCLUSIVE. What a driver writes must therefore never
reach one: each malformed reply below (a number where a string belongs, a
list where an object does, null, an integer past what JSON readers take,
arrays nested thousands deep, text that is not base64, events of the wrong
shape, an error kind that is a list) is an INCONCLUSIVE "driver garbage"
naming the field, the operation and the driver. Before, several of them
raised a TypeError or RecursionError inside gearsim that only the blanket
``except`` turned into "harness: TypeError: ...".

tests/data/drivers/hostile_json.py answers one operation with the line given
on its command line and every other properly; each case here starts it once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gearsim.files import load_schema_text
from gearsim.io.driver import DriverBroken, DriverProcess
from gearsim.io.library_cases import run_library_case
from gearsim.run.result import Verdict
from gearsim.vectors.parse import parse_vector_text

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "data" / "drivers" / "hostile_json.py"

CASES = """schema: gearsim-vectors/1
area: client
title: t
header: [h]
notes: {}
cases:
- id: bg
  comment: a background submission
  requirements: [GM-LIB-002]
  result: valid
  actors: {c: client}
  library: {actors: [c]}
  steps:
  - {call: c, op: submit, args: {function: f, payload: x, background: true}, reply: {handle: {any: true}}}
- id: fg
  comment: a foreground submission
  requirements: [GM-LIB-003]
  result: valid
  actors: {c: client}
  library: {actors: [c]}
  steps:
  - {call: c, op: submit, args: {function: f, payload: x}, reply: {outcome: complete}}
- id: status
  comment: a status by handle
  requirements: [GM-LIB-004]
  result: valid
  actors: {c: client}
  library: {actors: [c]}
  steps:
  - {call: c, op: status, args: {handle: 'H:x:1'}, reply: {known: false}}
- id: status-unique
  comment: a status by unique
  requirements: [GM-LIB-004]
  result: valid
  actors: {c: client}
  library: {actors: [c]}
  steps:
  - {call: c, op: status_unique, args: {unique: u}, reply: {known: false}}
- id: work
  comment: a worker takes a job
  requirements: [GM-LIB-008]
  result: valid
  actors: {w: worker}
  library: {actors: [w]}
  steps:
  - {call: w, op: work, args: {behaviour: [{complete: r}]}, reply: {job: {function: f}}}
- id: register
  comment: a worker registers, nothing else
  requirements: [GM-LIB-001]
  result: valid
  actors: {w: worker}
  library: {actors: [w]}
  steps:
  - {call: w, op: register, args: {function: f}}
"""

DEEP = "[" * 5000 + "]" * 5000  # past any JSON reader's recursion limit, within one argument's 128 KiB
NESTED = "[" * 200 + "]" * 200
DIGITS = "1" * 5000
OK = '{"id": {id}, "ok": true, '
#: a foreground submission's reply, but for the field each case replaces
FG = OK + '"handle": "H:x:1", "outcome": "complete", "data_b64": "", '
STATUS = OK + '"known": false, "running": false, '
HELLO = '{"id": {id}, "ok": true, "library": "x", '


def _events(value: str) -> str:
    return FG + f'"events": {value}' + "}"


#: (case, the operation answered, the reply line, what the reason must say); "new" marks bodies that raised
#: an exception inside gearsim before (TypeError, RecursionError), which only the blanket except made a verdict
BODIES: list[tuple[str, str, str, str]] = [
    # the line itself
    ("bg", "submit", "[1, 2]", "is not a JSON object"),
    ("bg", "submit", "null", "is not a JSON object"),
    ("bg", "submit", '"ok"', "is not a JSON object"),
    ("bg", "submit", OK + '"handle": ' + DEEP + "}", "nests arrays or objects too deep"),  # new
    ("bg", "submit", OK + '"handle": "H", "x": ' + NESTED + "}", "nests arrays or objects 201 deep"),  # new
    ("bg", "submit", OK + '"handle": ' + DIGITS + "}", "is not JSON"),
    ("bg", "submit", '{"id": {id}, "ok": "true", "handle": "H"}', "has no boolean 'ok'"),
    ("bg", "submit", '{"id": "{id}", "ok": true, "handle": "H"}', "answers id '2', expected 2"),
    ("bg", "submit", '{"id": {id}, "ok": false, "error": ["library"]}', "an error reply needs error.kind"),
    ("bg", "submit", '{"id": {id}, "ok": false, "error": {"kind": ["library"]}}', "error.kind"),  # new
    ("bg", "submit", '{"id": {id}, "ok": false, "error": {"kind": {"k": 1}}}', "error.kind"),  # new
    ("bg", "submit", '{"id": {id}, "ok": false, "error": {"kind": null}}', "error.kind"),
    # a background submission's handle
    ("bg", "submit", OK + '"handle": 5}', "submit is malformed: handle is not a string: 5"),
    ("bg", "submit", OK + '"handle": ["H"]}', "submit is malformed: handle is not a string"),
    ("bg", "submit", OK + '"handle": {"h": "H"}}', "submit is malformed: handle is not a string"),
    ("bg", "submit", OK + '"handle": null}', "submit is malformed: no handle"),
    ("bg", "submit", OK + '"handle": "\\ud800"}', "submit is malformed: handle is not UTF-8 text"),
    # a foreground submission's outcome, result and events
    ("fg", "submit", OK + '"outcome": ["complete"]}', "submit is malformed: outcome is not complete, fail or"),
    ("fg", "submit", OK + '"outcome": 1}', "submit is malformed: outcome is not complete, fail or exception"),
    ("fg", "submit", FG.replace('""', "5") + '"events": []}', "submit is malformed: data_b64 is not a base64 str"),
    ("fg", "submit", FG.replace('""', '"%%"') + '"events": []}', "submit is malformed: data_b64 is not valid base"),
    ("fg", "submit", FG.replace('""', '"\\u00e9"') + '"events": []}', "submit is malformed: data_b64 is not valid"),
    ("fg", "submit", _events("5"), "submit is malformed: events is not a list"),  # new
    ("fg", "submit", _events("null"), "submit is malformed: events is not a list"),  # new
    ("fg", "submit", _events("true"), "submit is malformed: events is not a list"),  # new
    ("fg", "submit", _events('"data"'), "submit is malformed: events is not a list"),
    ("fg", "submit", _events('{"event": "data"}'), "submit is malformed: events is not a list"),
    ("fg", "submit", _events("[5]"), r"submit is malformed: events\[0\] is not an object"),
    ("fg", "submit", _events("[[]]"), r"submit is malformed: events\[0\] is not an object"),
    ("fg", "submit", _events('[{"event": ["data"]}]'), r"events\[0\]\.event is \['data'\], not data, warning"),
    ("fg", "submit", _events('[{"event": "data", "data_b64": 5}]'), r"events\[0\]\.data_b64 is not a base64"),
    ("fg", "submit", _events('[{"event": "status", "numerator": "1", "denominator": 2}]'), r"\[0\]\.numerator is"),
    ("fg", "submit", _events('[{"event": "status", "numerator": 1}]'), r"events\[0\]\.denominator is not an int"),
    # a status
    ("status", "status", STATUS + '"numerator": "0", "denominator": 0}', "status is malformed: numerator is not"),
    ("status", "status", STATUS + '"numerator": 0.5, "denominator": 0}', "status is malformed: numerator is not"),
    ("status", "status", STATUS + '"numerator": true, "denominator": 0}', "status is malformed: numerator is not"),
    ("status", "status", STATUS + '"numerator": null, "denominator": 0}', "status is malformed: numerator is not"),
    ("status", "status", OK + '"known": "no", "running": false, "numerator": 0, "denominator": 0}', "known is not"),
    ("status", "status", OK + '"known": [], "running": false, "numerator": 0, "denominator": 0}', "known is not"),
    ("status-unique", "status_unique", STATUS + '"numerator": 0, "denominator": 0, "clients": "1"}', "clients is"),
    # a worker's job
    ("work", "work", OK + '"job": null}', "work is malformed: no job"),
    ("work", "work", OK + '"job": ["H:x:1", "f"]}', "work is malformed: job is not an object: \\['H:x:1', 'f'\\]"),
    ("work", "work", OK + '"job": "H:x:1"}', "work is malformed: job is not an object: 'H:x:1'"),
    ("work", "work", OK + '"job": {"handle": 1, "function": "f"}}', r"work is malformed: job\.handle is not a str"),
    ("work", "work", OK + '"job": {"handle": "H", "function": {}}}', r"work is malformed: job\.function is not a "),
    ("work", "work", OK + '"job": {"handle": "H", "function": "f", "unique": 7}}', r"job\.unique is not a string"),
    ("work", "work", OK + '"job": {"handle": "H", "function": "f", "payload_b64": "!"}}', r"job\.payload_b64 is not"),
    # hello
    ("bg", "hello", HELLO + '"capabilities": "submit"}', "hello's reply has no list of capabilities"),
    ("bg", "hello", HELLO + '"capabilities": [1]}', "hello's reply has no list of capabilities"),
    ("bg", "hello", HELLO + '"capabilities": null}', "hello's reply has no list of capabilities"),
    ("bg", "hello", '{"id": {id}, "ok": true, "library": ["x"], "capabilities": []}', "hello's library is not a s"),
    ("bg", "hello", '{"id": {id}, "ok": false, "error": {"kind": []}}', "error.kind"),  # new
]


def _vf() -> Any:
    return parse_vector_text(CASES, "hostile.yaml", load_schema_text())


@pytest.mark.parametrize(("case", "op", "line", "why"), BODIES, ids=[f"{c}-{i}" for i, (c, *_) in enumerate(BODIES)])
def test_a_hostile_reply_is_driver_garbage_naming_its_field(case: str, op: str, line: str, why: str) -> None:
    vf = _vf()
    result = run_library_case(vf, vf.case(case), f"{{python}} {HOSTILE} {op} '{line}'", time_limit=20)
    assert result.verdict == Verdict.INCONCLUSIVE, (result.verdict, result.reason)
    assert result.reason.startswith("harness: driver garbage: "), result.reason
    assert re.search(why, result.reason), result.reason
    assert re.search(r"PID \d+", result.reason), result.reason  # which driver


def test_a_hostile_reply_to_every_request_and_to_bye_is_garbage_too() -> None:
    """bye's reply is not judged; a bye answered with an error kind that is a list must not raise either."""
    vf = _vf()
    line = '{"id": {id}, "ok": false, "error": {"kind": ["library"]}}'
    everything = run_library_case(vf, vf.case("bg"), f"{{python}} {HOSTILE} '*' '{line}'", time_limit=20)
    assert everything.verdict == Verdict.INCONCLUSIVE and "error.kind" in everything.reason, everything.reason
    only_bye = run_library_case(vf, vf.case("register"), f"{{python}} {HOSTILE} bye '{line}'", time_limit=20)
    assert only_bye.verdict == Verdict.PASS, only_bye.reason


# --------------------------------------------------------------------------- any JSON at all

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
#: a reply line: the right ``id`` (any other is refused first), an ``ok`` and an ``error`` mostly shaped as
#: the protocol says, anything inside them
_LINE = st.fixed_dictionaries(
    {
        "id": st.just(3),
        "ok": st.sampled_from([False, True]) | _JSON,
        "error": st.fixed_dictionaries(
            {"kind": st.sampled_from(["library", "timeout"]) | _JSON}, optional={"message": _JSON}
        ) | _JSON,
    },
    optional={"handle": _JSON, "events": _JSON},
)  # fmt: skip


def _driver() -> DriverProcess:
    return DriverProcess(("hostile",), "c", SimpleNamespace(pid=4242))  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_LINE)
def test_any_json_reply_line_is_a_reply_or_driver_garbage(body: dict[str, Any]) -> None:
    """The reader of reply lines raises only DriverBroken, whatever JSON a driver writes; a Reply describes itself."""
    try:
        reply = _driver()._parse("submit", 3, json.dumps(body).encode())
    except DriverBroken as exc:
        assert exc.kind == "garbage"
        return
    assert isinstance(reply.describe(), str)
    assert reply.ok or reply.error_kind in ("library", "timeout")
