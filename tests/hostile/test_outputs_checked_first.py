"""An output a command could not write is refused before the command does its work, naming the option.

Each was written after the work: ``gearsim run --out DIR`` ran every case,
then failed with a bare ``[Errno 21] Is a directory`` and printed nothing
(the summary went out after the report); ``matrix`` ran every server first;
``fuzz --out`` searched, found a divergence, and lost it to a folder it could
not make. Now: one line, exit 3, nothing run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "data"
CASE = "server/status.yaml::unknown-handle"

#: (command line before the option, the option) of every output file a command writes
FILES: list[tuple[list[str], str]] = [
    (["run", CASE], "--out"),
    (["run", CASE], "--trace"),
    (["run", CASE], "--pcap"),
    (["matrix", "--no-model", "--peers", "", CASE], "--out-json"),
    (["matrix", "--no-model", "--peers", "", CASE], "--out-md"),
    (
        ["clients", "--driver", "{python} -c pass", "client/library-client.yaml::seed-background-status-poll"],
        "--out-md",
    ),
    (["simulate", "status"], "--trace"),
    (["simulate", "status"], "--pcap"),
    (["record", str(DATA / "gear.raw.pcap")], "--output"),
    (["spec", "coverage"], "--out"),
    (["spec", "mutate", "--fast", CASE], "--out"),
]
#: the same for outputs whose folders are made as needed: a file on the way is what cannot be
MADE: list[tuple[list[str], str]] = [
    (["run", CASE], "--write-baseline"),
    (["matrix", "--no-model", "--peers", "", CASE], "--write-baselines"),
    (["clients", "--driver", "{python} -c pass"], "--write-baselines"),
    (["fuzz", "--server", "127.0.0.1:1"], "--out"),  # refused before the server is even asked
]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 3, (code, err)
    assert out == "", "the command ran before its output was checked"
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(("argv", "option"), FILES, ids=[f"{a[0]}-{o}" for a, o in FILES])
def test_an_output_file_that_is_a_folder_is_refused_first(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused([*argv, option, str(tmp_path)], capsys)
    assert err.endswith(f": {option} {tmp_path}: a folder, not a file\n"), err


UNMADE = [(argv, option) for argv, option in FILES if argv[0] != "matrix"]  # matrix makes its files' folders


@pytest.mark.parametrize(("argv", "option"), UNMADE, ids=[f"{a[0]}-{o}" for a, o in UNMADE])
def test_an_output_file_in_no_folder_is_refused_first(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "gone" / "out"
    err = _refused([*argv, option, str(target)], capsys)
    assert err.endswith(f": {option} {target}: no such folder {tmp_path / 'gone'}\n"), err


@pytest.mark.parametrize(("argv", "option"), MADE, ids=[f"{a[0]}-{o}" for a, o in MADE])
def test_an_output_under_a_file_is_refused_first(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    target = tmp_path / "file" / "sub" / "out"
    err = _refused([*argv, option, str(target)], capsys)
    assert err.endswith(f": {option} {target}: {tmp_path / 'file'} is not a folder\n"), err
