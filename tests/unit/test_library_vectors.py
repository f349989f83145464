"""Library cases in vector files: what parses, what is refused (naming case and step), what every bundled one holds."""

from __future__ import annotations

import functools

import pytest

from gearsim.errors import VectorError
from gearsim.files import load_requirements, load_schema_text, read_vector_file, select, vector_root
from gearsim.io.library_calls import needs_of
from gearsim.model.profiles import PROFILES
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.result import Verdict
from gearsim.run.runner import run_case
from gearsim.vectors.cases import Capture, Case, Ref
from gearsim.vectors.parse import every_byte, parse_vector_text
from gearsim.vectors.text import dump_vector_file

HEAD = """schema: gearsim-vectors/1
area: client
title: t
header: [h]
notes: {}
cases:
"""

GOOD = """- id: c
  comment: x
  requirements: [GM-LIB-002]
  result: valid
  actors: {lib: client, w1: worker}
  library:
    actors: [lib]
    needs: [events_data]
    servers:
    - {down: true}
    - {delivery: bytewise, faults: [{types: [SUBMIT_JOB_BG], reply: [{type: ERROR, args: [E, t]}], times: 1}]}
  steps:
  - {call: lib, op: submit, args: {function: f, payload: {every_byte: 300}, background: true, priority: high}, reply: {handle: {capture: H}}}
  - {call: lib, op: status, args: {handle: {ref: H}}, nowait: true, timeout: 2000}
  - {connect: w1}
  - {await: lib, reply: {known: true}}
  - {sent: lib, packet: {type: GET_STATUS, args: [{ref: H}]}}
  - {server_send: lib, packet: {type: NOOP}}
  - {server_close: lib}
"""  # noqa: E501  (one step per line, as the canonical form writes them)


def _parse(cases: str):  # type: ignore[no-untyped-def]
    return parse_vector_text(HEAD + cases, "t.yaml", load_schema_text())


def test_a_library_case_parses_into_calls_servers_and_needs() -> None:
    case = _parse(GOOD).case("c")
    assert case.is_library and not case.is_program and not case.applies_to("gearmand-1.1")
    assert case.library is not None
    assert case.library.actors == ("lib",)
    assert [s.down for s in case.library.servers] == [True, False]
    fault = case.library.servers[1].faults[0]
    assert fault.types == (18,) and fault.times == 1 and fault.reply[0].args == (b"E", b"t")
    submit = case.steps[0]
    assert submit.call is not None and submit.call.args["payload"] == every_byte(300)
    assert submit.reply is not None and submit.reply.fields == {"handle": Capture("H")}
    status = case.steps[1]
    assert status.call is not None and status.call.nowait and status.call.timeout == 2000
    assert status.call.args == {"handle": Ref("H")}
    assert needs_of(case) == {"servers", "events_data", "submit_background", "priority", "status"}


def test_every_byte_holds_every_value_including_nul() -> None:
    data = every_byte(1024)
    assert len(data) == 1024 and set(data) == set(range(256)) and data[:2] == b"\x00\x01"


def test_the_canonical_form_of_a_library_case_reads_back_the_same() -> None:
    vf = _parse(GOOD)
    again = parse_vector_text(dump_vector_file(vf.raw), "t.yaml", load_schema_text())
    assert again.cases == vf.cases


NOWAIT = "{call: lib, op: status, args: {handle: {ref: H}}, nowait: true, timeout: 2000}"
BROKEN = [
    ((NOWAIT, NOWAIT.replace("nowait: true, ", "")), "step 4: await lib: no call of it waits"),
    (("{connect: w1}", "{call: w1, op: status, args: {handle: x}}"), "step 3: call names 'w1', which is not a library"),
    (("{connect: w1}", "{connect: lib}"), "step 3: a library actor's steps are call, await, sent, .*, not connect"),
    (("{await: lib, reply: {known: true}}", "{advance: 1}"), "calls with nowait but no await: lib"),
    (("reply: {handle: {capture: H}}}", "reply: {handle: {capture: G}}}"), "step 2: ref 'H' before any capture of it"),
    (("actors: [lib]", "actors: [w9]"), "library actor 'w9' must be declared in actors"),
    (("- {down: true}\n    - {delivery", "- {down: true}\n    - {down: true, delivery"), "needs at least one server"),
    (("{connect: w1}", "{connect: w1, reply: {known: true}}"), "step 3: only call and await take reply"),
]


@pytest.mark.parametrize(("change", "message"), BROKEN)
def test_a_broken_library_case_is_refused_naming_the_step(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(VectorError, match=message):
        _parse(GOOD.replace(old, new, 1))


def test_yaml_keywords_cannot_sneak_in() -> None:
    """A fault's packet types are under ``types``: YAML reads a bare ``on`` key as true."""
    with pytest.raises(VectorError, match="schema"):
        _parse(GOOD.replace("types: [SUBMIT_JOB_BG]", "on: [SUBMIT_JOB_BG]"))


@functools.cache
def _library_cases() -> list[Case]:
    selection = select(["client/library-*"])
    return [c for vf in selection.files for c in vf.cases if c.is_library]


def test_the_bundled_library_cases_cover_the_issue_s_list() -> None:
    ids = {case.id for case in _library_cases()}
    for wanted in (
        "seed-background-status-poll",
        "seed-unique-dedup",
        "foreground-events-complete",
        "foreground-fail",
        "foreground-exception-with-option",
        "foreground-exception-without-option",
        "background-1mib-every-byte",
        "foreground-1mib-every-byte",
        "replies-byte-by-byte",
        "replies-pipelined",
        "error-reply-to-background-submit",
        "server-closes-on-submission",
        "server-closes-during-foreground-job",
        "first-server-down",
        "worker-sleeps-and-wakes",
        "worker-spurious-noop",
        "worker-can-do-timeout",
        "worker-fails-job",
        "worker-abandons-job",
    ):
        assert wanted in ids


def test_every_library_case_cites_a_library_rule_or_a_rule_its_steps_check() -> None:
    registry = load_requirements()
    for case in _library_cases():
        assert all(r in registry for r in case.requirements)
        library_rules = [r for r in case.requirements if r.startswith("GM-LIB-")]
        assert library_rules or any(s.requirements for s in case.steps), case.id


def test_library_cases_are_not_applicable_against_a_server() -> None:
    vf = read_vector_file(vector_root() / "client" / "library-client.yaml", "client/library-client.yaml")
    result = run_case(vf, vf.case("seed-unique-dedup"), ModelPeerFactory(), "gearmand-1.1")
    assert result.verdict == Verdict.NOT_APPLICABLE
    assert result.reason == "a library case: run it with gearsim run --driver"
    assert "gearmand-1.1" in PROFILES
