"""The differential machine: the model against gearmand, and the machine's own checks.

* ``test_model_agrees_with_gearmand`` (interop): the hypothesis state machine
  runs random conversations against the reference model and a real gearmand
  at once (30 examples of up to 20 steps, well under two minutes); any
  divergence or broken invariant fails with a seed-first report. It skips
  without gearmand, and fails instead under GEARSIM_REQUIRE_PEERS=1.
* Without a server: the model agrees with itself; the machine does find a
  divergence between two profiles that differ (gearmand-1.1 against
  perl-1.130), the shrunk example becomes a lint-clean vector that replays
  with the runner; and the same seed gives the same search twice.
"""

from __future__ import annotations

import pytest

from gearsim.files import load_requirements, load_schema_text
from gearsim.fuzz.driver import Divergence
from gearsim.fuzz.machine import run_machine
from gearsim.fuzz.session import model_vs_model, model_vs_server, server_identity
from gearsim.fuzz.writer import content_hash, regression_vector
from gearsim.io.peers import RunningPeer
from gearsim.report.repro import reproduce_fuzz
from gearsim.run.model_peer import ModelPeerFactory
from gearsim.run.runner import Verdict, run_case
from gearsim.vectors.lint import lint_text
from gearsim.vectors.parse import dump_vector_file, parse_vector_text

PROFILE = "gearmand-1.1"
SEED = 20260
EXAMPLES = 30
STEPS = 20
#: divergences already reported and explained, excluded until fixed (rule -> why)
KNOWN: dict[str, str] = {}


@pytest.mark.interop
def test_model_agrees_with_gearmand(gearmand_c: RunningPeer) -> None:
    host, port = gearmand_c.address()
    identity = server_identity(host, port)
    make = model_vs_server(host, port, PROFILE, f"t{gearmand_c.pid}", identity=identity)
    outcome = run_machine(make, seed=SEED, examples=EXAMPLES, steps=STEPS, exclude=frozenset(KNOWN))
    command = reproduce_fuzz(f"{host}:{port}", profile=PROFILE, examples=EXAMPLES, steps=STEPS, seed=SEED)
    command += "".join(f" --exclude {rule}" for rule in KNOWN)
    if outcome.error is not None and outcome.failure is None:
        pytest.fail(f"harness error, seed {SEED}: {outcome.error!r}\nreproduce: {command}")
    if outcome.failure is not None:
        steps = "\n".join(f"  {s.index:3d} {s.action.describe()}" for s in outcome.history)
        pytest.fail(
            f"seed {SEED}: {outcome.failure}\nserver: {identity}\n"
            f"conversation hash: {content_hash(list(outcome.history))}\n{steps}\nreproduce: {command}"
        )
    assert outcome.examples >= EXAMPLES
    assert outcome.steps > EXAMPLES  # the examples did something


def test_model_agrees_with_itself() -> None:
    outcome = run_machine(model_vs_model(PROFILE), seed=1, examples=40, steps=STEPS)
    assert outcome.error is None
    assert outcome.failure is None, f"{outcome.failure} ({[s.action.describe() for s in outcome.history]})"


def test_machine_finds_a_difference_between_profiles_and_writes_a_vector() -> None:
    outcome = run_machine(model_vs_model(PROFILE, "perl-1.130"), seed=3, examples=200, steps=STEPS)
    assert isinstance(outcome.failure, Divergence)
    history = list(outcome.history)
    assert len(history) <= 6, [s.action.describe() for s in history]  # shrunk to a few steps
    data = regression_vector(
        history,
        outcome.failure,
        namespace=outcome.namespace,
        seed=3,
        server="the model under perl-1.130",
        profile=PROFILE,
        command="tests/property/test_differential.py",
    )
    text = dump_vector_file(data)
    vf, findings = lint_text(text, "regressions/test.yaml", load_schema_text(), load_requirements())
    assert vf is not None and findings == []
    assert vf.source["seed"] == 3
    case = vf.cases[0]
    # the expectations are the "server's" (perl's): the perl model passes, the gearmand model fails
    perl = run_case(vf, case, ModelPeerFactory("perl-1.130"), PROFILE)
    gearmand = run_case(vf, case, ModelPeerFactory(PROFILE), PROFILE)
    assert perl.verdict is Verdict.PASS, perl.reason
    assert gearmand.verdict is Verdict.FAIL


def test_same_seed_same_search() -> None:
    first = run_machine(model_vs_model(PROFILE, "perl-1.130"), seed=9, examples=100, steps=STEPS)
    second = run_machine(model_vs_model(PROFILE, "perl-1.130"), seed=9, examples=100, steps=STEPS)
    assert first.failure is not None
    assert content_hash(list(first.history)) == content_hash(list(second.history))
    assert (first.examples, first.steps) == (second.examples, second.steps)
    text = dump_vector_file(
        regression_vector(
            list(first.history),
            first.failure,
            namespace=first.namespace,
            seed=9,
            server="x",
            profile=PROFILE,
            command="x",
        )
    )
    assert parse_vector_text(text, "x.yaml", load_schema_text()).cases[0].id.startswith("fuzz-")
