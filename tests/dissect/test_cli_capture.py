"""``gearsim decode`` and ``gearsim jobs`` end to end: text, JSON Lines, exit codes, bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from capture_helpers import C2S, S2C, as_pcapng, conversation, req, res

from gearsim.cli.capture import escape
from gearsim.cli.main import main
from gearsim.protocol.packets import PacketType as T

JOB = [
    (C2S, req(T.SUBMIT_JOB, b"reverse", b"u", b"ab\0\x01\xff")),
    (S2C, res(T.JOB_CREATED, b"H:x:1")),
    (C2S, req(T.GET_STATUS, b"H:x:1")),
    (S2C, res(T.STATUS_RES, b"H:x:1", b"1", b"0", b"0", b"0")),
    (S2C, res(T.WORK_COMPLETE, b"H:x:1", b"done")),
    (S2C, res(T.WORK_DATA, b"H:x:1", b"late")),
]


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "job.pcap"
    path.write_bytes(conversation(JOB, split=9))
    return path


def test_decode_text_shows_binary_safely_and_flags_inline(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(capture)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("0.000000 #1 c1 open 127.0.0.2:40000 > 127.0.0.1:4730")
    assert any(line.endswith('c>s REQ SUBMIT_JOB "reverse" "u" "ab\\x00\\x01\\xff"') for line in lines)
    late = next(line for line in lines if "WORK_DATA" in line)
    assert "!! GM-WORK-007 [handle]: WORK_DATA for handle b'H:x:1' after its terminal WORK_COMPLETE" in late


def test_decode_json_lines_have_the_same_fields(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--json", str(capture)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    submit = next(r for r in rows if r.get("name") == "SUBMIT_JOB")
    assert submit["args"] == ["reverse", "u", "ab\\x00\\x01\\xff"]
    assert submit["direction"] == "c>s" and submit["magic"] == "REQ" and submit["conn"] == 1
    assert submit["client"] == "127.0.0.2:40000" and submit["server"] == "127.0.0.1:4730"
    assert [v["id"] for r in rows for v in r["violations"]] == ["GM-WORK-007"]


def test_escape_is_lossless_and_ascii() -> None:
    data = bytes(range(256))
    text = escape(data)
    assert text.isascii() and text.isprintable()
    assert text.encode().decode("unicode_escape").encode("latin-1") == data


def test_jobs_table_and_json(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", str(capture)]) == 0
    out = capsys.readouterr().out
    assert 'job H:x:1 on 127.0.0.1:4730: function "reverse" unique "u" (foreground) -> WORK_COMPLETE' in out
    assert 'GET_STATUS saw "1" "0" "0" "0"' in out
    assert main(["jobs", "--json", str(capture)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    job = rows[0]["job"]
    assert job["latency_ns"] == 4_000_000 and job["outcome"] == "WORK_COMPLETE" and len(job["polls"]) == 1
    assert rows[-1]["latency"]["p50"] == 4_000_000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "byte offset 0: empty file"),
        (b"GET / HTTP/1.1\r\n\r\n", "byte offset 0: not a pcap or pcapng capture"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "byte offset 4: file ends inside"),
    ],
)
def test_bad_input_is_one_line_with_file_and_offset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, message: str
) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(data)
    assert main(["decode", str(path)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: {message}" in err and "Traceback" not in err


def test_truncated_capture_prints_what_it_read_then_the_error(
    capture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture.write_bytes(capture.read_bytes()[:-30])
    assert main(["jobs", str(capture)]) == 3
    out, err = capsys.readouterr()
    assert "job H:x:1" in out
    assert err.startswith(f"gearsim jobs: {capture}: byte offset ") and "file ends" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(tmp_path / "nope.pcap")]) == 3
    assert "No such file" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["decode"], ["decode", "--json"], ["jobs"], ["jobs", "--json"], ["check"]])
@pytest.mark.parametrize("name", ["job.pcap.gz", "job.pcapng.gz", "no-suffix"])
def test_a_gzip_compressed_capture_reads_as_the_capture_inside(
    capture: Path, capsys: pytest.CaptureFixture[str], command: list[str], name: str
) -> None:
    plain = capture.read_bytes()
    if "pcapng" in name:
        plain = as_pcapng(plain, None)
        capture.write_bytes(plain)
    packed = capture.with_name(name)
    packed.write_bytes(gzip.compress(plain))  # recognised by its magic: the name does not matter
    expected = main([*command, str(capture)])
    want = capsys.readouterr().out.replace(str(capture), "FILE")
    assert main([*command, str(packed)]) == expected
    out, err = capsys.readouterr()
    assert out.replace(str(packed), "FILE") == want and err == ""
    assert "SUBMIT_JOB" in want or "H:x:1" in want or "GM-" in want
