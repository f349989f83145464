"""``gearsim spec mutate`` refuses a selection of no mutant instead of passing it as '0/0 mutants killed'.

A mistyped ``--rule`` (or ``--fast`` with a ``--mutation`` that is not a fast
one) chose nothing, printed "0/0 mutants killed" and exited 0: a check of
nothing that looked like a clean one. ``--mutation`` already refused an
unknown id.
"""

from __future__ import annotations

import pytest

from gearsim.cli.main import main


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--rule", "GM-NOPE-001"], "--rule GM-NOPE-001: no mutant breaks this rule"),
        (
            ["--fast", "--mutation", "no-job-as-all-yours"],
            "no mutant is chosen by all of --fast, --mutation and --rule",
        ),
    ],
    ids=["unknown-rule", "empty-combination"],
)
def test_a_selection_of_no_mutant_is_refused(
    options: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["spec", "mutate", *options, "codec/framing.yaml"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"gearsim spec mutate: {words}") and err.count("\n") == 1, err
