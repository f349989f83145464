"""Server descriptions: the format a user writes once for a server gearsim has never seen."""

from __future__ import annotations

from pathlib import Path

import pytest

from gearsim.io.serverdesc import (
    DescriptionError,
    bundled_descriptions,
    command_description,
    load_description,
    parse_description,
)
from gearsim.run.batch import UnsupportedOption

MINIMAL = 'name = "myserver"\ncommand = "./myserver --port {port}"\n'


def test_a_minimal_description_needs_a_name_and_a_command_with_the_port() -> None:
    desc = parse_description(MINIMAL, "my.toml")
    assert desc.name == "myserver"
    assert desc.command == ("./myserver", "--port", "{port}")
    assert desc.sync == "ECHO_REQ" and desc.loopback_only and desc.start_timeout == 10.0
    assert desc.option_args({}) == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\ncommand = "srv --port 4730"\n', "my.toml: command: must contain {port}"),
        ('command = "srv {port}"\n', "my.toml: name: a non-empty string is required"),
        ('name = "x"\ncommand = "srv {port}"\ncolour = "red"\n', "my.toml: colour: unknown key"),
        ('name = "x"\ncommand = "srv {port}"\nsync = "NOOP"\n', "my.toml: sync: 'NOOP' is not one of"),
        ('name = "x"\ncommand = "srv {port}"\n[options]\nretries = "-r"\n', "my.toml: options.retries: unknown option"),
        (
            'name = "x"\ncommand = "srv {port}"\n[options]\nexceptions = {nope = "x"}\n',
            'my.toml: options.exceptions: a table must be {unsupported = "reason"}',
        ),
        ('name = "x"\ncommand = "srv {port}"\nstart_timeout = 0\n', "my.toml: start_timeout: a number of seconds"),
        ('name = "x"\ncommand = "srv {port}"\n[files]\n"../evil" = "x"\n', "my.toml: files.../evil: a plain file"),
        ('name = "x"\ncommand = [1, 2]\n', "my.toml: command: a string or a list of strings"),
        ("name = \n", "my.toml: not valid TOML"),
    ],
)
def test_a_broken_description_is_one_line_naming_the_file_and_key(text: str, message: str) -> None:
    with pytest.raises(DescriptionError) as err:
        parse_description(text, "my.toml")
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_options_are_spelled_by_the_description_or_not_applicable_with_the_reason() -> None:
    desc = parse_description(
        MINIMAL
        + '[options]\njob_retries = ["--retries", "{value}"]\nexceptions = "--exceptions"\n'
        + 'worker_wakeup = {unsupported = "wakes every worker"}\n',
        "my.toml",
    )
    assert desc.option_args({"job_retries": 2, "exceptions": True}) == ("--exceptions", "--retries", "2")
    assert desc.option_args({"job_retries": 0, "exceptions": False}) == ()  # the defaults
    with pytest.raises(UnsupportedOption, match=r"worker_wakeup=1: myserver: wakes every worker"):
        desc.option_args({"worker_wakeup": 1})
    bare = parse_description(MINIMAL, "bare.toml")
    with pytest.raises(UnsupportedOption, match=r"job_retries=2, which the description of myserver \(bare.toml\)"):
        bare.option_args({"job_retries": 2})
    with pytest.raises(UnsupportedOption, match="virtual clock"):
        desc.option_args({"epoch0": 1})


def test_placeholders_fill_the_command_environment_and_files(tmp_path: Path) -> None:
    desc = parse_description(
        'name = "s"\ncommand = ["/bin/sh", "-c", "x", "--port={port}", "--log={rundir}/s.log", "{host}"]\n'
        '[env]\nunset = ["GEARMAND_*"]\nset = {A = "{port}"}\nprepend = {P = "{rundir}"}\n'
        '[files]\n"s.ini" = "port={port}"\n',
        "s.toml",
    )
    argv = desc.command_line(4730, tmp_path)
    assert argv == ["/bin/sh", "-c", "x", "--port=4730", f"--log={tmp_path}/s.log", "127.0.0.1"]
    env = desc.environment(4730, tmp_path, {"GEARMAND_PORT": "1", "P": "/old", "KEEP": "k"})
    assert env == {"A": "4730", "P": f"{tmp_path}:/old", "KEEP": "k"}
    desc.write_files(4730, tmp_path)
    assert (tmp_path / "s.ini").read_text() == "port=4730"


def test_reserved_options_are_refused_as_extra_arguments() -> None:
    desc = parse_description(MINIMAL + 'reserved = ["--port", "-p"]\n', "my.toml")
    desc.check_extra(["--verbose=INFO"])
    for arg in ("--port=1", "--port", "-p1", "-p"):
        with pytest.raises(ValueError, match="set by start_peer"):
            desc.check_extra([arg])


def test_a_server_command_is_a_description_without_options() -> None:
    desc = command_description("python tests/interop/toy_server.py --port {port}")
    assert desc.name == "toy_server" and desc.source == "--server-command"
    with pytest.raises(UnsupportedOption, match="does not spell"):
        desc.option_args({"exceptions": True})
    with pytest.raises(DescriptionError, match=r"must contain \{port\}"):
        command_description("./srv --port 4730")
    based = command_description("./srv -p {port}", bundled_descriptions()["gearmand-c"])
    assert based.command == ("./srv", "-p", "{port}") and based.option_args({"exceptions": True}) == ("--exceptions",)


def test_the_three_bundled_peers_are_descriptions() -> None:
    found = bundled_descriptions()
    assert set(found) == {"gearmand-c", "perl-gearman-server", "gear"}
    assert found["gearmand-c"].option_args({"job_retries": 2}) == ("--job-retries=2",)
    assert found["gear"].sync == "GET_STATUS"  # gear 0.16 does not answer ECHO_REQ
    with pytest.raises(UnsupportedOption, match="perl-gearman-server: Gearman::Server has no exceptions option"):
        found["perl-gearman-server"].option_args({"exceptions": True})


def test_a_missing_description_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DescriptionError, match="cannot read server description"):
        load_description(tmp_path / "nope.toml")
