"""A FIFO or a device named where a vector file or a scenario is read is refused as what it is, without reading it.

Each was "no such file or folder", "no vector file matches" or "no such file
or bundled scenario": false, the path exists, and a user looking for a typo
finds none.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gearsim.cli.main import main


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("run", "a FIFO, not a vector file"),
        ("lint", "a FIFO, not a vector file or folder"),
        ("fmt", "a FIFO, not a vector file or folder"),
        ("simulate", "a FIFO, not a scenario file"),
    ],
)
def test_a_fifo_is_named_as_one(command: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "cases.yaml"
    os.mkfifo(fifo)  # nothing writes into it: reading it would wait forever
    assert main([command, str(fifo)]) == 3
    assert capsys.readouterr().err == f"gearsim {command}: {fifo}: {words}\n"


def test_a_device_is_named_as_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", os.devnull]) == 3
    assert capsys.readouterr().err == f"gearsim lint: {os.devnull}: a device, not a vector file or folder\n"
