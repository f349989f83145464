"""Bad option values on the command line: refused as a usage error (exit 3) before anything runs.

An empty target option is falsy: before it was refused, ``gearsim run
--driver ''`` (or ``--server-command ''``, ``--server-description ''``)
played the reference model instead and passed, a run that judged nothing the
user named. A time limit that is NaN, 0 or negative made every library case
inconclusive after 0 seconds instead of saying the option was wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.cli.main import main


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The usage error ``argv`` gets; it must exit 3 without a traceback and run no case."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    out = capsys.readouterr()
    assert stop.value.code == 3, out.err
    assert "Traceback" not in out.err and out.out == ""
    return out.err.splitlines()[-1]


@pytest.mark.parametrize("option", ["--driver", "--server-command", "--server-description", "--client"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_target_option_is_refused_not_replaced_by_the_model(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused(["run", "server/status.yaml::unknown-handle", option, value], capsys)
    assert f"argument {option}: the value is empty" in line, line


def test_an_empty_clients_driver_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["clients", "--driver", ""], capsys)
    assert "argument --driver: the value is empty" in line, line


@pytest.mark.parametrize("command", ["run", "clients"])
@pytest.mark.parametrize("value", ["nan", "0", "-1", "inf"])
def test_a_driver_time_limit_must_be_seconds_above_0(
    command: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    line = refused([command, "--driver", "php", "--driver-time-limit", value], capsys)
    assert f"argument --driver-time-limit: expected a number of seconds above 0, got '{value}'" in line, line


@pytest.mark.parametrize("command", ["decode", "jobs", "check", "record"])
@pytest.mark.parametrize("value", ["-1", "99999", "x"])
def test_a_capture_port_must_be_a_tcp_port(command: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """-1 or 99999 was taken as a port and the capture reported as holding no Gearman there (exit 0)."""
    capture = str(Path(__file__).resolve().parents[1] / "data" / "gearmand.raw.pcap")
    line = refused([command, capture, "--port", value, *(["-o", "unused.yaml"] if command == "record" else [])], capsys)
    assert f"argument --port: expected a port number 0-65535, got '{value}'" in line, line


@pytest.mark.parametrize("content", [None, "not json\n"])
def test_a_bad_baseline_is_refused_before_any_case_runs(
    content: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was read after the run: against a real server, an hour of cases played, then exit 3."""
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content, encoding="utf-8")
    assert main(["run", "server/status.yaml", "--baseline", str(baseline)]) == 3
    out = capsys.readouterr()
    assert out.out == "", "no case was played, no report printed"
    assert out.err.startswith("gearsim run: ") and str(baseline) in out.err and len(out.err.splitlines()) == 1


@pytest.mark.parametrize(("option", "value"), [("--examples", "0"), ("--examples", "-1"), ("--steps", "-5")])
def test_fuzz_counts_must_be_positive(option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """They reached hypothesis, whose InvalidArgument came out as a gearsim bug (exit 4, a traceback)."""
    line = refused(["fuzz", "--server", "127.0.0.1:1", option, value], capsys)
    assert f"argument {option}: expected a positive integer, got '{value}'" in line, line


def test_fuzz_refuses_an_unknown_rule_before_asking_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    """The machine raised ValueError after the server was probed: exit 4 and a traceback."""
    assert main(["fuzz", "--server", "127.0.0.1:1", "--exclude", "NOPE"]) == 3  # nothing listens on port 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("gearsim fuzz: --exclude: unknown rules ['NOPE']; known: "), err


def test_a_negative_chunking_seed_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """chunking.expand raised ValueError on it mid-run: exit 4 and a traceback."""
    line = refused(["run", "server/status.yaml", "--chunking", "-5"], capsys)
    assert "argument --chunking: expected a non-negative integer, got '-5'" in line, line


@pytest.mark.parametrize(
    ("option", "size", "words"),
    [
        ("--baseline", 64 * 1024 * 1024 + 1, "cannot read baseline {}: larger than the limit of 67,108,864 bytes"),
        ("--server-description", 1024 * 1024 + 1, "cannot read server description {}: larger than 1,048,576 bytes"),
    ],
)
def test_a_huge_input_file_is_refused_without_reading_it_all(
    option: str, size: int, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both were read whole: --baseline /dev/zero grew to 2.6 GB and ended in a MemoryError (exit 4)."""
    huge = tmp_path / "huge"
    with huge.open("wb") as stream:
        stream.truncate(size)  # sparse: one byte over the limit, no disk used
    assert main(["run", "server/status.yaml", option, str(huge)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err == [f"gearsim run: {words.format(huge)}"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--exclude", "*"], "--exclude '*' excludes every case of the selection (every bundled vector file)"),
        (
            ["server/coalesce.yaml", "--exclude", "server/*", "--exclude", "x"],
            "--exclude 'server/*' --exclude 'x' excludes every case of the selection (server/coalesce.yaml)",
        ),
    ],
)
def test_an_exclude_that_leaves_no_case_is_refused_like_a_selector_that_matches_none(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --exclude ran 0 cases and exited 0: a CI would have taken a run that judged nothing as a pass."""
    assert main(["run", *argv]) == 3
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    assert out.err == f"gearsim run: no case left to run: {named}\n", out.err
    assert main(["run", "NOMATCH-GLOB"]) == 3  # the same exit as a selector that matches nothing
    assert capsys.readouterr().err == "gearsim run: no vector file matches 'NOMATCH-GLOB'\n"


def test_an_exclude_that_leaves_a_case_still_runs_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "server/status.yaml", "--exclude", "server/status.yaml::unknown-*"]) == 0
    out = capsys.readouterr().out
    assert " 0 cases" not in out and "0 failed" in out, out


def test_a_serve_host_that_does_not_resolve_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    """The line said "Unknown error -2": a getaddrinfo code read as an errno. (.invalid never resolves: RFC 6761.)"""
    assert main(["serve", "--port", "0", "--host", "no.such.invalid"]) == 3
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    (line,) = out.err.splitlines()
    prefix = "gearsim serve: cannot listen on no.such.invalid:0: "
    prefix += "the host name 'no.such.invalid' could not be resolved ("
    assert line.startswith(prefix) and "Unknown error" not in line, line


@pytest.mark.parametrize(
    "target",
    [["--server", "127.0.0.1:1"], ["--peer", "gearmand-c"], ["--driver", "php"], ["--server-command", "x {port}"]],
)
def test_pcap_against_anything_but_the_model_is_refused_not_ignored(
    target: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--pcap writes the model's simulated traffic; against a real target it wrote nothing and the run exited 0."""
    pcap = tmp_path / "out.pcap"
    assert main(["run", "server/status.yaml::unknown-handle", *target, "--pcap", str(pcap)]) == 3
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    assert out.err.startswith("gearsim run: --pcap writes the built-in model's simulated conversations"), out.err
    assert not pcap.exists()


def test_pcap_of_a_model_run_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcap = tmp_path / "out.pcap"
    assert main(["run", "server/status.yaml::unknown-handle", "--pcap", str(pcap)]) == 0
    assert pcap.read_bytes()[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["run", "--jobs", "x"],
            "gearsim run: error: argument --jobs: expected a positive integer, got 'x' (see gearsim run --help)",
        ),
        ([], "gearsim: error: the following arguments are required: command (see gearsim --help)"),
    ],
)
def test_a_usage_error_is_one_line_pointing_at_help(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """As every other input error: argparse printed its 7-14 line usage block before the error."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 3
    assert capsys.readouterr().err == line + "\n"


def test_version_is_an_option_not_a_missing_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``gearsim --version`` said 'the following arguments are required: command' and exited 3."""
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    from gearsim.api import __version__

    assert capsys.readouterr().out == f"gearsim {__version__}\n"  # the version the API gives, from one lookup


@pytest.mark.parametrize("command", ["matrix", "clients"])
def test_a_missing_baselines_folder_is_refused_before_the_run(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """matrix printed 'no baseline' per column and exited 0 (nothing compared); clients refused only after its run."""
    missing = tmp_path / "nope"
    assert main([command, "--baselines", str(missing)]) == 3
    out = capsys.readouterr()
    assert out.out == "" and out.err == f"gearsim {command}: --baselines {missing}: no such folder\n", out.err


def test_a_matrix_of_no_column_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """It ran nothing and exited 0, as if every server had been judged."""
    assert main(["matrix", "--no-model", "--peers", "", "codec/framing.yaml"]) == 3
    assert capsys.readouterr().err == (
        "gearsim matrix: no column to run: no model profile (--no-model, or --profiles naming none) "
        "and no real server named\n"
    )


@pytest.mark.parametrize("command", ["run", "matrix"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_jobs_must_be_positive(command: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    """0 and -3 were taken, and the run went on as 'jobs 0'."""
    line = refused([command, "--jobs", value, "codec/framing.yaml"], capsys)
    assert f"argument --jobs: expected a positive integer, got '{value}'" in line, line


@pytest.mark.parametrize("node", ["", "a\tb", "a b", "a:b", "a\0b", "x" * 41, "caf\u00e9"])
def test_serve_refuses_a_node_name_that_would_make_bad_handles(node: str, capsys: pytest.CaptureFixture[str]) -> None:
    # was taken: an empty or tabbed host part went into every handle (admin listings are tab-separated)
    assert "argument --node: expected 1 to 40 printable ASCII characters" in refused(["serve", "--node", node], capsys)


def test_the_longest_node_name_gives_handles_the_packet_table_allows() -> None:
    from gearsim.cli.common import NODE_MAX, node_name
    from gearsim.protocol.packets import FIELDS

    node = node_name("x" * NODE_MAX)
    longest = f"H:{node}:{2**64 - 1}".encode()  # the model's handle of its last 64-bit counter value
    assert len(longest) == FIELDS["handle"].max  # as long as the table allows, and no longer
