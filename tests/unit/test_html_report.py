"""gearsim.report.html: one self-contained page, a summary per area and profile, a sequence chart per case."""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from mutant_judging import bundled_case

from gearsim.files import load_requirements, read_vector_file, select
from gearsim.model import Server, ServerOptions
from gearsim.model.profiles import Profile
from gearsim.protocol.node import ConnId, ServerNode
from gearsim.protocol.packets import Magic, Message, Packet, PacketType
from gearsim.protocol.trace import Direction, Kind, TraceRecord
from gearsim.report.html import MAX_ROWS, ReportRun, chart_svg, render_html
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.mutants.building import Rewriting
from gearsim.run.mutants.mutation import Mutation
from gearsim.run.mutants.play import MutantFactory
from gearsim.run.runner import CaseResult, Verdict, run_case

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_project" / "gearman"


@functools.cache
def _results(profile: str) -> tuple[CaseResult, ...]:
    """A pass, an acceptable, n/a (a gearmand-only case), a codec check and the sample's open ticket (a failure)."""
    selection = select(
        [
            "server/status.yaml",
            "admin/commands.yaml::verbose",
            "codec/framing.yaml::bad-magic",
            "codec/framing.yaml::admin-reply-crlf-and-lf",
            "codec/packets.yaml::submit-job*",
        ]
    )
    factory = ModelPeerFactory(profile=profile)
    out = [run_case(vf, vf.case(c), factory, profile) for vf in selection.files for c in selection.chosen(vf)]
    bugs = read_vector_file(SAMPLE / "known_bugs.yaml", "gearman/known_bugs.yaml")
    out += [run_case(bugs, c, factory, profile) for c in bugs.cases]
    return tuple(out)


def _page(*profiles: str) -> str:
    runs = [ReportRun(p, _results(p), p, "the reference model (seed 0)") for p in profiles]
    return render_html(runs, load_requirements(), "gearsim test report")


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", page, flags=re.S)


def _by_id(results: tuple[CaseResult, ...], case_id: str) -> CaseResult:
    return next(r for r in results if r.id == case_id)


OPEN_TICKET = "gearman/known_bugs.yaml::queued-status-without-progress"


def test_the_fixture_covers_every_kind_of_verdict() -> None:
    verdicts = {r.verdict for r in _results("perl-1.130")} | {r.verdict for r in _results("gearmand-1.1")}
    assert verdicts >= {Verdict.PASS, Verdict.ACCEPTABLE, Verdict.FAIL, Verdict.NOT_APPLICABLE}


def test_every_case_has_one_chart() -> None:
    page = _page("gearmand-1.1", "perl-1.130")
    results = _results("gearmand-1.1") + _results("perl-1.130")
    charted = re.findall(r'<svg class="msc" data-case-id="([^"]+)"', page)
    assert sorted(charted) == sorted(r.id for r in results)
    cases = re.findall(r'<details class="case [^"]*" id="[^"]+" data-case-id="([^"]+)"', page)
    assert sorted(cases) == sorted(charted)


def test_charts_are_well_formed_svg() -> None:
    for svg in _svgs(_page("gearmand-1.1", "perl-1.130")):
        root = ET.fromstring(svg)
        assert root.tag == "svg"
        assert int(root.attrib["width"]) > 0 and int(root.attrib["height"]) > 0


def test_the_page_is_self_contained() -> None:
    page = _page("gearmand-1.1")
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for needle in ("http://", "https://", "<script", "<link", "<img", "<iframe", "@import", "url(", "src="):
        assert needle not in lowered, needle


def test_the_page_is_deterministic() -> None:
    assert _page("gearmand-1.1") == _page("gearmand-1.1")


def test_summary_per_area_and_profile() -> None:
    page = _page("gearmand-1.1", "perl-1.130")
    matrix = re.search(r'<table class="matrix">.*?</table>', page, flags=re.S)
    assert matrix is not None
    assert "<th>gearmand-1.1</th><th>perl-1.130</th>" in matrix.group(0)
    for area in ("codec", "server"):
        assert f"<td>{area}</td>" in matrix.group(0)
    gm = re.search(r'<table class="summary" data-run="gearmand-1.1">.*?</table>', page, flags=re.S)
    assert gm is not None
    results = _results("gearmand-1.1")
    server_pass = sum(1 for r in results if r.area == "server" and r.verdict is Verdict.PASS)
    row = re.search(r"<tr><td>server</td>(.*?)</tr>", gm.group(0))
    assert row is not None
    assert re.findall(r">(\d+)</td>", row.group(1))[0] == str(server_pass)


def test_a_single_run_has_no_matrix() -> None:
    assert '<table class="matrix">' not in _page("gearmand-1.1")


def test_the_page_counts_its_results_in_english() -> None:
    # was "1 case results in 1 run": the noun was plural whatever the count
    one = _results("gearmand-1.1")[:1]
    page = render_html([ReportRun("gearmand-1.1", one, "gearmand-1.1", "")], load_requirements(), "one")
    assert '<p class="meta">1 case result in 1 run</p>' in page
    n = len(_results("gearmand-1.1")) + len(_results("perl-1.130"))
    assert f'<p class="meta">{n} case results in 2 runs</p>' in _page("gearmand-1.1", "perl-1.130")


def test_lanes_clients_left_server_middle_workers_right() -> None:
    result = _by_id(_results("gearmand-1.1"), "server/status.yaml::running-job-progress")
    svg = chart_svg(result)
    xs = {
        m.group(2): float(m.group(1))
        for m in re.finditer(r'<text class="lane-name" x="(\d+)" y="20">([^<]+)</text>', svg)
    }
    assert set(xs) == {"c1", "c2", "server", "w1"}
    assert xs["c1"] < xs["server"] < xs["w1"] and xs["c2"] < xs["server"]
    assert '<text class="lane-role" x="{:.0f}" y="34">worker</text>'.format(xs["w1"]) in svg


def test_every_message_is_an_arrow_with_name_and_arguments() -> None:
    result = _by_id(_results("gearmand-1.1"), "server/status.yaml::queued-job")
    svg = chart_svg(result)
    sends = [r for r in result.records if r.kind == Kind.SEND and r.direction != Direction.EVENT]
    assert len(re.findall(r'<g class="msg"', svg)) == len(sends)
    assert "SUBMIT_JOB_BG st-queued, st-q1, x</text>" in svg
    assert "JOB_ASSIGN H:sim:1, st-queued, x</text>" in svg
    assert 'class="label s2c"' in svg and 'class="label c2s"' in svg
    assert "<title>000000000 c1 c1&gt;server SUBMIT_JOB_BG &quot;st-queued&quot;" in svg  # the full record on hover
    assert 'class="axis" x="4" y="28">(virtual)</text>' in svg


def test_wall_clock_runs_say_so() -> None:
    result = _by_id(_results("gearmand-1.1"), "server/status.yaml::queued-job")
    assert "(wall)" in chart_svg(result, clock="wall")


def test_the_failing_step_is_highlighted() -> None:
    result = _by_id(_results("gearmand-1.1"), OPEN_TICKET)
    assert result.verdict is Verdict.FAIL and result.step == 5
    svg = chart_svg(result)
    failure = re.search(r'<g class="failure" data-step="5">.*?</g>', svg)
    assert failure is not None
    assert "✗ expected STATUS_RES" in failure.group(0)
    # the STATUS_RES received instead is drawn red, on a red band
    received = [r for r in result.records if r.kind == Kind.SEND and r.direction == Direction.S2C]
    status = received[-1]
    assert isinstance(status.message, Packet) and status.message.name == "STATUS_RES"
    bad = re.search(rf'<g class="msg" data-seq="{status.seq}">.*?</g>', svg)
    assert bad is not None and 'class="hl"' in bad.group(0) and 'class="label bad"' in bad.group(0)
    assert svg.count('<rect class="hl"') == 2  # that message and the failure row, nothing else


def _marked(svg: str) -> set[int]:
    """The seqs of the message arrows drawn on a red band."""
    groups = re.findall(r'<g class="msg" data-seq="(\d+)">(.*?)</g>', svg)
    return {int(seq) for seq, body in groups if 'class="hl"' in body}


def _echo_with_a_semicolon(profile: Profile, options: ServerOptions) -> ServerNode:
    """The model, its ECHO_RES carrying ``still; here`` (shown ``Packet(RES ECHO_RES [b'still; here'])``)."""

    def rewrite(conn: ConnId, m: Message) -> tuple[Message, ...]:
        if isinstance(m, Packet) and int(m.type) == PacketType.ECHO_RES:
            return (m._replace(args=(b"still; here",)),)
        return (m,)

    return Rewriting(Server(profile, options), rewrite)


@pytest.mark.parametrize(
    "ref",
    # a lifecycle step, and a codec case's server reaction ("server reaction: c: ...")
    ["server/errors.yaml::res-magic-request", "codec/packets.yaml::echo-req-req-client"],
)
def test_the_message_received_instead_is_marked_from_data_not_display_text(ref: str) -> None:
    """The chart marks what the failing step received as data: not by splitting ``actual`` on "; ", nor by
    reading the actor off the reason (a message whose argument holds "; " was once never marked)."""
    vf, case = bundled_case(ref)
    mutant = Mutation("echo-semicolon", "GM-ECHO-001", "ECHO_RES data rewritten", _echo_with_a_semicolon)
    result = run_case(vf, case, MutantFactory(mutant, "spec"), "spec")
    assert result.verdict is Verdict.FAIL and "[b'still; here']" in result.actual, (result.verdict, result.reason)
    echoes = [
        r
        for r in result.records
        if r.kind == Kind.SEND and isinstance(r.message, Packet) and r.message.args == (b"still; here",)
    ]
    assert echoes and all(r.direction == Direction.S2C for r in echoes)
    svg = chart_svg(result)
    assert _marked(svg) == {echoes[-1].seq}
    assert "✗ expected ECHO_RES" in svg  # the expected reply, drawn to the failing actor's lane
    # reports' words are not read back: other words in the reason and actual mark the same arrow
    reworded = replace(result, reason="the echo came back changed: " + result.reason, actual="see the trace")
    assert _marked(chart_svg(reworded)) == {echoes[-1].seq}
    assert "✗ expected ECHO_RES" in chart_svg(reworded)


def test_failures_list_rules_expected_and_actual() -> None:
    page = _page("gearmand-1.1")
    block = re.search(rf'<details class="case v-fail" id="[^"]+" data-case-id="{OPEN_TICKET}".*?</details>', page, re.S)
    assert block is not None and " open>" in block.group(0)
    text = block.group(0)
    # the rule the failing step checks comes first, marked as the one broken
    assert "rule broken <code>GM-STATUS-006</code> MUST: The numerator and denominator in STATUS_RES" in text
    assert "rule broken <code>GM-STATUS-007</code>" not in text  # no WORK_STATUS was sent: that rule is not in play
    assert "also cites <code>GM-STATUS-003</code>" in text
    assert (
        "<dt>expected</dt><dd>STATUS_RES [b&#x27;H:sim:1&#x27;, b&#x27;1&#x27;, b&#x27;0&#x27;, b&#x27;&#x27;" in text
    )
    anchor = re.search(r'id="([^"]+)"', text)
    assert anchor is not None and f'<a href="#{anchor.group(1)}">' in page  # listed under the summary's failures


def test_cases_without_a_conversation_still_get_a_chart() -> None:
    results = _results("gearmand-1.1")
    codec_only = next(r for r in results if r.area == "codec" and not r.records)
    svg = chart_svg(codec_only)
    assert 'class="msc"' in svg and "no conversation: a codec check without a server" in svg
    # a case for other profiles is never played (an unsupported request is n/a too, but played)
    na = next(r for r in _results("perl-1.130") if r.verdict is Verdict.NOT_APPLICABLE and not r.records)
    assert "the case is for other profiles" in chart_svg(na)


def test_text_is_escaped() -> None:
    base = _by_id(_results("gearmand-1.1"), OPEN_TICKET)
    evil = replace(base, case="<script>alert(1)</script>", reason='c1: got "<b>" & more')
    page = render_html([ReportRun("x", [evil])], load_requirements(), "<title>")
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for svg in _svgs(page):
        ET.fromstring(svg)


def _long_result(rows: int) -> CaseResult:
    records = []
    for i in range(rows):
        direction = Direction.C2S if i % 2 == 0 else Direction.S2C
        magic = Magic.REQ if direction == Direction.C2S else Magic.RES
        ptype = PacketType.ECHO_REQ if direction == Direction.C2S else PacketType.ECHO_RES
        message = Packet(magic, ptype, (str(i).encode(),))
        records.append(TraceRecord(i * 10, i, 1, "c1", direction, Kind.SEND, message, b"", ""))
    return CaseResult("long.yaml", "many", "server", Verdict.PASS, (), records=tuple(records))


def test_long_conversations_are_elided_in_the_middle() -> None:
    svg = chart_svg(_long_result(MAX_ROWS + 100))
    assert svg.count('<g class="msg"') == MAX_ROWS
    assert "⋯ 100 records not drawn ⋯" in svg
    assert "ECHO_REQ 0</text>" in svg and f"ECHO_RES {MAX_ROWS + 99}</text>" in svg
    short = chart_svg(_long_result(10))
    assert "not drawn" not in short and short.count('<g class="msg"') == 10


@pytest.mark.parametrize("kind", [Kind.CONNECT, Kind.CLOSE])
def test_events_are_marks_on_their_lane(kind: str) -> None:
    rec = TraceRecord(0, 0, 1, "c1", Direction.EVENT, kind, None, b"", "by server: bad magic")
    svg = chart_svg(CaseResult("f.yaml", "c", "server", Verdict.PASS, (), records=(rec,)))
    assert '<g class="event" data-seq="0">' in svg
    assert kind in svg
