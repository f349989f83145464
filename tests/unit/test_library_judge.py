"""The judge of clients and workers under test: rules on what they send, reports against the wire.

Records are built by hand, as gearsim.io records them: a library actor's
packets c>s, the server's s>c. Each rule is shown broken once, and kept by
every choice the protocol allows (GRAB_JOB_ALL, a generated unique, no
PRE_SLEEP after a job).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearsim.protocol.packets import Magic, Packet, PacketType, Role
from gearsim.protocol.trace import Direction, Kind, TraceRecord
from gearsim.run.library_judge import (
    CallRecord,
    Finding,
    check_calls,
    check_sent,
    decode_reply,
    judged,
    match_reply,
    submit_type,
    with_call_readings,
)
from gearsim.run.result import CaseResult, StepFailed, Verdict
from gearsim.vectors.cases import AnyValue, Capture, Ref, ReplyExpectation, Step

T = PacketType
H = b"H:sim:1"


class Wire:
    """Records of one library actor ``lib`` on connection 1 (and more, by conn=)."""

    def __init__(self) -> None:
        self.records: list[TraceRecord] = []

    def _add(self, direction: str, packet: Packet, conn: int, label: str) -> int:
        seq = len(self.records)
        self.records.append(TraceRecord(seq, seq, conn, label, direction, Kind.SEND, packet, b"", ""))
        return seq

    def sent(self, t: PacketType, *args: bytes, magic: Magic = Magic.REQ, conn: int = 1, label: str = "lib") -> int:
        return self._add(Direction.C2S, Packet(magic, t, args), conn, label)

    def got(self, t: PacketType, *args: bytes, conn: int = 1, label: str = "lib") -> int:
        return self._add(Direction.S2C, Packet(Magic.RES, t, args), conn, label)

    def call(self, label: str = "lib") -> int:
        seq = len(self.records)
        self.records.append(TraceRecord(seq, seq, 0, label, Direction.EVENT, "call", None, b"", ""))
        return seq


def rules(found: Sequence[Finding]) -> list[str]:
    return [f.requirement for f in found]


# --------------------------------------------------------------------------- packets sent


def test_a_conforming_worker_breaks_nothing_whatever_grab_it_chooses() -> None:
    w = Wire()
    w.sent(T.CAN_DO, b"reverse")
    w.sent(T.GRAB_JOB_ALL)
    w.got(T.NO_JOB)
    w.sent(T.PRE_SLEEP)
    w.got(T.NOOP)
    w.sent(T.GRAB_JOB_ALL)
    w.got(T.JOB_ASSIGN_UNIQ, H, b"reverse", b"u", b"hello")
    w.sent(T.WORK_STATUS, H, b"1", b"2")
    w.sent(T.WORK_COMPLETE, H, b"olleh")
    w.sent(T.GRAB_JOB_ALL)  # right after a job: no NO_JOB came, so no PRE_SLEEP is owed
    assert check_sent(w.records, {"lib": Role.WORKER}) == []


def test_a_fractional_numerator_breaks_gm_field_003() -> None:
    w = Wire()
    w.got(T.JOB_ASSIGN, H, b"reverse", b"hello")
    w.sent(T.WORK_STATUS, H, b"7.142857142857142", b"100")
    found = check_sent(w.records, {"lib": Role.WORKER})
    assert rules(found) == ["GM-FIELD-003"]
    assert "7.142857142857142" in found[0].reason


def test_a_server_only_type_from_a_client_breaks_gm_frame_003_once() -> None:
    """STATUS_RES_UNIQUE framed \\0REQ: one defect, one rule (its argument layout is not judged again)."""
    w = Wire()
    w.sent(T.STATUS_RES_UNIQUE, b"u1")
    found = check_sent(w.records, {"lib": Role.CLIENT})
    assert rules(found) == ["GM-FRAME-003"]
    assert found[0].reason.startswith("sent STATUS_RES_UNIQUE")


def test_a_request_framed_res_breaks_gm_frame_002() -> None:
    w = Wire()
    w.sent(T.GET_STATUS, H, magic=Magic.RES)
    w.got(T.JOB_CREATED, H)
    assert "GM-FRAME-002" in rules(check_sent(w.records, {"lib": Role.CLIENT}))


def test_a_worker_packet_from_a_client_breaks_gm_frame_003() -> None:
    w = Wire()
    w.sent(T.GRAB_JOB)
    assert rules(check_sent(w.records, {"lib": Role.CLIENT})) == ["GM-FRAME-003"]


def test_a_unique_of_64_bytes_breaks_gm_field_002() -> None:
    w = Wire()
    w.sent(T.SUBMIT_JOB_BG, b"f", b"u" * 64, b"x")
    assert rules(check_sent(w.records, {"lib": Role.CLIENT})) == ["GM-FIELD-002"]


def test_status_of_a_handle_never_received_breaks_gm_field_006_unless_given() -> None:
    w = Wire()
    w.got(T.JOB_CREATED, H)
    w.sent(T.GET_STATUS, H)
    w.sent(T.GET_STATUS, b"H:sim:2")
    assert rules(check_sent(w.records, {"lib": Role.CLIENT})) == ["GM-FIELD-006"]
    assert check_sent(w.records, {"lib": Role.CLIENT}, {"lib": {b"H:sim:2"}}) == []


def test_a_handle_changed_on_the_way_back_breaks_gm_field_006() -> None:
    w = Wire()
    w.got(T.JOB_CREATED, H)
    w.sent(T.GET_STATUS, b"h:sim:1")
    assert rules(check_sent(w.records, {"lib": Role.CLIENT})) == ["GM-FIELD-006"]


def test_work_for_a_job_not_held_and_after_its_end() -> None:
    w = Wire()
    w.got(T.JOB_ASSIGN, H, b"f", b"x")
    w.sent(T.WORK_COMPLETE, H, b"")
    w.sent(T.WORK_FAIL, H)
    w.sent(T.WORK_DATA, b"H:sim:9", b"d")
    assert rules(check_sent(w.records, {"lib": Role.WORKER})) == ["GM-WORK-014", "GM-FIELD-006"]


def test_grab_right_after_no_job_breaks_gm_sleep_008_once_per_connection() -> None:
    w = Wire()
    for _ in range(3):
        w.sent(T.GRAB_JOB)
        w.got(T.NO_JOB)
    assert rules(check_sent(w.records, {"lib": Role.WORKER})) == ["GM-SLEEP-008"]


def test_bytes_that_do_not_frame_break_framing() -> None:
    bad = TraceRecord(0, 0, 1, "lib", Direction.EVENT, Kind.DECODE_ERROR, None, b"", "bad magic b'XREQ'")
    assert rules(check_sent([bad], {"lib": Role.CLIENT})) == ["GM-FRAME-002"]


def test_scripted_actors_are_not_judged() -> None:
    w = Wire()
    w.sent(T.WORK_STATUS, H, b"x", b"y", label="w1")
    assert check_sent(w.records, {"lib": Role.CLIENT}) == []


# --------------------------------------------------------------------------- reports against the wire


def _submit(w: Wire, **args: object) -> CallRecord:
    base: dict[str, object] = {"function": b"reverse", "payload": b"hello", "background": True, "priority": "normal"}
    return CallRecord("lib", "submit", {**base, **args}, w.call(), reply={"handle": H}, capabilities=frozenset())


def test_a_submission_as_asked_with_a_generated_unique_passes() -> None:
    w = Wire()
    call = _submit(w)
    w.sent(T.SUBMIT_JOB_BG, b"reverse", b"6325f5a8-ea23-11f1-9b7a-02fc00000001", b"hello")
    w.got(T.JOB_CREATED, H)
    assert check_calls(w.records, [call]) == []


@pytest.mark.parametrize(
    ("sent", "args", "why"),
    [
        ((T.SUBMIT_JOB_BG, b"reverse", b"other", b"hello"), {"unique": b"u1"}, "sent unique b'other'"),
        ((T.SUBMIT_JOB_BG, b"reverse", b"", b"hell"), {}, "workload of 4 bytes"),
        ((T.SUBMIT_JOB_BG, b"Reverse", b"", b"hello"), {}, "sent function b'Reverse'"),
        ((T.SUBMIT_JOB, b"reverse", b"", b"hello"), {}, "sent SUBMIT_JOB, but its caller asked for SUBMIT_JOB_BG"),
        ((T.SUBMIT_JOB_BG, b"reverse", b"", b"hello"), {"priority": "high"}, "asked for SUBMIT_JOB_HIGH_BG"),
    ],
)
def test_a_submission_other_than_asked_breaks_gm_lib_001(sent: tuple, args: dict, why: str) -> None:
    w = Wire()
    call = _submit(w, **args)
    w.sent(*sent)
    w.got(T.JOB_CREATED, H)
    found = check_calls(w.records, [call])
    assert rules(found) == ["GM-LIB-001"]
    assert why in found[0].reason


def test_epoch_submission_type_and_time() -> None:
    assert submit_type(True, "normal", 1_800_000_000) == T.SUBMIT_JOB_EPOCH
    w = Wire()
    call = _submit(w, epoch=1_800_000_000)
    w.sent(T.SUBMIT_JOB_EPOCH, b"reverse", b"", b"1800000001", b"hello")
    w.got(T.JOB_CREATED, H)
    assert "sent epoch b'1800000001'" in check_calls(w.records, [call])[0].reason


def test_a_handle_reported_other_than_received_breaks_gm_lib_002() -> None:
    w = Wire()
    call = _submit(w)
    w.sent(T.SUBMIT_JOB_BG, b"reverse", b"", b"hello")
    w.got(T.JOB_CREATED, b"H:sim:2")
    assert rules(check_calls(w.records, [call])) == ["GM-LIB-002"]


def test_a_submission_reported_made_after_an_error_or_a_close_breaks_gm_lib_006() -> None:
    """No JOB_CREATED came, but the server said why (ERROR) or closed: the library had a failure to report."""
    errored = Wire()
    call = _submit(errored)
    errored.sent(T.SUBMIT_JOB_BG, b"reverse", b"", b"hello")
    errored.got(T.ERROR, b"QUEUE_ERROR", b"queue full")
    found = check_calls(errored.records, [call])
    assert rules(found) == ["GM-LIB-006"] and "ERROR b'QUEUE_ERROR'" in found[0].reason
    closed = Wire()
    call = _submit(closed)
    closed.sent(T.SUBMIT_JOB_BG, b"reverse", b"", b"hello")
    seq = len(closed.records)
    closed.records.append(
        TraceRecord(seq, seq, 1, "lib", Direction.EVENT, Kind.CLOSE, None, b"", "closed by the server: scripted")
    )
    assert rules(check_calls(closed.records, [call])) == ["GM-LIB-006"]
    unanswered = Wire()
    call = _submit(unanswered)
    unanswered.sent(T.SUBMIT_JOB_BG, b"reverse", b"", b"hello")
    assert rules(check_calls(unanswered.records, [call])) == ["GM-LIB-002"], "nothing came back: no handle to report"


def _foreground(w: Wire, reply: dict[str, object], caps: frozenset[str]) -> CallRecord:
    call = CallRecord(
        "lib",
        "submit",
        {"function": b"reverse", "payload": b"hello", "background": False, "priority": "normal"},
        w.call(),
        reply=reply,
        capabilities=caps,
    )
    w.sent(T.SUBMIT_JOB, b"reverse", b"", b"hello")
    w.got(T.JOB_CREATED, H)
    w.got(T.WORK_DATA, H, b"d")
    w.got(T.WORK_STATUS, H, b"1", b"2")
    return call


ALL_EVENTS = frozenset({"events_data", "events_warning", "events_status", "events_exception"})


def test_foreground_events_and_result_as_sent_pass() -> None:
    w = Wire()
    reply = {"handle": H, "outcome": "complete", "result": b"olleh", "events": (("data", b"d"), ("status", (1, 2)))}
    call = _foreground(w, reply, ALL_EVENTS)
    w.got(T.WORK_COMPLETE, H, b"olleh")
    assert check_calls(w.records, [call]) == []


def test_events_the_library_does_not_offer_are_not_expected() -> None:
    w = Wire()
    call = _foreground(w, {"handle": None, "outcome": "complete", "result": b"olleh", "events": ()}, frozenset())
    w.got(T.WORK_COMPLETE, H, b"olleh")
    assert check_calls(w.records, [call]) == []


@pytest.mark.parametrize(
    ("reply", "terminal", "why"),
    [
        ({"outcome": "complete", "result": b"olle", "events": (("data", b"d"), ("status", (1, 2)))},
         (T.WORK_COMPLETE, H, b"olleh"), "reported complete with b'olle'"),
        ({"outcome": "complete", "result": b"olleh", "events": (("status", (1, 2)),)},
         (T.WORK_COMPLETE, H, b"olleh"), "reported events [status (1, 2)]"),
        ({"outcome": "complete", "result": b"", "events": (("data", b"d"), ("status", (1, 2)))},
         (T.WORK_FAIL, H), "reported complete, but the server sent WORK_FAIL"),
    ],
)  # fmt: skip
def test_a_foreground_report_other_than_the_wire_breaks_gm_lib_003(reply: dict, terminal: tuple, why: str) -> None:
    w = Wire()
    call = _foreground(w, {"handle": H, **reply}, ALL_EVENTS)
    w.got(*terminal)
    found = check_calls(w.records, [call])
    assert rules(found) == ["GM-LIB-003"]
    assert why in found[0].reason


def test_gearmand_s_work_fail_with_a_nul_after_the_handle_is_a_fail() -> None:
    w = Wire()
    call = _foreground(w, {"handle": H, "outcome": "fail", "result": b"", "events": ()}, frozenset())
    w.got(T.WORK_FAIL, H + b"\0")
    assert check_calls(w.records, [call]) == []


def test_success_without_an_end_on_the_wire_breaks_gm_lib_006() -> None:
    w = Wire()
    call = _foreground(w, {"handle": H, "outcome": "complete", "result": b"", "events": ()}, frozenset())
    assert rules(check_calls(w.records, [call])) == ["GM-LIB-006"]


def test_a_status_reported_other_than_received_breaks_gm_lib_004() -> None:
    w = Wire()
    reply = {"known": True, "running": False, "numerator": 0, "denominator": 0}
    call = CallRecord("lib", "status", {"handle": H}, w.call(), reply=reply)
    w.sent(T.GET_STATUS, H)
    w.got(T.STATUS_RES, H, b"1", b"1", b"3", b"14")
    found = check_calls(w.records, [call])
    assert rules(found) == ["GM-LIB-004"]
    assert "known 1 running 1 3/14" in found[0].reason


def _work(w: Wire, job: dict[str, object], behaviour: tuple) -> CallRecord:
    return CallRecord("lib", "work", {"behaviour": behaviour}, w.call(), reply={"job": job})


def test_a_job_reported_and_worked_as_asked_passes() -> None:
    w = Wire()
    job = {"handle": H, "function": b"reverse", "unique": None, "payload": b"hello"}
    call = _work(w, job, (("status", (1, 2)), ("complete", b"olleh")))
    w.sent(T.GRAB_JOB_UNIQ)
    w.got(T.JOB_ASSIGN_UNIQ, H, b"reverse", b"", b"hello")
    w.sent(T.WORK_STATUS, H, b"1", b"2")
    w.sent(T.WORK_COMPLETE, H, b"olleh")
    assert check_calls(w.records, [call]) == []


def test_a_job_reported_other_than_assigned_breaks_gm_lib_008() -> None:
    w = Wire()
    call = _work(w, {"handle": H, "function": b"reverse", "unique": b"u", "payload": b"hell"}, ())
    w.got(T.JOB_ASSIGN_UNIQ, H, b"reverse", b"u", b"hello")
    found = check_calls(w.records, [call])
    assert rules(found) == ["GM-LIB-008"]
    assert "payload" in found[0].reason


def test_work_other_than_asked_breaks_gm_lib_009_but_a_bad_field_only_its_rule() -> None:
    w = Wire()
    call = _work(w, {"handle": H, "function": b"f", "payload": b"x"}, (("status", (1, 2)), ("complete", b"")))
    w.got(T.JOB_ASSIGN, H, b"f", b"x")
    w.sent(T.WORK_COMPLETE, H, b"")
    assert rules(check_calls(w.records, [call])) == ["GM-LIB-009"]
    w2 = Wire()
    call2 = _work(w2, {"handle": H, "function": b"f", "payload": b"x"}, (("status", (1, 2)),))
    w2.got(T.JOB_ASSIGN, H, b"f", b"x")
    w2.sent(T.WORK_STATUS, H, b"50.0", b"100")
    assert check_calls(w2.records, [call2]) == []  # GM-FIELD-003 is check_sent's


# --------------------------------------------------------------------------- replies


def test_decode_reply_reads_base64_and_text() -> None:
    status = {"event": "status", "numerator": 1, "denominator": 2}
    body = {"handle": "H:sim:1", "outcome": "exception", "data_b64": "Ym9vbQ==", "events": [status]}
    assert decode_reply("submit", body) == {
        "handle": H,
        "outcome": "exception",
        "result": b"boom",
        "events": (("status", (1, 2)),),
    }


@pytest.mark.parametrize(
    ("op", "body", "why"),
    [
        ("submit", {"handle": "H", "outcome": "done"}, "outcome is not"),
        ("submit", {"handle": "H", "outcome": "complete", "data_b64": "%%%"}, "not valid base64"),
        ("status", {"known": 1, "running": False, "numerator": 0, "denominator": 0}, "known is not true or false"),
        ("work", {}, "no job"),
    ],
)
def test_decode_reply_refuses_what_the_protocol_does_not_allow(op: str, body: dict, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        decode_reply(op, body)


#: any JSON value, small
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=6,
)
#: a well-formed reply to each operation (and whether the submission is in the background)
_VALID: dict[tuple[str, bool], dict[str, Any]] = {
    ("submit", True): {"handle": "H:x:1"},
    ("submit", False): {
        "handle": "H:x:1", "outcome": "complete", "data_b64": "eA==",
        "events": [{"event": "data", "data_b64": "eA=="}, {"event": "status", "numerator": 1, "denominator": 2}],
    },
    ("status", False): {"known": True, "running": False, "numerator": 1, "denominator": 2},
    ("status_unique", False): {"known": True, "running": False, "numerator": 1, "denominator": 2, "clients": 1},
    ("work", False): {"job": {"handle": "H:x:1", "function": "f", "unique": "u", "payload_b64": "eA=="}},
}  # fmt: skip


@st.composite
def _hostile_reply(draw: st.DrawFn) -> tuple[str, bool, dict[str, Any]]:
    """A well-formed reply with one or two places (a field, an element or field inside one) replaced or removed."""
    op, background = draw(st.sampled_from(sorted(_VALID)))
    body = copy.deepcopy(_VALID[(op, background)])
    for _ in range(draw(st.integers(1, 2))):
        parent: Any = body
        key = draw(st.sampled_from(sorted(body))) if body else None
        while key is not None and isinstance(parent[key], dict | list) and parent[key] and draw(st.booleans()):
            parent = parent[key]
            key = draw(st.sampled_from(sorted(parent) if isinstance(parent, dict) else range(len(parent))))
        if key is None:
            break
        if isinstance(parent, dict) and draw(st.integers(0, 3)) == 0:
            del parent[key]
        else:
            parent[key] = draw(_JSON)
    return op, background, body


@settings(max_examples=250, deadline=None)
@given(reply=_hostile_reply())
def test_decode_reply_raises_only_value_error_whatever_json_it_is_given(reply: tuple[str, bool, dict]) -> None:
    """A driver's reply, however hostile its JSON, is values or a ValueError naming the field: never a crash."""
    op, background, body = reply
    try:
        values = decode_reply(op, body, background)
    except ValueError as exc:
        assert str(exc)
        return
    wants = {"outcome": ("complete",), "events": (), "job": {"handle": Capture("H"), "unique": Ref("H")}}
    expect = ReplyExpectation(fields={k: wants.get(k, AnyValue()) for k in values})
    assert isinstance(match_reply(expect, True, "", values, {}, {}, frozenset({"events_data"})), str)


def test_match_reply_captures_refs_and_error_kinds() -> None:
    bind: dict[str, bytes] = {}
    assert match_reply(ReplyExpectation(fields={"handle": Capture("H")}), True, "", {"handle": H}, {}, bind) == ""
    assert bind == {"H": H}
    expect = ReplyExpectation(fields={"handle": Ref("H"), "known": True})
    assert match_reply(expect, True, "", {"handle": H, "known": False}, bind, {}) == "known is False, expected True"
    errors = ReplyExpectation(ok=False, errors=("library", "lost"))
    assert match_reply(errors, False, "lost", {}, {}, {}) == ""
    assert "expected library or lost" in match_reply(errors, False, "timeout", {}, {}, {})
    assert "succeeded, expected an error" in match_reply(errors, True, "", {}, {}, {})
    failed = match_reply(ReplyExpectation(), False, "lost", {}, {}, {}, error_message="gone")
    assert "the call failed (lost: gone)" in failed
    any_job = ReplyExpectation(fields={"job": {"handle": AnyValue(), "payload": b"x"}})
    assert match_reply(any_job, True, "", {"job": {"handle": H, "payload": b"x"}}, {}, {}) == ""


def test_events_are_expected_only_when_offered() -> None:
    expect = ReplyExpectation(fields={"events": (("warning", b"w"), ("status", (1, 2)))})
    values = {"events": (("status", (1, 2)),)}
    assert match_reply(expect, True, "", values, {}, {}, frozenset({"events_status"})) == ""
    assert match_reply(expect, True, "", values, {}, {}, frozenset({"events_status", "events_warning"})) != ""


# --------------------------------------------------------------------------- verdicts


def test_a_broken_rule_outranks_the_step_it_made_fail() -> None:
    base = CaseResult("f.yaml", "c", "client", Verdict.PASS, ("GM-LIB-004",))
    findings = [Finding("GM-FRAME-003", "sent STATUS_RES_UNIQUE: server only", "lib", 3)]
    failure = StepFailed(Step(2, "call", "lib"), "lib: status_unique: the call failed (library)")
    result = judged(base, findings, failure, passed=Verdict.PASS, trace="", records=())
    assert result.verdict == Verdict.FAIL
    assert result.rules == ("GM-FRAME-003",)
    assert result.reason == "lib: sent STATUS_RES_UNIQUE: server only (GM-FRAME-003)"
    assert result.step == 2
    assert any("then step 2" in n for n in result.notes)
    assert judged(base, [], None, passed=Verdict.ACCEPTABLE, trace="", records=()).verdict == Verdict.ACCEPTABLE


def test_an_empty_result_without_its_nul_breaks_gm_frame_006() -> None:
    """Perl Gearman::Worker's WORK_COMPLETE for an empty result: the handle alone, no NUL after it."""
    w = Wire()
    w.got(T.JOB_ASSIGN, H, b"f", b"x")
    w.sent(T.WORK_COMPLETE, H)
    found = check_sent(w.records, {"lib": Role.WORKER})
    assert rules(found) == ["GM-FRAME-006"]
    assert "an empty result still needs the NUL before it" in found[0].reason


def test_a_submission_missing_an_argument_under_a_non_empty_workload_breaks_gm_frame_004() -> None:
    """Alone, SUBMIT_JOB_BG "reverse" "hello" reads as unique "hello" and an empty workload without its NUL;
    the caller's workload was "hello", so the unique was left out: GM-FRAME-004, and no GM-FRAME-006."""
    w = Wire()
    call = _submit(w)
    w.sent(T.SUBMIT_JOB_BG, b"reverse", b"hello")
    w.got(T.JOB_CREATED, H)
    alone = check_sent(w.records, {"lib": Role.CLIENT})
    assert rules(alone) == ["GM-FRAME-006"]
    found = with_call_readings(alone, check_calls(w.records, [call]))
    assert rules(found) == ["GM-FRAME-004"]
    assert "an argument is missing" in found[0].reason
    w = Wire()
    call = _submit(w, payload=b"")
    w.sent(T.SUBMIT_JOB_BG, b"reverse", b"")
    w.got(T.JOB_CREATED, H)
    found = with_call_readings(check_sent(w.records, {"lib": Role.CLIENT}), check_calls(w.records, [call]))
    assert rules(found) == ["GM-FRAME-006"], "an empty workload: the NUL before it is what is missing"


def test_work_cut_short_by_the_server_is_judged_up_to_the_close() -> None:
    """The server closed the worker's connection mid-job: what could not arrive is no GM-LIB-009, and
    a WORK_COMPLETE sent again on a new connection for a handle it had received is no GM-FIELD-006."""
    w = Wire()
    call = _work(w, {"handle": H, "function": b"f", "payload": b"x"}, (("status", (1, 2)), ("complete", b"y")))
    w.got(T.JOB_ASSIGN, H, b"f", b"x")
    w.sent(T.WORK_STATUS, H, b"1", b"2")
    closed = len(w.records)
    w.records.append(
        TraceRecord(closed, closed, 1, "lib", Direction.EVENT, Kind.CLOSE, None, b"", "closed by the server: x")
    )
    w.sent(T.WORK_COMPLETE, H, b"y", conn=2)
    assert check_calls(w.records, [call]) == []
    assert check_sent(w.records, {"lib": Role.WORKER}) == []
    w.sent(T.WORK_DATA, b"H:sim:7", b"d", conn=2)
    assert rules(check_sent(w.records, {"lib": Role.WORKER})) == ["GM-FIELD-006"]
