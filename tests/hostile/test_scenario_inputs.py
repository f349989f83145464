"""Hostile scenarios for ``gearsim simulate``: absurd values are refused with the field named, exit 3.

NaN and infinite rates once crashed or ran forever, a billion workers or a
terabyte payload ended in MemoryError, and a client starting after it stops
silently made no jobs (issue 16, item 6). Each case is refused before the
simulation starts, in one line that names the file and the field.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from work import python_calls

from gearsim.files import data_dir
from gearsim.sim.scenario import ScenarioError, parse_scenario_text

SCHEMA = (data_dir("spec") / "scenario.schema.json").read_text(encoding="utf-8")


def scenario(client: str = "every: 1s", worker: str = "", top: str = "duration: 10s") -> str:
    return (
        f"schema: 1\nname: t\n{top}\nservers: [g]\n"
        f"clients:\n  - name: c\n    function: f\n    {client}\n"
        f"workers:\n  - name: w\n    functions: [f]\n    {worker}\n"
    )


def refusal(text: str) -> str:
    """The one-line refusal of ``text``, reached before any work in proportion to the absurd value.

    A refusal takes a few thousand calls; building a billion workers or
    running the jobs first would take millions.
    """
    calls, outcome = python_calls(lambda: parse_scenario_text(text, "x.yaml", SCHEMA))
    assert isinstance(outcome, ScenarioError), outcome
    assert calls < 50_000, calls
    message = str(outcome)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    ("client", "field", "words"),
    [
        ("rate: .nan", "rate", "a rate must be a finite number, got nan"),
        ("rate: .inf", "rate", "a rate must be a finite number, got inf"),
        ("rate: 1.0e+12", "rate", "faster than the limit of 1,000,000 per second"),
        ("rate: 1/s\n    jobs: 1000000000000", "jobs", "is more than the limit of 1,000,000"),
        ("every: 1ms\n    count: 1000", "every", "asks for about 10,001,000 submissions (1000 clients)"),
        ("rate: 1000/s\n    payload_size: 1000000", "payload_size", "payload bytes in all"),
        ("every: 1s\n    payload_size: 1000000000000", "payload_size", "more than the limit of 268,435,456 bytes"),
        ("every: 1s\n    start: 5s\n    stop: 2s", "stop", "stops at 2000 ms, not after it starts (5000 ms)"),
        ("every: 1s\n    start: 20s", "start", "not before the end of the run (10000 ms)"),
        ("every: 1s\n    count: 1000000000", "count", "is more than the limit of 10,000"),
        ("every: 1ms\n    poll_status: 1ms", "poll_status", "status polls"),
    ],
)
def test_an_absurd_client_is_refused_naming_the_field(client: str, field: str, words: str) -> None:
    message = refusal(scenario(client))
    assert message.startswith(f"x.yaml: clients/0 (c)/{field}: "), message
    assert words in message, message


@pytest.mark.parametrize(
    ("worker", "field", "words"),
    [
        ("count: 1000000000", "count", "is more than the limit of 10,000"),
        ("fail: .nan", "fail", "nan is not a number from 0 to 1"),
        ("duration: {uniform: [1ms, 99999999999s]}", "duration/uniform", "longer than the limit of 30 days"),
        ("duration: {fixed: 99999999999}", "duration/fixed", "longer than the limit of 30 days"),
        ("status_every: 1ms\n    count: 2000", "status_every", "WORK_STATUS packets"),
        ("start: 11s", "start", "not before the end of the run"),
    ],
)
def test_an_absurd_worker_is_refused_naming_the_field(worker: str, field: str, words: str) -> None:
    message = refusal(scenario(worker=worker))
    assert message.startswith(f"x.yaml: workers/0 (w)/{field}: "), message
    assert words in message, message


@pytest.mark.parametrize(
    ("top", "field"),
    [("duration: 1000000000000", "duration"), ("duration: 99999999m", "duration")],
)
def test_an_absurd_duration_is_refused(top: str, field: str) -> None:
    assert refusal(scenario(top=top)).startswith(f"x.yaml: {field}: ")


def test_reconnects_during_a_long_partition_count_against_the_event_budget() -> None:
    text = scenario(worker="count: 5000\n    reconnect: 1ms", top="duration: 60m")
    text += "faults:\n  - {kind: partition, server: g, at: 1s, until: 50m}\n"
    assert "reconnect" in refusal(text)


def test_every_bundled_scenario_is_within_the_limits() -> None:
    for path in sorted(data_dir("scenarios").glob("*.yaml")):
        parse_scenario_text(path.read_text(encoding="utf-8"), path.name, SCHEMA)


def test_simulate_exits_3_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nan.yaml"
    path.write_text(scenario("rate: .nan"), encoding="utf-8")
    command = [sys.executable, "-m", "gearsim", "simulate", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"gearsim simulate: {path}: clients/0 (c)/rate: a rate must be a finite number, got nan"
    ]
