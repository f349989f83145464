"""Known server bugs met by ``gearsim fuzz`` are counted per example and said, never silently swallowed.

Under gearmand's profiles a ``drop function`` answered OK while jobs of the
function live (the defect drop-function-keeps-queued-jobs) leaves gearmand's
state undefined (its jobs point at freed memory; tests/interop/test_fuzz_isolation.py):
the example compares nothing after it. The run says how many examples met
it, so that nobody takes them for fully compared ones. Model against model,
in-process.
"""

from __future__ import annotations

from gearsim.fuzz.machine import run_machine
from gearsim.fuzz.session import model_vs_model


def test_examples_cut_short_by_a_known_defect_are_counted() -> None:
    outcome = run_machine(model_vs_model("gearmand-1.1"), seed=3, examples=60)
    assert outcome.failure is None
    met = dict(outcome.known)
    assert met.get("drop-function-keeps-queued-jobs", 0) >= 1, outcome.known
    assert sum(met.values()) <= outcome.examples


def test_a_profile_without_the_defect_meets_none() -> None:
    outcome = run_machine(model_vs_model("spec"), seed=3, examples=60)
    assert outcome.failure is None
    assert outcome.known == ()


def test_perl_is_not_given_the_maxqueue_limit_that_ends_every_example() -> None:
    """After 'maxqueue f 0' Perl dies in every submission for f (a known defect): 87 of 202 examples ended there."""
    outcome = run_machine(model_vs_model("perl-1.130"), seed=0, examples=100)
    assert outcome.failure is None
    assert "maxqueue-zero-refuses-all" not in dict(outcome.known)
