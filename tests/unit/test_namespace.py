"""Cases on a long-lived server: each in a namespace of its own, and the cases that need a fresh server."""

from __future__ import annotations

from dataclasses import replace

from gearsim.files import load_schema_text, select
from gearsim.protocol.packets import AdminLine, Packet, PacketType
from gearsim.protocol.trace import TraceRecord
from gearsim.run.namespace import (
    FRESH_SERVER,
    Namespace,
    case_names,
    fresh_server_need,
    logical_result,
    namespaced_case,
    owns_row,
)
from gearsim.run.result import CaseResult, Verdict
from gearsim.vectors.cases import Case, PacketPattern
from gearsim.vectors.parse import parse_vector_text

NS = Namespace.for_case("abc123", 7)
TAG = b"gs-abc123-7-"


def bundled(selector: str) -> Case:
    selection = select([selector])
    vf = selection.files[0]
    return vf.case(selection.chosen(vf)[0])


def vector(steps: str, *, extra: str = "") -> Case:
    text = f"""schema: gearsim-vectors/1
area: server
title: t
header: [h]
notes: {{}}
cases:
- id: c
  comment: c
  requirements: [GM-SUBMIT-001]
  result: valid
  actors: {{c1: client, w1: worker, a1: admin}}
{extra}  steps:
{steps}"""
    return parse_vector_text(text, "t.yaml", load_schema_text()).cases[0]


def sent(case: Case) -> list[PacketPattern]:
    return [s.packet for s in case.steps if s.action == "send" and s.packet is not None]


def test_function_names_uniques_and_client_ids_get_the_case_tag_on_both_sides() -> None:
    case = bundled("admin/listings.yaml::status-counts")
    mapped = namespaced_case(case, NS)
    can_do, submit = sent(mapped)[0], sent(mapped)[3]
    assert can_do.args == (TAG + b"ls-a",)
    assert submit.args == (TAG + b"ls-a", b"", b"1")  # an empty unique keeps its meaning; workloads are data
    expects = [s for s in mapped.steps if s.action == "expect"]
    assign = next(s for s in expects if s.packet is not None and s.packet.type == PacketType.JOB_ASSIGN)
    assert assign.packet is not None and assign.packet.args[1] == TAG + b"ls-a"
    status = next(s for s in mapped.steps if s.action == "expect" and s.admin is not None)
    assert status.admin is not None and status.admin.lines[0] == TAG + b"ls-a\t3\t1\t3"
    assert status.accept[0].admin is not None and status.accept[0].admin.lines[1] == TAG + b"ls-b\t1\t0\t0"
    assert sent(case)[0].args == (b"ls-a",)  # the vector itself is unchanged


def test_a_long_value_keeps_its_length_and_a_cut_keeps_matching() -> None:
    unique = b"u" * 64
    mapped = NS.name(unique)
    assert len(mapped) == 64 and mapped.startswith(TAG)
    assert NS.name(unique[:63]) == mapped[:63]  # a server that cuts at 63 bytes cuts both alike
    assert NS.name(b"") == b"" and NS.name(b"-") == b"-"


def test_a_dash_payload_that_is_also_a_unique_is_mapped_with_it() -> None:
    case = bundled("server/coalesce.yaml::dash-unique-is-not-a-literal-unique")
    first, second = sent(namespaced_case(case, NS))[:2]
    assert first.args == (TAG + b"co-dashlit", b"-", TAG + b"x")  # Perl keys '-' on the payload
    assert second.args == (TAG + b"co-dashlit", TAG + b"x", b"other")


def test_admin_commands_name_the_mapped_function_and_keep_their_spacing() -> None:
    case = vector(
        "  - {connect: a1}\n"
        "  - {send: a1, admin: 'maxqueue   ls-q 10'}\n"
        '  - {expect: a1, admin: {lines: [OK], eol: "\\r\\n"}}\n'
        "  - {send: a1, admin: workers}\n"
        "  - {expect: a1, admin: {lines: ['5 127.0.0.1 me : ls-q ls-r', .]}}\n"
    )
    steps = namespaced_case(case, NS).steps
    assert steps[1].admin is not None and steps[1].admin.lines == (b"maxqueue   " + TAG + b"ls-q 10",)
    assert steps[4].admin is not None
    assert steps[4].admin.lines[0] == b"5 127.0.0.1 " + TAG + b"me : " + TAG + b"ls-q " + TAG + b"ls-r"


def test_codec_bytes_are_mapped_only_when_they_encode_back_to_themselves() -> None:
    mapped = namespaced_case(bundled("codec/admin.yaml::maxqueue-function-size"), NS)
    assert mapped.wire == b"maxqueue " + TAG + b"reverse 10\n"
    assert mapped.messages == (AdminLine(b"maxqueue " + TAG + b"reverse 10"),)
    broken = bundled("codec/framing.yaml::submit-job-no-nul")
    assert namespaced_case(broken, NS) == broken


def test_cases_that_need_a_fresh_server_say_why() -> None:
    expected = {
        "server/disconnect.yaml::retry-limit-reached": "server options job_retries=2",
        "codec/admin.yaml::shutdown": "admin shutdown",
        "admin/listings.yaml::empty-server": "an empty-server status listing",
        "codec/admin.yaml::workers": r"a workers row that names nothing of the case's own: [0-9]+ 127\.0\.0\.1 - : ?",
        "admin/listings.yaml::show-unique-jobs": "a show unique jobs row that names nothing of the case's own: b''",
        "worker/timeout.yaml::overflowing-timeout": "the case may end the server: known defect timeout-overflow-crash",
    }
    for selector, why in expected.items():
        assert fresh_server_need(bundled(selector)) == f"{FRESH_SERVER} ({why})", selector
    for selector in ("admin/listings.yaml::status-counts", "codec/admin.yaml::create-function-lf-then-status"):
        assert fresh_server_need(bundled(selector)) is None, selector


def test_a_received_row_is_the_case_s_own_by_its_tag_or_a_handle_it_was_given() -> None:
    assert owns_row(TAG + b"ls-a\t1\t0\t0", NS)
    assert not owns_row(b"gs-abc123-70-ls-a\t1\t0\t0", NS)  # case 70 of the same run
    assert not owns_row(b"other\t1\t0\t0", NS)
    assert owns_row(b"H:vm:12\t0\t0\t1", NS, [b"H:vm:12"])
    assert not owns_row(b"H:vm:123\t0\t0\t1", NS, [b"H:vm:12"])


def test_results_show_the_vector_s_own_names() -> None:
    case = bundled("server/coalesce.yaml::unique-64-bytes-never-coalesces")
    long_unique = next(a for p in sent(case) for a in p.args if isinstance(a, bytes) and len(a) == 64)
    record = TraceRecord(0, 0, 1, "c1", "c>s", "send", Packet.req(PacketType.CAN_DO, TAG + b"f"), b"", "")
    result = CaseResult(
        "f.yaml",
        "c",
        "server",
        Verdict.FAIL,
        (),
        reason=f"got {NS.name(long_unique)!r}",
        expected=f"JOB_ASSIGN [{(TAG + b'co-u64')!r}]",
        records=(record,),
    )
    shown = logical_result(result, NS, case_names(case))
    assert shown.reason == f"got {long_unique!r}"
    assert shown.expected == "JOB_ASSIGN [b'co-u64']"
    assert shown.records[0].message == Packet.req(PacketType.CAN_DO, b"f")
    assert replace(shown, reason="", expected="", records=()) == replace(result, reason="", expected="", records=())
