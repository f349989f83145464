"""``gearsim check`` judges what clients and workers send, per connection and role, with the rule and frame."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from capture_helpers import C2S, S2C, T0, conversation, pcap_bytes, pcap_records, real_captures, req, res

from gearsim.cli.main import main
from gearsim.dissect.capture import read_capture
from gearsim.dissect.roles import PeerFinding, PeerReport, judge_roles
from gearsim.dissect.synth import TcpConversation
from gearsim.files import load_requirements
from gearsim.protocol.packets import PacketType as T

H = b"H:vm:1"
#: a worker that registers, grabs and is given job H
GIVEN = [
    (C2S, req(T.CAN_DO, b"reverse")),
    (C2S, req(T.GRAB_JOB)),
    (S2C, res(T.JOB_ASSIGN, H, b"reverse", b"abc")),
]


def frame_of(step: int) -> int:
    """The frame that carries step ``step`` (0-based) of ``conversation``: after the 3-frame handshake, 2 a step."""
    return 4 + 2 * step


def judged(tmp_path: Path, steps: list[tuple[str, bytes]]) -> list[PeerReport]:
    path = tmp_path / "c.pcap"
    path.write_bytes(conversation(steps))
    return judge_roles(read_capture(path))


def broken(reports: list[PeerReport]) -> list[tuple[str, str, int, int]]:
    return [(f.requirement, f.role, f.conn, f.frame) for r in reports for f in r.broken]


@pytest.mark.parametrize(
    ("steps", "rule", "role"),
    [
        pytest.param([*GIVEN, (C2S, req(T.WORK_STATUS, H, b"1.5", b"2"))], "GM-FIELD-003", "worker", id="fraction"),
        pytest.param([(C2S, req(T.JOB_CREATED, H))], "GM-FRAME-003", "client", id="server-only-type"),
        pytest.param([(C2S, req(T.NOOP))], "GM-FRAME-003", "client", id="server-only-noop"),
        pytest.param(
            [*GIVEN, (C2S, req(T.WORK_COMPLETE, b"H:vm:2", b"x"))], "GM-FIELD-006", "worker", id="handle-not-held"
        ),
        pytest.param(
            [*GIVEN, (C2S, req(T.WORK_FAIL, H)), (C2S, req(T.WORK_COMPLETE, H, b"x"))],
            "GM-WORK-014",
            "worker",
            id="after-terminal",
        ),
        pytest.param([(C2S, res(T.SUBMIT_JOB, b"f", b"", b"x"))], "GM-FRAME-002", "client", id="res-magic"),
        pytest.param(
            [(C2S, b"\0REX" + struct.pack(">II", int(T.SUBMIT_JOB_BG), 5) + b"f\0\0ab")],
            "GM-FRAME-002",
            "client",
            id="foreign-magic",
        ),
        pytest.param([(C2S, req(T.SUBMIT_JOB, b"f"))], "GM-FRAME-004", "client", id="missing-arguments"),
        pytest.param([*GIVEN, (C2S, req(T.WORK_COMPLETE, H))], "GM-FRAME-006", "worker", id="no-nul-before-empty"),
        pytest.param([(C2S, req(T.GET_STATUS, b"H:" + b"x" * 70))], "GM-FIELD-001", "client", id="oversize-handle"),
        pytest.param([(C2S, req(T.SUBMIT_JOB, b"f", b"u" * 64, b"x"))], "GM-FIELD-002", "client", id="oversize-unique"),
        pytest.param([(C2S, req(T.CAN_DO_TIMEOUT, b"f", b"-1"))], "GM-FIELD-003", "worker", id="negative-timeout"),
        pytest.param([(C2S, req(T.SUBMIT_JOB_BG, b"", b"", b"x"))], "GM-SUBMIT-007", "client", id="empty-function"),
        pytest.param([(C2S, req(T.SET_CLIENT_ID, b"a b"))], "GM-WORKER-014", "client", id="client-id-space"),
        pytest.param(
            [(C2S, req(T.CAN_DO, b"f")), (C2S, req(T.GRAB_JOB)), (S2C, res(T.NO_JOB)), (C2S, req(T.GRAB_JOB))],
            "GM-SLEEP-008",
            "worker",
            id="grab-without-pre-sleep",
        ),
        pytest.param(
            [
                (C2S, req(T.CAN_DO, b"f")),
                (C2S, req(T.PRE_SLEEP)),
                (S2C, res(T.NOOP)),
                (C2S, req(T.PRE_SLEEP)),
            ],
            "GM-SLEEP-008",
            "worker",
            id="noop-answered-by-sleep",
        ),
        pytest.param(
            [(C2S, req(T.ECHO_REQ, b"x")), (C2S, b"\0\x01\x02" + b"xyz" * 5)], "GM-FRAME-002", "client", id="garbage"
        ),
    ],
)
def test_each_defect_is_reported_under_its_rule_at_its_frame(
    tmp_path: Path, steps: list[tuple[str, bytes]], rule: str, role: str
) -> None:
    """Each case's last step is the defect: one finding, on connection 1, at that step's frame."""
    assert broken(judged(tmp_path, steps)) == [(rule, role, 1, frame_of(len(steps) - 1))]


@pytest.mark.parametrize(
    ("last", "rule", "role"),
    [
        pytest.param(req(T.ECHO_REQ, b"abcdef")[:-2], "GM-FRAME-001", "client", id="packet"),
        pytest.param(b"status", "GM-ADMIN-001", "admin", id="admin-line"),
    ],
)
def test_a_peer_that_closes_inside_a_message_broke_framing_but_a_capture_that_stops_did_not(
    tmp_path: Path, last: bytes, rule: str, role: str
) -> None:
    data = conversation([(C2S, req(T.ECHO_REQ, b"x")), (S2C, res(T.ECHO_RES, b"x")), (C2S, last)])
    reports = judged_bytes(tmp_path, data)
    [finding] = [f for r in reports for f in r.findings]
    assert (finding.requirement, finding.role, finding.unknown) == (rule, role, False)
    assert "closed its side (FIN)" in finding.reason
    head, records = pcap_records(data)
    assert judged_bytes(tmp_path, head + b"".join(records[:-3]))[0].findings == [], "no FIN: the capture stopped"


def judged_bytes(tmp_path: Path, data: bytes) -> list[PeerReport]:
    path = tmp_path / "x.pcap"
    path.write_bytes(data)
    return judge_roles(read_capture(path))


def test_a_conforming_worker_and_client_break_nothing(tmp_path: Path) -> None:
    steps = [
        (C2S, req(T.OPTION_REQ, b"exceptions")),
        (S2C, res(T.OPTION_RES, b"exceptions")),
        *GIVEN,
        (C2S, req(T.WORK_STATUS, H, b"1", b"2")),
        (C2S, req(T.WORK_DATA, H, b"a\0b")),
        (C2S, req(T.WORK_COMPLETE, H, b"")),
        (C2S, req(T.GRAB_JOB)),
        (S2C, res(T.NO_JOB)),
        (C2S, req(T.PRE_SLEEP)),
        (S2C, res(T.NOOP)),
        (C2S, req(T.GRAB_JOB_UNIQ)),
        (S2C, res(T.JOB_ASSIGN_UNIQ, H, b"reverse", b"u", b"x")),  # the same handle again (requeued by a time limit)
        (C2S, req(T.WORK_COMPLETE, H, b"x")),
    ]
    [report] = judged(tmp_path, steps)
    assert report.findings == []
    assert dict(report.roles) == {"worker": 10}, "OPTION_REQ counts for the role the connection shows later"


def test_findings_are_per_connection_and_per_role(tmp_path: Path) -> None:
    def build(writer: object) -> None:
        worker = TcpConversation(writer, ("127.0.0.2", 40001), ("127.0.0.1", 4730))  # type: ignore[arg-type]
        client = TcpConversation(writer, ("127.0.0.3", 40002), ("127.0.0.1", 4730))  # type: ignore[arg-type]
        admin = TcpConversation(writer, ("127.0.0.4", 40003), ("127.0.0.1", 4730))  # type: ignore[arg-type]
        for i, conv in enumerate((worker, client, admin)):
            conv.open(T0 + i)
        ms = 1_000_000
        worker.send(C2S, req(T.CAN_DO, b"f"), T0 + 1 * ms)
        client.send(C2S, req(T.SUBMIT_JOB, b"f", b"", b"x"), T0 + 2 * ms)
        client.send(S2C, res(T.JOB_CREATED, H), T0 + 3 * ms)
        admin.send(C2S, b"status\n", T0 + 4 * ms)
        worker.send(C2S, req(T.WORK_COMPLETE, H, b"y"), T0 + 5 * ms)  # never assigned to the worker
        client.send(C2S, req(T.WORK_STATUS, H, b"1", b"x"), T0 + 6 * ms)  # a client acting as worker
        client.send(C2S, req(T.GET_STATUS, H), T0 + 7 * ms)
        for i, conv in enumerate((worker, client, admin)):
            conv.close(T0 + (8 + i) * ms)

    path = tmp_path / "three.pcap"
    path.write_bytes(pcap_bytes(build))
    reports = {r.conn: r for r in judge_roles(read_capture(path))}
    assert dict(reports[1].roles) == {"worker": 2}
    assert dict(reports[2].roles) == {"client": 2, "worker": 1}
    assert dict(reports[3].roles) == {"admin": 1}
    # the server gave H to c2: the worker may hold it there, so what c1 sent is unknown, not broken
    assert [(f.requirement, f.role, f.unknown) for f in reports[1].findings] == [("GM-FIELD-006", "worker", True)]
    assert "the server gave that handle to c2" in reports[1].findings[0].reason
    # the handle came to c2 in JOB_CREATED: whether a client may report on it is the server's to answer
    assert [(f.requirement, f.role) for f in reports[2].findings] == [("GM-FIELD-003", "worker")]
    assert reports[3].findings == []


def test_what_depends_on_missed_bytes_is_unknown_not_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = [*GIVEN, (C2S, req(T.WORK_COMPLETE, H, b"x"))]
    head, records = pcap_records(conversation(steps))
    assign = frame_of(2) - 1  # the JOB_ASSIGN segment, 0-based: lost from the capture
    path = tmp_path / "gap.pcap"
    path.write_bytes(head + b"".join(r for i, r in enumerate(records) if i != assign))
    [report] = judge_roles(read_capture(path))
    assert [(f.requirement, f.unknown) for f in report.findings] == [("GM-FIELD-006", True)]
    assert report.broken == []
    main(["check", str(path)])
    out = capsys.readouterr().out
    assert "unknown GM-FIELD-006 as worker" in out
    assert "0 broken client/worker requirements (client 0, worker 0, admin 0), 1 unknown" in out


def test_check_reports_the_rule_frame_time_and_role_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "frac.pcap"
    path.write_bytes(conversation([*GIVEN, (C2S, req(T.WORK_STATUS, H, b"1.5", b"2"))]))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "clients and workers" in out
    assert "broke GM-FIELD-003 as worker at frame 10, 0.004000 s: WORK_STATUS: numerator b'1.5'" in out
    assert "GM-FIELD-003 (MUST): Numeric fields" in out
    assert "1 broken client/worker requirements (client 0, worker 1, admin 0)" in out


def test_check_json_has_a_peers_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "type.pcap"
    path.write_bytes(conversation([(C2S, req(T.JOB_CREATED, H))]))
    assert main(["check", "--json", str(path)]) == 1
    body = json.loads(capsys.readouterr().out)
    [peer] = body["peers"]
    assert peer["conn"] == 1 and peer["verdict"] == "broken" and peer["roles"] == {"client": 1}
    [finding] = peer["findings"]
    assert finding["id"] == "GM-FRAME-003" and finding["level"] == "MUST"
    assert finding["role"] == "client" and finding["frame"] == 4 and finding["unknown"] is False
    assert isinstance(body["server"], list)


def test_every_rule_cited_is_in_the_requirement_table() -> None:
    import gearsim.dissect.roles as roles

    known = load_requirements()
    cited = [v for k, v in vars(roles).items() if k.startswith("RULE_")]
    assert len(cited) >= 7 and all(rid in known for rid in cited), [r for r in cited if r not in known]


@pytest.mark.parametrize("cap", real_captures(), ids=lambda c: c.path.name)
def test_reference_captures_show_no_client_or_worker_finding(cap: object) -> None:
    reports = judge_roles(read_capture(cap.path, (cap.port,)))  # type: ignore[attr-defined]
    findings: list[PeerFinding] = [f for r in reports for f in r.findings]
    assert reports and findings == []
    assert sum(sum(r.roles.values()) for r in reports) > 0


def test_a_worker_finishing_on_a_new_connection_a_job_its_closed_one_held_is_not_broken(tmp_path: Path) -> None:
    """What gear does when the server closes its connection mid-job: it reconnects and sends WORK_COMPLETE there."""

    def build(writer: object) -> None:
        old = TcpConversation(writer, ("127.0.0.2", 40001), ("127.0.0.1", 4730))  # type: ignore[arg-type]
        new = TcpConversation(writer, ("127.0.0.2", 40002), ("127.0.0.1", 4730))  # type: ignore[arg-type]
        ms = 1_000_000
        old.open(T0)
        for i, (direction, data) in enumerate(GIVEN):
            old.send(direction, data, T0 + (i + 1) * ms)
        old.close(T0 + 5 * ms, S2C)
        new.open(T0 + 6 * ms)
        new.send(C2S, req(T.CAN_DO, b"reverse"), T0 + 7 * ms)
        new.send(C2S, req(T.WORK_COMPLETE, H, b"cba"), T0 + 8 * ms)
        new.send(C2S, req(T.WORK_COMPLETE, b"H:vm:77", b"x"), T0 + 9 * ms)  # a handle nobody was given
        new.close(T0 + 10 * ms)

    path = tmp_path / "reconnect.pcap"
    path.write_bytes(pcap_bytes(build))
    reports = {r.conn: r for r in judge_roles(read_capture(path))}
    assert [(f.requirement, f.unknown) for f in reports[2].findings] == [
        ("GM-FIELD-006", True),
        ("GM-FIELD-006", False),
    ]
    assert [f.frame for f in reports[2].broken] == [max(f.frame for f in reports[2].findings)]
