"""Scenario parsing: bundled scenarios load, times and rates parse, errors name file and field."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from gearsim.cli.simulate import bundled_names, find_scenario, load_scenario, run_simulate
from gearsim.files import data_dir
from gearsim.sim.scenario import ScenarioError, parse_rate, parse_scenario_text, parse_time

SCHEMA = (data_dir("spec") / "scenario.schema.json").read_text(encoding="utf-8")
EXPECTED = {"status", "dedup", "pool-libgearman", "pool-perl-crc32", "pool-partition", "faults", "bench-100k"}

BASE = """\
schema: 1
name: t
duration: 10s
servers: [a, b]
clients:
  - name: c
    function: f
    every: 1s
workers:
  - name: w
    functions: [f]
"""


def parse(text: str) -> object:
    return parse_scenario_text(text, "x.yaml", SCHEMA)


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse(text)
    return str(info.value)


def test_every_bundled_scenario_parses_against_the_schema() -> None:
    assert set(bundled_names()) >= EXPECTED
    for name in EXPECTED:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.servers and scenario.clients


def test_a_bare_name_finds_the_bundled_file_and_a_path_wins() -> None:
    assert find_scenario("status").name == "status.yaml"
    assert find_scenario("status.yaml").name == "status.yaml"
    path = find_scenario(str(data_dir("scenarios") / "dedup.yaml"))
    assert path.is_file()
    with pytest.raises(ScenarioError, match="no such file or bundled scenario 'nope'"):
        find_scenario("nope")


@pytest.mark.parametrize(
    ("text", "ticks"), [(0, 0), (250, 250), ("250ms", 250), ("3s", 3000), ("1.5s", 1500), ("2m", 120_000)]
)
def test_times(text: object, ticks: int) -> None:
    assert parse_time(text) == ticks


@pytest.mark.parametrize("text", ["3", "3 s", "-1s", -5, True, "1h", None])
def test_bad_times(text: object) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize(("text", "rate"), [(5, 5.0), (0.5, 0.5), ("5/s", 5.0), ("120/m", 2.0)])
def test_rates(text: object, rate: float) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["5", "0/s", 0, -1, "5/h"])
def test_bad_rates(text: object) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_the_base_scenario_parses_with_defaults() -> None:
    s = parse(BASE)
    client = s.clients[0]  # type: ignore[attr-defined]
    assert client.servers == ("a", "b") and client.library == "libgearman" and client.every == 1000
    assert s.latency == 1 and s.send_buffer == 65536  # type: ignore[attr-defined]


def test_errors_name_the_file_and_the_field() -> None:
    assert error_of(BASE.replace("every: 1s", "rate: fast")).startswith("x.yaml: clients/0 (c)/rate:")
    message = error_of(BASE.replace("    every: 1s", "    every: 1s\n    bogus: 1"))
    assert message.startswith("x.yaml: clients/0 (c):") and "'bogus' was unexpected" in message
    message = error_of(BASE + "faults:\n  - {kind: partition, servr: a, at: 5s}\n")
    assert message.startswith("x.yaml: faults/0:") and "'partition' fault" in message
    message = error_of(BASE.replace("functions: [f]", "functions: [f]\n    servers: [a, z]"))
    assert message.startswith("x.yaml: workers/0 (w)/servers:") and "'z'" in message
    message = error_of(BASE + "faults:\n  - {kind: partition, server: a, at: 5s, until: 2s}\n")
    assert message.startswith("x.yaml: faults/0/until:")
    message = error_of(BASE + "faults:\n  - {kind: worker-crash, worker: nobody, at: 1s}\n")
    assert message.startswith("x.yaml: faults/0/worker:") and "nobody" in message
    message = error_of(BASE + "faults:\n  - {kind: server-restart, server: a, at: 20s}\n")
    assert message.startswith("x.yaml: faults/0/at:") and "after the end" in message
    assert error_of(BASE.replace("every: 1s", "every: 1s\n    rate: 5/s")).startswith("x.yaml: clients/0 (c)/rate:")
    assert error_of(BASE.replace("schema: 1", "schema: 2")).startswith("x.yaml: schema:")
    assert "not valid YAML line" in error_of("schema: [1\n")
    assert error_of(BASE.replace("servers: [a, b]", "servers: [a, a]")).startswith("x.yaml: servers:")
    assert "unknown profile" in error_of(BASE.replace("servers: [a, b]", "servers: [{name: a, profile: nope}]"))


def test_the_command_exits_3_with_one_line_for_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("every: 1s", "rate: fast"), encoding="utf-8")
    code = run_simulate(argparse.Namespace(scenario=str(bad), seed=None, trace=None, pcap=None))
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1 and "clients/0 (c)/rate" in err and str(bad) in err


def test_the_command_prints_the_summary_and_writes_the_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "t.txt"
    code = run_simulate(argparse.Namespace(scenario="dedup", seed=3, trace=str(trace), pcap=None))
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    assert "handles (php-client): H:gearmand:1 H:gearmand:2 H:gearmand:1 H:gearmand:1 H:gearmand:3" in out.out
    assert "seed 3" in out.out
    assert "SUBMIT_JOB_BG" in trace.read_text(encoding="utf-8")
