"""A table none of whose columns could run here writes nothing and exits 2, instead of an empty table and 0.

On a machine without any reference driver, ``gearsim clients --out-md
docs/clients.md`` replaced the committed table with one of no column and
exited 0; so did ``matrix --no-model`` where no real server is installed.
Nothing was measured: the files are kept, and the exit code says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gearsim.cli.clients
import gearsim.cli.matrix
from gearsim.cli.main import main

KEPT = "the committed table\n"


def test_clients_without_any_driver_keeps_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(gearsim.cli.clients, "available_drivers", lambda: {"php": "no php", "perl": "no perl"})
    table = tmp_path / "clients.md"
    table.write_text(KEPT, encoding="utf-8")
    assert main(["clients", "--out-md", str(table)]) == 2
    assert table.read_text(encoding="utf-8") == KEPT
    assert capsys.readouterr().err.splitlines()[-1] == (
        "gearsim clients: no driver could run here (each was skipped, above); nothing written"
    )


def test_matrix_without_any_server_keeps_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(gearsim.cli.matrix, "peer_available", lambda name: f"{name} is not installed")
    table = tmp_path / "compatibility.md"
    table.write_text(KEPT, encoding="utf-8")
    assert main(["matrix", "--no-model", "--peers", "gear", "--out-md", str(table), "codec/framing.yaml"]) == 2
    assert table.read_text(encoding="utf-8") == KEPT
    assert capsys.readouterr().err.splitlines()[-1] == (
        "gearsim matrix: no column could run here (each was skipped, above); nothing written"
    )
