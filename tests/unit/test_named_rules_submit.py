"""A server broken in one submission or coalescing MUST is sent to that rule's sentence.

Each mutant of gearsim.run.mutants breaks one rule. Played at ``--level
must`` under its profile on the case written to check that rule, it must fail
at a step that names the rule (the step's ``requirements`` in the vector):
before these steps named them, the report's "rule broken" was a generic
worker rule (GM-WORKER-007/008/009), the forwarding rule (GM-WORK-003), a
refusal's GM-SERVER-001 or the maxqueue rules, and the maintainer read the
wrong sentence of the spec.
"""

from __future__ import annotations

import pytest
from mutant_judging import bundled_case

from gearsim.run.mutants.play import MutantFactory
from gearsim.run.mutants.registry import mutation
from gearsim.run.result import CaseResult, Verdict
from gearsim.run.runner import run_case

#: (mutant, FILE::CASE written to check its rule)
NAMED = [
    ("refused-and-created", "server/maxqueue.yaml::full-queue-refuses-or-evicts"),
    ("foreground-deaf", "server/submit.yaml::protocol-document-example"),
    ("workload-cut", "server/submit.yaml::large-workload"),
    ("workload-cut", "server/submit.yaml::protocol-document-example"),
    ("function-case-folded", "server/coalesce.yaml::same-unique-other-function"),
    ("epoch-ignored", "server/epoch.yaml::future-epoch-skipped"),
    ("epoch-ignored", "server/epoch.yaml::due-in-virtual-time"),
    ("past-epoch-never", "server/epoch.yaml::past-epoch-runs-now"),
    ("reduce-aggregator-as-workload", "server/reduce.yaml::reduce-background-other-grabs"),
    ("coalesce-across-functions", "server/coalesce.yaml::same-unique-other-function"),
    ("empty-unique-coalesces", "server/coalesce.yaml::empty-unique-never-coalesces"),
    ("coalesced-overwrites", "server/coalesce.yaml::queued-same-unique-one-job"),
    ("coalesced-overwrites", "server/epoch.yaml::coalesced-epoch-ignored"),
    # the mutant raised here (it moved the job's priority, not the job) before it moved the queued job too
    ("coalesced-overwrites", "server/coalesce.yaml::later-priority-ignored"),
    ("coalesced-deaf", "server/coalesce.yaml::running-same-unique-attaches"),
    ("coalesced-deaf", "server/coalesce.yaml::foreground-and-background-mixed"),
    ("foreground-apart", "server/coalesce.yaml::foreground-and-background-mixed"),
    ("coalesce-refused-when-full", "server/maxqueue.yaml::limit-one"),
]


def _play(mutant_id: str | None, ref: str, profile: str) -> CaseResult:
    vf, case = bundled_case(ref)
    factory = MutantFactory(None if mutant_id is None else mutation(mutant_id), profile)
    return run_case(vf, case, factory, profile, level="must")


@pytest.mark.parametrize(("mutant_id", "ref"), NAMED, ids=[f"{m}@{r.split('::')[1]}" for m, r in NAMED])
def test_the_failing_step_names_the_mutant_s_rule(mutant_id: str, ref: str) -> None:
    m = mutation(mutant_id)
    _, case = bundled_case(ref)
    assert m.rule in case.requirements  # the case was written to check the rule
    assert _play(None, ref, m.profile).verdict is Verdict.PASS  # the unbroken model passes it
    result = _play(mutant_id, ref, m.profile)
    assert result.verdict is Verdict.FAIL, (result.verdict, result.reason)
    assert result.step is not None
    assert m.rule in result.rules, (result.step, result.rules, result.reason)
    assert m.rule in case.steps[result.step - 1].requirements  # named by the step, not only by the case
