"""The gearsim pytest plugin, run by pytest's own pytester on the sample project in tests/data/sample_project.

The sample project is a team's repository in miniature: a pytest.ini naming
its vector folder ``gearman/`` and a baseline of known failures, two vector
files (three cases that hold, one ticket still open, one fixed ticket still in
the baseline), YAML that is not a vector file, and the team's own Python test.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gearsim.cli import main as cli_main
from gearsim.cli.common import EXIT_FAIL
from gearsim.io.peers import RunningPeer, start_peer, stop_peer
from gearsim.testing.peer_fixtures import require_peer

pytest_plugins = ["pytester"]

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample_project"
CLIENT_PROGRAMS = Path(__file__).resolve().parents[2] / "vectors" / "client" / "programs"
TOY_DRIVER = Path(__file__).resolve().parents[1] / "data" / "toy_client" / "toy_driver.py"
BUNDLED_CLIENT_VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "client"
PLUGIN = "gearsim.testing.pytest_plugin"

ALL_CASES = {
    "gearman/jobs.yaml::echo",
    "gearman/jobs.yaml::unknown-handle",
    "gearman/jobs.yaml::background-job-runs",
    "gearman/known_bugs.yaml::queued-status-without-progress",
    "gearman/known_bugs.yaml::echo-empty",
}
OPEN_TICKET = "gearman/known_bugs.yaml::queued-status-without-progress"
FIXED_TICKET = "gearman/known_bugs.yaml::echo-empty"


def _entry_point_registered() -> bool:
    return any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))


def _plugin_args() -> list[str]:
    """Load the plugin as users get it (the entry point), or by name while the package is not reinstalled."""
    return [] if _entry_point_registered() else ["-p", PLUGIN]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copytree(SAMPLE, pytester.path, dirs_exist_ok=True)
    pytester.makepyfile(test_app="def test_our_own_code():\n    assert 'olleh' == 'hello'[::-1]\n")
    return pytester


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest(*_plugin_args(), "-rA", *args)


def _collected_ids(result: pytest.RunResult) -> set[str]:
    return {line.strip() for line in result.outlines if re.match(r"^gearman/\S+\.yaml::\S+$", line.strip())}


def test_the_entry_point_registers_the_plugin() -> None:
    """pyproject.toml declares ``[project.entry-points.pytest11] gearsim = "gearsim.testing.pytest_plugin"``."""
    assert _entry_point_registered(), "reinstall gearsim (pip install -e .) after adding the pytest11 entry point"


def test_every_case_is_an_item_with_a_file_case_id(project: pytest.Pytester) -> None:
    result = _run(project, "--collect-only", "-q")
    assert _collected_ids(result) == ALL_CASES
    result.stdout.fnmatch_lines(["test_app.py::test_our_own_code"])
    assert "settings.yaml" not in result.stdout.str()  # YAML that is not a vector file is left alone


def test_against_the_model_with_the_baseline(project: pytest.Pytester) -> None:
    result = _run(project)
    result.assert_outcomes(passed=4, xfailed=1, xpassed=1)
    result.stdout.fnmatch_lines(
        [
            f"XFAIL {OPEN_TICKET} - gearsim baseline: OPS-17*",
            f"XPASS {FIXED_TICKET} - gearsim baseline: OPS-9*",
        ]
    )
    result.stdout.fnmatch_lines(["gearsim: vectors against the reference model, profile gearmand-1.1, seed 0*"])


def test_a_failure_shows_the_rule_expected_actual_and_the_trace(project: pytest.Pytester) -> None:
    result = _run(project, "-o", "gearsim_baseline=")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*_ {OPEN_TICKET} _*",
            "gearsim FAIL at step 5: c1: argument 4 is b'0', expected b''",
            f"case {OPEN_TICKET} against the reference model*",
            "E   rule broken: GM-STATUS-006 (MUST): The numerator and denominator in STATUS_RES come from the last*",
            "E   also cites: GM-STATUS-003 (MUST): STATUS_RES for a job waiting in a queue has known 1 and running 0.",
            # fnmatch: [[] is a literal [
            "E   expected: STATUS_RES [[]b'H:sim:1', b'1', b'0', b'', b'']",
            "E   actual:   Packet(RES STATUS_RES [[]b'H:sim:1', b'1', b'0', b'0', b'0'])",
            "trace around the failure (last records):",
            '*c1>server GET_STATUS "H:sim:1"',
            '*server>c1 STATUS_RES "H:sim:1" "1" "0" "0" "0"',
            f"FAILED {OPEN_TICKET}*",
        ]
    )


def test_the_reproduce_line_names_the_file_from_where_pytest_ran(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest names the item from its rootdir (gearman/known_bugs.yaml); the line is typed in the folder pytest ran in
    monkeypatch.chdir(project.path / "gearman")
    result = project.runpytest(*_plugin_args(), "-o", "gearsim_baseline=", "known_bugs.yaml")
    result.assert_outcomes(passed=1, failed=1)
    line = "gearsim run known_bugs.yaml::queued-status-without-progress --profile gearmand-1.1 --seed 0"
    result.stdout.fnmatch_lines([f"reproduce: {line}"])
    assert cli_main(shlex.split(line)[1:]) == EXIT_FAIL  # run where pytest ran, it finds the file and fails the same


def test_profile_and_seed_options(project: pytest.Pytester) -> None:
    # under the Perl profile the model sends empty numbers: the open ticket passes, and the baseline says XPASS
    result = _run(project, "--gearsim-profile", "perl-1.130", "--gearsim-seed", "7")
    result.assert_outcomes(passed=4, xpassed=2)
    result.stdout.fnmatch_lines(["gearsim: vectors against the reference model, profile perl-1.130, seed 7*"])


def test_requirement_ids_select_cases(project: pytest.Pytester) -> None:
    result = _run(project, "-k", "GM-ECHO-001")
    result.assert_outcomes(passed=1, xpassed=1)


def test_write_baseline_then_use_it(project: pytest.Pytester) -> None:
    out = project.path / "new-baseline.txt"
    first = _run(project, "-o", "gearsim_baseline=", "--gearsim-write-baseline", str(out))
    first.assert_outcomes(passed=5, failed=1)
    written = out.read_text(encoding="utf-8")
    assert f"{OPEN_TICKET}  # fail: c1: argument 4" in written
    assert FIXED_TICKET not in written
    second = _run(project, "--gearsim-baseline", str(out))
    second.assert_outcomes(passed=5, xfailed=1)


def test_the_first_write_of_the_configured_baseline(project: pytest.Pytester) -> None:
    """The README's order: name the baseline in the ini file, then write it with --gearsim-write-baseline.

    The file does not exist yet; reading it first was a usage error, so the run
    that was to create it could not start.
    """
    (project.path / "gearman" / "baseline.txt").unlink()
    first = _run(project, "--gearsim-write-baseline", "gearman/baseline.txt")
    first.assert_outcomes(passed=5, failed=1)
    assert OPEN_TICKET in (project.path / "gearman" / "baseline.txt").read_text(encoding="utf-8")
    second = _run(project)
    second.assert_outcomes(passed=5, xfailed=1)
    # a baseline that is missing while another file is written is still a mistake
    (project.path / "gearman" / "baseline.txt").unlink()
    elsewhere = _run(project, "--gearsim-write-baseline", "other.txt")
    assert elsewhere.ret == pytest.ExitCode.USAGE_ERROR
    elsewhere.stderr.fnmatch_lines(["*gearsim baseline *baseline.txt: cannot read*"])


def test_a_json_baseline_of_gearsim_matrix(project: pytest.Pytester) -> None:
    rows = {
        OPEN_TICKET: {"verdict": "fail", "reason": "c1: argument 4 is b'0', expected b''"},
        "gearman/jobs.yaml::echo": {"verdict": "pass", "reason": ""},
    }
    data = {"schema": "gearsim-baseline/1", "peer": "model", "profile": "gearmand-1.1", "meta": {}, "cases": rows}
    (project.path / "known.json").write_text(json.dumps(data), encoding="utf-8")
    result = _run(project, "--gearsim-baseline", "known.json")
    result.assert_outcomes(passed=5, xfailed=1)
    result.stdout.fnmatch_lines([f"XFAIL {OPEN_TICKET} - gearsim baseline: fail: c1: argument 4*"])


def test_html_report_of_the_run(project: pytest.Pytester) -> None:
    _run(project, "--gearsim-html", "report.html").assert_outcomes(passed=4, xfailed=1, xpassed=1)
    page = (project.path / "report.html").read_text(encoding="utf-8")
    for case_id in ALL_CASES:
        assert f'<svg class="msc" data-case-id="{case_id}"' in page


def test_no_vectors_are_collected_unless_the_project_names_them(pytester: pytest.Pytester) -> None:
    shutil.copytree(SAMPLE / "gearman", pytester.path / "gearman")
    result = pytester.runpytest(*_plugin_args(), "--collect-only", "-q")
    assert _collected_ids(result) == set()
    named = pytester.runpytest(*_plugin_args(), "--collect-only", "-q", "gearman/jobs.yaml")
    assert _collected_ids(named) == {c for c in ALL_CASES if c.startswith("gearman/jobs.yaml")}
    extra = pytester.runpytest(*_plugin_args(), "--collect-only", "-q", "--gearsim-vectors", "gearman")
    assert _collected_ids(extra) == ALL_CASES


def test_a_folder_named_on_the_command_line_collects_its_vector_files(pytester: pytest.Pytester) -> None:
    shutil.copytree(SAMPLE / "gearman", pytester.path / "gearman")
    pytester.makepyfile(test_app="def test_our_own_code():\n    pass\n")
    named = pytester.runpytest(*_plugin_args(), "--collect-only", "-q", "gearman")
    assert _collected_ids(named) == ALL_CASES
    assert "settings.yaml" not in named.stdout.str()  # YAML that is not a vector file is left alone
    # the folder above it: vector files anywhere below, and the Python tests as usual
    everything = pytester.runpytest(*_plugin_args(), "--collect-only", "-q", ".")
    assert _collected_ids(everything) == ALL_CASES
    everything.stdout.fnmatch_lines(["test_app.py::test_our_own_code"])


def test_a_configured_folder_named_again_is_collected_once(project: pytest.Pytester) -> None:
    result = _run(project, "--collect-only", "-q", "gearman", "gearman/jobs.yaml", "--gearsim-vectors", "gearman")
    ids = [line.strip() for line in result.stdout.lines if "::" in line]
    assert sorted(ids) == sorted(ALL_CASES)  # each case once, though named three ways


def test_shards_cover_every_case_exactly_once(project: pytest.Pytester) -> None:
    for total in (1, 2, 3, 7):
        seen: list[str] = []
        for index in range(1, total + 1):
            result = _run(project, "--collect-only", "-q", "--gearsim-shard", f"{index}/{total}")
            seen += sorted(_collected_ids(result))
            result.stdout.fnmatch_lines(["test_app.py::test_our_own_code"])  # only vector cases are sharded
        assert sorted(seen) == sorted(ALL_CASES), f"{total} shards"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gearsim-server", "nowhere"], "*--gearsim-server: expected HOST:PORT*, got 'nowhere'*"),
        (["--gearsim-shard", "4/3"], "*--gearsim-shard: expected K/N with 1 <= K <= N, got '4/3'*"),
        (["--gearsim-profile", "nginx"], "*unknown profile 'nginx'*"),
        (["--gearsim-server", "127.0.0.1:1", "--gearsim-client", "true"], "*exclude each other*"),
        (["--gearsim-baseline", "missing.txt"], "*gearsim baseline *missing.txt: cannot read*"),
        # an empty target was falsy: the model was judged instead, and passed
        (["--gearsim-driver", ""], "*--gearsim-driver: the value is empty*"),
        (["--gearsim-server-command", " "], "*--gearsim-server-command: the value is empty*"),
        (["--gearsim-server-description", ""], "*--gearsim-server-description: the value is empty*"),
        (["--gearsim-client", ""], "*--gearsim-client: the value is empty*"),
    ],
)
def test_bad_options_are_usage_errors(project: pytest.Pytester, args: list[str], message: str) -> None:
    result = _run(project, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_under_xdist(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = project.runpytest_subprocess(*_plugin_args(), "-n", "2", "-p", "xdist", "--gearsim-html", "r.html")
    result.assert_outcomes(passed=4, xfailed=1, xpassed=1)
    # the workers each saw part of the run: no partial report, and the run says why
    assert not (project.path / "r.html").exists()
    result.stdout.fnmatch_lines(["*gearsim: --gearsim-html and --gearsim-write-baseline need a run without -n*"])


def test_a_client_program_against_the_served_model(pytester: pytest.Pytester) -> None:
    pytest.importorskip("gear")
    shutil.copy(BUNDLED_CLIENT_VECTORS / "gear.yaml", pytester.path / "gear.yaml")
    case = "gear.yaml::gear-client-background"
    program = f"{sys.executable} {CLIENT_PROGRAMS / 'gear_client.py'} {{host}} {{port}} bg"
    result = pytester.runpytest(*_plugin_args(), "-rA", case, "--gearsim-client", program)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["gearsim: vectors against program(s) *gear_client.py* against the served*"])
    silent = f"{sys.executable} -c pass"
    failed = pytester.runpytest(*_plugin_args(), case, "--gearsim-client", silent)
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(
        ["gearsim FAIL at step 1: prog: the program exited without connecting", "E   rule: GM-SUBMIT-004*"]
    )


def test_a_library_through_its_driver(pytester: pytest.Pytester) -> None:
    """--gearsim-driver: library cases run through the driver (the toy library), a broken build fails with its rule."""
    shutil.copy(BUNDLED_CLIENT_VECTORS / "library-worker.yaml", pytester.path / "library-worker.yaml")
    case = "library-worker.yaml::worker-job-with-updates"
    toy = f"{sys.executable} {TOY_DRIVER}"
    result = pytester.runpytest(*_plugin_args(), "-rA", case, "--gearsim-driver", toy)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["gearsim: vectors against the library of driver *toy_driver.py* against the served*"])
    broken = pytester.runpytest(*_plugin_args(), case, "--gearsim-driver", toy + " --broken")
    broken.assert_outcomes(failed=1)
    broken.stdout.fnmatch_lines(["*rule broken: GM-FIELD-003*"])
    both = pytester.runpytest(*_plugin_args(), case, "--gearsim-driver", toy, "--gearsim-client", "true")
    assert both.ret != 0
    both.stderr.fnmatch_lines(["*exclude each other*"])


@pytest.fixture(scope="module")
def gearmand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPeer]:
    require_peer("gearmand-c")  # skips, or fails under GEARSIM_REQUIRE_PEERS=1
    peer = start_peer("gearmand-c", tmp_path_factory.mktemp("gearmand"))
    try:
        yield peer
    finally:
        stop_peer(peer)


def test_against_gearmand(project: pytest.Pytester, gearmand: RunningPeer) -> None:
    server = f"{gearmand.host}:{gearmand.port}"
    result = _run(project, "--gearsim-server", server)
    result.assert_outcomes(passed=4, xfailed=1, xpassed=1)
    # a real server is judged by the spec profile unless one is named
    result.stdout.fnmatch_lines([f"gearsim: vectors against the server at {server}, profile spec*"])
    failing = _run(project, "--gearsim-server", server, "-o", "gearsim_baseline=")
    failing.assert_outcomes(passed=5, failed=1)
    failing.stdout.fnmatch_lines(["E   rule broken: GM-STATUS-006 (MUST):*", '*server>c1 STATUS_RES * "1" "0" "0" "0"'])


TOY_SERVER = Path(__file__).resolve().parents[1] / "interop" / "toy_server.py"


def test_a_server_command_is_started_per_case_and_its_crash_fails_the_case(project: pytest.Pytester) -> None:
    project.makefile(
        ".yaml",
        **{
            "gearman/crash": """schema: gearsim-vectors/1
area: server
title: a packet that kills the toy server
header: [the toy server dies on CAN_DO_TIMEOUT]
notes: {}
cases:
- id: timeout-ability
  comment: a worker registers with a time limit
  requirements: [GM-TIMEOUT-001]
  result: valid
  actors: {w1: worker}
  steps:
  - {connect: w1}
  - {send: w1, packet: {type: CAN_DO_TIMEOUT, args: [f, '1000']}}
  - {send: w1, packet: {type: ECHO_REQ, args: [x]}}
  - {expect: w1, packet: {type: ECHO_RES, args: [x]}}
"""
        },
    )
    command = f"{sys.executable} {TOY_SERVER} --port {{port}} --crash-on CAN_DO_TIMEOUT"
    result = _run(project, "--gearsim-server-command", command, "-o", "gearsim_baseline=", "gearman/crash.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*gearsim FAIL: server crashed: toy_server killed by signal SIGSEGV (11) during this case",
            "*reproduce: gearsim run gearman/crash.yaml::timeout-ability --server-command *--crash-on CAN_DO_TIMEOUT*",
            "E   rule broken: GM-SERVER-005 (MUST):*",
        ]
    )
    healthy = _run(
        project, "--gearsim-server-command", f"{sys.executable} {TOY_SERVER} --port {{port}}", "gearman/jobs.yaml::echo"
    )
    healthy.assert_outcomes(passed=1)


def test_a_broken_vector_is_an_error_of_its_item_not_a_failure_of_the_server(project: pytest.Pytester) -> None:
    """A codec case whose wire and messages disagree: ERROR naming file, case and byte offset; its file's other case
    still runs. It used to be a FAILED item charged to the implementation under test."""
    good = """\
- id: echo-fine
  comment: bytes and messages alike
  requirements: [GM-ECHO-001]
  result: valid
  sender: client
  wire: 00524551 00000010 00000002 6869
  messages:
  - {packet: {type: ECHO_REQ, args: [hi]}}
  violations: []
  server:
    replies:
    - {packet: {type: ECHO_RES, args: [hi]}}
    then: open
"""
    lying = good.replace("echo-fine", "wire-lies").replace("ECHO_REQ, args: [hi]", "ECHO_REQ, args: [ho]")
    head = "schema: gearsim-vectors/1\narea: codec\ntitle: t\nheader: [h]\nnotes: {}\ncases:\n"
    project.makefile(".yaml", **{"gearman/broken": head + good + lying})
    result = _run(project, "-o", "gearsim_baseline=", "gearman/broken.yaml")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of gearman/broken.yaml::wire-lies _*",
            "gearsim: broken vector: gearman/broken.yaml::wire-lies: wire and messages disagree at byte offset 13 *",
            "ERROR gearman/broken.yaml::wire-lies - Failed: gearsim: broken vector:*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
