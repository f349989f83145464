"""Every malformed vector, scenario or capture, through every command that reads it: one line, exit 3.

The line names the command and the file, and says what is wrong (and where:
a YAML line, a byte offset); never a traceback, never a hang. ``lint`` is
the exception by design: a broken vector file is what it looks for, so it is
one finding and exit 1 (issue 16).
"""

from __future__ import annotations

import gzip
import re
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from gearsim.cli.main import main
from gearsim.files import vector_root

VECTOR_HEAD = "schema: gearsim-vectors/1\narea: server\ntitle: t\nnotes: {}\n"
VECTOR_CASE = (
    "cases:\n- id: c\n  comment: c\n  requirements: [GM-SUBMIT-001]\n  result: valid\n"
    "  actors: {c1: client}\n  steps:\n  - {connect: c1}\n"
)
SCENARIO = (
    "schema: 1\nname: t\nduration: 10s\nservers: [g]\n"
    "clients:\n  - name: c\n    function: f\n    {client}\n"
    "workers:\n  - name: w\n    functions: [f]\n"
)


def bomb(levels: int) -> str:
    items = ['&l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    items += [f"&l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "[" + ", ".join(items) + "]"


BAD_VECTORS: dict[str, tuple[bytes, str]] = {
    "not-yaml": (b"schema: [\n", "not valid YAML line 2"),
    "not-utf8": (b"schema: \xff\xfe\n", "not UTF-8 text (byte offset 8"),
    "deep": ((VECTOR_HEAD + "header: " + "[" * 500 + "]" * 500 + "\n" + VECTOR_CASE).encode(), "nested deeper than"),
    "alias-bomb": ((VECTOR_HEAD + "header: " + bomb(9) + "\n" + VECTOR_CASE).encode(), "aliases expand"),
    "schema": ((VECTOR_HEAD + "header: [h]\nbogus: 1\n" + VECTOR_CASE).encode(), "schema: (top)"),
    "empty": (b"", "schema"),
    "odd-hex": (
        (
            VECTOR_HEAD
            + "header: [h]\n"
            + VECTOR_CASE
            + "  - {send: c1, packet: {type: ECHO_REQ, args: [{hex: abc}]}}\n"
        ).encode(),
        "c step 2: hex 'abc': 3 digits, an odd number",  # was fromhex's "non-hexadecimal number found"
    ),
    # each was exit 4 (a KeyError while playing) or a FAIL of the server, not a broken vector
    "send-before-connect": (
        (
            VECTOR_HEAD + "header: [h]\n" + VECTOR_CASE.replace("{connect: c1}", "{send: c1, packet: {type: ECHO_REQ}}")
        ).encode(),
        "c step 1: send c1: no connect of c1 before this step",
    ),
    "expect-before-connect": (
        (
            VECTOR_HEAD + "header: [h]\n" + VECTOR_CASE.replace("{connect: c1}", "{expect: c1, packet: {type: NOOP}}")
        ).encode(),
        "c step 1: expect c1: no connect of c1 before this step",
    ),
    "empty-actor": (
        (VECTOR_HEAD + "header: [h]\n" + VECTOR_CASE + "  - {disconnect: ''}\n").encode(),
        "c step 2: actor '' is not declared in actors",
    ),
    "huge-step": (
        (VECTOR_HEAD + "header: [h]\n" + VECTOR_CASE + "  - {advance: 1000000000000000000000}\n").encode(),
        "c step 2: advance",
    ),
}

BAD_SCENARIOS: dict[str, tuple[bytes, str]] = {
    "not-yaml": (b"clients: [\n", "not valid YAML line 2"),
    "not-utf8": (b"name: \xc3\x28\n", "not UTF-8 text (byte offset 6"),
    "schema": (b"{}\n", "'schema' is a required property"),
    "nan-rate": (SCENARIO.format(client="rate: .nan").encode(), "clients/0 (c)/rate: a rate must be a finite number"),
    "start-after-stop": (
        SCENARIO.format(client="every: 1s\n    start: 5s\n    stop: 2s").encode(),
        "clients/0 (c)/stop",
    ),
    "deep": (("x: " + "[" * 500 + "]" * 500 + "\n").encode(), "nested deeper than"),
}


def _pcapng_with(block: bytes) -> bytes:
    shb = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack("<IIHHII", 1, 20, 1, 0, 0, 20)
    return shb + idb + block


PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
BAD_CAPTURES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "byte offset 0"),
    "garbage": (b"GET / HTTP/1.1\r\n\r\n", "byte offset 0: not a pcap or pcapng capture"),
    # the global header cut short is named as such (it said "inside a record", as if a packet were cut)
    "short-pcap-header": (PCAP_HEADER[:10], "byte offset 4: file ends inside the pcap global header (6 of 20 bytes)"),
    "record-cut": (
        PCAP_HEADER + struct.pack("<IIII", 0, 0, 60, 60) + b"x" * 10,
        "byte offset 40: file ends inside a record (10 of 60 bytes)",
    ),
    "absurd-record": (PCAP_HEADER + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 0x7FFFFFFF), "byte offset 24"),
    "short-epb": (_pcapng_with(struct.pack("<IIII", 6, 16, 0, 16)), "byte offset 48: pcapng enhanced packet block"),
    "short-opb": (_pcapng_with(struct.pack("<IIII", 2, 16, 0, 16)), "byte offset 48: pcapng obsolete packet block"),
    "short-spb": (_pcapng_with(struct.pack("<III", 3, 12, 12)), "byte offset 48: pcapng simple packet block"),
    "bad-trailer": (_pcapng_with(struct.pack("<IIII", 5, 16, 0, 99)), "byte offset 48"),
    "gzip-cut": (gzip.compress(PCAP_HEADER + b"x" * 4000)[:30], "byte offset 30: damaged gzip data"),
    "gzip-garbage": (b"\x1f\x8b" + b"\xff" * 40, "damaged gzip data"),
    "gzip-bad-crc": (gzip.compress(PCAP_HEADER)[:-8] + b"\0" * 8, "damaged gzip data: CRC check failed"),
    "gzip-of-garbage": (
        gzip.compress(b"GET / HTTP/1.1\r\n"),
        "byte offset 0: in the gunzipped capture: not a pcap or pcapng",
    ),
    "gzip-of-gzip": (gzip.compress(gzip.compress(PCAP_HEADER)), "a gzip stream inside a gzip stream"),
    "gzip-record-cut": (
        gzip.compress(PCAP_HEADER + struct.pack("<IIII", 0, 0, 60, 60) + b"x" * 10),
        "byte offset 40: in the gunzipped capture: file ends inside a record",
    ),
}


def one_line_exit_3(run: Callable[[], int], capsys: pytest.CaptureFixture[str], command: str, path: Path) -> str:
    code = run()
    err = capsys.readouterr().err
    assert code == 3, err
    lines = err.splitlines()
    assert len(lines) == 1, err  # one line: no traceback, no usage text
    assert lines[0].startswith((f"gearsim {command}: {path}: ", f"gearsim {command}: {path}::")), lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["run", "fmt"])
@pytest.mark.parametrize("name", sorted(BAD_VECTORS))
def test_a_malformed_vector_file_is_one_line_and_exit_3(
    command: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, words = BAD_VECTORS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    line = one_line_exit_3(lambda: main([command, str(path)]), capsys, command, path)
    assert words in line, line
    assert path.read_bytes() == data  # fmt never rewrites what it cannot read


@pytest.mark.parametrize("name", sorted(BAD_VECTORS))
def test_lint_reports_a_malformed_vector_file_as_one_finding(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, words = BAD_VECTORS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    assert main(["lint", str(path)]) == 1
    out = capsys.readouterr()
    finding, summary = out.out.splitlines()
    assert finding.startswith(str(path)) and words in finding, finding
    assert summary.endswith(", 1 finding") and out.err == ""


@pytest.mark.parametrize("name", sorted(BAD_SCENARIOS))
def test_a_malformed_scenario_is_one_line_and_exit_3(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, words = BAD_SCENARIOS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    line = one_line_exit_3(lambda: main(["simulate", str(path)]), capsys, "simulate", path)
    assert words in line, line


@pytest.mark.parametrize("command", ["decode", "jobs", "check", "record"])
@pytest.mark.parametrize("name", sorted(BAD_CAPTURES))
def test_a_malformed_capture_is_one_line_and_exit_3(
    command: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, words = BAD_CAPTURES[name]
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(data)
    out = tmp_path / "kept.yaml"
    out.write_text("kept\n", encoding="utf-8")
    argv = [command, str(path), *(["-o", str(out)] if command == "record" else [])]
    line = one_line_exit_3(lambda: main(argv), capsys, command, path)
    assert words in line, line
    assert out.read_text(encoding="utf-8") == "kept\n"  # record overwrites nothing it could not fill


def test_fmt_rewrites_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rewrite cut short (a full disk) leaves the user's file as it was and no stray file beside it."""
    path = tmp_path / "v.yaml"
    original = VECTOR_HEAD + "header:   [h]\n" + VECTOR_CASE  # valid, not canonical
    path.write_text(original, encoding="utf-8")

    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gearsim.files.os.replace", disk_full)
    assert main(["fmt", str(path)]) == 3
    assert path.read_text(encoding="utf-8") == original
    assert [p.name for p in tmp_path.iterdir()] == ["v.yaml"]
    monkeypatch.undo()
    assert main(["fmt", str(path)]) == 0
    assert path.read_text(encoding="utf-8") != original and main(["fmt", "--check", str(path)]) == 0


@pytest.mark.parametrize(
    ("text", "words"),
    [("0052 455", "7 digits, an odd number"), ("00 5z", "'z' (digit 4) is not a hex digit"), ("", "")],
)
def test_hex_text_says_what_is_wrong_with_it(text: str, words: str) -> None:
    from gearsim.vectors.text import hex_of

    if not words:
        assert hex_of(text) == b""
        return
    with pytest.raises(ValueError, match=re.escape(words)):
        hex_of(text)


@pytest.mark.parametrize("command", [["lint"], ["fmt", "--check"]])
def test_a_folder_without_vector_files_is_refused_not_passed(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``gearsim lint EMPTY-FOLDER`` said '0 files, 0 findings' and exited 0: a mistyped folder passed a CI check."""
    (tmp_path / "notes.txt").write_text("not a vector\n")
    assert main([*command, str(tmp_path)]) == 3
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    assert out.err == f"gearsim {command[0]}: {tmp_path}: no vector file (*.yaml) in this folder\n"


def test_fmt_of_a_folder_checks_every_vector_file_in_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """As lint does: a folder stands for its *.yaml files (fmt refused a folder as 'Is a directory')."""
    bundled = sorted(vector_root().rglob("*.yaml"))[:2]
    for source in bundled:
        (tmp_path / source.name).write_bytes(source.read_bytes())
    assert main(["fmt", "--check", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""
    (tmp_path / bundled[0].name).write_bytes(bundled[0].read_bytes().replace(b"\n", b"\n\n", 1))
    assert main(["fmt", "--check", str(tmp_path)]) == 1
    assert capsys.readouterr().out == f"{tmp_path / bundled[0].name}: not in canonical form\n"
