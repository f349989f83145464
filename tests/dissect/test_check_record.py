"""``gearsim check`` against the model, ``gearsim record`` to vectors, traces written as pcap."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from capture_helpers import C2S, S2C, T0, as_pcapng, conversation, pcap_bytes, real_captures, req, require_tool, res

from gearsim.cli.main import main
from gearsim.dissect.capture import read_capture
from gearsim.dissect.check import check_capture, check_events
from gearsim.dissect.pcapfile import PcapWriter
from gearsim.dissect.record import record_vector
from gearsim.dissect.synth import TcpConversation, write_trace_pcap
from gearsim.files import load_requirements, load_schema_text
from gearsim.lincheck.history import NEVER
from gearsim.protocol.codec import encode
from gearsim.protocol.packets import Packet
from gearsim.protocol.packets import PacketType as T
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import Verdict, run_case
from gearsim.vectors.lint import lint_text
from gearsim.vectors.parse import parse_vector_text

GEARMAND = [c for c in real_captures() if c.server == "gearmand-c"]


@pytest.mark.parametrize("cap", GEARMAND, ids=lambda c: c.path.name)
def test_gearmand_captures_meet_the_gearmand_profile(cap: object) -> None:
    reports = check_capture(cap.path, (cap.port,), "gearmand-1.1")  # type: ignore[attr-defined]
    assert reports and all(not r.broken for r in reports), [f for r in reports for f in r.broken]
    assert sum(sum(r.met.values()) for r in reports) > 3


def test_a_wrong_reply_breaks_its_requirement_at_its_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(conversation([(C2S, req(T.ECHO_REQ, b"abc")), (S2C, res(T.ECHO_RES, b"abd"))]))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "broke GM-ECHO-001 at frame 6" in out and '"abd"' in out


FAR_TIMES = pytest.mark.parametrize(
    ("tsresol", "ticks_from"),
    [
        (None, 7_000_000_000 * 10**6),  # microseconds in the year 2191: past 2**62 ns
        (0, 2**64 - 10),  # the last seconds a pcapng timestamp can count
    ],
    ids=["year-2191", "pcapng-maximum"],
)


@FAR_TIMES
def test_a_wrong_reply_captured_past_2_to_the_62_ns_is_one_finding_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tsresol: int | None, ticks_from: int
) -> None:
    # the checker took 2**62 ns for "after every capture": adopting the server's reply, it looked for the
    # next unexplained reply to order the client's FIN against, and there was none (IndexError)
    path = tmp_path / "far.pcapng"
    steps = [(C2S, req(T.ECHO_REQ, b"abc")), (S2C, res(T.ECHO_RES, b"abd"))]
    path.write_bytes(as_pcapng(conversation(steps), tsresol, ticks_from=ticks_from))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "broke GM-ECHO-001 at frame 6" in out and "1 connections, 1 broken requirements" in out


@FAR_TIMES
def test_a_correct_capture_past_2_to_the_62_ns_meets_its_rules(
    tmp_path: Path, tsresol: int | None, ticks_from: int
) -> None:
    path = tmp_path / "far.pcapng"
    steps = [(C2S, req(T.ECHO_REQ, b"a")), (S2C, res(T.ECHO_RES, b"a"))] * 2
    path.write_bytes(as_pcapng(conversation(steps), tsresol, ticks_from=ticks_from))
    reports = check_capture(path, (4730,))
    assert [r.broken for r in reports] == [[]] and reports[0].met["GM-ECHO-001"] == 2


def test_never_is_after_every_time_a_capture_can_carry() -> None:
    assert NEVER > (2**64 - 1) * 10**9  # pcapng: 2**64 ticks of one second


@pytest.mark.parametrize("cap", GEARMAND, ids=lambda c: c.path.name)
def test_recorded_vector_lints_clean_and_replays_against_the_model(cap: object) -> None:
    text = record_vector(cap.path, (cap.port,))  # type: ignore[attr-defined]
    vf, findings = lint_text(text, "rec.yaml", load_schema_text(), load_requirements())
    assert vf is not None and findings == []
    vf = parse_vector_text(text, "rec.yaml", load_schema_text())
    result = run_case(vf, vf.cases[0], ModelPeerFactory(), "gearmand-1.1")
    assert result.verdict is Verdict.PASS, result


def test_record_cli_writes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    path.write_bytes(conversation([(C2S, req(T.SUBMIT_JOB_BG, b"f", b"", b"x")), (S2C, res(T.JOB_CREATED, b"H:a:1"))]))
    out = tmp_path / "v.yaml"
    assert main(["record", str(path), "-o", str(out)]) == 0
    assert "{capture: H1}" in out.read_text()


def test_model_trace_written_as_pcap_decodes_back(tmp_path: Path) -> None:
    vf = parse_vector_text(record_vector(GEARMAND[0].path, (GEARMAND[0].port,)), "rec.yaml", load_schema_text())
    factory = ModelPeerFactory()
    run_case(vf, vf.cases[0], factory, "gearmand-1.1")
    out = tmp_path / "trace.pcap"
    traces = [sim.trace for _case, sim in factory.traces()]
    assert write_trace_pcap(traces, out) > 0
    sent = [r.message for t in traces for r in t if r.kind == "send" and isinstance(r.message, Packet)]
    decoded = [e.message for e in read_capture(out) if isinstance(e.message, Packet)]
    assert decoded == sent
    assert not [e for e in read_capture(out) if e.kind in ("gap", "error", "skipped", "lost")]
    tshark = require_tool("tshark")
    cmd = [tshark, "-r", str(out), "-Y", "gearman", "-T", "fields", "-e", "gearman.pkt_type"]
    shown = subprocess.run(cmd, capture_output=True, check=True, timeout=60).stdout.decode().split()
    assert sum(len(line.split(",")) for line in shown) == len(sent), "tshark reads the export as Gearman"


def _exception_jobs(early: bool) -> bytes:
    """gearmand-1.1: two jobs end in WORK_EXCEPTION; the clients without the option get WORK_FAIL 'H\\0' (a
    recorded defect). With ``early`` the second WORK_FAIL is captured before the worker's WORK_EXCEPTION."""
    ms = 1_000_000

    def build(writer: PcapWriter) -> None:
        worker = TcpConversation(writer, ("127.0.0.2", 40001), ("127.0.0.1", 4730))
        clients = [TcpConversation(writer, ("127.0.0.2", 40002 + i), ("127.0.0.1", 4730)) for i in range(2)]
        t = T0
        for conv in (worker, *clients):
            conv.open(t)
            t += ms
        worker.send(C2S, req(T.CAN_DO, b"f"), t)
        for i, client in enumerate(clients):
            handle = b"H:vm:%d" % (i + 1)
            client.send(C2S, req(T.SUBMIT_JOB, b"f", b"", b"x%d" % i), t + 1 * ms)
            client.send(S2C, res(T.JOB_CREATED, handle), t + 2 * ms)
            worker.send(C2S, req(T.GRAB_JOB), t + 3 * ms)
            worker.send(S2C, res(T.JOB_ASSIGN, handle, b"f", b"x%d" % i), t + 4 * ms)
            fail = encode(Packet.res(T.WORK_FAIL, handle + b"\0"))
            if early and i == 1:
                client.send(S2C, fail, t + 4 * ms + ms // 2)
            worker.send(C2S, req(T.WORK_EXCEPTION, handle, b"e"), t + 5 * ms)
            if not (early and i == 1):
                client.send(S2C, fail, t + 7 * ms)
            t += 10 * ms
        for conv in (worker, *clients):
            conv.close(t)

    return pcap_bytes(build)


def test_a_recorded_defect_in_an_undecided_partition_is_undecided_not_broken(tmp_path: Path) -> None:
    path = tmp_path / "fail-nul.pcap"
    path.write_bytes(_exception_jobs(early=False))
    clean = check_events(read_capture(path, (4730,)), "gearmand-1.1")
    assert [f for r in clean for f in r.broken] == []
    assert any("(as the profile does)" in n for r in clean for n in r.notes)
    path.write_bytes(_exception_jobs(early=True))
    # a budget of one state: the second job's partition cannot be searched, so the model's view of its
    # WORK_FAIL is undecided; the profile sends the same defect for the first job, so it is not broken
    reports = check_events(read_capture(path, (4730,)), "gearmand-1.1", budget=1)
    broken = [f for r in reports for f in r.broken]
    unsettled = [f for r in reports for f in r.unsettled]
    assert not any(f.requirement == "GM-FRAME-005" for f in broken), broken
    assert any(f.requirement == "GM-FRAME-005" and f.status == "undecided" for f in unsettled), unsettled
    # decided: a WORK_FAIL before its cause is a defect, and its bytes are not excused
    decided = check_events(read_capture(path, (4730,)), "gearmand-1.1")
    assert "GM-FRAME-005" in [f.requirement for r in decided for f in r.broken]


def _abandoned_then_resubmitted() -> bytes:
    """gearmand: c1's foreground job is abandoned when c1 leaves; a worker's grab reaches it and frees it
    (NO_JOB, B-U11); c2's submission of the same function and unique then gets a job of its own."""
    ms = 1_000_000

    def build(writer: PcapWriter) -> None:
        c1, worker, c2 = (TcpConversation(writer, ("127.0.0.2", 40001 + i), ("127.0.0.1", 4730)) for i in range(3))
        t = T0
        c1.open(t)
        c1.send(C2S, req(T.SUBMIT_JOB, b"f", b"u", b"one"), t + 1 * ms)
        c1.send(S2C, res(T.JOB_CREATED, b"H:vm:1"), t + 2 * ms)
        c1.close(t + 3 * ms)
        worker.open(t + 4 * ms)
        worker.send(C2S, req(T.CAN_DO, b"f"), t + 5 * ms)
        worker.send(C2S, req(T.GRAB_JOB_UNIQ), t + 6 * ms)
        worker.send(S2C, res(T.NO_JOB), t + 7 * ms)
        c2.open(t + 8 * ms)
        c2.send(C2S, req(T.SUBMIT_JOB_BG, b"f", b"u", b"two"), t + 9 * ms)
        c2.send(S2C, res(T.JOB_CREATED, b"H:vm:2"), t + 10 * ms)
        worker.send(C2S, req(T.GRAB_JOB_UNIQ), t + 11 * ms)
        worker.send(S2C, res(T.JOB_ASSIGN_UNIQ, b"H:vm:2", b"f", b"u", b"two"), t + 12 * ms)
        worker.send(C2S, req(T.WORK_COMPLETE, b"H:vm:2", b"ok"), t + 13 * ms)
        c2.send(C2S, req(T.GET_STATUS, b"H:vm:2"), t + 14 * ms)
        c2.send(S2C, res(T.STATUS_RES, b"H:vm:2", b"0", b"0", b"0", b"0"), t + 15 * ms)
        c2.close(t + 16 * ms)
        worker.close(t + 17 * ms)
        # an unrelated wrong ECHO_RES: the whole history is not explained at once, so it is split
        echo = TcpConversation(writer, ("127.0.0.2", 40009), ("127.0.0.1", 4730))
        echo.open(t + 18 * ms)
        echo.send(C2S, req(T.ECHO_REQ, b"a"), t + 19 * ms)
        echo.send(S2C, res(T.ECHO_RES, b"b"), t + 20 * ms)
        echo.close(t + 21 * ms)

    return pcap_bytes(build)


def test_a_job_freed_by_another_jobs_grab_lets_its_unique_start_a_new_job(tmp_path: Path) -> None:
    # the job's own partition holds no grab of it: the grab that freed it (NO_JOB) is another's
    path = tmp_path / "abandoned.pcap"
    path.write_bytes(_abandoned_then_resubmitted())
    reports = check_events(read_capture(path, (4730,)), "gearmand-1.1")
    assert [f.requirement for r in reports for f in r.broken + r.unsettled] == ["GM-ECHO-001"]
    assert sum(r.met["GM-SUBMIT-001"] for r in reports) == 2
