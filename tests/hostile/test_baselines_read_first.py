"""A broken baseline in ``--baselines DIR`` is refused before ``matrix`` or ``clients`` runs anything.

``run --baseline`` already read its file first. The tables read theirs only
to compare, after every server or driver ran: minutes lost to a typo, and
``clients`` stopped at the first driver's, leaving the later drivers'
``--write-baselines`` files unwritten and the summary unprinted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.cli.main import main

BROKEN = '{"schema": "gearsim-baseline/1", "cases": {"a": 1}\n'


def test_matrix_refuses_a_broken_baseline_of_one_of_its_columns_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "model-spec.json").write_text(BROKEN, encoding="utf-8")
    table = tmp_path / "table.md"
    argv = ["matrix", "--profiles", "spec", "--peers", "", "--baselines", str(tmp_path), "--out-md", str(table)]
    code = main([*argv, "server/status.yaml::unknown-handle"])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == "" and not table.exists(), "the matrix ran before its baselines were read"
    assert err.splitlines() == [
        f"gearsim matrix: {tmp_path / 'model-spec.json'}: not JSON: Expecting ',' delimiter: line 2 column 1 (char 51)"
    ]


def test_clients_refuses_a_missing_baseline_of_one_of_its_drivers_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["clients", "--driver", "{python} -c pass", "--baselines", str(tmp_path)]
    code = main([*argv, "client/library-client.yaml::seed-background-status-poll"])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == ""
    assert len(err.splitlines()) == 1, "a driver ran before its baseline was read"
    assert err.startswith(f"gearsim clients: cannot read baseline {tmp_path / 'driver-driver1.json'}: "), err
